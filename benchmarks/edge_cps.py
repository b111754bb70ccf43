"""Calls per second the lab edge carries (carrier -> VIP -> Kamailio -> media node), next to
SIPp UAC -> UAS directly on the same machine in the same run.

The media nodes run the SIPp stand-in on purpose (trunkline up --media sipp): this measures
Kamailio and rtpengine, not FreeSWITCH, whose calls cost far more (benchmarks/media_node.py).

A rate passes when every call succeeds and retransmissions stay under 0.1 %. Rates are
stepped up until one fails (bounded: --max-rate, --step-seconds). Then the edge holds
--hold-rate calls per second for --hold-seconds, while the VIP holder is watched for a false
failover. Goals (issue 3): the edge carries >= 80 % of the direct figure, and holds
1,000 calls per second for 60 s with 0 failed calls.

The edge is measured in two profiles, each in its own lab, so the cost of the media features
is a figure and not a guess:
  blueprint  the blueprint as written (acme-bank: rtpengine re-keys SDES-SRTP on both legs and
             records every call to pcap)
  plain      the same center with recording off and plain RTP (rtpengine still relays every
             call: offer, answer, delete)
  signalling the site's edge without a media relay (sip_proxy.media_relay: none, so no
             recording): carrier -> VIP -> Kamailio -> media node, the SDP passed unchanged
Each profile's edge is sized for the rates asked (sip_proxy.max_cps, which sizes Kamailio's
memory and workers). For each, the CPU milliseconds per call of every program are printed,
measured at the highest rate that passed, with Kamailio's and the machine's context switches per
call, and the machine itself (kernel, CPU, hypervisor, the socket and scheduler settings the lab
inherits): most of an edge call's cost is in the kernel waking workers for packets, so the same
switches a call cost more CPU on a machine where a switch costs more.

    sudo .venv/bin/python benchmarks/edge_cps.py [BLUEPRINT] [--profiles blueprint,plain] [--machine-settings] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from _lab import DEFAULT, cpu_ms_per_call, cpu_seconds, lab_up, machine, per_call, switches

from trunkline.plan.topology import MEDIA_SIP_PORT
from trunkline.center import load as load_center
from trunkline.targets import lab
from trunkline.targets.calls import MAX_RATE, place_calls

RATES = [100, 200, 400, 600, 800, 1000, 1200, 1500, 1750, 2000, 2500, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000,
         12000, 15000, 17500, 20000]
PROFILES = {
    "blueprint": (),
    "plain": ("spec.recording.mode=none", "spec.security.srtp=off"),
    "signalling": ("spec.recording.mode=none", "spec.sites[{site}].sip_proxy.media_relay=none"),
}


def passes(report) -> bool:
    return report.failed == 0 and report.attempted > 0 and report.retransmissions <= 0.001 * report.attempted


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ramp(state, plan, target: str | None, seconds: float, max_rate: int, hold_ms: int, label: str) -> tuple[int, list[dict], dict]:
    """Step the rate up until a step fails; the CPU per call is the one of the last passing step."""
    best, rows, cpu = 0, [], {}
    for rate in [r for r in RATES if r <= max_rate]:
        before, switched = cpu_seconds(), switches()
        r = place_calls(state, plan, rate, int(rate * seconds), hold_ms=hold_ms, audio=False, target=target)
        step_cpu = cpu_ms_per_call(before, cpu_seconds(), r.attempted)
        step_cpu["switches"] = per_call(switched, switches(), r.attempted)
        ok = passes(r)
        rows.append({"rate": rate, "attempted": r.attempted, "failed": r.failed, "retransmissions": r.retransmissions,
                     "p99_ms": r.response_ms["p99"], "seconds": r.seconds, "passed": ok, "cpu_ms_per_call": step_cpu})
        log(f"  {label:<16} {rate:>5}/s: {r.attempted} calls, {r.failed} failed, {r.retransmissions} retrans, "
            f"p99 {r.response_ms['p99']} ms, {r.seconds} s {'ok' if ok else 'FAIL'}")
        if not ok:
            break
        best, cpu = rate, step_cpu
        time.sleep(2)  # let transactions and rtpengine sessions expire between steps
    return best, rows, cpu


def hold(state, plan, site, rate: int, seconds: int, hold_ms: int) -> dict:
    """The sustained figure, with the VIP watched for a false failover."""
    flips, stop = [], threading.Event()
    holder0 = lab.vip_holders(plan.center, plan, site.name)

    def watch():
        while not stop.is_set():
            h = lab.vip_holders(plan.center, plan, site.name)
            if h != holder0:
                flips.append({"t": time.monotonic(), "holders": h})
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    held = place_calls(state, plan, rate, rate * seconds, hold_ms=hold_ms, audio=False)
    stop.set()
    watcher.join()
    log(f"  hold {rate}/s for {seconds} s: {held.attempted} calls, {held.failed} failed, {held.retransmissions} retrans")
    return {"rate": rate, "seconds": seconds, "attempted": held.attempted, "failed": held.failed,
            "retransmissions": held.retransmissions, "p99_ms": held.response_ms["p99"], "took_s": held.seconds,
            "failures": held.failures, "false_failovers": len(flips),
            "met": rate >= 1000 and seconds >= 60 and held.failed == 0 and held.attempted == rate * seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("blueprint", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--profiles", default=",".join(PROFILES), help=f"comma-separated, of {', '.join(PROFILES)}")
    ap.add_argument("--step-seconds", type=float, default=10)
    ap.add_argument("--max-rate", type=int, default=MAX_RATE, help="the ramp's last step (calls/s)")
    ap.add_argument("--hold-rate", type=int, default=1000)
    ap.add_argument("--hold-seconds", type=int, default=60)
    ap.add_argument("--call-ms", type=int, default=500, help="how long each call stays up")
    ap.add_argument("--machine-settings", action="store_true",
                    help="keep the machine's own socket settings instead of a deployed server's (to measure what they cost)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.step_seconds = min(args.step_seconds, 60)
    args.hold_seconds = min(args.hold_seconds, 300)
    profiles = [p for p in args.profiles.split(",") if p]
    if unknown := [p for p in profiles if p not in PROFILES]:
        raise SystemExit(f"unknown profile(s) {', '.join(unknown)}; choose from {', '.join(PROFILES)}")

    # the edge is sized (Kamailio's memory and workers) for the highest rate this run asks of it
    bp = load_center(args.blueprint).plan
    idx = [s.name for s in bp.sites].index(bp.trunks[0].sites[0])
    sizing = f"spec.sites[{idx}].sip_proxy.max_cps={max(args.max_rate, args.hold_rate)}"
    direct, direct_rows, direct_cpu, results, mach = 0, [], {}, {}, {}
    for n, name in enumerate(profiles):
        sets = tuple(s.format(site=idx) for s in PROFILES[name])
        with lab_up(args.blueprint, (sizing, *sets), media="sipp", server=not args.machine_settings) as (state, plan):
            mach = mach if n else machine()  # while the run's settings hold
            site = plan.site(plan.trunks[0].sites[0])
            media = plan.hosts_of(site.name, "media")[0]
            log(f"lab of {plan.center}, profile {name} ({', '.join(sets) or 'as written'}; {sizing}, "
                f"Kamailio -m {site.kamailio_shm_mb}): edge = VIP {site.vip}, direct = {media.name} {media.address}:{MEDIA_SIP_PORT} "
                "(media nodes: the SIPp stand-in, asked for: the edge alone is measured)")
            if n == 0:
                direct, direct_rows, direct_cpu = ramp(state, plan, f"{media.address}:{MEDIA_SIP_PORT}", args.step_seconds,
                                                       args.max_rate, args.call_ms, "direct")
            edge, edge_rows, edge_cpu = ramp(state, plan, None, args.step_seconds, args.max_rate, args.call_ms, f"edge {name}")
            results[name] = {"sets": list(sets), "edge_cps": edge, "share_of_direct": round(edge / direct, 3) if direct else None,
                             "goal_edge_ge_80pct": bool(direct) and edge >= 0.8 * direct, "cpu_ms_per_call": edge_cpu,
                             "hold": hold(state, plan, site, args.hold_rate, args.hold_seconds, args.call_ms), "ramp": edge_rows}
    result = {"machine": mach, "media_nodes": "SIPp stand-in (asked for: the edge alone is measured)", "direct_cps": direct, "direct_capped_at": args.max_rate, "direct_cpu_ms_per_call": direct_cpu,
              "direct_ramp": direct_rows, "profiles": results}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    cap = " (the highest rate tried)" if direct >= args.max_rate else ""
    m = result["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores{' (virtual)' if m['virtual'] else ''}, kernel {m['kernel']}; "
          + ", ".join(f"{k.split('.')[-1]} {v}" for k, v in m["settings"].items() if v is not None)
          + (" (the common role's, set for the run; the machine's own: "
             + ", ".join(f"{k.split('.')[-1]} {v}" for k, v in m["machine_settings"].items()) + ")" if m["machine_settings"] else ""))
    print("media nodes: the SIPp stand-in, asked for (--media sipp): these figures are Kamailio's and rtpengine's, not FreeSWITCH's")
    print(f"direct UAC -> UAS: {direct} calls/s{cap}")
    progs = ("kamailio", "rtpengine", "sipp", "carrier sipp")
    print(f"{'profile':<11} {'edge':>6} {'of direct':>9}  {'>=80%':<6} {'hold':<34} CPU ms per call ({' / '.join(progs)})")
    for name, r in results.items():
        h = r["hold"]
        held = f"{h['rate']}/s {h['seconds']} s: {h['failed']} failed of {h['attempted']}"
        share = f"{r['share_of_direct']:.0%}" if r["share_of_direct"] is not None else "-"
        cpu = " / ".join(f"{r['cpu_ms_per_call'].get(p, 0):.2f}" for p in progs)
        print(f"{name:<11} {r['edge_cps']:>6} {share:>9}  {'met' if r['goal_edge_ge_80pct'] else 'MISSED':<6} "
              f"{held + (' met' if h['met'] else ' MISSED'):<34} {cpu}")
        sw = r["cpu_ms_per_call"].get("switches", {})
        if sw:
            print(f"  {name}: context switches a call, Kamailio {sw['kamailio voluntary']:.2f} voluntary + "
                  f"{sw['kamailio involuntary']:.2f} involuntary, the machine {sw['machine']:.2f}")
        if h["false_failovers"]:
            print(f"  {name}: {h['false_failovers']} false failover(s) during the hold")
    print("false failovers during the holds: " + ", ".join(f"{n} {r['hold']['false_failovers']}" for n, r in results.items()))


if __name__ == "__main__":
    main()
