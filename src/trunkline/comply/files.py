"""Checks on the rendered files: the bytes the servers will read, not what the blueprint meant.

The files come from `render_plan(plan)` (in memory; nothing is written). A check reads their
text and reports `HOST:/target/path:LINE`. These controls catch a template that does not carry
a duty through (e.g. a TLS method or the SRTP 488 rule missing), so they are kept even where a
blueprint control checks the same intent.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Callable, Iterable

from trunkline.blueprint.models import format_duration, parse_duration
from trunkline.comply.blueprint import secret_like
from trunkline.comply.findings import Fail, NotApplicable, Place
from trunkline.plan.topology import Plan
from trunkline.render import RenderedFile

CHECKS: dict[str, Callable] = {}
Result = list[Fail] | NotApplicable

KAMAILIO_CFG = "/etc/kamailio/kamailio.cfg"
KAMAILIO_TLS = "/etc/kamailio/tls.cfg"
DISPATCHER = "/etc/kamailio/dispatcher.list"
KEEPALIVED = "/etc/keepalived/keepalived.conf"
RTPENGINE = "/etc/rtpengine/rtpengine.conf"
RECORDER = "/etc/rtpengine/rtpengine-recording.conf"
TMPFILES = "/etc/tmpfiles.d/trunkline-recordings.conf"
EXPORTS = "/etc/exports.d/trunkline.exports"
FS_VARS = "/etc/freeswitch/vars.xml"
FS_DIALPLAN = "/etc/freeswitch/dialplan/trunkline.xml"
FS_INTERNAL = "/etc/freeswitch/sip_profiles/internal.xml"
FS_CALLCENTER = "/etc/freeswitch/autoload_configs/callcenter.conf.xml"


def check(fn: Callable) -> Callable:
    CHECKS[fn.__name__] = fn
    return fn


@dataclass
class FilesContext:
    plan: Plan
    files: list[RenderedFile]

    def named(self, path: str) -> list[RenderedFile]:
        return [f for f in self.files if f.path == path]

    def of_host(self, host: str, path: str) -> RenderedFile | None:
        return next((f for f in self.files if f.host == host and f.path == path), None)

    @staticmethod
    def text(f: RenderedFile) -> str:
        return f.content.decode("utf-8", errors="replace")

    def line_of(self, f: RenderedFile, pattern: str) -> int:
        """1-based line of the first match of a regex, 0 when absent."""
        rx = re.compile(pattern)
        for n, line in enumerate(self.text(f).splitlines(), 1):
            if rx.search(line):
                return n
        return 0

    def fail(self, f: RenderedFile | None, line: int, message: str, fix: str = "", host: str = "", path: str = "") -> Fail:
        place = Place("file", file=f.path if f else path, line=line, host=f.host if f else host)
        return Fail(place, message, fix)

    @property
    def rec(self) -> dict:
        return self.plan.recording


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def _settings(text: str) -> dict[str, tuple[str, int]]:
    """key = value lines (INI style, sections ignored): key -> (value, line)."""
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^\s*([A-Za-z][\w.-]*)\s*=\s*(.*?)\s*$", line)
        if m and not line.lstrip().startswith(("#", ";")):
            out[m.group(1)] = (m.group(2), n)
    return out


def _fs_vars(text: str) -> dict[str, tuple[str, int]]:
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = re.search(r'<X-PRE-PROCESS\s+cmd="set"\s+data="([^=]+)=([^"]*)"', line)
        if m:
            out[m.group(1)] = (m.group(2), n)
    return out


def _xml_params(root: ET.Element) -> dict[str, str]:
    return {p.get("name"): p.get("value", "") for p in root.iter("param")}


def _xml(ctx: "FilesContext", f: RenderedFile, out: list[Fail]) -> ET.Element | None:
    """The parsed document, or None with a failure saying the file is not XML."""
    try:
        return ET.fromstring(ctx.text(f))
    except ET.ParseError as exc:
        out.append(ctx.fail(f, exc.position[0], f"not well-formed XML: {exc}", "fix the template that renders it"))
        return None


# --- TLS and SRTP -------------------------------------------------------------------------------

_KAM_METHOD = re.compile(r"^TLSv(1(?:\.[0-3])?)(\+?)$")
_FS_TLS = {"sslv2": "0.2", "sslv3": "0.3", "tlsv1": "1.0", "tlsv1.1": "1.1", "tlsv1.2": "1.2", "tlsv1.3": "1.3"}  # sofia tls-version names


@check
def tls_versions_rendered(ctx: FilesContext, minimum: str = "1.2") -> Result:
    """Kamailio tls.cfg methods and FreeSWITCH's sip_tls_version allow nothing below `minimum`."""
    out: list[Fail] = []
    seen = False
    for f in ctx.named(KAMAILIO_TLS):
        seen = True
        section, has_method = None, {}
        for n, line in enumerate(ctx.text(f).splitlines(), 1):
            s = line.strip()
            if s.startswith("[") and s.endswith("]"):
                section = s
                has_method[section] = 0
                continue
            m = re.match(r"^method\s*=\s*(\S+)", s)
            if m and section:
                has_method[section] = n
                mm = _KAM_METHOD.match(m.group(1))
                lowest = mm.group(1) if mm else "1.0"  # SSLv23 and unknown names: any version
                if _version(lowest if "." in lowest else lowest + ".0") < _version(minimum):
                    out.append(ctx.fail(f, n, f"{section} method {m.group(1)} accepts TLS below {minimum}",
                                        f"render method = TLSv{minimum}+ (blueprint security.sip_tls_min: \"{minimum}\")"))
        for section, line in has_method.items():
            if not line:
                out.append(ctx.fail(f, 0, f"{section} sets no method: Kamailio's default applies", f"render method = TLSv{minimum}+ in {section}"))
    for f in ctx.named(KAMAILIO_CFG):
        if re.search(r"(?m)^enable_tls\s*=\s*(yes|1)", ctx.text(f)) and not ctx.of_host(f.host, KAMAILIO_TLS):
            seen = True
            out.append(ctx.fail(f, ctx.line_of(f, r"^enable_tls"), "TLS is enabled but no tls.cfg is rendered: Kamailio's defaults apply",
                                "render /etc/kamailio/tls.cfg for this host"))
    for f in ctx.named(FS_VARS):
        found = _fs_vars(ctx.text(f)).get("sip_tls_version")
        if not found:
            continue
        seen = True
        value, n = found
        low = [v for v in (x.strip().lower() for x in value.split(",")) if v in _FS_TLS and _version(_FS_TLS[v]) < _version(minimum)]
        if low:
            out.append(ctx.fail(f, n, f"sip_tls_version {value} allows {', '.join(low)}", f"render sip_tls_version without versions below TLS {minimum}"))
    if not seen:
        return NotApplicable("no TLS configuration is rendered")
    return out


@check
def srtp_enforced_rendered(ctx: FilesContext) -> Result:
    """Kamailio refuses plain-RTP offers with 488 and FreeSWITCH makes SRTP mandatory."""
    out: list[Fail] = []
    srtp = ctx.plan.security["srtp"]
    if srtp != "required":
        return [ctx.fail(f, 0, f"security.srtp is {srtp}: this file does not refuse plain RTP", "set security.srtp: required in the blueprint")
                for f in ctx.named(KAMAILIO_CFG) + ctx.named(FS_VARS)]
    for f in ctx.named(KAMAILIO_CFG):
        text = ctx.text(f)
        if not re.search(r"(?m)^#!define WITH_SRTP_REQUIRED\b", text):
            out.append(ctx.fail(f, 0, "WITH_SRTP_REQUIRED is not defined: offers without SRTP are relayed", "render #!define WITH_SRTP_REQUIRED"))
        block = re.search(r"#!ifdef WITH_SRTP_REQUIRED(.*?)#!endif", text, re.S)
        if not block or 'sl_send_reply("488"' not in block.group(1) or "RTP/SAVP" not in block.group(1):
            out.append(ctx.fail(f, ctx.line_of(f, "WITH_SRTP_REQUIRED"), "no rule answers an SDP offer without RTP/SAVP with 488",
                                'render the 488 "SRTP Required" rule in route[TO_MEDIA]'))
    for f in ctx.named(FS_VARS):
        value, n = _fs_vars(ctx.text(f)).get("rtp_secure_media", ("", 0))
        if value != "mandatory":
            out.append(ctx.fail(f, n, f"rtp_secure_media is {value or 'unset'}: FreeSWITCH accepts plain RTP", "render rtp_secure_media=mandatory"))
    return out


@check
def transit_rendered(ctx: FilesContext, minimum_tls: str = "1.2") -> Result:
    """Both halves of encryption in transit as rendered: TLS versions and SRTP enforcement."""
    out: list[Fail] = []
    tls = tls_versions_rendered(ctx, minimum_tls)
    if isinstance(tls, list):
        out += tls
    for t in ctx.plan.trunks:
        if t.transport == "tls":
            continue
        for f in ctx.named(KAMAILIO_CFG):
            if ctx.plan.host(f.host).site in t.sites:
                line = ctx.line_of(f, rf"transport={t.transport}\b") or ctx.line_of(f, rf'^listen={t.transport}:')
                out.append(ctx.fail(f, line, f"trunk {t.name} is signalled over {t.transport}: not encrypted", "set the trunk's transport: tls in the blueprint"))
    out += srtp_enforced_rendered(ctx)
    return out


# --- secrets and exposure ---------------------------------------------------------------------------

_PAIR_RES = [
    re.compile(r'name="([^"]+)"\s+value="([^"]*)"'),
    re.compile(r'modparam\("[^"]+",\s*"([^"]+)",\s*"([^"]*)"\)'),
    re.compile(r"^\s*([A-Za-z][\w.-]*)\s*=\s*(.*?)\s*$"),
    re.compile(r"^\s*(auth_pass|password)\s+(\S+)"),  # keepalived style: key value
]


def _is_reference(value: str) -> bool:
    v = value.strip().strip('"')
    return not v or "@@secret:" in v or v.startswith(("/", "$", "env:", "file:", "vault:"))


@check
def no_rendered_secrets(ctx: FilesContext) -> Result:
    out = []
    for f in ctx.files:
        for n, line in enumerate(ctx.text(f).splitlines(), 1):
            for rx in _PAIR_RES:
                for m in rx.finditer(line):
                    key, value = m.group(1), m.group(2)
                    what = None if _is_reference(value) else secret_like(key if not key.endswith("_pass") else "password", value)
                    if what:
                        out.append(ctx.fail(f, n, f"holds {what}", "render a secret marker ({{ secret(ref) }}) that the apply step resolves on the host"))
            if "-----BEGIN" in line and "PRIVATE KEY" in line:
                out.append(ctx.fail(f, n, "holds a PEM private key", "keep keys out of rendered files; the tls role places them at apply time"))
    return out


@check
def sip_allow_list_rendered(ctx: FilesContext) -> Result:
    """Each proxy admits only its site's trunk peers and hosts; every other source gets 403."""
    out = []
    for f in ctx.named(KAMAILIO_CFG):
        site = ctx.plan.host(f.host).site
        allowed = {h.address for h in ctx.plan.hosts if h.site == site}
        allowed |= {p for t in ctx.plan.trunks if site in t.sites for p in t.peers}
        text = ctx.text(f)
        for n, line in enumerate(text.splitlines(), 1):
            for addr in re.findall(r'\$si\s*==\s*"([^"]+)"', line):
                if addr not in allowed:
                    out.append(ctx.fail(f, n, f"admits {addr}, neither a trunk peer of site {site} nor one of its hosts", "drop it, or add it to a trunk's peers"))
        if "route(CLASSIFY)" not in text or not re.search(r"(?m)^route\[CLASSIFY\]", text):
            out.append(ctx.fail(f, 0, "requests are not classified by source (no route[CLASSIFY] call)", "render route(CLASSIFY) before any relay"))
        if 'sl_send_reply("403"' not in text:
            out.append(ctx.fail(f, 0, "no 403 reply: requests from unknown sources are not refused", "render the 403 refusal for sources that are not trunk peers or media nodes"))
    if not ctx.named(KAMAILIO_CFG):
        return NotApplicable("no SIP proxy is rendered")
    return out


# --- recordings ---------------------------------------------------------------------------------------


@check
def pause_route_rendered(ctx: FilesContext) -> Result:
    """When pause_on_payment: Kamailio turns FreeSWITCH's pause/resume INFO into rtpengine stop/start,
    and the dialplan's payment extension pauses before it reads the card number and resumes after."""
    if ctx.rec["mode"] == "none":
        return NotApplicable("recording.mode is none")
    if not ctx.rec["pause_on_payment"]:
        return NotApplicable("recording.pause_on_payment is off (a blueprint control reports that)")
    out = []
    for f in ctx.named(KAMAILIO_CFG):
        text = ctx.text(f)
        if not re.search(r"(?m)^#!define WITH_PAUSE_ON_PAYMENT\b", text):
            out.append(ctx.fail(f, 0, "WITH_PAUSE_ON_PAYMENT is not defined: pause requests are ignored", "render #!define WITH_PAUSE_ON_PAYMENT"))
        block = re.search(r"#!ifdef WITH_PAUSE_ON_PAYMENT(.*?)#!endif", text, re.S)
        body = block.group(1) if block else ""
        for needed, what in (("application/x-trunkline-recording", "the INFO content type"), ("stop_recording()", "stop_recording()"),
                             ("start_recording()", "start_recording()")):
            if needed not in body:
                out.append(ctx.fail(f, ctx.line_of(f, "WITH_PAUSE_ON_PAYMENT"), f"the pause route lacks {what}",
                                    "render the INFO handler that stops and restarts rtpengine recording"))
    for f in ctx.named(FS_DIALPLAN):
        root = _xml(ctx, f, out)
        if root is None:
            continue
        ext = next((e for e in root.iter("extension") if e.get("name") == "payment"), None)
        if ext is None:
            out.append(ctx.fail(f, 0, "no payment extension", "render the payment extension"))
            continue
        datas = [(a.get("application"), a.get("data", "")) for a in ext.iter("action")]
        idx = {k: next((i for i, (app, d) in enumerate(datas) if cond(app, d)), None) for k, cond in {
            "pause": lambda app, d: "x-trunkline-recording pause" in d,
            "digits": lambda app, d: app == "play_and_get_digits",
            "resume": lambda app, d: "x-trunkline-recording resume" in d,
        }.items()}
        line = ctx.line_of(f, r'extension name="payment"')
        if idx["digits"] is None:
            continue  # no card data is read in this dialplan
        if idx["pause"] is None or idx["pause"] > idx["digits"]:
            out.append(ctx.fail(f, line, "the payment extension reads the card number without pausing the recording first",
                                "render the pause (uuid_send_info ... pause) before play_and_get_digits"))
        if idx["resume"] is None or idx["resume"] < idx["digits"]:
            out.append(ctx.fail(f, line, "the payment extension never resumes the recording after the card data", "render the resume after the card data is taken"))
    return out


def _tmpfiles_line(text: str, path: str) -> tuple[list[str], int] | None:
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if len(fields) >= 2 and not line.lstrip().startswith("#") and fields[1] == path:
            return fields, n
    return None


_AGE_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def tmpfiles_age(age: str) -> int | None:
    """tmpfiles.d Age ('30d', '1w2d', '-') in seconds; None when files are never cleaned."""
    age = age.lstrip("~")
    if age in ("-", ""):
        return None
    parts = re.findall(r"(\d+)\s*(us|ms|min|sec|s|m|h|d|w)?", age)
    if not parts or "".join(n + (u or "") for n, u in parts) != age.replace(" ", ""):
        raise ValueError(f"{age!r} is not a tmpfiles age")
    return round(sum(int(n) * _AGE_UNITS[u or "s"] for n, u in parts))


def _octal(mode: str) -> int | None:
    try:
        return int(mode.lstrip("~"), 8)
    except ValueError:
        return None


@check
def recording_access_rendered(ctx: FilesContext) -> Result:
    """Recording folders and files are closed to 'other'; NFS exports go to the recorders only, root squashed."""
    if ctx.rec["mode"] == "none":
        return NotApplicable("recording.mode is none")
    path = ctx.rec["storage"]["path"]
    out = []
    rec_hosts = [h for h in ctx.plan.hosts if h.role == "recording"]
    for h in rec_hosts:
        f = ctx.of_host(h.name, TMPFILES)
        found = _tmpfiles_line(ctx.text(f), path) if f else None
        if not found:
            out.append(ctx.fail(f, 0, f"no tmpfiles entry makes {path}: its mode is left to chance", f"render 'd {path} 0750 root trunkline-rec -'",
                                host=h.name, path=TMPFILES))
            continue
        fields, n = found
        mode = _octal(fields[2]) if len(fields) > 2 else None
        if mode is None or mode & 0o007:
            out.append(ctx.fail(f, n, f"{path} has mode {fields[2] if len(fields) > 2 else '(default)'}: others can read recordings", f"render mode 0750 for {path}"))
    for f in ctx.named(RECORDER):
        s = _settings(ctx.text(f))
        for key, default in (("output-chmod", "0640"), ("output-chmod-dir", "0750")):
            value, n = s.get(key, ("", 0))
            mode = _octal(value) if value else None
            if mode is None or mode & 0o007:
                out.append(ctx.fail(f, n, f"{key} is {value or 'unset'}: recordings the recorder writes may be readable by others", f"render {key} = {default}"))
    for f in ctx.named(EXPORTS):
        recorders = {h.address for h in ctx.plan.hosts if h.role == "rtpengine" and h.site == ctx.plan.host(f.host).site}
        for n, line in enumerate(ctx.text(f).splitlines(), 1):
            if line.lstrip().startswith("#") or not line.strip():
                continue
            for client, opts in re.findall(r"(\S+?)\(([^)]*)\)", line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ""):
                options = opts.split(",")
                if client not in recorders:
                    out.append(ctx.fail(f, n, f"exports recordings to {client}, not a recorder of this site", "export to the site's rtpengine hosts only"))
                if "no_root_squash" in options or "insecure" in options or "root_squash" not in options:
                    out.append(ctx.fail(f, n, f"export to {client} has options {opts}: root on the client is root on the recordings", "render root_squash (and not insecure)"))
    return out


@check
def recording_rendered(ctx: FilesContext) -> Result:
    """Every call is recorded as rendered: the proxies ask rtpengine to record, and rtpengine has somewhere to write."""
    out = []
    mode = ctx.rec["mode"]
    for f in ctx.named(KAMAILIO_CFG):
        m = re.search(r"(?ms)^route\[MEDIA\]\s*\{(.*?)^\}", ctx.text(f))
        calls = re.findall(r'rtpengine_manage\("([^"]*)"\)', m.group(1)) if m else []
        if not calls or not all("record-call=on" in c for c in calls):
            out.append(ctx.fail(f, ctx.line_of(f, r"^route\[MEDIA\]"), "route[MEDIA] does not ask rtpengine to record every call (record-call=on)"
                                + ("" if mode == "all" else f": recording.mode is {mode}"), "set recording.mode: all; the template then renders record-call=on"))
    for h in [h for h in ctx.plan.hosts if h.role == "rtpengine"]:
        conf = ctx.of_host(h.name, RTPENGINE)
        s = _settings(ctx.text(conf)) if conf else {}
        if "recording-dir" not in s or "recording-method" not in s:
            out.append(ctx.fail(conf, 0, "rtpengine has no recording-dir/recording-method: it cannot record", "set recording.mode: all; the template then renders both",
                                host=h.name, path=RTPENGINE))
        rec = ctx.of_host(h.name, RECORDER)
        if rec and _settings(ctx.text(rec)).get("output-dir", ("",))[0] != ctx.rec["storage"]["path"]:
            out.append(ctx.fail(rec, ctx.line_of(rec, "^output-dir"), f"recordings are not written to {ctx.rec['storage']['path']}",
                                f"render output-dir = {ctx.rec['storage']['path']}"))
    return out


# rtpengine's own recording methods write one set of files per call, named after its Call-ID
CALL_NAMED_METHODS = ("pcap", "proc")


@check
def recordings_findable(ctx: FilesContext, formats: Iterable[str] = ("wav", "mp3"), pattern_tokens: Iterable[str] = ("%c",)) -> Result:
    """Recordings are replayable files whose names carry what finds one call again.

    Where a recorder (rtpengine-recording.conf) is rendered, its output-format and output-pattern
    are read; otherwise rtpengine's recording-method, whose files are named by Call-ID."""
    if ctx.rec["mode"] == "none":
        return NotApplicable("recording.mode is none")
    out = []
    for h in [h for h in ctx.plan.hosts if h.role == "rtpengine"]:
        rec = ctx.of_host(h.name, RECORDER)
        if rec is None:
            conf = ctx.of_host(h.name, RTPENGINE)
            method, n = _settings(ctx.text(conf)).get("recording-method", ("", 0)) if conf else ("", 0)
            if method not in CALL_NAMED_METHODS:
                out.append(ctx.fail(conf, n, f"recording-method {method or 'unset'}: recordings are not written per call",
                                    f"render recording-method = {CALL_NAMED_METHODS[0]}", host=h.name, path=RTPENGINE))
            continue
        s = _settings(ctx.text(rec))
        fmt, n = s.get("output-format", ("", 0))
        if fmt not in formats:
            out.append(ctx.fail(rec, n, f"output-format {fmt or 'unset'} is not one of {', '.join(formats)}", f"render output-format = {list(formats)[0]}"))
        pattern, n = s.get("output-pattern", ("", 0))
        missing = [t for t in pattern_tokens if t not in pattern]
        if missing:
            out.append(ctx.fail(rec, n, f"output-pattern {pattern or 'unset'} lacks {' '.join(missing)}: one call's recording cannot be found by its id and date",
                                f"render output-pattern with {' '.join(pattern_tokens)}"))
        storage, n = s.get("output-storage", ("file", 0))
        if "file" not in storage:
            out.append(ctx.fail(rec, n, f"output-storage is {storage}: no audio file is kept", "render output-storage = file"))
    return out


def _recording_ages(ctx: FilesContext) -> Result | list[tuple]:
    """(file, line, age seconds or None) of the recordings path on every recording host."""
    if ctx.rec["mode"] == "none":
        return NotApplicable("recording.mode is none")
    if ctx.rec["storage"]["kind"] in ("s3", "oss"):
        return NotApplicable(f"recordings are in {ctx.rec['storage']['kind']} object storage: its lifecycle rules are cloud resources, not evaluated yet")
    path = ctx.rec["storage"]["path"]
    ages = []
    for f in ctx.named(TMPFILES):
        found = _tmpfiles_line(ctx.text(f), path)
        if found:
            fields, n = found
            ages.append((f, n, tmpfiles_age(fields[5]) if len(fields) > 5 else None))
        else:
            ages.append((f, 0, None))
    return ages


@check
def retention_enforced_rendered(ctx: FilesContext) -> Result:
    """Recordings are deleted when their retention ends (tmpfiles Age on the recordings folder)."""
    ages = _recording_ages(ctx)
    if isinstance(ages, NotApplicable):
        return ages
    keep = ctx.plan.sizing.retention_days
    out = []
    for f, n, age in ages:
        if age is None:
            out.append(ctx.fail(f, n, f"nothing deletes recordings: they outlive their {keep}-day retention",
                                f"render the Age of {ctx.rec['storage']['path']} as {keep}d (templates/recording/etc/tmpfiles.d/trunkline-recordings.conf.j2)"))
        elif age > keep * 86400:
            out.append(ctx.fail(f, n, f"recordings are deleted after {format_duration(age)}, later than the {keep}-day retention", f"render Age {keep}d"))
    return out


@check
def no_early_deletion_rendered(ctx: FilesContext, minimum: str = "3y") -> Result:
    """Nothing rendered deletes recordings before `minimum` (a tmpfiles Age shorter than that)."""
    ages = _recording_ages(ctx)
    if isinstance(ages, NotApplicable):
        return ages
    need = parse_duration(minimum)
    return [ctx.fail(f, n, f"recordings are deleted after {format_duration(age)}, before the {minimum} they must be kept",
                     f"render an Age of at least {need // 86400}d, or '-'")
            for f, n, age in ages if age is not None and age < need]


# --- logging, users, availability ---------------------------------------------------------------------


@check
def security_events_logged(ctx: FilesContext) -> Result:
    """The proxies log to syslog, and log each refusal, flood block and recording pause."""
    out = []
    for f in ctx.named(KAMAILIO_CFG):
        text = ctx.text(f)
        lines = text.splitlines()
        if not re.search(r"(?m)^log_stderror\s*=\s*no", text) or not re.search(r"(?m)^log_facility\s*=\s*LOG_\w+", text):
            out.append(ctx.fail(f, ctx.line_of(f, "^log_"), "Kamailio does not log to syslog (log_stderror=no, log_facility)", "render log_stderror=no and log_facility=LOG_LOCAL0"))
        for n, line in enumerate(lines, 1):
            if 'sl_send_reply("403"' in line and not any("xlog(" in lines[j] for j in range(max(0, n - 4), n - 1)):
                out.append(ctx.fail(f, n, "a refusal (403) is not logged", "render an xlog line before the 403 naming the source"))
        if ctx.plan.security["pike"]:
            m = re.search(r"pike_check_req\(\)(.*?)exit;", text, re.S)
            if not m or "xlog(" not in m.group(1):
                out.append(ctx.fail(f, ctx.line_of(f, "pike_check_req"), "a flood block is not logged", "render an xlog line where pike blocks a source"))
        if ctx.rec["pause_on_payment"] and ctx.rec["mode"] != "none":
            for call in ("stop_recording()", "start_recording()"):
                n = ctx.line_of(f, re.escape(call))
                if n and not any("xlog(" in lines[j] for j in range(n, min(len(lines), n + 2))):
                    out.append(ctx.fail(f, n, f"{call} is not logged", "render an xlog line after it"))
    for f in ctx.named(RTPENGINE):
        if "log-facility" not in _settings(ctx.text(f)):
            out.append(ctx.fail(f, 0, "rtpengine has no log-facility: its events are not in syslog", "render log-facility = local1"))
    if not ctx.named(KAMAILIO_CFG):
        return NotApplicable("no SIP proxy is rendered")
    return out


@check
def unique_users_rendered(ctx: FilesContext) -> Result:
    """Agents authenticate as themselves: calls need auth, a registration matches its user, agent names are unique."""
    out = []
    for f in ctx.named(FS_INTERNAL):
        root = _xml(ctx, f, out)
        if root is None:
            continue
        params = _xml_params(root)
        for name in ("auth-calls", "inbound-reg-force-matching-username"):
            if params.get(name) != "true":
                out.append(ctx.fail(f, ctx.line_of(f, f'name="{name}"'), f"{name} is {params.get(name, 'unset')}: calls are not tied to one authenticated user",
                                    f'render <param name="{name}" value="true"/>'))
    for f in ctx.named(FS_CALLCENTER):
        root = _xml(ctx, f, out)
        if root is None:
            continue
        seen: dict[str, int] = {}
        for a in root.iter("agent"):
            name = a.get("name", "")
            seen[name] = seen.get(name, 0) + 1
            if f"user/{name}@" not in a.get("contact", ""):
                out.append(ctx.fail(f, ctx.line_of(f, f'agent name="{re.escape(name)}"'), f"agent {name} rings another user's phone", "render contact user/<agent>@domain"))
        for name, count in seen.items():
            if count > 1:
                out.append(ctx.fail(f, ctx.line_of(f, f'agent name="{re.escape(name)}"'), f"agent name {name} is used {count} times", "give each agent its own name"))
    if not ctx.named(FS_INTERNAL):
        return NotApplicable("no media node is rendered")
    return out


@check
def hot_standby_rendered(ctx: FilesContext, min_media_nodes: int = 2) -> Result:
    """Every site's proxies are a VRRP pair holding the VIP, and its dispatcher has spare media nodes."""
    out = []
    for site in ctx.plan.sites:
        proxies = [ctx.plan.host(n) for n in site.proxies]
        if len(proxies) < 2:
            out.append(Fail(Place("file", file=KEEPALIVED, host=site.proxies[0] if site.proxies else site.name),
                            f"site {site.name} has one SIP proxy: no VRRP pair is rendered", "set the site's sip_proxy: {ha: pair} in the blueprint"))
        for h in proxies if len(proxies) >= 2 else []:
            f = ctx.of_host(h.name, KEEPALIVED)
            text = ctx.text(f) if f else ""
            other = [p.address for p in proxies if p.name != h.name]
            problems = [what for what, ok in (
                ("vrrp_instance", "vrrp_instance" in text),
                (f"the VIP {site.vip}", re.search(rf"virtual_ipaddress\s*\{{[^}}]*\b{re.escape(site.vip)}/", text) is not None),
                (f"the peer {', '.join(other)}", all(re.search(rf"unicast_peer\s*\{{[^}}]*\b{re.escape(a)}\b", text) for a in other)),
                ("a health check (track_script)", "track_script" in text),
            ) if not ok]
            if problems:
                out.append(ctx.fail(f, 0, f"keepalived.conf lacks {', '.join(problems)}", "render the VRRP instance for the pair",
                                    host=h.name, path=KEEPALIVED))
        local = next((d for d in ctx.plan.dispatcher_sets if d.site == site.name and d.purpose == "local"), None)
        for name in site.proxies:
            f = ctx.of_host(name, DISPATCHER)
            if not f or local is None:
                continue
            count = sum(1 for line in ctx.text(f).splitlines() if line.split()[:1] == [str(local.id)])
            if count < min_media_nodes:
                out.append(ctx.fail(f, 0, f"dispatcher set {local.id} has {count} media node(s): no spare when one fails",
                                    f"give site {site.name} media.nodes: auto or {min_media_nodes}+"))
    return out
