"""The blueprint: a contact center described as data (pydantic v2, frozen).

This is the only shape read from YAML. Durations are written `240s`, `4m`, `2h`, `30d`,
`6mo`, `5y` and held as whole seconds. Secrets are references (`env:`, `file:`, `vault:`),
never literals. Cross-references between sections are checked in `cross_check()`, which
the loader runs after the schema has passed, so each problem points at its own field.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import ipaddress
import math
import re
import unicodedata
import zoneinfo
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

from trunkline.durations import BLUEPRINT as BLUEPRINT_SPANS, format_span, parse_span

API_VERSION = "trunkline/v1"

# --- scalar types ---------------------------------------------------------------------------

# --- limits: every bound on a blueprint, in one place (the README's "Limits" table) ----------
# load.py refuses a file over MAX_FILE_BYTES before reading it, and a document that expands to
# more than MAX_NODES values (an alias counts its anchor's values each time it is used) or nests
# deeper than MAX_DEPTH while composing it, so no input costs more than about a second and a
# few tens of MB. The model bounds every string, list and number; cross_check() bounds totals.
MAX_FILE_BYTES = 256 * 1024  # a blueprint file or layer (the reference acme-bank.yaml is 5 KB)
MAX_NODES = 20_000  # values in one document after aliases are expanded
MAX_DEPTH = 32  # nesting of mappings and lists (a blueprint needs 7)
MAX_ITEMS = 256  # items of any list or mapping
MAX_TEXT = 200  # characters of free text (customer, IVR say)
MAX_PATH = 255  # characters of a path, sound reference or secret reference
MAX_SEATS = 100_000  # agents: one pool, all fixed pools, and the least the forecast needs
MAX_CALLS_PER_HOUR = 2_000_000  # busy-hour calls (100,000 agents at 3 min handle time)
MAX_CHANNELS = 200_000  # channels of one trunk, and of all fixed-size trunks together
MAX_MEDIA_NODES = 1_000  # media nodes of one site, fixed or the most auto could give
MAX_SITES = 32  # sites of one center
MIN_CALLS_PER_NODE, MAX_CALLS_PER_NODE = 10, 10_000  # concurrent calls one media node carries
MAX_PIKE_REQUESTS = 100_000  # pike_requests per source per 2 s


def show(value: Any) -> str:
    """A value as an error message quotes it: repr (control characters escaped), cut to 40 characters."""
    if isinstance(value, int) and value.bit_length() > 128:  # str() of a huge int is slow, or refused
        return f"a number of about {int(value.bit_length() * 0.30103)} digits"
    text = repr(value)
    return text if len(text) <= 42 else f"{text[:40]}… ({len(value) if isinstance(value, str) else len(text)} characters)"


def _string(check: Any, *, max_length: int, schema: dict, min_length: int = 1) -> Any:
    """A str type: length bounds first (cheap, before any pattern), then `check`; the schema says both."""
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length),
        AfterValidator(check),
        WithJsonSchema({"type": "string", "minLength": min_length, "maxLength": max_length, **schema}),
    ]


def _pattern(pattern: str, what: str, fix: str) -> Any:
    """A check by a full-match regular expression; the message quotes the value (cut) and the rule."""
    rx = re.compile(pattern)

    def check(value: str) -> str:
        if not rx.fullmatch(value):
            raise ValueError(f"{show(value)} is not {what}; {fix}")
        return value

    return check


def _typed(pattern: str, what: str, fix: str, max_length: int, examples: list[str], description: str) -> Any:
    return _string(_pattern(pattern, what, fix), max_length=max_length,
                   schema={"pattern": pattern, "examples": examples, "description": description})


# durations (read by trunkline/durations.py, the one parser of time spans)

DURATION_HELP = "write a number and a unit: s, m, h, d, w, mo or y (e.g. 240s, 4m, 5y)"


def parse_duration(value: Any) -> int:
    """'240s' -> 240, '5y' -> 157680000. Bare numbers are refused: a unit is never implied."""
    if isinstance(value, bool) or not isinstance(value, str) or len(value) > 32:
        raise ValueError(f"{show(value)} is not a duration; {DURATION_HELP}")
    try:
        return parse_span(value, BLUEPRINT_SPANS)
    except ValueError:
        raise ValueError(f"{show(value)} is not a duration; {DURATION_HELP}") from None


format_duration = format_span


def duration(least: int, most: int) -> Any:
    """A duration of `least` to `most` seconds (a range that means something for its field)."""

    def check(seconds: int) -> int:
        if not least <= seconds <= most:
            raise ValueError(f"{format_duration(seconds)!r} is out of range; give a duration from "
                             f"{format_duration(least)} to {format_duration(most)}")
        return seconds

    return Annotated[
        int,
        BeforeValidator(parse_duration),
        AfterValidator(check),
        PlainSerializer(format_duration, return_type=str, when_used="json"),
        WithJsonSchema({"type": "string", "pattern": BLUEPRINT_SPANS.pattern, "examples": ["240s", "4m", "5y"],
                        "description": f"{format_duration(least)} to {format_duration(most)}"}),
    ]


Duration = duration(0, 100 * 365 * 86400)

# secret references: a strict grammar per scheme, so a reference is inert wherever it is written
# (an XML attribute, a shell line); messages about them never quote the value

SECRET_SCHEMES = ("env", "file", "vault")
SECRET_HELP = "reference it instead: env:NAME, file:/path/to/secret or vault:path#key"
# an absolute path: segments of POSIX portable file name characters, never '.' or '..', no '//' or trailing '/'
_ABS_PATH = r"(?:/(?!\.\.?(?:/|$))[A-Za-z0-9._-]+)+"
_VAULT_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}"
_SECRET_RULES = {
    "env": (r"env:[A-Za-z_][A-Za-z0-9_]{0,127}",
            "an env: reference names a variable: letters, digits and _, not starting with a digit, at most 128",
            "write env:NAME, e.g. env:CARRIER_PASSWORD"),
    "file": (rf"file:~?{_ABS_PATH}",
             "a file: reference is an absolute, normalised path (no '..', '//' or trailing '/') of letters, "
             "digits and . _ -, or ~/ and such a path for the home folder",
             "write file:/path/to/secret or file:~/.ssh/NAME"),
    "vault": (rf"vault:{_VAULT_SEGMENT}(?:/{_VAULT_SEGMENT})*#{_VAULT_SEGMENT}",
              "a vault: reference is path#key: path segments and a key of letters, digits and . _ -",
              "write vault:secret/team/name#key"),
}
SECRET_REF_PATTERN = "^(?:" + "|".join(rule for rule, _, _ in _SECRET_RULES.values()) + ")$"


class SecretMarker:
    """Annotated metadata that marks a field as holding a secret reference (load.py never quotes it)."""


SECRET = SecretMarker()


def _secret_ref(value: str) -> str:
    scheme, sep, _ = value.partition(":")
    if not sep or scheme not in _SECRET_RULES:
        raise ValueError(f"a literal secret is not allowed here; {SECRET_HELP}")
    rule, what, fix = _SECRET_RULES[scheme]
    if not re.fullmatch(rule, value):
        raise ValueError(f"{what}; {fix}")
    return value


def _file_only(value: str) -> str:
    if not value.startswith("file:"):
        raise ValueError("this key stays a file on the operator's machine: only a file: reference works here; "
                         "write file:~/.ssh/NAME or file:/path/to/key")
    return value


_SECRET_DESCRIPTION = ("a secret reference, never the secret: env:NAME (a variable name), file:/absolute/path or "
                       "file:~/path (the home folder), vault:path#key")
SecretRef = Annotated[
    str,
    SECRET,
    StringConstraints(min_length=1, max_length=MAX_PATH),
    AfterValidator(_secret_ref),
    WithJsonSchema({"type": "string", "maxLength": MAX_PATH, "pattern": SECRET_REF_PATTERN, "writeOnly": True,
                    "description": _SECRET_DESCRIPTION, "examples": ["env:CARRIER_A_PASSWORD", "vault:secret/acme/sip#password"]}),
]
FileRef = Annotated[
    SecretRef,
    AfterValidator(_file_only),
    WithJsonSchema({"type": "string", "maxLength": MAX_PATH, "pattern": "^" + _SECRET_RULES["file"][0] + "$", "writeOnly": True,
                    "description": "a file on the operator's machine: file:/absolute/path or file:~/path (the home folder)",
                    "examples": ["file:~/.ssh/deploy"]}),
]

# names and identifiers

_NAME_RE = r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$"
Name = Annotated[str, Field(pattern=_NAME_RE, description="lower-case letters, digits and '-' (DNS label style)")]
Fraction = Annotated[float, Field(gt=0, lt=1)]
Slug = _typed(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", "a cloud region name", "use lower-case letters, digits and '-'",
              63, ["eu-central-1", "cn-hangzhou"], "a cloud region: lower-case letters, digits and '-'")
Language = _typed(r"[A-Za-z]{2,3}(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|[0-9]{3}))?", "a language tag",
                  "write language-REGION as in BCP 47, e.g. en-US, zh-CN, zh-Hans-CN", 16, ["en-US", "zh-CN"],
                  "a BCP 47 language tag: language, optional script, optional region (en-US, zh-Hans-CN)")
LabelKey = _typed(r"[a-z0-9](?:[a-z0-9._/-]{0,61}[a-z0-9])?", "a label key",
                  "use lower-case letters, digits and . _ / -, starting and ending with a letter or digit", 63,
                  ["cost-center"], "lower-case letters, digits and . _ / - (at most 63)")
LabelValue = _typed(r"(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?", "a label value",
                    "use letters, digits and . _ -, starting and ending with a letter or digit", 63,
                    ["cc-4711"], "letters, digits and . _ - (at most 63; may be empty)")
Label = LabelValue
SipUser = _typed(r"[A-Za-z0-9+][A-Za-z0-9._+-]{0,63}", "a SIP user name", "use letters, digits and . _ + -", 64,
                 ["acme-trunk"], "letters, digits and . _ + - (at most 64)")
PosixUser = _typed(r"[a-z_][a-z0-9_-]{0,31}", "a user name", "use lower-case letters, digits, _ and -, starting with a "
                   "letter or _ (POSIX, at most 32)", 32, ["deploy"], "a POSIX user name")
Bucket = _typed(r"(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "a bucket name",
                "use 3 to 63 lower-case letters, digits, '.' and '-' (S3/OSS bucket rules)", 63, ["acme-recordings"],
                "an S3/OSS bucket name")
# sounds FreeSWITCH plays: a file under its sound folder (or absolute), or a phrase macro
_SOUND = r"/?[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(?:/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})*"
_SOUND_HELP = "write a sound file such as ivr/welcome.wav or a phrase macro such as phrase:welcome (letters, digits, . _ - and /)"
SoundRef = _typed(rf"{_SOUND}|phrase:[A-Za-z0-9_][A-Za-z0-9_.-]{{0,63}}", "a sound file or phrase macro", _SOUND_HELP,
                  MAX_PATH, ["ivr/acme-welcome.wav", "phrase:welcome"],
                  "a sound file (relative to the sound folder, or absolute) or phrase:MACRO; letters, digits, . _ - and /")
MusicOnHold = _typed(rf"local_stream://[A-Za-z0-9_][A-Za-z0-9_.-]{{0,63}}|{_SOUND}", "a music-on-hold source",
                     "write local_stream://NAME or a sound file such as moh/queue.wav", MAX_PATH, ["local_stream://moh"],
                     "local_stream://NAME or a sound file")


def _time_zone(value: str) -> str:
    zones = time_zones()
    if value not in zones:
        close = difflib.get_close_matches(value, sorted(zones), n=1) if len(value) <= 64 else []
        hint = f"did you mean {close[0]!r}?" if close else "write a name such as Europe/Berlin, Asia/Shanghai or UTC"
        raise ValueError(f"{show(value)} is not a time zone of the IANA database; {hint}")
    return value


@functools.cache
def time_zones() -> frozenset[str]:
    """The IANA names: the tzdata package's list (one small file, the list available_timezones() starts
    from, the same on every machine); without tzdata, what the system's zoneinfo has. 'localtime' (a
    link to the host's own setting on some systems) names no zone."""
    try:
        text = importlib.resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
        return frozenset(text.split())
    except (ImportError, OSError):
        return frozenset(zoneinfo.available_timezones() - {"localtime"})


TimeZone = _string(_time_zone, max_length=64, schema={"examples": ["Europe/Berlin", "UTC"],
                                                      "description": "a time zone of the IANA database (zoneinfo)"})

# free text: bounded, no control or format characters, none of the characters that start an
# expansion or markup in a target ($ and ` in shells and FreeSWITCH, { } in Ansible's Jinja, < > in XML)

_TEXT_REFUSED = set("$`{}<>\\")


def _text(value: str) -> str:
    for ch in value:
        if ch in _TEXT_REFUSED or unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp"):
            raise ValueError(f"{show(value)} contains {show(ch)}; free text takes letters, digits, spaces and "
                             "punctuation, but no control characters and none of $ ` { } < > \\")
    return value


Text = _string(_text, max_length=MAX_TEXT, schema={
    "pattern": r"^[^\u0000-\u001f\u007f-\u009f$`{}<>\\]*$",
    "description": f"free text, at most {MAX_TEXT} characters: no control characters and none of $ ` {{ }} < > \\"})

_SAY_PUNCTUATION = set(" .,:;'?_/-")


def _say(value: str) -> str:
    bad = next((ch for ch in value if ch not in _SAY_PUNCTUATION and unicodedata.category(ch)[0] not in "LMN"), None)
    if bad is not None or "//" in value or ".." in value:
        what = f"contains {show(bad)}" if bad is not None else "contains '//' or '..'"
        raise ValueError(f"{show(value)} {what}; a prompt takes letters of any script, digits, spaces and "
                         ". , : ; ' ? _ / - only (FreeSWITCH expands $ { } and reads ! [ ] ^ |), without '//' or '..'")
    return value


Say = _string(_say, max_length=MAX_TEXT, schema={
    # JSON Schema regexes have no portable \p{L}: this refuses what the validator refuses, outside letters
    "pattern": r"^(?!.*//)(?!.*\.\.)[^\u0000-\u001f\u007f-\u009f!\"#$%&()*+<=>@\[\\\]^`{|}~]*$",
    "description": "a prompt or sound played before the option's transfer (text, phrase:MACRO or a sound file): "
                   "letters of any script, digits, spaces and . , : ; ' ? _ / - only; no '//' (no URLs) and no '..'"})

# paths on the hosts: absolute, normalised, portable characters

_SYSTEM_DIRS = {"bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "root", "run", "sbin", "sys", "usr"}


def _storage_path(value: str) -> str:
    if not re.fullmatch(_ABS_PATH, value):
        raise ValueError(f"{show(value)} is not an absolute, normalised path; use /folder/sub of letters, digits and "
                         ". _ - (no '..', '//', trailing '/', spaces or control characters)")
    parts = value.split("/")[1:]
    if len(parts) < 2 or parts[0] in _SYSTEM_DIRS:
        raise ValueError(f"{show(value)} is a system folder or a top-level one; recordings need a folder of their "
                         "own, e.g. /srv/recordings or /var/spool/trunkline/recordings")
    return value


StoragePath = _string(_storage_path, max_length=MAX_PATH, schema={
    "pattern": f"^{_ABS_PATH}$", "examples": ["/var/spool/trunkline/recordings"],
    "description": "an absolute, normalised path (letters, digits and . _ -; no '..', '//' or trailing '/'), two "
                   "folders deep at least and outside the system folders (/etc, /usr, ...)"})

# SSH: ProxyJump syntax, [user@]host[:port]

_DNS_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
_BASTION_RE = re.compile(rf"(?:([a-z_][a-z0-9_-]{{0,31}})@)?(?:\[([0-9A-Fa-f:.]+)\]|({_DNS_NAME}))(?::([0-9]{{1,5}}))?")


def _bastion(value: str) -> str:
    m = _BASTION_RE.fullmatch(value)
    ok = bool(m) and (m.group(4) is None or 1 <= int(m.group(4)) <= 65535)
    if ok and m.group(2):
        try:
            ok = ipaddress.ip_address(m.group(2)).version == 6
        except ValueError:
            ok = False
    if not ok:
        raise ValueError(f"{show(value)} is not [user@]host[:port]; write a DNS name or an IP address (IPv6 in "
                         "brackets), e.g. jump.example.com or deploy@192.0.2.5:2222")
    return value


Bastion = _string(_bastion, max_length=300, schema={
    "pattern": rf"^([a-z_][a-z0-9_-]{{0,31}}@)?(\[[0-9A-Fa-f:.]+\]|{_DNS_NAME})(:[0-9]{{1,5}})?$",
    "examples": ["jump.acme.example", "deploy@192.0.2.5:2222"],
    "description": "the jump host, as ssh's ProxyJump takes it: [user@]host[:port], host a DNS name or an IP address"})

# addresses: no IPv6 scope (ipaddress accepts any text after '%', newlines included)


def _ip_address(value: str) -> str:
    if "%" in value:
        raise ValueError(f"{show(value)} has a scope (%...); write the address without it")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{show(value)} does not appear to be an IPv4 or IPv6 address; write e.g. 192.0.2.10") from None


def _ip_network(value: str) -> str:
    try:
        if "%" in value:
            raise ValueError("a scope (%...) is not allowed")
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a network address with a prefix ({exc}); write e.g. 10.10.0.0/24") from None


IPAddress = Annotated[str, StringConstraints(max_length=64), AfterValidator(_ip_address)]
IPNetwork = Annotated[str, StringConstraints(max_length=64), AfterValidator(_ip_network)]
Auto = Literal["auto"]


def items(kind: Any, least: int = 0, most: int = MAX_ITEMS) -> Any:
    """A list of at most `most` items (every list in the blueprint is bounded)."""
    return Annotated[list[kind], Field(min_length=least, max_length=most)]


class _Model(BaseModel):
    """Frozen, unknown keys refused (the loader adds a 'did you mean' hint); no inf or nan anywhere."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False)


# --- sections -------------------------------------------------------------------------------


class Metadata(_Model):
    name: Name = Field(description="center id; names the build and inventory folders")
    customer: Text = Field(description="who the center is for, shown in plans and reports")
    industry: Literal["finance", "health", "retail", "ecommerce", "government", "telecom", "logistics", "other"] = "other"
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=64)


class ServiceLevel(_Model):
    answer_within: duration(1, 3600) = Field(description="answer time target, e.g. 20s")
    target: Fraction = Field(description="share of calls answered within the time, e.g. 0.80")


class Forecast(_Model):
    peak_calls_per_hour: float = Field(ge=0, le=MAX_CALLS_PER_HOUR, description="offered calls in the busiest hour")
    average_handle_time: duration(1, 2 * 3600) = Field(description="talk + hold + wrap-up, e.g. 240s")
    service_level: ServiceLevel
    shrinkage: float = Field(0.0, ge=0, le=0.9, description="share of paid time agents are not on the phones")
    max_occupancy: float = Field(1.0, ge=0.3, le=1, description="cap on agent occupancy, e.g. 0.85")
    daily_calls: int | None = Field(None, ge=0, le=24 * MAX_CALLS_PER_HOUR, description="calls per day; default 10 x the peak hour")
    outbound_share: float = Field(0.0, ge=0, le=1, description="share of traffic that is outbound (cost model)")
    ivr_time: duration(0, 3600) = Field(0, description="mean time a caller spends in the IVR before joining a queue, "
                                        "e.g. 20s; it holds a trunk channel (not an agent)")
    after_call_work: duration(0, 2 * 3600) = Field(0, description="the part of average_handle_time spent after the "
                                                   "caller hung up (wrap-up), e.g. 30s; it holds an agent, not a trunk channel")


class SeatPool(_Model):
    pool: Name
    count: Annotated[int, Field(ge=1, le=MAX_SEATS)] | Auto = Field(
        description=f"agents in the pool (1 to {MAX_SEATS:,}), or auto to take the Erlang C result")
    skills: items(Name) = Field(default_factory=list)
    site: Name
    hosted: bool = Field(False, description="seats rented per seat-month from a hosted provider (cost model); agents still log in to this center")
    languages: items(Language) = Field(default_factory=list)


class Credentials(_Model):
    username: SipUser | None = None
    secret: SecretRef


def _file_ref(value: str) -> str:
    if not value.startswith("file:"):
        raise ValueError("the carrier's CA is a certificate file: give it as file:/path/to/ca.pem")
    return value


class TrunkTls(_Model):
    """Mutual TLS with the carrier: its CA signs the client certificate it must present."""

    ca: Annotated[SecretRef, AfterValidator(_file_ref)] = Field(
        description="the carrier's CA certificate (PEM), a file: reference on the operator's machine")
    verify: bool = Field(True, description="refuse the carrier's TLS connections without a certificate its CA signed")


class Trunk(_Model):
    name: Name
    transport: Literal["udp", "tcp", "tls"] = "tls"
    channels: Annotated[int, Field(ge=1, le=MAX_CHANNELS)] | Auto = "auto"
    grade_of_service: float = Field(0.01, ge=0.0001, le=0.5, description="share of busy-hour calls that may find every channel busy")
    codecs: items(Literal["PCMA", "PCMU", "G722", "G729", "OPUS"], 1, 5) = Field(default_factory=lambda: ["PCMA"])
    peers: items(IPAddress, 1) = Field(description="carrier signalling addresses")
    port: int | None = Field(None, ge=1, le=65535)
    sites: items(Name) = Field(default_factory=list, description="sites that terminate the trunk; default the primary")
    credentials: Credentials | None = None
    tls: TrunkTls | None = Field(None, description="mutual TLS: the carrier's CA; its peers must present a certificate it signed")
    topology_hiding: bool = Field(True, description="hide the site's addresses (Via, Record-Route, Contact) from the carrier")
    weight: float = Field(1.0, gt=0, le=1000, description="the trunk's part of the traffic of the sites it serves, "
                          "relative to the other trunks that serve them: 7 and 3 when the carriers route 70 % and 30 %")


class Network(_Model):
    cidr: IPNetwork


class SipProxy(_Model):
    ha: Literal["pair", "single"] = "pair"
    max_cps: Annotated[int, Field(ge=1, le=20_000)] | Auto = Field(
        "auto", description="new calls per second the site's edge must accept (sizes Kamailio's shared memory and "
        "workers); auto: ten times the center's busy-hour call rate, at least 100")
    media_relay: Literal["rtpengine", "none"] = Field(
        "rtpengine", description="rtpengine: a relay per proxy anchors and re-keys the media; none: the edge carries "
        "signalling only and media flows between the carriers and the media nodes (which record calls either way)")


class Media(_Model):
    engine: Literal["freeswitch"] = "freeswitch"
    nodes: Annotated[int, Field(ge=1, le=MAX_MEDIA_NODES)] | Auto = "auto"
    calls_per_node: int = Field(200, ge=MIN_CALLS_PER_NODE, le=MAX_CALLS_PER_NODE, description="concurrent calls one media node carries")


class Ssh(_Model):
    user: PosixUser = "root"
    port: int = Field(22, ge=1, le=65535)
    key: FileRef | None = None
    bastion: Bastion | None = None


class CloudEdge(_Model):
    """How callers reach a cloud site's SIP proxy pair (the cloud stacks read it; sites on-prem have none)."""

    address: Literal["elastic-ip", "load-balancer"] = Field(
        "elastic-ip", description="elastic-ip: one public address that keepalived's master takes (VRRP unicast inside "
        "the network); load-balancer: a network load balancer in front of both proxies (TCP/TLS and UDP)")
    public: bool = Field(
        False, description="open SIP and the RTP range to any address (0.0.0.0/0), e.g. for agents' softphones on "
        "the internet; by default only the trunks' peers and the center's own networks reach them")


class Site(_Model):
    name: Name
    kind: Literal["onprem", "cloud"]
    role: Literal["primary", "standby", "burst"]
    provider: Literal["aws", "azure", "gcp", "aliyun", "tencent", "private", "kubernetes"] | None = Field(
        None, description="where a cloud site runs: a public cloud (aws: the AWS stack deploys it), private, or "
        "kubernetes: a cluster the operator runs or rents, whose nodes hold the plan's addresses (the Kubernetes stack)")
    region: Slug | None = None
    timezone: TimeZone | None = None
    network: Network | None = None
    sip_proxy: SipProxy = Field(default_factory=SipProxy)
    media: Media = Field(default_factory=Media)
    ssh: Ssh | None = None
    edge: CloudEdge | None = Field(None, description="cloud sites: how callers reach the SIP proxies (default: an "
                                   "elastic IP open only to the trunks' peers)")
    standby_for: list[Name] = Field(default_factory=list, max_length=32, description=(
        "a standby site: the primary sites it takes over in a disaster (their DR route and their agents). "
        "Default, with one standby: every primary; with several standbys each names its own"))
    standby_sizing: Literal["sum", "largest"] = Field("sum", description=(
        "a standby that covers several primaries: sized for all of them at once (sum) or for the largest one"))


class MenuOption(_Model):
    queue: Name | None = None
    menu: Name | None = None
    say: Say | None = None


class IvrMenu(_Model):
    name: Name
    greeting: SoundRef = Field(description="sound file or phrase macro played first")
    language: Language | None = None
    timeout: duration(1, 300) = 10
    options: dict[Annotated[str, Field(pattern=r"^[0-9*#]$")], MenuOption] = Field(default_factory=dict, max_length=12)
    entry: bool = Field(False, description="calls from the trunks land here")


class Queue(_Model):
    name: Name
    skill: Name
    strategy: Literal["longest-idle-agent", "round-robin", "top-down", "ring-all", "agent-with-least-talk-time"] = "longest-idle-agent"
    max_wait: duration(1, 86400) = 300
    announce_every: duration(1, 3600) = 30
    moh: MusicOnHold = "local_stream://moh"


class Storage(_Model):
    kind: Literal["local", "nfs", "s3", "oss"] = "local"
    path: StoragePath = "/var/spool/trunkline/recordings"
    bucket: Bucket | None = None
    encryption: Literal["none", "aes-256"] = "aes-256"
    worm: bool = False
    key: SecretRef | None = None


class Recording(_Model):
    mode: Literal["all", "on-demand", "none"] = "all"
    format: Literal["wav", "mp3", "opus"] = "opus"
    pause_on_payment: bool = False
    on_demand_share: Fraction = Field(0.1, description="share of calls recorded when mode is on-demand")
    storage: Storage = Field(default_factory=Storage)
    retention: duration(86400, 100 * 365 * 86400) = 365 * 86400


class Security(_Model):
    sip_tls_min: Literal["1.0", "1.1", "1.2", "1.3"] = "1.2"
    srtp: Literal["required", "optional", "off"] = "optional"
    admin_cidrs: items(IPNetwork) = Field(default_factory=list)
    pike: bool = Field(True, description="rate-limit SIP floods per source (Kamailio pike)")
    pike_requests: int = Field(30, ge=1, le=MAX_PIKE_REQUESTS, description="requests per source per 2 s before blocking")
    event_socket_password: SecretRef = Field(
        "env:TRUNKLINE_EVENT_SOCKET_PASSWORD", description="password of FreeSWITCH's event socket (loopback only) "
        "on every media node, a reference resolved at apply time; never the public default ClueCon")
    agent_sip_password: SecretRef = Field(
        "env:TRUNKLINE_AGENT_SIP_PASSWORD", description="SIP digest password with which agents' phones register "
        "to the media nodes (FreeSWITCH's directory), a reference resolved at apply time; one credential for "
        "every agent of the center: per-agent credentials need the center's own provisioning")


class Upgrades(_Model):
    strategy: Literal["blue-green", "rolling", "manual"] = Field(
        "blue-green", description="blue-green or rolling: `trunkline rollout` changes the running center host by host; "
        "manual: it refuses, and changes are applied by hand (trunkline apply)")
    canary_percent: int = Field(20, ge=1, le=100, description="share of each site's media nodes a rollout changes and soaks first")
    drain_timeout: duration(10, 86400) = Field(900, description="how long a rollout waits for a drained host's calls to end; "
                                                "calls still up then end with its restart and are reported")


class Dr(_Model):
    rto: duration(1, 30 * 86400) = 300
    rpo: duration(0, 30 * 86400) = 900


class Spec(_Model):
    timezone: TimeZone = "UTC"
    timezones: items(TimeZone) = Field(default_factory=list, description="further time zones served")
    languages: items(Language, 1) = Field(default_factory=lambda: ["en-US"])
    forecast: Forecast
    seats: items(SeatPool, 1) = Field()
    trunks: items(Trunk, 1) = Field()
    sites: items(Site, 1, MAX_SITES) = Field()
    ivr: items(IvrMenu) = Field(default_factory=list)
    queues: items(Queue) = Field(default_factory=list)
    recording: Recording = Field(default_factory=Recording)
    security: Security = Field(default_factory=Security)
    compliance: items(Literal["baseline", "pci-dss-4", "hipaa", "mifid-2", "mlps-3", "gdpr", "finance-retention"]) = Field(default_factory=list)
    upgrades: Upgrades = Field(default_factory=Upgrades)
    dr: Dr = Field(default_factory=Dr)


# A whole blueprint document (kind: Center); the pipeline object that carries it is trunkline.center.Center.
class Blueprint(_Model):
    model_config = ConfigDict(title="Center")  # the JSON Schema's title stays the document's kind

    apiVersion: Literal["trunkline/v1"] = Field(alias="apiVersion")
    kind: Literal["Center"]
    metadata: Metadata
    spec: Spec


# --- cross-references -----------------------------------------------------------------------

Loc = tuple[Union[str, int], ...]


def cross_check(center: Blueprint) -> list[tuple[Loc, str, str]]:
    """Checks that need more than one field: (location, what is wrong, how to fix it)."""
    spec = center.spec
    out: list[tuple[Loc, str, str]] = []

    def unique(items: list, key: str, section: str) -> None:
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            name = getattr(item, key)
            if name in seen:
                out.append(((("spec", section, i, key)), f"{name!r} is used twice (also at {section}[{seen[name]}])", f"give each {key} a unique value"))
            seen.setdefault(name, i)

    unique(spec.sites, "name", "sites")
    unique(spec.seats, "pool", "seats")
    unique(spec.trunks, "name", "trunks")
    unique(spec.ivr, "name", "ivr")
    unique(spec.queues, "name", "queues")

    sites = {s.name: s for s in spec.sites}
    site_list = ", ".join(sites)
    for i, pool in enumerate(spec.seats):
        if pool.site not in sites:
            out.append((("spec", "seats", i, "site"), f"site {pool.site!r} is not defined", f"use one of {site_list} or add it to spec.sites"))
    for i, trunk in enumerate(spec.trunks):
        for j, name in enumerate(trunk.sites):
            if name not in sites:
                out.append((("spec", "trunks", i, "sites", j), f"site {name!r} is not defined", f"use one of {site_list}"))
        if trunk.transport != "tls" and spec.security.srtp == "required":
            out.append((("spec", "trunks", i, "transport"), f"{trunk.transport!r} carries SDP keys in clear while security.srtp is required", "set transport: tls"))
        if trunk.tls and trunk.transport != "tls":
            out.append((("spec", "trunks", i, "tls"), f"a carrier CA is declared but the trunk's transport is {trunk.transport!r}", "set transport: tls or remove tls"))

    primaries = [s for s in spec.sites if s.role == "primary"]
    if not primaries:
        out.append((("spec", "sites"), "no site has role primary", "set role: primary on the site that carries the calls"))
    for i, site in enumerate(spec.sites):
        if site.kind == "cloud" and site.provider is None:
            out.append((("spec", "sites", i, "provider"), "a cloud site needs a provider", "set provider: aws, azure, gcp, aliyun, tencent, kubernetes or private"))
        if site.kind == "onprem" and site.provider not in (None, "private"):
            out.append((("spec", "sites", i, "provider"), f"an onprem site cannot run on {site.provider!r}", "drop provider or set kind: cloud"))
        if site.edge and site.kind != "cloud":
            out.append((("spec", "sites", i, "edge"), "edge describes a cloud site's public address, but this site is on-prem",
                        "drop edge or set kind: cloud"))
    out.extend(_standby_pairing(spec))
    nets = [(i, ipaddress.ip_network(s.network.cidr)) for i, s in enumerate(spec.sites) if s.network]
    for a, (i, net) in enumerate(nets):
        for j, other in nets[a + 1:]:
            if net.overlaps(other):
                out.append((("spec", "sites", j, "network", "cidr"), f"{other} overlaps {net} of spec.sites[{i}]", "give every site its own address range"))

    skills = {s for pool in spec.seats for s in pool.skills}
    for i, q in enumerate(spec.queues):
        if q.skill not in skills:
            known = ", ".join(sorted(skills)) or "none yet"
            out.append((("spec", "queues", i, "skill"), f"no seat pool has skill {q.skill!r}", f"add it to a pool's skills (known: {known})"))
    queues = {q.name for q in spec.queues}
    menus = {m.name for m in spec.ivr}
    for i, menu in enumerate(spec.ivr):
        for digit, opt in menu.options.items():
            targets = [t for t in (opt.queue, opt.menu) if t]
            if len(targets) != 1:
                out.append((("spec", "ivr", i, "options", digit), "an option needs exactly one of queue or menu", "write {queue: NAME} or {menu: NAME}"))
            if opt.queue and opt.queue not in queues:
                out.append((("spec", "ivr", i, "options", digit, "queue"), f"queue {opt.queue!r} is not defined", f"use one of {', '.join(sorted(queues)) or 'spec.queues (empty)'}"))
            if opt.menu and opt.menu not in menus:
                out.append((("spec", "ivr", i, "options", digit, "menu"), f"menu {opt.menu!r} is not defined", f"use one of {', '.join(sorted(menus))}"))
    if spec.ivr and sum(m.entry for m in spec.ivr) != 1:
        out.append((("spec", "ivr"), "exactly one IVR menu must be the entry point", "set entry: true on the menu callers hear first"))

    out.extend(_totals(spec))

    rec = spec.recording
    if rec.storage.kind in ("s3", "oss") and not rec.storage.bucket:
        out.append((("spec", "recording", "storage", "bucket"), f"storage kind {rec.storage.kind} needs a bucket", "set bucket: NAME"))
    if rec.storage.worm and rec.storage.kind not in ("s3", "oss"):
        out.append((("spec", "recording", "storage", "worm"), "WORM (object lock) needs object storage", "set kind: s3 or oss, or worm: false"))
    return out



def _standby_pairing(spec: Spec) -> list[tuple[Loc, str, str]]:
    """standby_for names primaries, only on standby sites, each primary at most once; with several
    standbys every one names what it covers (no guessing which primary goes where)."""
    out: list[tuple[Loc, str, str]] = []
    roles = {s.name: s.role for s in spec.sites}
    primaries = ", ".join(n for n, r in roles.items() if r == "primary")
    standbys = [(i, s) for i, s in enumerate(spec.sites) if s.role == "standby"]
    covered: dict[str, str] = {}
    for i, site in enumerate(spec.sites):
        if site.standby_for and site.role != "standby":
            out.append((("spec", "sites", i, "standby_for"), f"site {site.name} is {site.role}; only a standby site takes over others",
                        "drop standby_for or set role: standby"))
            continue
        for j, name in enumerate(site.standby_for):
            where = ("spec", "sites", i, "standby_for", j)
            if roles.get(name) != "primary":
                what = f"site {name!r} is not defined" if name not in roles else f"site {name} is {roles[name]}, not primary"
                out.append((where, what, f"name primary sites: {primaries}"))
            elif name in covered:
                out.append((where, f"primary {name} is already taken over by standby {covered[name]}",
                            "give each primary one standby"))
            else:
                covered[name] = site.name
    if len(standbys) > 1:
        for i, site in standbys:
            if not site.standby_for:
                out.append((("spec", "sites", i, "standby_for"), f"with {len(standbys)} standby sites, standby {site.name} "
                            "does not say which primaries it takes over", f"list them, e.g. standby_for: [{primaries.split(', ')[0]}]"))
    return out


def _totals(spec: Spec) -> list[tuple[Loc, str, str]]:
    """Bounds on totals that no single field sees; they keep sizing, planning and rendering bounded."""
    out: list[tuple[Loc, str, str]] = []
    fixed_seats = sum(p.count for p in spec.seats if p.count != "auto")
    if fixed_seats > MAX_SEATS:
        out.append((("spec", "seats"), f"the seat pools hold {fixed_seats:,} agents, more than the {MAX_SEATS:,} of one center",
                    "lower the counts or split the center"))
    fc = spec.forecast
    erlangs = fc.peak_calls_per_hour * fc.average_handle_time / 3600
    least = erlangs / fc.max_occupancy / (1 - fc.shrinkage)  # Erlang C never gives fewer agents
    if least > MAX_SEATS:
        out.append((("spec", "forecast", "peak_calls_per_hour"),
                    f"{fc.peak_calls_per_hour:,.0f} calls an hour of {format_duration(fc.average_handle_time)} need at least "
                    f"{math.ceil(least):,} agents (at {fc.max_occupancy:.0%} occupancy, {fc.shrinkage:.0%} shrinkage), "
                    f"more than the {MAX_SEATS:,} of one center", "check the figures (calls in the busiest hour) or split the center"))
        return out  # the channel bound below would only repeat it
    if fc.after_call_work >= fc.average_handle_time:
        out.append((("spec", "forecast", "after_call_work"),
                    f"{format_duration(fc.after_call_work)} of after-call work leaves no talk time in an average handle "
                    f"time of {format_duration(fc.average_handle_time)}", "give the wrap-up part of average_handle_time only"))
    fixed_channels = sum(t.channels for t in spec.trunks if t.channels != "auto")
    if fixed_channels > MAX_CHANNELS:
        out.append((("spec", "trunks"), f"the trunks have {fixed_channels:,} channels, more than the {MAX_CHANNELS:,} of one center",
                    "lower the channels or set channels: auto"))
    # the most concurrent calls any site can get: every fixed channel, and the auto trunks' traffic a_i
    # with what Erlang B adds (a + 4 sqrt(a) + 12 bounds it at any grade of service >= 0.0001), summed over
    # trunks at most A + 4 sqrt(autos A) + 12 autos; a call holds a trunk for the IVR, at most the
    # longest max_wait in queue, and its talk time
    longest_wait = max((q.max_wait for q in spec.queues), default=Queue.model_fields["max_wait"].default)
    held = fc.ivr_time + longest_wait + max(0, fc.average_handle_time - fc.after_call_work)
    trunk_erlangs = fc.peak_calls_per_hour * held / 3600
    autos = sum(t.channels == "auto" for t in spec.trunks)
    most_calls = fixed_channels + (trunk_erlangs + 4 * math.sqrt(autos * trunk_erlangs) + 12 * autos if autos else 0)
    for i, site in enumerate(spec.sites):
        if site.media.nodes == "auto" and math.ceil(most_calls / site.media.calls_per_node) + 1 > MAX_MEDIA_NODES:
            need = math.ceil(most_calls / (MAX_MEDIA_NODES - 1))
            out.append((("spec", "sites", i, "media", "calls_per_node"),
                        f"at {site.media.calls_per_node} calls per node this site could need more than {MAX_MEDIA_NODES:,} media "
                        f"nodes for up to {most_calls:,.0f} concurrent calls", f"set calls_per_node to {need} or more, or a fixed nodes count"))
    return out
