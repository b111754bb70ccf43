"""Escaping for each output format trunkline writes: the one place that decides how a value
from the blueprint lands in a file as data, never as syntax.

Every writer (Jinja templates through the filters render.environment() registers, the
inventory writer, the apply step) goes through these functions. Each either returns the
value escaped for its format, or raises UnsafeValue when the format has no way to hold it as
data (a NUL in XML, a newline in an ssh_config value, `${` in FreeSWITCH data). Callers add
where the value came from (the field path) to the message.

    format                         function            what it does
    YAML read by Ansible           ansible_unsafe      tags the string !unsafe: Ansible never templates it
    XML attribute or text          xml                 & < > " ' escaped; tab/CR/LF as character references
    FreeSWITCH XML                 freeswitch          xml, and refuses $ { } (FreeSWITCH expands ${..}, $${..})
    Kamailio string literal        kamailio            \\ " and CR/LF/tab escaped; $ refused (PV formats)
    POSIX shell / EnvironmentFile  shell               shlex.quote
    Python source                  python_literal      repr()
    ssh_config value               ssh_config          refuses what could start a keyword or option; quotes
    ProxyJump value                ssh_jump            ssh_config, and [user@]host[:port] hops only
    tmpfiles.d path                tmpfiles_path       quoted, \\ \" escaped, %% for %; absolute, normalised, one line
    exports(5) path                exports_path        octal escapes (\\040) for space, controls, \\ " #
    comment (header lines)         comment             control characters shown as \\xNN; XML: no -- or <
    secret values at apply time    secret_value        xml for .xml files; one line without controls elsewhere
    @@secret:REF@@ markers         secret_ref          a charset no format needs to escape (trunkline/secrets.py)

Guards where a value becomes a path a program acts on: store_path (a folder old files are
deleted under: not a system folder) and timezone (an IANA name that exists, never a path).
"""

from __future__ import annotations

import posixpath
import re
import shlex
import unicodedata

from trunkline.errors import TrunklineError


class UnsafeValue(TrunklineError):
    """A value that its output format cannot hold as data; the message names the value and the rule
    (never a secret's value); .value is the value refused, for callers that look up its field."""

    exit_code = 2

    def __init__(self, message: str, value: object = None):
        super().__init__(message)
        self.value = value


def shown(value: object, limit: int = 60) -> str:
    """A value for a message: repr, cut short (a 100 KB value stays a one-line message)."""
    text = str(value)
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def _refuse(value: object, why: str, fix: str) -> UnsafeValue:
    return UnsafeValue(f"{shown(value)} {why}; {fix}", value)


def _is_control(ch: str) -> bool:
    """C0/C1 controls, DEL, format characters (bidi overrides...), line/paragraph separators, surrogates, unassigned."""
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def _controls(value: str) -> list[str]:
    return sorted({f"U+{ord(c):04X}" for c in value if _is_control(c)})


# --- YAML for Ansible -----------------------------------------------------------------------


class Unsafe(str):
    """A string Ansible must treat as data: written as `!unsafe "..."`, it is never templated."""


def ansible_unsafe(value: object) -> Unsafe:
    return Unsafe(str(value))


def unsafe_yaml(typ: str = "rt"):
    """A ruamel YAML that writes Unsafe as !unsafe (double-quoted: every character escapable, one
    scalar whatever it holds) and reads !unsafe back as Unsafe, as Ansible does."""
    from ruamel.yaml import YAML

    y = YAML(typ=typ, pure=True)
    rep = type("UnsafeRepresenter", (y.Representer,), {})
    rep.add_representer(Unsafe, lambda r, data: r.represent_scalar("!unsafe", str(data), style='"'))
    con = type("UnsafeConstructor", (y.Constructor,), {})
    con.add_constructor("!unsafe", lambda c, node: Unsafe(c.construct_scalar(node)))
    y.Representer, y.Constructor = rep, con
    return y


# --- XML --------------------------------------------------------------------------------------

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;",
                "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
_XML_RE = re.compile("[&<>\"'\t\n\r]")


def xml(value: object) -> str:
    """For an XML attribute value or text: markup and quote characters as entities, and tab,
    CR, LF as character references (a parser would turn them into spaces in an attribute).
    XML 1.0 cannot hold NUL and most other C0 controls at all: refused."""
    text = str(value)
    if _XML_ILLEGAL.search(text):
        raise _refuse(text, f"holds {', '.join(_controls(text))}, which XML cannot hold", "remove the control characters")
    return _XML_RE.sub(lambda m: _XML_ESCAPES[m.group()], text)


_PLAIN = re.compile(r"[A-Za-z0-9 ._:/@+,=-]*").fullmatch


def freeswitch(value: object) -> str:
    """For a value in a FreeSWITCH XML file. FreeSWITCH expands $${var} in every configuration
    file (its pre-processor) and ${var}, ${api(...)} in dialplan data, with no escape for
    either: a blueprint value holding $, { or } is refused."""
    text = str(value)
    if _PLAIN(text):  # most values (names, numbers, addresses): nothing to refuse or escape
        return text
    if any(c in text for c in "${}"):
        raise _refuse(text, "holds $, { or }, which FreeSWITCH expands as a variable or an API call ($${...}, ${system(...)})",
                      "remove them (FreeSWITCH has no escape for them)")
    return xml(text)


# --- Kamailio ---------------------------------------------------------------------------------

_KAMAILIO_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def kamailio(value: object) -> str:
    """The inside of a Kamailio config string literal ("..."): backslash, quote, CR, LF and tab
    escaped as the config lexer reads them. `$` is refused: many strings are pseudo-variable
    formats (xlog, $avp values) where $x would read a variable; other controls are refused."""
    text = str(value)
    bad = [c for c in text if _is_control(c) and c not in "\n\r\t"]
    if bad:
        raise _refuse(text, f"holds {', '.join(_controls(''.join(bad)))}, which a Kamailio string cannot hold", "remove the control characters")
    if "$" in text:
        raise _refuse(text, "holds $, which Kamailio reads as a pseudo-variable in a string", "remove it")
    return "".join(_KAMAILIO_ESCAPES.get(c, c) for c in text)


# --- shell, Python ----------------------------------------------------------------------------


def shell(value: object) -> str:
    """One word for POSIX sh (and systemd EnvironmentFile=, which reads the same quotes)."""
    text = str(value)
    if "\x00" in text:
        raise _refuse(text, "holds NUL, which no shell word can hold", "remove it")
    return shlex.quote(text)


def systemd_exec(value: object) -> str:
    """One argument of a systemd Exec*= command line (systemd.service(5) "Command lines",
    systemd.syntax(7) "Quoting"): double-quoted with \\ and " escaped, % doubled (a specifier
    otherwise) and $ doubled (a variable otherwise). A command line is one line: controls refused."""
    text = str(value)
    if _controls(text):
        raise _refuse(text, f"holds {', '.join(_controls(text))}; a systemd command line is one line of text", "remove them")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$") + '"'


def python_literal(value: object) -> str:
    """A Python literal of str, int, bool, None, list, tuple or dict of them."""
    return repr(value)


# --- ssh_config -------------------------------------------------------------------------------

_SSH_QUOTE = re.compile(r"[\s#'=]")
_SSH_HOP = re.compile(r"^(?:[A-Za-z0-9._][A-Za-z0-9._-]*@)?(?:[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


def ssh_config(value: object, spaces: bool = False) -> str:
    """A value after an ssh_config keyword (and in -o KEY=VALUE). Refused: control characters (a
    newline starts a new keyword), a leading '-' (read as an option when the value reaches a
    command line), double quotes and backslashes (ssh's own quoting). A path (`spaces`) is quoted
    when it holds whitespace, '#', "'" or '='; any other value (a user, a host) may not hold them."""
    text = str(value)
    if not text:
        raise _refuse(text, "is empty", "give a value")
    if _controls(text):
        raise _refuse(text, f"holds {', '.join(_controls(text))}, which would start a new ssh_config line", "remove the control characters")
    if text.startswith("-"):
        raise _refuse(text, "starts with '-', which ssh reads as an option", "remove the leading '-'")
    if '"' in text or "\\" in text:
        raise _refuse(text, "holds a double quote or a backslash (ssh_config quoting)", "remove them")
    if _SSH_QUOTE.search(text):
        if not spaces:
            raise _refuse(text, "holds whitespace, '#', \"'\" or '=', which would start a further argument or a comment",
                          "remove them")
        return f'"{text}"'
    return text


def ssh_jump(value: object) -> str:
    """A ProxyJump value: [user@]host[:port], comma-separated hops, each by a strict pattern."""
    text = ssh_config(value)
    if not all(_SSH_HOP.match(hop) for hop in text.split(",")):
        raise _refuse(text, "is not a jump host ([user@]host[:port], hops separated by commas)", "write e.g. deploy@jump.example.net:22")
    return text


# --- tmpfiles.d and exports(5) ----------------------------------------------------------------


def _absolute_normalised(text: str, what: str) -> None:
    if not text.startswith("/") or posixpath.normpath(text) != text or "//" in text:
        raise _refuse(text, f"is not an absolute, normalised path, which a {what} entry needs", "write it as /folder/sub, without .., . or //")
    if len(text.encode()) >= 4096 or any(len(part.encode()) > 255 for part in text.split("/")):
        raise _refuse(text, "is longer than a Linux path can be (4095 bytes, 255 a name)", "shorten it")


def tmpfiles_path(value: object) -> str:
    """The path field of a tmpfiles.d line, as systemd-tmpfiles (252) reads it: words split on
    whitespace unless double-quoted, a backslash takes the next character literally, % starts a
    specifier (%% is a %). So: \\ and \" escaped, % doubled, quoted when it holds whitespace or
    quotes. Lines are read one by one: a line break (or other control character) cannot be
    expressed and is refused, as is a path that is not absolute and normalised."""
    text = str(value)
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text):
        raise _refuse(text, f"holds {', '.join(_controls(text))}, which a tmpfiles.d line cannot hold", "remove them")
    _absolute_normalised(text, "tmpfiles.d")
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{out}"' if any(c.isspace() or c in "\"'\\" for c in text) else out


def exports_path(value: object) -> str:
    """The path of an exports(5) line: exportfs decodes \\ooo octal escapes (nfs-utils writes its
    own etab so: putexportent), so every byte that is not printable ASCII, and space, \\, " and #,
    becomes \\ooo. NUL, relative paths and paths over NFS_MAXPATHLEN (1024) are refused."""
    text = str(value)
    if "\x00" in text:
        raise _refuse(text, "holds NUL, which no path can hold", "remove it")
    _absolute_normalised(text, "exports")
    if len(text.encode()) > 1024:
        raise _refuse(text, "is longer than an NFS export path can be (1024 bytes)", "shorten it")
    out = []
    for b in text.encode("utf-8"):
        c = chr(b)
        out.append(c if 0x21 <= b <= 0x7E and c not in '\\"#' else f"\\{b:03o}")
    return "".join(out)


# --- paths that a job deletes under, time zones -------------------------------------------------

_SYSTEM = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root", "/run",
           "/sbin", "/sys", "/usr")


def store_path(value: object) -> str:
    """A folder that tmpfiles.d ages and the retention job deletes old files under: absolute,
    normalised, at least two levels deep and outside the system's own folders."""
    text = str(value)
    if _controls(text):  # /etc/default files read by sh and systemd hold it on one line
        raise _refuse(text, f"holds {', '.join(_controls(text))}; a recording store path is one line of text", "remove them")
    _absolute_normalised(text, "recording store")
    if text.count("/") < 2 or any(text == s or text.startswith(s + "/") for s in _SYSTEM):
        raise _refuse(text, "is a system folder (or too near the root); old files under the recording store are deleted",
                      "give the store a folder of its own, e.g. /var/spool/trunkline/recordings")
    return text


_ZONE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-][A-Za-z0-9_+-]*)*$")


def timezone(value: object) -> str:
    """An IANA time zone name that exists (it becomes /etc/timezone and the target of
    /etc/localtime under /usr/share/zoneinfo): name rules first, then the database."""
    from trunkline.blueprint.models import time_zones  # the loader's list, read once

    text = str(value)
    known = time_zones()
    if not _ZONE_RE.match(text) or len(text) > 64 or (known and text not in known):
        raise _refuse(text, "is not a time zone of the IANA database", "write one such as Europe/Berlin or UTC")
    return text


# --- comments and secrets ---------------------------------------------------------------------


def comment(value: object, syntax: str = "#") -> str:
    """Text for a one-line comment: control characters (line breaks included) shown as \\xNN /
    \\uXXXX so the comment stays one line. For XML comments also & < > as entities (FreeSWITCH's
    pre-processor acts on <X-PRE-PROCESS> even inside comments) and no '--'."""
    text = str(value)
    if not (text.isascii() and text.isprintable()):  # most are: no need to look at each character
        text = "".join((f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}") if _is_control(c) else c for c in text)
    if syntax == "xml":
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        while "--" in text:
            text = text.replace("--", "-&#45;")
        if text.endswith("-"):
            text += " "
    return text


SECRET_REF = re.compile(r"^(env|file|vault):[A-Za-z0-9_./#~+:,=-]+$")


def secret_ref(ref: object) -> str:
    """A reference placed in a @@secret:REF@@ marker: only characters that need no escaping in
    any format trunkline writes, so the marker reads back as it was written."""
    text = str(ref)
    if not SECRET_REF.match(text):
        raise UnsafeValue(f"a secret reference holds characters outside letters, digits and _ . / # ~ + : , = - "
                          f"({len(text)} characters; not shown); write env:NAME, file:/path or vault:path#key", text)
    return text


def secret_value(value: str, path: str) -> str:
    """A resolved secret as it replaces its marker in the file at `path` (apply time): XML-escaped
    in .xml files; elsewhere one line without control characters. Messages never show the value."""
    if str(path).endswith(".xml"):
        if _XML_ILLEGAL.search(value):
            raise UnsafeValue(f"{path}: a secret value holds control characters that XML cannot hold (value not shown)")
        return xml(value)
    if any(_is_control(c) for c in value):
        raise UnsafeValue(f"{path}: a secret value holds a line break or control character, which would add lines to the file "
                          "(value not shown)")
    return value
