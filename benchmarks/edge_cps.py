"""Calls per second the lab edge carries (carrier -> VIP -> Kamailio -> media node), next to
SIPp UAC -> UAS directly on the same machine in the same run.

A rate passes when every call succeeds and retransmissions stay under 0.1 %. Rates are
stepped up until one fails (bounded: --max-rate, --step-seconds). Then the edge holds
--hold-rate calls per second for --hold-seconds, while the VIP holder is watched for a false
failover. Goals (issue 3): the edge carries >= 80 % of the direct figure, and holds
1,000 calls per second for 60 s with 0 failed calls.

    sudo .venv/bin/python benchmarks/edge_cps.py [BLUEPRINT] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from _lab import DEFAULT, lab_up

from trunkline.plan.topology import MEDIA_SIP_PORT, plan_from_file
from trunkline.targets import lab
from trunkline.targets.calls import place_calls

RATES = [100, 200, 400, 600, 800, 1000, 1200, 1500, 2000, 2500, 3000, 4000, 5000]


def passes(report) -> bool:
    return report.failed == 0 and report.attempted > 0 and report.retransmissions <= 0.001 * report.attempted


def ramp(state, plan, target: str | None, seconds: float, max_rate: int, hold_ms: int) -> tuple[int, list[dict]]:
    best, rows = 0, []
    for rate in [r for r in RATES if r <= max_rate]:
        r = place_calls(state, plan, rate, int(rate * seconds), hold_ms=hold_ms, audio=False, target=target)
        ok = passes(r)
        rows.append({"rate": rate, "attempted": r.attempted, "failed": r.failed, "retransmissions": r.retransmissions,
                     "p99_ms": r.response_ms["p99"], "seconds": r.seconds, "passed": ok})
        print(f"  {'edge ' if target is None else 'direct'} {rate:>5}/s: {r.attempted} calls, {r.failed} failed, "
              f"{r.retransmissions} retrans, p99 {r.response_ms['p99']} ms, {r.seconds} s {'ok' if ok else 'FAIL'}", file=sys.stderr, flush=True)
        if not ok:
            break
        best = rate
        time.sleep(2)  # let transactions and rtpengine sessions expire between steps
    return best, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("blueprint", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--step-seconds", type=float, default=10)
    ap.add_argument("--max-rate", type=int, default=3000)
    ap.add_argument("--hold-rate", type=int, default=1000)
    ap.add_argument("--hold-seconds", type=int, default=60)
    ap.add_argument("--call-ms", type=int, default=500, help="how long each call stays up")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.step_seconds = min(args.step_seconds, 60)
    args.hold_seconds = min(args.hold_seconds, 300)
    # the edge is sized (Kamailio's memory and workers) for the highest rate this run asks of it
    bp = plan_from_file(args.blueprint)
    idx = [s.name for s in bp.sites].index(bp.trunks[0].sites[0])
    sizing = f"spec.sites[{idx}].sip_proxy.max_cps={max(args.max_rate, args.hold_rate)}"
    with lab_up(args.blueprint, (sizing,)) as (state, plan):
        site = plan.site(plan.trunks[0].sites[0])
        media = plan.hosts_of(site.name, "media")[0]
        print(f"lab of {plan.center} with {sizing} (Kamailio -m {site.kamailio_shm_mb}): "
              f"edge = VIP {site.vip} (Kamailio pair, rtpengine), direct = {media.name} {media.address}:{MEDIA_SIP_PORT}",
              file=sys.stderr)
        direct, direct_rows = ramp(state, plan, f"{media.address}:{MEDIA_SIP_PORT}", args.step_seconds, args.max_rate, args.call_ms)
        edge, edge_rows = ramp(state, plan, None, args.step_seconds, args.max_rate, args.call_ms)
        # hold: the sustained figure, with the VIP watched for a false failover
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
        held = place_calls(state, plan, args.hold_rate, args.hold_rate * args.hold_seconds, hold_ms=args.call_ms, audio=False)
        stop.set()
        watcher.join()
    result = {
        "direct_cps": direct, "edge_cps": edge, "edge_share_of_direct": round(edge / direct, 3) if direct else None,
        "goal_edge_ge_80pct": bool(direct) and edge >= 0.8 * direct,
        "hold": {"rate": args.hold_rate, "seconds": args.hold_seconds, "attempted": held.attempted, "failed": held.failed,
                 "retransmissions": held.retransmissions, "p99_ms": held.response_ms["p99"], "took_s": held.seconds},
        "goal_hold_1000_for_60s": args.hold_rate >= 1000 and args.hold_seconds >= 60 and held.failed == 0 and held.attempted == args.hold_rate * args.hold_seconds,
        "false_failovers": len(flips), "ramp": {"direct": direct_rows, "edge": edge_rows},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"direct UAC -> UAS: {direct} calls/s; edge: {edge} calls/s ({result['edge_share_of_direct']:.0%} of direct; goal >= 80 % "
          f"{'met' if result['goal_edge_ge_80pct'] else 'MISSED'})" if direct else f"direct: none passed; edge: {edge} calls/s")
    h = result["hold"]
    print(f"hold {h['rate']}/s for {h['seconds']} s: {h['attempted']} calls, {h['failed']} failed, {h['retransmissions']} retransmissions, "
          f"p99 {h['p99_ms']} ms, took {h['took_s']} s; goal {'met' if result['goal_hold_1000_for_60s'] else 'MISSED'}; "
          f"false failovers during the hold: {len(flips)}")


if __name__ == "__main__":
    main()
