"""What a rollout changes and in which order, whatever the target: the hosts whose deployed files
differ from what the blueprint renders now, and the steps each goes through.

The deployed manifest is what a host was last given (the lab records it at `up` in placed/manifest.json,
with the lab's secret values filled in); the new one is the render of the blueprint now, filled in
the same way, so a digest differs only where a file's bytes do. A host differs when a file was added,
removed, or changed in content, mode, owner or group.

Order, so that calls never lose the host that carries them:
  1. media nodes, one at a time, the canary share of each site's nodes first (ceil of
     upgrades.canary_percent of them, at least one): drained from every dispatcher set of both
     proxies and paused for new calls, their calls left to end (bounded by upgrades.drain_timeout),
     placed, restarted, probed (OPTIONS and a test call pinned to it), put back, and the canary soaked
     under load at the canary weight (its share of the calls: canary_weights) before the others follow;
  2. media relays (rtpengine) one at a time: no new calls for it, its calls left to end, placed, restarted, back;
  3. recording stores: placed and restarted (the media nodes write to them; they hold no calls);
  4. proxy pairs: the BACKUP (the peer not holding the VIP) first, then the VIP handed over to it
     gracefully, then the former master.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field

from trunkline.errors import UsageError
from trunkline.plan.topology import DispatcherSet, Plan

ROLE_ORDER = {"media": 0, "rtpengine": 1, "recording": 2, "sip-proxy": 3}
STEPS = {
    "media": ["drain", "wait for calls to end", "place", "restart", "probe", "return", "soak"],
    "rtpengine": ["drain", "wait for calls to end", "place", "restart", "probe", "return"],
    "recording": ["place", "restart", "probe"],
    "sip-proxy": ["place", "restart", "probe"],
}


@dataclass(frozen=True)
class FileChange:
    path: str
    what: str  # added | removed | content | mode | owner | group
    old: str = ""
    new: str = ""


@dataclass
class HostChange:
    host: str
    site: str
    role: str
    files: list[FileChange]
    canary: bool = False
    vip: str = ""  # proxies: "backup" (changed first) or "master" (after the VIP moved to its peer)
    steps: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def parse_canary(text: str | int | None, default: int) -> int:
    """--canary 20% (or 20): the share of each site's media nodes changed first, 1 to 100."""
    if text is None or text == "":
        return default
    m = re.fullmatch(r"\s*(\d{1,3})\s*%?\s*", str(text))
    if not m or not 1 <= int(m[1]) <= 100:
        raise UsageError(f"--canary {text}: a share of the media nodes from 1% to 100%, e.g. 20%")
    return int(m[1])


def parse_share(text: str, what: str) -> float:
    """--max-failed 0.1%: a share from 0 to 100 %, as a fraction."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", text or "")
    if not m or float(m[1]) > 100:
        raise UsageError(f"{what} {text}: a share such as 0.1%")
    return float(m[1]) / 100


def canary_weights(ds: DispatcherSet, canary: str, percent: float) -> dict[str, int]:
    """A dispatcher set's weights while `canary` soaks (the proxies select with algorithm 9: a weight
    is a node's percent of the set's calls). The canary takes `percent` of the calls, never more than
    its rendered weight gives it; the others share the rest in proportion to their rendered weights.
    Whole numbers from 1 to 100 that sum to 100 (Kamailio ignores a destination weighted outside
    1-100, and gives a shortfall to the set's last destination)."""
    rendered = {d.host: d.weight for d in ds.destinations}
    others = [h for h in rendered if h != canary]
    if canary not in rendered or not others:
        return rendered
    total = sum(rendered.values())
    mine = max(1, min(math.floor(percent), math.floor(100 * rendered[canary] / total)))
    rest, weight = 100 - mine, sum(rendered[h] for h in others)
    exact = {h: rest * rendered[h] / weight for h in others}
    out = {h: max(1, math.floor(v)) for h, v in exact.items()}
    for h in sorted(others, key=lambda h: exact[h] - math.floor(exact[h]), reverse=True)[:max(0, rest - sum(out.values()))]:
        out[h] += 1  # largest remainders first, so the set sums to 100
    return {canary: mine, **out}


def file_changes(old: dict, new: dict) -> dict[str, list[FileChange]]:
    """Per host, what differs between two manifests (render manifest shape: files[] with host, path,
    sha256, mode, owner, group)."""
    index = lambda m: {(e["host"], e["path"]): e for e in m["files"]}  # noqa: E731
    before, after = index(old), index(new)
    out: dict[str, list[FileChange]] = {}
    for key in sorted(before.keys() | after.keys()):
        host, path = key
        a, b = before.get(key), after.get(key)
        if a is None:
            change = [FileChange(path, "added", "", b["sha256"][:12])]
        elif b is None:
            change = [FileChange(path, "removed", a["sha256"][:12], "")]
        else:
            change = [FileChange(path, what, str(a[k])[:12], str(b[k])[:12])
                      for what, k in (("content", "sha256"), ("mode", "mode"), ("owner", "owner"), ("group", "group"))
                      if a[k] != b[k]]
        if change:
            out.setdefault(host, []).extend(change)
    return out


def order(plan: Plan, changed: dict[str, list[FileChange]], canary_percent: int,
          vip_holders: dict[str, list[str]] | None = None) -> list[HostChange]:
    """The hosts of `changed` in the order a rollout takes them (see the module's docstring).
    vip_holders: site -> hosts holding its VIP now (the lab asks keepalived); without it the pair's
    first proxy of the plan (its higher VRRP priority) is taken for the master."""
    unknown = sorted(set(changed) - {h.name for h in plan.hosts})
    if unknown:
        raise UsageError(f"the deployed files name hosts the blueprint no longer has ({', '.join(unknown)}): "
                         "adding or removing hosts is a new `up`/`apply`, not a rollout")
    hosts = [h for h in plan.hosts if h.name in changed]
    canaries: set[str] = set()
    for site in plan.sites:  # per site: a site's calls go to its own nodes
        nodes = plan.hosts_of(site.name, "media")
        take = max(1, math.ceil(len(nodes) * canary_percent / 100))
        canaries |= set([h.name for h in nodes if h.name in changed][:take])
    out = []
    for h in hosts:
        c = HostChange(h.name, h.site, h.role, changed[h.name], canary=h.name in canaries, steps=list(STEPS[h.role]))
        if h.role == "sip-proxy":
            holders = (vip_holders or {}).get(h.site)
            master = holders[0] if holders else plan.hosts_of(h.site, "sip-proxy")[0].name
            c.vip = "master" if h.name == master else "backup"
            if c.vip == "master":
                c.steps = ["hand the VIP to the peer", *c.steps, "take the VIP back"]
        out.append(c)
    rank = {"backup": 0, "": 0, "master": 1}
    out.sort(key=lambda c: (ROLE_ORDER[c.role], not c.canary, rank[c.vip], c.site, c.host))
    return out


@dataclass
class Event:
    at: float  # epoch
    host: str
    what: str  # drained, calls left, placed, restarted, probed, back, soaked, rolled back, ...
    detail: str = ""


@dataclass
class RolloutRun:
    center: str
    folder: str
    canary_percent: int
    soak_s: float
    max_failed: float
    drain_timeout_s: float
    hosts: list[HostChange]
    events: list[Event] = field(default_factory=list)
    waits: dict = field(default_factory=dict)  # host -> seconds waited for its calls to end
    outcome: str = ""  # completed | rolled back | nothing to change | dry run
    reason: str = ""
    started_at: float = 0.0
    took_s: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)
