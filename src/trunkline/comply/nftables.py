"""trunkline's firewall as the kernel applies it to a new packet, and what the plan says it must let in.

`parse_ruleset(text)` reads the `inet trunkline` table, as rendered (templates/common/etc/nftables.conf.j2)
or as `nft list table inet trunkline` prints it on a host: its sets (elements as networks and
ranges) and its input chain (policy, rules in order). `Ruleset.verdict(source, proto, port)` follows
the rules in order, as nftables does, for a new TCP or UDP packet from outside the host. Rules that
only concern other traffic (ct state established/invalid, iif "lo", ICMP, per-source rate meters,
which a single packet does not exceed) do not match it; a clause this reader does not know is an
NftError, so no check passes on a rule it could not follow.

`violations(ruleset, plan, host)` probes the ruleset as the plan routes calls: a stranger reaches no
port but the media relay's RTP range, the trunks' peers reach only the proxies' SIP ports (and the
media nodes' RTP where a site has no relay), and everything the plan sends a host is let in.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from trunkline.errors import TrunklineError
from trunkline.plan.topology import (FREESWITCH_RTP_PORTS, MEDIA_SIP_PORT, NFS_PORTS, RTP_PORTS, RTPENGINE_NG_PORT,
                                     SIP_PORT, SIP_TLS_PORT, Host, Plan)

TABLE = "inet trunkline"
PROTOCOLS = {"tcp": 6, "udp": 17}


class NftError(TrunklineError):
    exit_code = 1


@dataclass
class Rule:
    line: int
    text: str


@dataclass
class Ruleset:
    sets: dict[str, list] = field(default_factory=dict)  # name -> networks and (first, last) address ranges
    policy: str = ""  # of the input chain
    forward_policy: str = ""
    rules: list[Rule] = field(default_factory=list)

    def verdict(self, source: str, proto: str, port: int) -> tuple[bool, Rule | None]:
        """(accepted, the rule that decided; None: the chain's policy)."""
        addr = ipaddress.ip_address(source)
        for rule in self.rules:
            decided = _rule_verdict(rule, self, addr, proto, port)
            if decided is not None:
                return decided == "accept", rule
        return self.policy == "accept", None

    def members(self, name: str) -> list[str]:
        """A set's elements, collapsed (so a listing's merged ranges compare equal to the rendered list)."""
        out = []
        for v in (4, 6):
            nets = []
            for e in self.sets.get(name, []):
                if isinstance(e, tuple):
                    if e[0].version == v:
                        nets += ipaddress.summarize_address_range(*e)
                elif e.version == v:
                    nets.append(e)
            out += [str(n) for n in ipaddress.collapse_addresses(nets)]
        return out


def _block(text: str, start: int) -> tuple[str, int]:
    """The text inside the braces opening at or after `start`, and the index after the closing one."""
    i = text.index("{", start)
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1:j], j + 1
    raise NftError("a brace is not closed")


def _element(word: str):
    if "-" in word and "/" not in word:
        first, last = word.split("-", 1)
        return ipaddress.ip_address(first), ipaddress.ip_address(last)
    return ipaddress.ip_network(word, strict=False)


def parse_ruleset(text: str) -> Ruleset:
    """The table `inet trunkline` of a ruleset file or listing (its last definition: the file deletes, then makes it)."""
    starts = [m.start() for m in re.finditer(r"(?m)^\s*table\s+inet\s+trunkline\s*\{", text)]
    if not starts:
        raise NftError("no table inet trunkline")
    offset = text.index("{", starts[-1])
    body, _ = _block(text, starts[-1])
    first_line = text.count("\n", 0, offset) + 1
    out = Ruleset()
    for m in re.finditer(r"\bset\s+(\w+)\s*\{", body):
        inner, _ = _block(body, m.start())
        elements = re.search(r"elements\s*=\s*\{([^}]*)\}", inner)
        words = [w.split()[0] for w in (elements.group(1).split(",") if elements else []) if w.strip()]
        out.sets[m.group(1)] = [_element(w) for w in words]
    for name in ("input", "forward"):
        m = re.search(rf"\bchain\s+{name}\s*\{{", body)
        if not m:
            raise NftError(f"no {name} chain")
        inner, _ = _block(body, m.start())
        policy = re.search(r"\bpolicy\s+(accept|drop)\s*;", inner)
        if name == "forward":
            out.forward_policy = policy.group(1) if policy else "accept"
            continue
        out.policy = policy.group(1) if policy else "accept"  # nftables' default for a base chain
        line = first_line + body.count("\n", 0, body.index("{", m.start()))
        for n, raw in enumerate(inner.split("\n")):
            s = raw.strip()
            if s and not s.startswith(("#", "type ")):
                out.rules.append(Rule(line + n, s))
    return out


_PORTS = r"(\{[^}]*\}|\S+)"


def _ports(spec: str) -> list[tuple[int, int]]:
    out = []
    for word in spec.strip("{} ").split(","):
        word = word.strip()
        lo, _, hi = word.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise NftError(f"a port this reader does not know: {word!r}")
        out.append((int(lo), int(hi or lo)))
    return out


def _in_set(ruleset: Ruleset, spec: str, addr) -> bool:
    if spec.startswith("@"):
        if spec[1:] not in ruleset.sets:
            raise NftError(f"no set {spec}")
        elements = ruleset.sets[spec[1:]]
    else:
        elements = [_element(w.strip()) for w in spec.strip("{} ").split(",")]
    return any(e[0] <= addr <= e[1] if isinstance(e, tuple) else addr in e
               for e in elements if (e[0] if isinstance(e, tuple) else e).version == addr.version)


# clause -> how it judges a new packet: a function (ruleset, match, addr, proto, port) -> matches?
_CLAUSES = [
    (r"(ip6?) saddr (!= )?(@\w+|\{[^}]*\}|\S+)",
     lambda rs, m, a, p, n: (a.version == (6 if m[1] == "ip6" else 4)) and (_in_set(rs, m[3], a) != bool(m[2]))),
    (r"meta nfproto (ipv4|ipv6)", lambda rs, m, a, p, n: a.version == int(m[1][-1])),
    (r"meta l4proto " + _PORTS, lambda rs, m, a, p, n: bool({p, str(PROTOCOLS[p])} & {w.strip() for w in m[1].strip("{} ").split(",")})),
    (r"(tcp|udp) dport " + _PORTS, lambda rs, m, a, p, n: p == m[1] and any(lo <= n <= hi for lo, hi in _ports(m[2]))),
    (r"th dport " + _PORTS, lambda rs, m, a, p, n: any(lo <= n <= hi for lo, hi in _ports(m[1]))),
    (r"ip6? (?:protocol|nexthdr) (\S+)", lambda rs, m, a, p, n: m[1] in (p, str(PROTOCOLS[p]))),
    (r"ct state (\S+)", lambda rs, m, a, p, n: "new" in m[1].split(",")),
    (r'iif(?:name)? "?([^"\s]+)"?', lambda rs, m, a, p, n: m[1] != "lo"),  # a packet from outside comes in on another interface
    (r"update @\w+ \{[^}]*\}", lambda rs, m, a, p, n: False),  # a per-source meter: one packet is never over it
    (r"limit rate over [^a-z]*\S*(?: burst \d+ \w+)?", lambda rs, m, a, p, n: False),
    (r"limit rate [^o]\S*(?: burst \d+ \w+)?", lambda rs, m, a, p, n: True),
    (r"counter(?: packets \d+ bytes \d+)?", lambda rs, m, a, p, n: True),
]
_VERDICT = re.compile(r'(accept|drop|reject(?: with .*?)?)(?:\s+comment\s+".*")?$')


def _rule_verdict(rule: Rule, ruleset: Ruleset, addr, proto: str, port: int) -> str | None:
    """accept or drop when the rule matches the packet, None when it does not."""
    text, matches = rule.text, True
    while True:
        v = _VERDICT.match(text)
        if v:
            return ("drop" if v.group(1) != "accept" else "accept") if matches else None
        for pattern, judge in _CLAUSES:
            m = re.match(pattern + r"\s*", text)
            if m:
                matches = matches and judge(ruleset, m, addr, proto, port)
                text = text[m.end():]
                break
        else:
            raise NftError(f"line {rule.line}: a clause this reader does not follow: {text!r} in {rule.text!r}")


# --- the plan's view: who must reach what -----------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    source: str
    who: str  # said in a finding: "a stranger (192.0.2.250)", "trunk carrier-a's peer 203.0.113.10"
    proto: str
    port: int
    open: bool  # what the plan says


def _stranger(ruleset: Ruleset, plan: Plan, host: Host) -> list[str]:
    """Addresses in none of the ruleset's sets (and not the pair's peer): one IPv4, one IPv6."""
    taken = {host.ha.peer} if host.ha else set()
    out = []
    for candidates in (["192.0.2.250", "198.51.100.250", "203.0.113.250", "100.64.0.250"], ["2001:db8:ffff::250", "fd00:ffff::250"]):
        for c in candidates:
            a = ipaddress.ip_address(c)
            if c not in taken and not any(_in_set(ruleset, f"@{name}", a) for name in ruleset.sets):
                out.append(c)
                break
    return out


def probes(ruleset: Ruleset, plan: Plan, host: Host) -> list[Probe]:
    site = plan.site(host.site)
    trunks = [t for t in plan.trunks if site.name in t.sites]
    relays = plan.hosts_of(site.name, "rtpengine")
    proxies = plan.hosts_of(site.name, "sip-proxy")
    closed = [("tcp", site.ssh_port), ("udp", SIP_PORT), ("tcp", SIP_PORT), ("tcp", SIP_TLS_PORT), ("udp", MEDIA_SIP_PORT),
              ("tcp", MEDIA_SIP_PORT), ("udp", RTPENGINE_NG_PORT), ("tcp", NFS_PORTS[1]), ("udp", FREESWITCH_RTP_PORTS[0]),
              *((p, t.port) for t in trunks for p in ("tcp", "udp"))]
    relay_rtp = ("udp", RTP_PORTS[0])
    out = []
    for s in _stranger(ruleset, plan, host):
        out += [Probe(s, f"a stranger ({s})", p, n, False) for p, n in sorted(set(closed))]
        out.append(Probe(s, f"a stranger ({s})", *relay_rtp, host.role == "rtpengine"))  # carriers' media: any address
    own = [ipaddress.ip_network(n, strict=False) for n in [site.cidr, *(plan.security.get("admin_cidrs") or [])]]
    for t in trunks:
        for peer in (str(next(iter(ipaddress.ip_network(p, strict=False)))) for p in t.peers[:1]):
            who = f"trunk {t.name}'s peer {peer}"
            if host.role == "sip-proxy":
                out += [Probe(peer, who, p, t.port, True) for p in (("tcp",) if t.transport == "tls" else ("udp", "tcp"))]
            elif not any(ipaddress.ip_address(peer) in n for n in own if n.version == ipaddress.ip_address(peer).version):
                out += [Probe(peer, who, p, n, False) for p, n in (("udp", SIP_PORT), ("udp", MEDIA_SIP_PORT), ("udp", RTPENGINE_NG_PORT))]
                if host.role == "media":
                    out.append(Probe(peer, who, "udp", FREESWITCH_RTP_PORTS[0], not relays))  # no relay: media straight from the carrier
    for cidr in plan.security.get("admin_cidrs") or []:
        admin = str(next(iter(ipaddress.ip_network(cidr, strict=False))))
        out.append(Probe(admin, f"the admin network {cidr}", "tcp", site.ssh_port, True))
    if host.role == "sip-proxy":
        out += [Probe(m.address, f"the site's media node {m.name}", "udp", SIP_PORT, True) for m in plan.hosts_of(site.name, "media")[:1]]
    if host.role == "rtpengine":
        out += [Probe(p.address, f"the site's proxy {p.name}", "udp", RTPENGINE_NG_PORT, True) for p in proxies]
    if host.role == "media":
        out += [Probe(p.address, f"the site's proxy {p.name}", "udp", MEDIA_SIP_PORT, True) for p in proxies]
        out += [Probe(r.address, f"the site's media relay {r.name}", "udp", FREESWITCH_RTP_PORTS[0], True) for r in relays]
    if host.role == "recording":
        # the media nodes (FreeSWITCH) write the recordings over NFS; the relays record nothing
        out += [Probe(m.address, f"the site's media node {m.name}", "tcp", NFS_PORTS[1], True) for m in plan.hosts_of(site.name, "media")]
        out += [Probe(r.address, f"the site's rtpengine {r.name}", "tcp", NFS_PORTS[1], False) for r in relays]
    return out


def violations(ruleset: Ruleset, plan: Plan, host: Host) -> list[tuple[str, Rule | None]]:
    """(what is wrong, the rule that decided it) for every probe the ruleset answers against the plan."""
    out: list[tuple[str, Rule | None]] = []
    if ruleset.policy != "drop":
        out.append((f"the input chain's policy is {ruleset.policy}, not drop: whatever no rule names is let in", None))
    if ruleset.forward_policy != "drop":
        out.append((f"the forward chain's policy is {ruleset.forward_policy}, not drop", None))
    for p in probes(ruleset, plan, host):
        accepted, rule = ruleset.verdict(p.source, p.proto, p.port)
        if accepted != p.open:
            by = f"rule {rule.text!r}" if rule else "the chain's policy"
            what = "reaches" if accepted else "is refused"
            out.append((f"{p.who} {what} {p.proto}/{p.port} ({by}); the plan {'sends it there' if p.open else 'opens it to nobody there'}", rule))
    return out
