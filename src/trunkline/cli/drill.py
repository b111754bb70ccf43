"""trunkline drill: a disaster-recovery drill in the lab, a real fault under live calls, with RTO and every lost call.

The lab runs the drill (targets/lab/drill.py); on-prem drills are refused in this version (they need
the live load from outside the center, which the lab's carrier caller provides only in the lab).
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
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
    as_json: Json = False,
) -> None:
    """Inject a real fault under live calls, watch, restore, and report: the timeline, RTO, calls failed and
    dropped, the calls on the lost part, and the blueprint's dr objectives. Exit 0 when every declared
    objective was met, 1 when one was missed or the drill broke, 2 on bad input."""
    from trunkline.durations import BLUEPRINT, parse_span
    from trunkline.targets.lab.drill import LabDrill, scenario_names

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
    if junit:
        write_junit(runs, junit)
    if as_json:
        print_json({"ok": all(r.outcome == "met" for r in runs), "center": c.plan.center, "drills": [r.as_dict() for r in runs]})
    else:
        for r in runs:
            show_drill(r)
    exit_with(any(r.outcome != "met" for r in runs))


def show_drill(r) -> None:
    t0 = r.fault_at or (r.events[0].at if r.events else 0)
    out.print(table("at", "event", "detail", title=f"drill {r.scenario} on {r.center} ({r.host}): {r.outcome}",
                    rows=((f"{e.at - t0:+.2f} s", e.what, e.detail) for e in r.events)))
    lines = [f"RTO {r.rto_s:g} s (resolution {r.rto_resolution_s:g} s, one call every 1/rate)" if r.rto_s is not None else "RTO not measured",
             f"calls failed {r.failed} ({r.failed_after_fault} ended after the fault), dropped {r.dropped} "
             f"({r.dropped_after_fault} after the fault)"]
    if r.in_flight is not None:
        lines.append(f"on {r.host} at the fault: {r.in_flight} {r.in_flight_unit}")
    for name, o in r.objectives.items():
        lines.append(f"dr.{name} {o['declared_s']} s: " + ("met" if o["met"] else "MISSED" if o["met"] is False else o["note"])
                     + (f" (measured {o['measured_s']:g} s)" if o["measured_s"] is not None else ""))
    if r.reason:
        lines.append(f"error: {r.reason}")
    out.print("\n".join(lines), highlight=False, markup=False)
    if r.load:
        show_load(r.load)


def write_junit(runs, path: Path) -> None:
    """A testsuite 'trunkline drill' with a testcase per scenario: a failure when an objective was missed, an error when the drill broke."""
    suite = ET.Element("testsuite", name="trunkline drill", tests=str(len(runs)),
                       failures=str(sum(r.outcome == "missed" for r in runs)), errors=str(sum(r.outcome == "error" for r in runs)))
    for r in runs:
        case = ET.SubElement(suite, "testcase", classname=r.center, name=r.scenario,
                             time=f"{(r.events[-1].at - r.events[0].at) if r.events else 0:.1f}")
        summary = (f"RTO {r.rto_s} s; failed {r.failed}, dropped {r.dropped}; "
                   + "; ".join(f"dr.{k}: {'met' if o['met'] else 'missed' if o['met'] is False else o['note']}" for k, o in r.objectives.items()))
        if r.outcome == "missed":
            ET.SubElement(case, "failure", message=summary).text = summary
        elif r.outcome == "error":
            ET.SubElement(case, "error", message=r.reason).text = r.reason
        ET.SubElement(case, "system-out").text = "\n".join(f"{e.at:.3f} {e.what}: {e.detail}" for e in r.events) + "\n" + summary
    root = ET.Element("testsuites")
    root.append(suite)
    path.write_text(ET.tostring(root, encoding="unicode") + "\n")
