"""The blueprint: a contact center described as data (pydantic v2, frozen).

This is the only shape read from YAML. Durations are written `240s`, `4m`, `2h`, `30d`,
`6mo`, `5y` and held as whole seconds. Secrets are references (`env:`, `file:`, `vault:`),
never literals. Cross-references between sections are checked in `cross_check()`, which
the loader runs after the schema has passed, so each problem points at its own field.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

API_VERSION = "trunkline/v1"

# --- scalar types ---------------------------------------------------------------------------

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400, "y": 365 * 86400}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w|mo|y)\s*$")
DURATION_HELP = "write a number and a unit: s, m, h, d, w, mo or y (e.g. 240s, 4m, 5y)"


def parse_duration(value: Any) -> int:
    """'240s' -> 240, '5y' -> 157680000. Bare numbers are refused: a unit is never implied."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration; {DURATION_HELP}")
    m = _DURATION_RE.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a duration; {DURATION_HELP}")
    return round(float(m.group(1)) * _UNITS[m.group(2)])


def format_duration(seconds: int) -> str:
    for unit in ("y", "mo", "w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    int,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": _DURATION_RE.pattern, "examples": ["240s", "4m", "5y"]}),
]

SECRET_SCHEMES = ("env", "file", "vault")
SECRET_HELP = "reference it instead: env:NAME, file:/path/to/secret or vault:path#key"


def _secret_ref(value: str) -> str:
    scheme, sep, rest = value.partition(":")
    if not sep or scheme not in SECRET_SCHEMES or not rest.strip():
        raise ValueError(f"a literal secret is not allowed here; {SECRET_HELP}")
    return value


SecretRef = Annotated[
    str,
    AfterValidator(_secret_ref),
    WithJsonSchema({"type": "string", "pattern": r"^(env|file|vault):.+$", "examples": ["env:CARRIER_A_PASSWORD"]}),
]

_NAME_RE = r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$"
Name = Annotated[str, Field(pattern=_NAME_RE, description="lower-case letters, digits and '-' (DNS label style)")]
Fraction = Annotated[float, Field(gt=0, lt=1)]


def _ip_address(value: str) -> str:
    return str(ipaddress.ip_address(value))


def _ip_network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a network address with a prefix, e.g. 10.10.0.0/24 ({exc})") from None


IPAddress = Annotated[str, AfterValidator(_ip_address)]
IPNetwork = Annotated[str, AfterValidator(_ip_network)]
Auto = Literal["auto"]


class _Model(BaseModel):
    """Frozen, unknown keys refused (the loader adds a 'did you mean' hint)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


# --- sections -------------------------------------------------------------------------------


class Metadata(_Model):
    name: Name = Field(description="center id; names the build and inventory folders")
    customer: str = Field(min_length=1)
    industry: Literal["finance", "health", "retail", "ecommerce", "government", "telecom", "logistics", "other"] = "other"
    labels: dict[str, str] = Field(default_factory=dict)


class ServiceLevel(_Model):
    answer_within: Duration = Field(description="answer time target, e.g. 20s")
    target: Fraction = Field(description="share of calls answered within the time, e.g. 0.80")


class Forecast(_Model):
    peak_calls_per_hour: float = Field(ge=0, description="offered calls in the busiest hour")
    average_handle_time: Duration = Field(description="talk + hold + wrap-up, e.g. 240s")
    service_level: ServiceLevel
    shrinkage: float = Field(0.0, ge=0, lt=1, description="share of paid time agents are not on the phones")
    max_occupancy: float = Field(1.0, gt=0, le=1, description="cap on agent occupancy, e.g. 0.85")
    daily_calls: int | None = Field(None, ge=0, description="calls per day; default 10 x the peak hour")
    outbound_share: float = Field(0.0, ge=0, le=1, description="share of traffic that is outbound (cost model)")


class SeatPool(_Model):
    pool: Name
    count: int | Auto = Field(description="agents in the pool, or auto to take the Erlang C result")
    skills: list[Name] = Field(default_factory=list)
    site: Name
    hosted: bool = Field(False, description="seats rented per seat-month from a hosted provider (cost model); agents still log in to this center")
    languages: list[str] = Field(default_factory=list)


class Credentials(_Model):
    username: str | None = None
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
    channels: int | Auto = "auto"
    grade_of_service: Fraction = 0.01
    codecs: list[Literal["PCMA", "PCMU", "G722", "G729", "OPUS"]] = Field(default_factory=lambda: ["PCMA"], min_length=1)
    peers: list[IPAddress] = Field(min_length=1, description="carrier signalling addresses")
    port: int | None = Field(None, ge=1, le=65535)
    sites: list[Name] = Field(default_factory=list, description="sites that terminate the trunk; default the primary")
    credentials: Credentials | None = None
    tls: TrunkTls | None = Field(None, description="mutual TLS: the carrier's CA; its peers must present a certificate it signed")
    topology_hiding: bool = Field(True, description="hide the site's addresses (Via, Record-Route, Contact) from the carrier")


class Network(_Model):
    cidr: IPNetwork


class SipProxy(_Model):
    ha: Literal["pair", "single"] = "pair"
    max_cps: Annotated[int, Field(ge=1, le=20_000)] | Auto = Field(
        "auto", description="new calls per second the site's edge must accept (sizes Kamailio's shared memory and "
        "workers); auto: ten times the center's busy-hour call rate, at least 100")
    media_relay: Literal["rtpengine", "none"] = Field(
        "rtpengine", description="rtpengine: a relay per proxy anchors, re-keys and records the media; none: the edge "
        "carries signalling only and media flows between the carriers and the media nodes (no recording at the edge)")


class Media(_Model):
    engine: Literal["freeswitch"] = "freeswitch"
    nodes: int | Auto = "auto"
    calls_per_node: int = Field(200, ge=1, description="concurrent calls one media node carries")


class Ssh(_Model):
    user: str = "root"
    port: int = Field(22, ge=1, le=65535)
    key: SecretRef | None = None
    bastion: str | None = None


class Site(_Model):
    name: Name
    kind: Literal["onprem", "cloud"]
    role: Literal["primary", "standby", "burst"]
    provider: Literal["aws", "azure", "gcp", "aliyun", "tencent", "private"] | None = None
    region: str | None = None
    timezone: str | None = None
    network: Network | None = None
    sip_proxy: SipProxy = Field(default_factory=SipProxy)
    media: Media = Field(default_factory=Media)
    ssh: Ssh | None = None


class MenuOption(_Model):
    queue: Name | None = None
    menu: Name | None = None
    say: str | None = None


class IvrMenu(_Model):
    name: Name
    greeting: str = Field(min_length=1, description="sound file or phrase macro played first")
    language: str | None = None
    timeout: Duration = 10
    options: dict[Annotated[str, Field(pattern=r"^[0-9*#]$")], MenuOption] = Field(default_factory=dict)
    entry: bool = Field(False, description="calls from the trunks land here")


class Queue(_Model):
    name: Name
    skill: Name
    strategy: Literal["longest-idle-agent", "round-robin", "top-down", "ring-all", "agent-with-least-talk-time"] = "longest-idle-agent"
    max_wait: Duration = 300
    announce_every: Duration = 30
    moh: str = "local_stream://moh"


class Storage(_Model):
    kind: Literal["local", "nfs", "s3", "oss"] = "local"
    path: str = "/var/spool/trunkline/recordings"
    bucket: str | None = None
    encryption: Literal["none", "aes-256"] = "aes-256"
    worm: bool = False
    key: SecretRef | None = None


class Recording(_Model):
    mode: Literal["all", "on-demand", "none"] = "all"
    format: Literal["wav", "mp3", "opus"] = "opus"
    pause_on_payment: bool = False
    on_demand_share: Fraction = Field(0.1, description="share of calls recorded when mode is on-demand")
    storage: Storage = Field(default_factory=Storage)
    retention: Duration = 365 * 86400


class Security(_Model):
    sip_tls_min: Literal["1.0", "1.1", "1.2", "1.3"] = "1.2"
    srtp: Literal["required", "optional", "off"] = "optional"
    admin_cidrs: list[IPNetwork] = Field(default_factory=list)
    pike: bool = Field(True, description="rate-limit SIP floods per source (Kamailio pike)")
    pike_requests: int = Field(30, ge=1, description="requests per source per 2 s before blocking")


class Upgrades(_Model):
    strategy: Literal["blue-green", "rolling"] = "blue-green"
    canary_percent: int = Field(20, ge=1, le=100)


class Dr(_Model):
    rto: Duration = 300
    rpo: Duration = 900


class Spec(_Model):
    timezone: str = "UTC"
    timezones: list[str] = Field(default_factory=list, description="further time zones served")
    languages: list[str] = Field(default_factory=lambda: ["en-US"], min_length=1)
    forecast: Forecast
    seats: list[SeatPool] = Field(min_length=1)
    trunks: list[Trunk] = Field(min_length=1)
    sites: list[Site] = Field(min_length=1)
    ivr: list[IvrMenu] = Field(default_factory=list)
    queues: list[Queue] = Field(default_factory=list)
    recording: Recording = Field(default_factory=Recording)
    security: Security = Field(default_factory=Security)
    compliance: list[Literal["baseline", "pci-dss-4", "hipaa", "mifid-2", "mlps-3", "gdpr", "finance-retention"]] = Field(default_factory=list)
    upgrades: Upgrades = Field(default_factory=Upgrades)
    dr: Dr = Field(default_factory=Dr)


class Center(_Model):
    apiVersion: Literal["trunkline/v1"] = Field(alias="apiVersion")
    kind: Literal["Center"]
    metadata: Metadata
    spec: Spec


Blueprint = Center

# --- cross-references -----------------------------------------------------------------------

Loc = tuple[Union[str, int], ...]


def cross_check(center: Center) -> list[tuple[Loc, str, str]]:
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

    primaries = [s for s in spec.sites if s.role == "primary"]
    if not primaries:
        if trunk.tls and trunk.transport != "tls":
            out.append((("spec", "trunks", i, "tls"), f"a carrier CA is declared but the trunk's transport is {trunk.transport!r}", "set transport: tls or remove tls"))
        out.append((("spec", "sites"), "no site has role primary", "set role: primary on the site that carries the calls"))
    for i, site in enumerate(spec.sites):
        if site.kind == "cloud" and site.provider is None:
            out.append((("spec", "sites", i, "provider"), "a cloud site needs a provider", "set provider: aws, azure, gcp, aliyun, tencent or private"))
        if site.kind == "onprem" and site.provider not in (None, "private"):
            out.append((("spec", "sites", i, "provider"), f"an onprem site cannot run on {site.provider!r}", "drop provider or set kind: cloud"))
        if site.sip_proxy.media_relay == "none" and spec.recording.mode != "none":
            out.append((("spec", "sites", i, "sip_proxy", "media_relay"), f"calls are recorded (recording.mode {spec.recording.mode}) "
                        "and rtpengine records them, but this site has no media relay", "set media_relay: rtpengine, or recording.mode: none"))
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

    rec = spec.recording
    if rec.storage.kind in ("s3", "oss") and not rec.storage.bucket:
        out.append((("spec", "recording", "storage", "bucket"), f"storage kind {rec.storage.kind} needs a bucket", "set bucket: NAME"))
    if rec.storage.worm and rec.storage.kind not in ("s3", "oss"):
        out.append((("spec", "recording", "storage", "worm"), "WORM (object lock) needs object storage", "set kind: s3 or oss, or worm: false"))
    return out
