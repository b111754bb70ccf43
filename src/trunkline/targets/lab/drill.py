"""Disaster-recovery drills in the lab: a real fault under the live load, watched, restored, reported.

A drill starts trunkline load's calls (load.py: the carrier's FreeSWITCH, audio both ways, each call
ok, failed or dropped), waits until they are steady, injects one fault on the site the trunk's calls
enter, watches for `watch_s`, restores what it broke, lets the calls end, and reports:

  * the timeline: fault injected, fault detected (the VIP on the backup, the dispatcher marking the
    node inactive on every proxy, the first call established after the fault), restored;
  * RTO: from the fault until new calls succeed again at the offered rate: the start of the first
    call established after the last call that failed, less the fault time (0 when none failed; the
    load's interval between calls, 1/rate, is the resolution);
  * calls failed (never established) and dropped (established, then lost), and the calls that were
    on the lost part at the moment of the fault (the media node's carrier calls, the relay's sessions);
  * the blueprint's objectives: dr.rto against the measured RTO. dr.rpo is about recordings at the
    standby, which the lab does not replicate yet: reported as not measured, never as met.

Scenarios here:
  proxy-master-loss   the master proxy's link goes down (its machine or cable gone)
  proxy-master-crash  its Kamailio and keepalived are killed (SIGKILL)
  media-node-loss     a media node's link goes down, with its calls
  relay-loss          a media relay's (rtpengine's) link goes down, with its sessions
carrier-peer-loss and site-loss need a carrier edge in front of the lab's caller (a Kamailio with
the trunk's peers as a dispatcher set), which the lab does not build yet: refused with that reason.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from trunkline.errors import UsageError
from trunkline.plan.topology import MEDIA_SIP_PORT, Host, Plan
from trunkline.targets.lab.faults import (dispatcher_flags, kill_program, media_calls, media_channels, relay_sessions, relays_disabled,
                                          restart_service, set_link)
from trunkline.targets.lab.load import Load, LoadReport, outcome
from trunkline.targets.lab.readiness import vip_holders, wait_until
from trunkline.targets.lab.shell import in_host, run
from trunkline.targets.lab.state import LabError, LabState

SCENARIOS = {
    "proxy-master-loss": "the master proxy's link goes down (its machine or cable gone); the backup takes the VIP",
    "proxy-master-crash": "the master proxy's Kamailio and keepalived are killed; the backup takes the VIP",
    "media-node-loss": "a media node's link goes down with its calls; the dispatcher takes it out",
    "relay-loss": "a media relay's link goes down with its sessions; the proxies use the other relay",
}
NOT_IN_THE_LAB = {
    "carrier-peer-loss": "needs a carrier edge in front of the lab's caller (the trunk's peers as a dispatcher set with "
                         "OPTIONS probing), which the lab does not build yet",
    "site-loss": "needs a carrier edge that sends new calls to the standby site when the primary is gone, which the "
                 "lab does not build yet",
}
DETECT_TIMEOUT_S = 20.0
RESTORE_TIMEOUT_S = 60.0  # a restarted Kamailio and keepalived took 14 s to take the VIP back


@dataclass
class DrillEvent:
    at: float  # epoch
    what: str
    detail: str = ""


@dataclass
class DrillRun:
    center: str
    scenario: str
    description: str
    site: str
    host: str  # what the fault hit
    rate: float
    hold_s: float
    watch_s: float
    events: list[DrillEvent] = field(default_factory=list)
    fault_at: float = 0.0
    in_flight: int | None = None  # calls on the lost part at the fault (None: not counted for this scenario)
    in_flight_unit: str = ""
    rto_s: float | None = None
    rto_resolution_s: float = 0.0
    failed: int = 0
    dropped: int = 0
    failed_after_fault: int = 0
    dropped_after_fault: int = 0
    objectives: dict = field(default_factory=dict)  # name -> {declared, measured, met, note}
    outcome: str = ""  # met | missed | error
    reason: str = ""
    load: LoadReport | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["load"] = self.load.as_dict() if self.load else None
        return d


def scenario_names(name: str) -> list[str]:
    """The scenarios `--scenario NAME` runs ('all': each in turn); UsageError for one the lab cannot run."""
    if name == "all":
        return list(SCENARIOS)
    if name in NOT_IN_THE_LAB:
        raise UsageError(f"--scenario {name}: {NOT_IN_THE_LAB[name]}")
    if name not in SCENARIOS:
        raise UsageError(f"--scenario {name}: one of {', '.join([*SCENARIOS, *NOT_IN_THE_LAB, 'all'])}")
    return [name]


def steps(plan: Plan, scenario: str) -> list[tuple[str, list[str]]]:
    """What a drill would do, in order, and the hosts each step touches (--dry-run): from the plan, so
    the master is the proxy keepalived starts as MASTER (the drill itself fails the one holding the VIP)."""
    site = plan.site(plan.trunks[0].sites[0])
    proxies = plan.hosts_of(site.name, "sip-proxy")
    master = next((p for p in proxies if p.ha and p.ha.state == "MASTER"), proxies[0] if proxies else None)
    backup = [p.name for p in proxies if p is not master]
    if scenario.startswith("proxy-master"):
        hit, watched = [master.name] if master else [], backup
        fault = "link down" if scenario == "proxy-master-loss" else "Kamailio and keepalived killed (SIGKILL), then restarted"
        detect = "the VIP on the backup"
    elif scenario == "media-node-loss":
        hit, watched = [plan.hosts_of(site.name, "media")[0].name], [p.name for p in proxies]
        fault, detect = "link down with its calls", "the node inactive in every proxy's dispatcher"
    else:
        relays = plan.hosts_of(site.name, "rtpengine")
        hit, watched = [r.name for r in relays[:1]], [p.name for p in proxies]
        fault, detect = "link down with its sessions", "the relay disabled in a proxy's rtpengine module"
    trunk = plan.trunks[0]
    return [
        (f"start the load: the caller in {trunk.name}'s carrier namespace calls {site.name}'s VIP", [p.name for p in proxies]),
        (f"fault: {fault}", hit),
        (f"watch for the fault's detection: {detect}", watched),
        ("restore what the fault broke and wait until it serves again", hit),
        ("let the calls end; report RTO, failed and dropped calls, the objectives", []),
    ]


def rto(results, hold_s: float, fault_at: float, until: float) -> float:
    """Seconds from the fault until calls succeed again: the start of the first call established after
    the last failed call that started between the fault (less one answer's time) and `until`."""
    window = [r for r in results if fault_at - 1.0 <= r.started_at <= until]
    failed = [r.started_at for r in window if outcome(r, hold_s)[0] == "failed"]
    if not failed:
        return 0.0
    last = max(failed)
    after = [r.started_at for r in window if r.started_at > last and r.answered]
    return round((min(after) if after else until) - fault_at, 2)


class LabDrill:
    """One scenario: run() -> DrillRun. `say` gets each event as it happens."""

    def __init__(self, state: LabState, plan: Plan, scenario: str, rate: float, hold_s: float, watch_s: float,
                 say: Callable[[DrillEvent], None] = lambda e: None):
        self.state, self.plan, self.say = state, plan, say
        site = plan.site(plan.trunks[0].sites[0])  # where the load's calls enter
        self.site = site
        self.run_ = DrillRun(center=plan.center, scenario=scenario, description=SCENARIOS[scenario], site=site.name,
                             host="", rate=rate, hold_s=hold_s, watch_s=watch_s, rto_resolution_s=round(1 / rate, 2))
        self.load = Load(state, plan, rate, hold_s, min(hold_s, 30.0) + watch_s + RESTORE_TIMEOUT_S,
                         chosen="the drill's load")

    def event(self, what: str, detail: str = "") -> None:
        e = DrillEvent(time.time(), what, detail)
        self.run_.events.append(e)
        self.say(e)

    # --- the faults, their detection and their restoration ---
    def _proxies(self) -> tuple[Host, Host]:
        proxies = self.plan.hosts_of(self.site.name, "sip-proxy")
        if len(proxies) != 2:
            raise LabError(f"site {self.site.name} has no proxy pair (sip_proxy.ha: pair): nothing to fail over to")
        holders = vip_holders(self.state.center, self.plan, self.site.name)
        master = next((p for p in proxies if [p.name] == holders), None)
        if master is None:
            raise LabError(f"site {self.site.name}: the VIP is held by {holders or 'no proxy'}, not by one master; restore the lab first")
        return master, next(p for p in proxies if p is not master)

    def _vip_on(self, host: Host, what: str, restoring: bool) -> None:
        took = wait_until(what, lambda: vip_holders(self.state.center, self.plan, self.site.name) == [host.name],
                          RESTORE_TIMEOUT_S if restoring else DETECT_TIMEOUT_S, 0.02)
        self.event("restored" if restoring else "detected", f"{what} after {took:.2f} s")

    def _dispatcher_marks(self, node: Host, flag: str) -> float:
        uri = f"sip:{node.address}:{MEDIA_SIP_PORT}"
        proxies = [p.name for p in self.plan.hosts_of(node.site, "sip-proxy")]
        return wait_until(f"{node.name} {'inactive' if flag == 'I' else 'active'} in the dispatcher of {', '.join(proxies)}",
                          lambda: all(dispatcher_flags(self.state.center, p).get(uri, "").startswith(flag) for p in proxies),
                          DETECT_TIMEOUT_S if flag == "I" else RESTORE_TIMEOUT_S, 0.05)

    def inject(self) -> Callable[[], None]:
        """Break what the scenario names; returns how to restore it."""
        r, plan, center = self.run_, self.plan, self.state.center
        if r.scenario in ("proxy-master-loss", "proxy-master-crash"):
            master, backup = self._proxies()
            r.host = master.name
            if r.scenario == "proxy-master-loss":
                set_link(center, plan, master, False)
                self.event("fault injected", f"{master.name}'s link down")
                restore = lambda: set_link(center, plan, master, True)  # noqa: E731
            else:
                killed = kill_program(center, master.name, "kamailio") + kill_program(center, master.name, "keepalived")
                self.event("fault injected", f"{master.name}: Kamailio and keepalived killed ({len(killed)} processes)")

                def restore() -> None:
                    # as systemd does after a service dies: its PIDFile goes (in the lab the killed
                    # Kamailio can stay a zombie of the process that started the lab, and a
                    # Kamailio that finds its PID file names a process refuses to start)
                    run(in_host(center, master.name, ["rm", "-f", "/run/kamailio/kamailio.pid"]))
                    for program in ("kamailio", "keepalived"):
                        restart_service(self.state, plan, master, program)
                    self.state.save()
            self._vip_on(backup, f"the VIP on the backup {backup.name}", restoring=False)

            def back() -> None:
                restore()
                self._vip_on(master, f"the VIP back on {master.name}", restoring=True)
            return back
        if r.scenario == "media-node-loss":
            node = plan.hosts_of(self.site.name, "media")[0]
            r.host, r.in_flight_unit = node.name, "carrier calls"
            r.in_flight = media_calls(self.state, node.name)
            channels = media_channels(self.state, node.name)
            set_link(center, plan, node, False)
            self.event("fault injected", f"{node.name}'s link down with {r.in_flight} carrier calls up ({channels} channels, "
                                         "an agent's leg being one)")
            took = self._dispatcher_marks(node, "I")
            self.event("detected", f"{node.name} inactive in every dispatcher after {took:.2f} s")

            def back() -> None:
                set_link(center, plan, node, True)
                took = self._dispatcher_marks(node, "A")
                self.event("restored", f"{node.name} back on its network, active in the dispatcher after {took:.2f} s")
            return back
        relays = plan.hosts_of(self.site.name, "rtpengine")
        if len(relays) < 2:
            raise LabError(f"site {self.site.name} has {len(relays)} media relay(s): relay-loss needs two (a proxy pair's)")
        relay = relays[0]
        r.host, r.in_flight_unit = relay.name, "sessions"
        r.in_flight = relay_sessions(center, relay.name)
        set_link(center, plan, relay, False)
        self.event("fault injected", f"{relay.name}'s link down with {r.in_flight} sessions")
        url, proxies = f"udp:{relay.address}:2223", [p.name for p in plan.hosts_of(self.site.name, "sip-proxy")]
        try:  # Kamailio finds a relay dead when a command to it times out, so only under calls
            took = wait_until(f"{url} disabled in the rtpengine module of {', '.join(proxies)}",
                              lambda: any(url in relays_disabled(center, p) for p in proxies), DETECT_TIMEOUT_S, 0.1)
            self.event("detected", f"{relay.name} disabled in a proxy's rtpengine module after {took:.2f} s")
        except LabError:
            self.event("not detected", f"no proxy marked {relay.name} disabled within {DETECT_TIMEOUT_S:g} s")

        def back() -> None:
            set_link(center, plan, relay, True)
            took = wait_until(f"rtpengine on {relay.name} answering", lambda: relay_sessions(center, relay.name) is not None,
                              RESTORE_TIMEOUT_S, 0.3)
            self.event("restored", f"{relay.name} back on its network, its CLI answering after {took:.2f} s")
        return back

    def run(self) -> DrillRun:
        r = self.run_
        warm = min(r.hold_s, 30.0)
        self.load.start()
        restore = None
        try:
            self.event("load started", f"{r.rate:g} new calls/s held {r.hold_s:g} s; steady after {warm:g} s")
            time.sleep(warm)
            snap = self.load.snapshot()
            self.event("steady", f"{snap['up']} calls up, {snap['failed']} failed and {snap['dropped']} dropped so far")
            r.fault_at = time.time()
            restore = self.inject()
            time.sleep(max(0.0, r.fault_at + r.watch_s - time.time()))
            until = time.time()
        except LabError as exc:
            r.outcome, r.reason = "error", str(exc)
            until = time.time()
        finally:
            try:
                if restore:
                    restore()
            except LabError as exc:
                r.outcome, r.reason = "error", (r.reason + "; " if r.reason else "") + f"restoring: {exc}"
            self.load.stop("the drill ended")
        r.load = self.load.join()
        results = self.load.results
        r.failed, r.dropped = r.load.failed, r.load.dropped
        after = [x for x in results if x.ended_at >= r.fault_at]
        r.failed_after_fault = sum(outcome(x, r.hold_s)[0] == "failed" for x in after)
        r.dropped_after_fault = sum(outcome(x, r.hold_s)[0] == "dropped" for x in after)
        if r.fault_at:
            r.rto_s = rto(results, r.hold_s, r.fault_at, until)
            first = min((x.answered_at for x in results if x.started_at >= r.fault_at and x.answered), default=None)
            if first:  # known once the calls ended: placed in the timeline at its time
                r.events.append(DrillEvent(first, "first call established after the fault", f"+{first - r.fault_at:.2f} s"))
                r.events.sort(key=lambda e: e.at)
        declared = self.plan.dr or {}
        if r.rto_s is not None and "rto" in declared:
            r.objectives["rto"] = {"declared_s": declared["rto"], "measured_s": r.rto_s, "met": r.rto_s <= declared["rto"], "note": ""}
        if "rpo" in declared:
            r.objectives["rpo"] = {"declared_s": declared["rpo"], "measured_s": None, "met": None,
                                   "note": "not measured: the lab does not replicate recordings to the standby yet"}
        if r.outcome != "error":
            r.outcome = "missed" if any(o["met"] is False for o in r.objectives.values()) else "met"
        return r
