"""Blueprint -> Plan: sizing and topology, as pure, deterministic data.

The plan is everything the renderers and targets read; none of them look at the blueprint
again. Same blueprint, same plan, same JSON bytes.

Layout rules (written here once, shown by `trunkline plan`):
  * every site gets a SIP proxy pair (or one proxy with `sip_proxy.ha: single`) holding a VIP,
    one rtpengine per proxy (none with `sip_proxy.media_relay: none`), its media nodes, and a
    recording store when recordings are kept on a file system (local/nfs; object storage needs
    no host);
  * traffic splits over primary and burst sites by their seats; a standby site is sized for the
    primaries it takes over (sites[].standby_for; one standby covers every primary by default):
    their sum, or the largest with standby_sizing: largest. Each primary's DR dispatcher set is
    its standby's media;
  * auto trunk channels: Erlang B on the busy-hour traffic at the trunk's grade of service,
    shared evenly by the auto trunks; auto media nodes: ceil(site calls / calls_per_node) + 1;
  * addresses from the site CIDR: .1 gateway, .2 VIP, hosts from .10 in the order
    proxies, rtpengines, recording, media. A site without a CIDR gets 10.250.<n>.0/24.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import ipaddress
import json
import math
import zoneinfo
from pathlib import Path

from pydantic import BaseModel, ConfigDict, computed_field

from trunkline.blueprint.models import Blueprint, Site
from trunkline.errors import PlanError
from trunkline.plan import sizing

PLAN_VERSION = 1
HOST_OFFSET = 10  # first host address inside a site network
SIP_PORT = 5060
SIP_TLS_PORT = 5061
MEDIA_SIP_PORT = 5080  # FreeSWITCH external profile: where the proxies send calls
RTP_PORTS = (30000, 40000)  # rtpengine relay range; FreeSWITCH uses FREESWITCH_RTP_PORTS
FREESWITCH_RTP_PORTS = (16384, 32768)  # FreeSWITCH's stock range; its allocator takes even ends only
RTPENGINE_NG_PORT = 2223  # rtpengine's control protocol, driven by the proxies
NFS_PORTS = (111, 2049, 20048)  # rpcbind, nfsd, mountd: the recording store serves the site's media nodes
SIP_BAN_SECONDS = 300  # pike's bans last as long in the kernel (nftables) as in Kamailio's htable (autoexpire=300)
SIP_PACKETS_PER_CALL = 10  # a carrier peer's INVITE, ACK, BYE, answers and retransmissions per call
VRRP_ADVERT_S = 0.1  # sub-second adverts so a lost master is replaced well inside the RTO
# days of logs each pack asks hosts to keep (PCI DSS 10.5.1: 12 months; MLPS 3: six months)
LOG_RETENTION_DAYS = {"pci-dss-4": 365, "hipaa": 365, "mifid-2": 365, "mlps-3": 180}
LOG_RETENTION_DEFAULT_DAYS = 90


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True)


class HaPlan(_Data):
    group: str
    vrid: int
    priority: int
    state: str  # MASTER or BACKUP at start
    peer: str  # the other proxy's address (unicast VRRP)
    vip: str
    advert_int: float


class Host(_Data):
    name: str
    site: str
    role: str  # sip-proxy | rtpengine | media | recording
    address: str
    prefix: int
    interface: str = "eth0"
    ha: HaPlan | None = None


class Destination(_Data):
    host: str
    uri: str
    weight: int
    priority: int


class DispatcherSet(_Data):
    id: int
    site: str
    purpose: str  # local media, or dr (media of the standby site)
    destinations: list[Destination]


class SeatPlan(_Data):
    pool: str
    site: str
    agents: int
    skills: list[str]
    hosted: bool
    auto: bool


class TrunkPlan(_Data):
    name: str
    transport: str
    port: int
    peers: list[str]
    sites: list[str]
    codecs: list[str]
    channels: int
    auto: bool
    grade_of_service: float
    weight: float  # its part of the traffic of the sites it ends at, relative to the others there
    traffic_erlangs: float  # busy-hour traffic it carries (calls x the time each holds a channel)
    blocking: float
    bandwidth_kbps: float
    username: str | None
    secret_ref: str | None
    tls_ca_ref: str | None = None  # mutual TLS: the carrier's CA (a file: reference)
    tls_verify: bool = False  # its peers must present a certificate that CA signed
    topology_hiding: bool = True


class SshPlan(_Data):
    """How the operator's machine reaches a site's servers (the blueprint's sites[].ssh)."""

    user: str = "root"
    port: int = 22
    key: str | None = None  # a file: reference; None: ssh-agent or ~/.ssh defaults
    bastion: str | None = None  # [user@]host[:port], an OpenSSH ProxyJump


class SitePlan(_Data):
    name: str
    kind: str
    role: str
    provider: str | None
    region: str | None
    timezone: str
    cidr: str
    gateway: str
    vip: str
    ha: str
    seats: int
    traffic_share: float
    concurrent_calls: int
    media_nodes: int
    calls_per_node: int
    bandwidth_kbps: float
    proxies: list[str]
    rtpengines: list[str]
    media: list[str]
    recording: list[str]
    dispatcher_sets: list[int]
    edge_cps: int  # new calls per second the edge is sized for (sip_proxy.max_cps)
    sip_packets_per_source: int  # the proxies' firewall drops a source sending more SIP packets a second
    kamailio_children: int  # UDP workers per socket of the proxies
    kamailio_tcp_children: int
    kamailio_shm_mb: int
    kamailio_pkg_mb: int
    covers: list[str] = []  # a standby site: the primaries whose calls and agents it takes over in a disaster
    ssh: SshPlan | None = None  # on-prem sites: how targets reach the hosts

    @computed_field  # in the plan's JSON too: templates rendered elsewhere (benchmarks: ansible-core) see it
    @property
    def ssh_port(self) -> int:
        return (self.ssh or SshPlan()).port


class SizingPlan(_Data):
    traffic_erlangs: float
    agents: int
    scheduled_agents: int
    seats_total: int
    service_level: float
    service_level_target: float
    answer_within_s: int
    occupancy: float
    asa_s: float
    ivr_time_s: int  # forecast.ivr_time
    queue_wait_s: float  # the mean wait in queue (asa_s), at most the longest queue max_wait
    talk_s: int  # the handle time while the caller is on the line: AHT less forecast.after_call_work
    trunk_holding_s: float  # a call holds a channel: ivr_time_s + queue_wait_s + talk_s
    trunk_traffic_erlangs: float
    channels: int
    concurrent_calls: int
    codec: str
    bandwidth_per_call_kbps: float
    bandwidth_kbps: float
    daily_calls: int
    recorded_share: float
    recording_format: str
    retention_days: int
    storage_bytes: int


class Plan(_Data):
    plan_version: int
    center: str
    customer: str
    industry: str
    source: str
    blueprint_sha256: str
    timezone: str
    timezones: list[str]
    timezone_rules: dict[str, str] = {}  # every zone the center uses -> its POSIX TZ rule (FreeSWITCH's timezones.conf)
    languages: list[str]
    sizing: SizingPlan
    seats: list[SeatPlan]
    trunks: list[TrunkPlan]
    sites: list[SitePlan]
    hosts: list[Host]
    dispatcher_sets: list[DispatcherSet]
    # sections the renderers need verbatim (already validated, JSON-safe)
    ivr: list[dict]
    queues: list[dict]
    recording: dict
    security: dict
    compliance: list[str]
    log_retention_days: int
    upgrades: dict
    dr: dict
    warnings: list[str]

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def site(self, name: str) -> SitePlan:
        return next(s for s in self.sites if s.name == name)

    def hosts_of(self, site: str, role: str | None = None) -> list[Host]:
        return [h for h in self.hosts if h.site == site and (role is None or h.role == role)]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


def posix_rule(zone: str) -> str:
    """An IANA zone's POSIX TZ rule ('Asia/Shanghai' -> 'CST-8'): the footer line of its TZif file
    (RFC 8536), from the tzdata package so every machine gives the same, else the system's zoneinfo."""
    try:
        data = importlib.resources.files("tzdata.zoneinfo").joinpath(*zone.split("/")).read_bytes()
    except (ImportError, OSError):
        data = next((Path(p) / zone).read_bytes() for p in zoneinfo.TZPATH if (Path(p) / zone).is_file())
    return data.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode("ascii")


def blueprint_digest(center: Blueprint) -> str:
    """sha256 of the validated blueprint (not of the file), so layers and --set count."""
    canon = json.dumps(center.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def _kamailio_memory_mb(concurrent_calls: int, cps: float) -> tuple[int, int]:
    """Shared memory for transactions; the 64 MB default is too small under load.

    A call makes two transactions (INVITE, BYE) of 8-16 KB each, held until answered and then
    5 s on tm's wait timer: about 20 transaction-seconds of 16 KB per call per second, plus
    16 KB per call up and 64 MB for modules, TLS and the dispatcher; a power of two.
    (128 MB ran out at 800 calls/s in the lab: "build_cell(): could not allocate shared memory".)
    """
    need = 64 + (concurrent_calls + cps * 20) * 16 / 1024
    shm = 1 << max(7, math.ceil(math.log2(need)))  # at least 128 MB
    return shm, 16 if shm <= 512 else 32


def _kamailio_workers(edge_cps: int, relayed: bool, concurrent_calls: int) -> tuple[int, int]:
    """UDP and TCP workers per socket of the site's proxies.

    UDP workers wait on rtpengine for every offer, answer and delete (3 round trips a call, about
    1 ms each on a LAN): enough for the edge's rate keep the socket drained, 16 to 32 (64 cost more
    CPU in context switches than they saved). Without a media relay none waits: Kamailio's default
    of 8 keeps up (58 cost twice the CPU per call of 8 on 2 cores). TCP/TLS: 4 to 8, by the
    center's concurrent calls.
    """
    udp = max(16, min(32, math.ceil(edge_cps * 3 * 0.001) + 8)) if relayed else 8
    return udp, max(4, min(8, concurrent_calls // 200 + 2))


SEATS_OVER_FORECAST = 1.5  # fixed seats above this multiple of the forecast's agents: a plan warning


def _split_agents(center: Blueprint, required: int) -> list[SeatPlan]:
    """Seats per pool: a fixed pool keeps its count; the auto pools share, evenly, what the Erlang C
    result (agents to schedule) leaves after the fixed pools (none when the fixed pools cover it)."""
    pools = center.spec.seats
    fixed = sum(p.count for p in pools if p.count != "auto")
    autos = [p for p in pools if p.count == "auto"]
    rest = max(0, required - fixed)
    share = [rest // len(autos) + (1 if i < rest % len(autos) else 0) for i in range(len(autos))] if autos else []
    out, k = [], 0
    for p in pools:
        if p.count == "auto":
            n, k = share[k], k + 1
        else:
            n = p.count
        out.append(SeatPlan(pool=p.pool, site=p.site, agents=n, skills=list(p.skills), hosted=p.hosted, auto=p.count == "auto"))
    return out


def _site_network(site: Site, index: int, taken: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    if site.network:
        return ipaddress.ip_network(site.network.cidr)
    for third in range(250, 256):
        for n in range(index, 256):
            cand = ipaddress.ip_network(f"10.{third}.{n}.0/24")
            if not any(cand.overlaps(t) for t in taken):
                return cand
    raise PlanError(f"site {site.name}: no free /24 for an automatic network; set spec.sites[{index}].network.cidr")


def standby_cover(spec) -> dict[str, list[str]]:
    """Standby site -> the primaries it takes over: as each declares (standby_for), or with one
    standby that declares none, every primary (the blueprint's validation refuses the rest)."""
    standbys = [s for s in spec.sites if s.role == "standby"]
    if len(standbys) == 1 and not standbys[0].standby_for:
        return {standbys[0].name: [s.name for s in spec.sites if s.role == "primary"]}
    return {s.name: list(s.standby_for) for s in standbys}


def _trunk_loads(spec, primary: str, share: dict[str, float], traffic: float, warnings: list[str]) -> list[float]:
    """Each trunk's busy-hour traffic in Erlangs. A site's calls (its share of `traffic`) come in over the
    trunks that end there, split by their weights; a standby's trunks are sized for the primary it takes
    over, and count only where they serve no site that carries calls every day."""
    ends = [list(t.sites) or [primary] for t in spec.trunks]
    weight = [t.weight for t in spec.trunks]
    roles = {s.name: s.role for s in spec.sites}
    loads = [0.0] * len(spec.trunks)
    for site in spec.sites:
        here = [i for i, e in enumerate(ends) if site.name in e]
        if site.role == "standby":
            here = [i for i in here if all(roles[x] == "standby" for x in ends[i])]
        elif not here and share.get(site.name, 0) > 0:
            warnings.append(f"site {site.name} takes {share[site.name]:.0%} of the calls but no trunk ends there; its "
                            "traffic is counted on every trunk by weight: add the site to a trunk's sites")
            here = list(range(len(spec.trunks)))
        total = sum(weight[i] for i in here)
        for i in here:
            loads[i] += traffic * share.get(site.name, 0) * weight[i] / total
    return loads


def build_plan(center: Blueprint, source: str = "<blueprint>") -> Plan:
    spec = center.spec
    fc = spec.forecast
    warnings: list[str] = []

    agents = sizing.erlang_c_agents(
        fc.peak_calls_per_hour, fc.average_handle_time, fc.service_level.answer_within,
        fc.service_level.target, shrinkage=fc.shrinkage, max_occupancy=fc.max_occupancy,
    )
    seats = _split_agents(center, agents.scheduled)
    seats_total = sum(s.agents for s in seats)
    if seats_total < agents.scheduled:
        warnings.append(
            f"the seat pools hold {seats_total} agents but the forecast needs {agents.scheduled} "
            f"({agents.agents} on the phones at {fc.shrinkage:.0%} shrinkage); add seats or a pool with count: auto"
        )
    elif seats_total > SEATS_OVER_FORECAST * max(agents.scheduled, 1) and seats_total - agents.scheduled >= 5:
        # the service level and channels describe the forecast's agents, while cost prices every seat
        warnings.append(
            f"the seat pools hold {seats_total} agents, {seats_total / max(agents.scheduled, 1):.1f} times the "
            f"{agents.scheduled} the forecast needs: the service level, trunks and media are sized for the forecast, "
            f"the cost for {seats_total} seats; lower the fixed counts or raise spec.forecast.peak_calls_per_hour"
        )

    # traffic per site by seats; a standby is sized for the primaries it covers (their sum, or the largest)
    primary = next(s for s in spec.sites if s.role == "primary")
    active_seats = {s.name: 0 for s in spec.sites}
    for sp in seats:
        active_seats[sp.site] += sp.agents
    serving = [s for s in spec.sites if s.role != "standby"]
    serving_seats = sum(active_seats[s.name] for s in serving) or 1
    share = {s.name: active_seats[s.name] / serving_seats for s in serving}
    if not any(share.values()):
        share[primary.name] = 1.0
    covers = standby_cover(spec)
    for s in spec.sites:
        if s.role == "standby":
            shares = [share.get(p, 0) for p in covers[s.name]]
            share[s.name] = (sum(shares) if s.standby_sizing == "sum" else max(shares, default=0))
        if s.role != "standby" and active_seats[s.name] == 0 and share.get(s.name, 0) == 0:
            warnings.append(f"site {s.name} is {s.role} but no seat pool sits there; it is sized for 0 calls")

    # trunks: a call holds a channel for the IVR, its wait in queue and its talk time, so the trunks carry
    # more traffic than the agents; each site's calls come in over the trunks that end there, split by weight
    queue_wait = max((q.max_wait for q in spec.queues), default=None)  # callers are let go then
    held = sizing.trunk_holding_s(fc.average_handle_time, agents.asa_s, fc.ivr_time, fc.after_call_work, queue_wait)
    trunk_traffic = fc.peak_calls_per_hour * held / 3600
    talk = fc.average_handle_time - fc.after_call_work
    loads = _trunk_loads(spec, primary.name, share, trunk_traffic, warnings)
    trunks: list[TrunkPlan] = []
    for i, t in enumerate(spec.trunks):
        codec = t.codecs[0]
        load = loads[i]
        if t.channels == "auto":
            channels = max(1, sizing.erlang_b_channels(load, t.grade_of_service)) if load > 0 else 1
        else:
            channels = t.channels
        blocking = sizing.erlang_b(load, channels) if load > 0 else 0.0
        if blocking > t.grade_of_service:
            need = sizing.erlang_b_channels(load, t.grade_of_service)
            warnings.append(
                f"trunk {t.name}: {channels} channels block {blocking:.1%} of its {load:.1f} E, above the "
                f"{t.grade_of_service:.1%} grade of service; set spec.trunks[{i}].channels to {need} or auto"
            )
        trunks.append(TrunkPlan(
            name=t.name, transport=t.transport,
            port=t.port or (SIP_TLS_PORT if t.transport == "tls" else SIP_PORT),
            peers=list(t.peers), sites=list(t.sites) or [primary.name], codecs=list(t.codecs),
            channels=channels, auto=t.channels == "auto", grade_of_service=t.grade_of_service,
            weight=t.weight, traffic_erlangs=round(load, 4),
            blocking=round(blocking, 6), bandwidth_kbps=round(sizing.trunk_bandwidth_kbps(channels, codec), 1),
            username=t.credentials.username if t.credentials else None,
            secret_ref=t.credentials.secret if t.credentials else None,
            tls_ca_ref=t.tls.ca if t.tls else None, tls_verify=bool(t.tls and t.tls.verify),
            topology_hiding=t.topology_hiding,
        ))
    channels_total = sum(t.channels for t in trunks)
    codec = spec.trunks[0].codecs[0]
    if 0 < channels_total < agents.agents:
        warnings.append(
            f"the trunks have {channels_total} channels for {agents.agents} agents on the phones: callers find every "
            f"channel busy while agents wait for calls; give the trunks at least {agents.agents} channels (fixed "
            f"channels, or a lower grade_of_service for auto ones)"
        )

    hosts: list[Host] = []
    sites: list[SitePlan] = []
    taken = [ipaddress.ip_network(s.network.cidr) for s in spec.sites if s.network]
    rec = spec.recording
    record_host = rec.mode != "none" and rec.storage.kind in ("local", "nfs")
    site_media: dict[str, list[Host]] = {}
    for idx, site in enumerate(spec.sites):
        net = _site_network(site, idx, taken)
        if not site.network:
            taken.append(net)
            warnings.append(f"site {site.name} has no network.cidr; it was given {net}")
        concurrent = math.ceil(channels_total * share[site.name] - 1e-9)
        n_media = site.media.nodes if site.media.nodes != "auto" else sizing.media_nodes(concurrent, site.media.calls_per_node)
        if site.media.nodes != "auto" and n_media * site.media.calls_per_node < concurrent:
            # the same for any site; for a standby, what it must carry is what it takes over
            carries = (f"takes over {', '.join(covers[site.name])} with {concurrent} calls at once" if site.role == "standby"
                       else f"carries {concurrent} calls at once")
            warnings.append(f"site {site.name} {carries}, but its {n_media} media nodes of {site.media.calls_per_node} calls "
                            f"hold {n_media * site.media.calls_per_node}; set spec.sites[{idx}].media.nodes to "
                            f"{sizing.media_nodes(concurrent, site.media.calls_per_node)} or auto")
        pair = site.sip_proxy.ha == "pair"
        edge_cps = site.sip_proxy.max_cps if site.sip_proxy.max_cps != "auto" else max(100, math.ceil(10 * fc.peak_calls_per_hour / 3600))
        shm, pkg = _kamailio_memory_mb(concurrent, edge_cps)
        children, tcp_children = _kamailio_workers(edge_cps, site.sip_proxy.media_relay == "rtpengine", channels_total)
        per_source = max(100, edge_cps * SIP_PACKETS_PER_CALL)  # one carrier peer may send the edge's whole rate
        names = (
            [(f"{site.name}-sip{i}", "sip-proxy") for i in (1, 2)][: 2 if pair else 1]
            + [(f"{site.name}-rtp{i}", "rtpengine") for i in (1, 2)][: (2 if pair else 1) if site.sip_proxy.media_relay == "rtpengine" else 0]
            + ([(f"{site.name}-rec1", "recording")] if record_host else [])
            + [(f"{site.name}-media{i}", "media") for i in range(1, n_media + 1)]
        )
        usable = net.num_addresses - 2 if net.prefixlen < 31 else 0
        if HOST_OFFSET + len(names) > usable:
            raise PlanError(
                f"site {site.name}: {net} has room for {max(0, usable - HOST_OFFSET)} hosts but the plan needs "
                f"{len(names)}; set spec.sites[{idx}].network.cidr to a larger range (e.g. /{max(8, 32 - math.ceil(math.log2(HOST_OFFSET + len(names) + 2)))})"
            )
        gateway, vip = str(net.network_address + 1), str(net.network_address + 2)
        proxies = [n for n, r in names if r == "sip-proxy"]
        vrid = 10 + idx  # unique per site; pairs of different sites never share a segment in the lab
        site_hosts = []
        for i, (name, role) in enumerate(names):
            addr = str(net.network_address + HOST_OFFSET + i)
            ha = None
            if role == "sip-proxy" and pair:
                me = proxies.index(name)
                peer = str(net.network_address + HOST_OFFSET + (1 - me))
                ha = HaPlan(group=f"{site.name}-sip", vrid=vrid, priority=150 - 50 * me, state="MASTER" if me == 0 else "BACKUP",
                            peer=peer, vip=vip, advert_int=VRRP_ADVERT_S)
            site_hosts.append(Host(name=name, site=site.name, role=role, address=addr, prefix=net.prefixlen, ha=ha))
        hosts.extend(site_hosts)
        site_media[site.name] = [h for h in site_hosts if h.role == "media"]
        sites.append(SitePlan(
            name=site.name, kind=site.kind, role=site.role, provider=site.provider, region=site.region,
            timezone=site.timezone or spec.timezone, cidr=str(net), gateway=gateway, vip=vip,
            ha=site.sip_proxy.ha, seats=active_seats[site.name], traffic_share=round(share[site.name], 6),
            concurrent_calls=concurrent, media_nodes=n_media, calls_per_node=site.media.calls_per_node,
            bandwidth_kbps=round(sizing.trunk_bandwidth_kbps(concurrent, codec), 1),
            proxies=proxies, rtpengines=[n for n, r in names if r == "rtpengine"],
            media=[n for n, r in names if r == "media"], recording=[n for n, r in names if r == "recording"],
            dispatcher_sets=[], edge_cps=edge_cps, sip_packets_per_source=per_source,
            kamailio_children=children, kamailio_tcp_children=tcp_children, kamailio_shm_mb=shm, kamailio_pkg_mb=pkg,
            covers=covers.get(site.name, []),
            ssh=SshPlan(**site.ssh.model_dump()) if site.ssh else None,
        ))

    # dispatcher: set <site index + 1> = the site's own media; a primary also gets its standby's media as DR set
    sets: list[DispatcherSet] = []
    standby_of = {p: sb for sb, ps in covers.items() for p in ps}
    for idx, site in enumerate(spec.sites):
        media = site_media[site.name]
        weight = max(1, 100 // max(1, len(media)))
        sets.append(DispatcherSet(id=idx + 1, site=site.name, purpose="local", destinations=[
            Destination(host=h.name, uri=f"sip:{h.address}:{MEDIA_SIP_PORT}", weight=weight, priority=0) for h in media]))
    for idx, site in enumerate(spec.sites):
        if site.role == "primary" and site.name in standby_of:
            sb = standby_of[site.name]
            media = site_media[sb]
            weight = max(1, 100 // max(1, len(media)))
            sets.append(DispatcherSet(id=100 + idx + 1, site=site.name, purpose=f"dr:{sb}", destinations=[
                Destination(host=h.name, uri=f"sip:{h.address}:{MEDIA_SIP_PORT}", weight=weight, priority=0) for h in media]))
        elif site.role == "primary" and covers:
            warnings.append(f"primary {site.name} has no standby: no standby site names it in standby_for, so its calls have "
                            "no disaster-recovery route; add it to a standby's standby_for")
    sites = [s.model_copy(update={"dispatcher_sets": [d.id for d in sets if d.site == s.name]}) for s in sites]

    daily = fc.daily_calls if fc.daily_calls is not None else round(fc.peak_calls_per_hour * 10)
    recorded = {"all": 1.0, "on-demand": rec.on_demand_share, "none": 0.0}[rec.mode]
    retention_days = math.ceil(rec.retention / 86400)
    storage = sizing.recording_storage_bytes(daily, fc.average_handle_time, rec.format, retention_days, recorded) if recorded else 0

    plan = Plan(
        plan_version=PLAN_VERSION, center=center.metadata.name, customer=center.metadata.customer,
        industry=center.metadata.industry, source=source, blueprint_sha256=blueprint_digest(center),
        timezone=spec.timezone, timezones=[spec.timezone] + [z for z in spec.timezones if z != spec.timezone],
        timezone_rules={z: posix_rule(z) for z in sorted({spec.timezone, *spec.timezones, *(s.timezone for s in sites)})},
        languages=list(spec.languages),
        sizing=SizingPlan(
            traffic_erlangs=round(agents.traffic_erlangs, 4), agents=agents.agents, scheduled_agents=agents.scheduled,
            seats_total=seats_total, service_level=round(agents.service_level, 4), service_level_target=fc.service_level.target,
            answer_within_s=fc.service_level.answer_within, occupancy=round(agents.occupancy, 4), asa_s=round(agents.asa_s, 2),
            ivr_time_s=fc.ivr_time, queue_wait_s=round(held - fc.ivr_time - talk, 2), talk_s=talk,
            trunk_holding_s=round(held, 2), trunk_traffic_erlangs=round(trunk_traffic, 4),
            channels=channels_total, concurrent_calls=channels_total, codec=codec,
            bandwidth_per_call_kbps=round(sizing.call_bandwidth_kbps(codec), 1),
            bandwidth_kbps=round(sizing.trunk_bandwidth_kbps(channels_total, codec), 1),
            daily_calls=daily, recorded_share=recorded, recording_format=rec.format, retention_days=retention_days,
            storage_bytes=storage,
        ),
        seats=seats, trunks=trunks, sites=sites, hosts=hosts, dispatcher_sets=sets,
        ivr=[m.model_dump() for m in spec.ivr],
        queues=[q.model_dump() for q in spec.queues],
        recording=rec.model_dump(), security=spec.security.model_dump(),
        compliance=list(spec.compliance),
        log_retention_days=max([LOG_RETENTION_DAYS.get(c, LOG_RETENTION_DEFAULT_DAYS) for c in spec.compliance] or [LOG_RETENTION_DEFAULT_DAYS]),
        upgrades=spec.upgrades.model_dump(), dr=spec.dr.model_dump(),
        warnings=warnings,
    )
    return plan

