"""Concurrent calls with audio that the lab's edge carries on this machine, as the blueprint writes it,
per media profile, with each program's CPU per call-second and which one runs out first.

The whole path of a carrier call: the carrier's FreeSWITCH (trunkline load's caller, SRTP when the
profile has it) -> Kamailio (TLS as the trunk says) -> rtpengine (re-keys SRTP per leg) -> a
FreeSWITCH media node (IVR, queue music or a lab agent, who sends back what it hears; recording in
the blueprint's format when the profile records). Three profiles, each a lab of its own:

  plain RTP         spec.security.srtp=optional, spec.recording.mode=none
  SRTP              spec.recording.mode=none
  SRTP + recording  the blueprint as written (acme-bank: SRTP required, every call recorded as mp3)

Concurrency is stepped up (--steps): each step starts N calls (at most --rate a second), holds every
call until all have been up for --steady seconds, and ends them. A step passes when no call failed or
dropped (trunkline load's outcomes) and the audio the caller received lost at most 0.1 % of its
packets (FreeSWITCH's own sequence-number gaps). The steps stop at the first that fails. CPU per
program (by process name, machine-wide: one lab at a time), per call-second of the steady window:
the media nodes' FreeSWITCH, rtpengine, Kamailio, the lab's own caller and agents; and the machine's
busy share of its cores. All of it shares the machine's cores, the load generator included.

    sudo .venv/bin/python benchmarks/media_capacity.py [BLUEPRINT] [--steps 25,50,100,175,250] [--steady 20] [--profiles plain,srtp,recorded] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from _lab import DEFAULT, ROOT, lab_up, processes

from trunkline import freeswitch
from trunkline.center import load as load_center
from trunkline.targets.lab.load import Load

LOSS_LIMIT = 0.001
PROFILES = {
    "plain": ("plain RTP", ("spec.security.srtp=optional", "spec.recording.mode=none")),
    "srtp": ("SRTP", ("spec.security.srtp=required", "spec.recording.mode=none")),
    "recorded": ("SRTP + recording", ()),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpu_by_program(caller_pid: int | None) -> dict[str, float]:
    """CPU seconds so far of every running process of each program; the caller's FreeSWITCH apart."""
    names = {"freeswitch": "media nodes (FreeSWITCH)", "rtpengine": "rtpengine", "kamailio": "kamailio",
             "sipp": "agents (SIPp)", "keepalived": "keepalived"}
    out = dict.fromkeys([*names.values(), "caller (FreeSWITCH)"], 0.0)
    for pid, comm, seconds in processes():
        if comm in names:
            out["caller (FreeSWITCH)" if pid == caller_pid else names[comm]] += seconds
    return out


def machine() -> tuple[float, float]:
    """(busy, total) jiffies of all cores so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def step(state, plan, calls: int, rate: float, steady_s: float) -> dict:
    rate = min(rate, calls)
    ramp = calls / rate
    load = Load(state, plan, rate, math.ceil(ramp + steady_s + 3), ramp, chosen=f"step of {calls} calls")
    load.start()
    t0 = time.monotonic()
    time.sleep(max(0.0, ramp + 2 - (time.monotonic() - t0)))  # every call placed and answered
    pid = load.caller_pid
    cpu0, m0, up0 = cpu_by_program(pid), machine(), load.snapshot()["up"]
    time.sleep(steady_s)
    cpu1, m1, up1 = cpu_by_program(pid), machine(), load.snapshot()["up"]
    report = load.join()
    call_s = max(1, min(up0, up1)) * steady_s
    loss = report.rtp["loss"] if report.rtp["loss"] is not None else 1.0
    row = {"calls": calls, "up_in_window": min(up0, up1), "attempted": report.attempted, "failed": report.failed,
           "dropped": report.dropped, "failures": report.failures, "drops": report.drops,
           "rtp_packets": report.rtp["packets"], "rtp_lost": report.rtp["lost"], "loss": loss,
           "jitter_ms_max": report.rtp["jitter_ms_max"],
           "cpu_ms_per_call_s": {k: round(1000 * (cpu1[k] - cpu0[k]) / call_s, 2) for k in cpu0},
           "cores": {k: round((cpu1[k] - cpu0[k]) / steady_s, 2) for k in cpu0},
           "machine_busy": round((m1[0] - m0[0]) / max(1, m1[1] - m0[1]), 3)}
    row["passed"] = report.failed == 0 and report.dropped == 0 and loss <= LOSS_LIMIT and report.rtp["packets"] > 0
    return row


def bound_by(row: dict) -> str:
    cores = sorted(row["cores"].items(), key=lambda kv: -kv[1])
    top = ", ".join(f"{k} {v:.2f}" for k, v in cores[:4])
    return f"machine {row['machine_busy']:.0%} busy of {os.cpu_count()} cores; cores by program: {top}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("blueprint", nargs="?", default=str(DEFAULT))
    ap.add_argument("--steps", default="25,50,100,175,250")
    ap.add_argument("--steady", type=float, default=20, help="seconds every call of a step is up at once")
    ap.add_argument("--rate", type=float, default=10, help="new calls per second while a step ramps up")
    ap.add_argument("--profiles", default="plain,srtp,recorded")
    ap.add_argument("--max-seconds", type=int, default=2400)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        log("benchmarks/media_capacity.py needs root (network namespaces)")
        return 2
    if freeswitch.launcher() is None:
        log(f"FreeSWITCH is not installed under {freeswitch.PREFIX}: {freeswitch.INSTALL_HINT}")
        return 2
    profiles = [p.strip() for p in args.profiles.split(",")]
    if unknown := [p for p in profiles if p not in PROFILES]:
        log(f"--profiles: unknown {', '.join(unknown)}; use {', '.join(PROFILES)}")
        return 2
    steps = sorted(int(s) for s in args.steps.split(","))
    busy_hour = {}
    for path in sorted((ROOT / "blueprints").glob("*.yaml")):
        p = load_center(path).plan
        busy_hour[path.stem] = max(s.concurrent_calls for s in p.sites)
    end = time.monotonic() + args.max_seconds
    results = {}
    for key in profiles:
        title, sets = PROFILES[key]
        rows = []
        log(f"{title}: bringing the lab up ({', '.join(sets) or 'the blueprint as written'})")
        with lab_up(Path(args.blueprint), sets, media="freeswitch") as (state, plan):
            for calls in steps:
                if time.monotonic() + calls / args.rate + args.steady + 60 > end:
                    log(f"  stopping before {calls} calls: --max-seconds {args.max_seconds} would pass")
                    break
                row = step(state, plan, calls, args.rate, args.steady)
                rows.append(row)
                log(f"  {calls:>4} calls: {'pass' if row['passed'] else 'FAIL'}  up {row['up_in_window']}, failed {row['failed']}, "
                    f"dropped {row['dropped']}, loss {100 * row['loss']:.3f} %; {bound_by(row)}")
                if not row["passed"]:
                    break
                time.sleep(3)
        passing = [r["calls"] for r in rows if r["passed"]]
        first_fail = next((r for r in rows if not r["passed"]), None)
        results[key] = {"profile": title, "sets": list(sets), "highest_passing": max(passing, default=0), "steps": rows,
                        "bounded_by": bound_by(first_fail) if first_fail else None}
    summary = {"blueprint": args.blueprint, "cores": os.cpu_count(), "steady_s": args.steady, "loss_limit": LOSS_LIMIT,
               "busy_hour_concurrent_calls": busy_hour, "profiles": results}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"calls with audio through the lab's edge of {Path(args.blueprint).name} on {os.cpu_count()} cores "
          f"(the caller, agents and every program of the center share them); {args.steady:g} s with all calls up")
    print(f"{'profile':<17} {'calls':>5} {'result':>6} {'up':>4} {'failed':>6} {'dropped':>7} {'loss %':>7} {'jitter':>6} "
          f"{'nodes':>6} {'rtpeng':>6} {'kamail':>6} {'caller':>6} {'machine':>7}   (ms CPU per call-second)")
    for key, res in results.items():
        for r in res["steps"]:
            c = r["cpu_ms_per_call_s"]
            print(f"{res['profile']:<17} {r['calls']:>5} {'pass' if r['passed'] else 'FAIL':>6} {r['up_in_window']:>4} {r['failed']:>6} "
                  f"{r['dropped']:>7} {100 * r['loss']:>7.3f} {r['jitter_ms_max'] or 0:>6.1f} {c['media nodes (FreeSWITCH)']:>6.2f} "
                  f"{c['rtpengine']:>6.2f} {c['kamailio']:>6.2f} {c['caller (FreeSWITCH)']:>6.2f} {r['machine_busy']:>7.0%}")
    for key, res in results.items():
        print(f"{res['profile']}: highest passing concurrency {res['highest_passing']}"
              + (f"; the step after it: {res['bounded_by']}" if res["bounded_by"] else "; no step failed"))
    for name, n in busy_hour.items():
        covered = [results[k]["profile"] for k in results if results[k]["highest_passing"] >= n]
        print(f"busy hour of {name}: {n} calls up at once; carried here by: {', '.join(covered) or 'none of the profiles run'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
