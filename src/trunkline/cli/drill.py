"""trunkline drill: a disaster-recovery drill in the lab, a real fault under live calls, with RTO and every lost call.

The lab runs the drill (targets/lab/drill.py); on-prem drills are refused in this version (they need
the live load from outside the center, which the lab's carrier caller provides only in the lab).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from trunkline.cli.lab import _running_lab, lab_center, show_load
from trunkline.cli.options import Blueprint, Json, Layers, Sets
from trunkline.cli.output import err, exit_with, fail, out, print_json, table
from trunkline.errors import TrunklineError, UsageError


def drill(
    blueprint: Blueprint,
    layers: Layers = None,
    sets: Sets = None,
    scenario: str = typer.Option(..., "--scenario", help="proxy-master-loss, proxy-master-crash, media-node-loss, relay-loss, or all "
                                 "(carrier-peer-loss and site-loss need a carrier edge the lab does not build yet)"),
    target: str = typer.Option("lab", "--target", help="lab (on-prem drills are not in this version)"),
    load: str = typer.Option("2,10", "--load", help="RATE,HOLD: new calls per second, seconds each is held"),
    watch: str = typer.Option("20s", "--watch", help="how long the fault lasts before it is restored"),
    junit: Optional[Path] = typer.Option(None, "--junit", help="write a JUnit XML report here: a test case per scenario"),
    report: Optional[Path] = typer.Option(None, "--report", help="write the report into this folder: drill.html (for an "
                                          "auditor: the plot of calls with the events marked), drill.json, drill-junit.xml"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print each scenario's steps and the hosts they touch; touch nothing"),
    as_json: Json = False,
) -> None:
    """Inject a real fault under live calls, watch, restore, and report: the timeline, RTO, calls failed and
    dropped, the calls on the lost part, and the blueprint's dr objectives. Exit 0 when every declared
    objective was met, 1 when one was missed or the drill broke, 2 on bad input."""
    from trunkline.durations import BLUEPRINT, parse_span
    from trunkline.report.drill import write_drill_report, write_junit
    from trunkline.targets.lab.drill import LabDrill, scenario_names, steps

    try:
        if target != "lab":
            raise UsageError(f"--target {target}: drills run in the lab in this version; an on-prem drill needs a "
                             "load generator at the carrier's side of the servers and --yes, which are not built yet")
        names = scenario_names(scenario)
        try:
            rate, hold = (float(x) for x in load.split(","))
            watch_s = parse_span(watch, BLUEPRINT)
        except ValueError as exc:
            raise UsageError(f"--load {load} / --watch {watch}: {exc} (e.g. --load 2,10 --watch 20s)") from None
        if not 1 <= watch_s <= 300:
            raise UsageError(f"--watch {watch}: between 1 s and 5 min")
        if dry_run:
            c, _ = lab_center(blueprint, layers, sets)
            show_steps(c.plan, names, steps, as_json)
            return
        state = _running_lab(blueprint)
        c, _ = lab_center(blueprint, layers, sets)
    except TrunklineError as exc:
        fail(exc, as_json)
    say = (lambda e: None) if as_json else (lambda e: err.print(
        f"{time.strftime('%H:%M:%S', time.localtime(e.at))} {e.what}" + (f": {e.detail}" if e.detail else ""),
        highlight=False, markup=False))
    runs = []
    try:
        for name in names:
            if not as_json:
                err.print(f"drill {name} on {c.plan.center}", highlight=False, markup=False)
            runs.append(LabDrill(state, c.plan, name, rate, hold, watch_s, say).run())
    except TrunklineError as exc:
        fail(exc, as_json)
    body = {"ok": all(r.outcome == "met" for r in runs), "center": c.plan.center, "drills": [r.as_dict() for r in runs]}
    try:
        if junit:
            write_junit(body, junit)
        written = write_drill_report(body, report) if report else []
    except (OSError, TrunklineError) as exc:
        fail(exc if isinstance(exc, TrunklineError) else UsageError(f"--report/--junit: {exc}"), as_json)
    if as_json:
        print_json(body)
    else:
        for r in runs:
            show_drill(r)
        if written:
            out.print(f"report: {', '.join(str(p) for p in written)}", highlight=False, markup=False)
    exit_with(any(r.outcome != "met" for r in runs))


def show_steps(plan, names: list[str], steps, as_json: bool) -> None:
    """--dry-run: each scenario's steps and the hosts they would touch."""
    shown = {n: [{"step": what, "hosts": hosts} for what, hosts in steps(plan, n)] for n in names}
    if as_json:
        print_json({"center": plan.center, "dry_run": True, "scenarios": shown})
        return
    for n, rows in shown.items():
        out.print(table("#", "step", "hosts", title=f"drill {n} on {plan.center} (dry run: nothing touched)",
                        rows=((str(i), r["step"], ", ".join(r["hosts"])) for i, r in enumerate(rows, 1))))


def show_drill(r) -> None:
    from trunkline.report.drill import objective_text

    t0 = r.fault_at or (r.events[0].at if r.events else 0)
    out.print(table("at", "event", "detail", title=f"drill {r.scenario} on {r.center} ({r.host}): {r.outcome}",
                    rows=((f"{e.at - t0:+.2f} s", e.what, e.detail) for e in r.events)))
    lines = [f"RTO {r.rto_s:g} s (resolution {r.rto_resolution_s:g} s, one call every 1/rate)" if r.rto_s is not None else "RTO not measured",
             f"calls failed {r.failed} ({r.failed_after_fault} ended after the fault), dropped {r.dropped} "
             f"({r.dropped_after_fault} after the fault)"]
    if r.in_flight is not None:
        lines.append(f"on {r.host} at the fault: {r.in_flight} {r.in_flight_unit}")
    lines += [objective_text(name, o) for name, o in r.objectives.items()]
    if r.reason:
        lines.append(f"error: {r.reason}")
    out.print("\n".join(lines), highlight=False, markup=False)
    if r.load:
        show_load(r.load)


