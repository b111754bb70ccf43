"""The drill report (trunkline drill --report DIR): for an auditor, one self-contained HTML page
(templates/report/drill.html.j2: per scenario the outcome against the blueprint's objectives, the
calls per second ok/failed/dropped with the fault, its detection and the restoration marked, the
timeline), the drills' JSON, and a JUnit file with a test case per scenario.

Everything is made from the --json body ({"ok", "center", "drills": [DrillRun.as_dict(), ...]}), so
a report can be made again from a saved run.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from trunkline.errors import RenderError
from trunkline.report import atomic_write
from trunkline.report.rollout import COLORS, calls_figure, figure_svg

TEMPLATE = "report/drill.html.j2"
MARKED = {"fault injected": "bad", "detected": "step", "restored": "step", "first call established after the fault": "step"}


def objective_text(name: str, o: dict) -> str:
    verdict = "met" if o["met"] else "MISSED" if o["met"] is False else o["note"]
    measured = f" (measured {o['measured_s']:g} s)" if o["measured_s"] is not None else ""
    return f"dr.{name} {o['declared_s']:g} s: {verdict}{measured}"


def since(d: dict) -> float:
    """The epoch a drill's times are read from: its fault, or its first event when it broke before one."""
    return d["fault_at"] or (d["events"][0]["at"] if d["events"] else 0.0)


def drill_svg(d: dict) -> bytes:
    t0 = since(d)
    marks = [(e["at"], "first call after" if e["what"].startswith("first call") else e["what"], MARKED[e["what"]])
             for e in d["events"] if e["what"] in MARKED]
    return figure_svg(calls_figure(d["load"], t0, marks, f"{d['center']}: {d['scenario']} ({d['host'] or 'no host'}), {d['outcome']}",
                                   "seconds since the fault"))


def drill_html(body: dict) -> str:
    from trunkline.report.html import _environment, inline_svg

    try:
        tpl = _environment().get_template(TEMPLATE)
    except Exception as exc:  # jinja2.TemplateNotFound and friends: a broken install
        raise RenderError(f"templates/{TEMPLATE} cannot be read ({exc}); restore it from git") from None
    drills = []
    for d in body["drills"]:
        t0 = since(d)
        events = [dict(e, offset=round(e["at"] - t0, 2) + 0.0, clock=time.strftime("%H:%M:%S", time.localtime(e["at"]))) for e in d["events"]]
        drills.append({"run": d, "events": events, "plot": inline_svg(drill_svg(d)),
                       "objectives": [objective_text(k, o) for k, o in d["objectives"].items()]})
    first = min((e["at"] for d in body["drills"] for e in d["events"]), default=time.time())
    return tpl.render(body=body, drills=drills, colors=COLORS, when=time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(first)))


def junit_xml(body: dict) -> str:
    """A testsuite 'trunkline drill' with a testcase per scenario: a failure when an objective was
    missed, an error when the drill broke, the timeline as its output."""
    runs = body["drills"]
    suite = ET.Element("testsuite", name="trunkline drill", tests=str(len(runs)),
                       failures=str(sum(r["outcome"] == "missed" for r in runs)), errors=str(sum(r["outcome"] == "error" for r in runs)))
    for r in runs:
        ev = r["events"]
        case = ET.SubElement(suite, "testcase", classname=r["center"], name=r["scenario"],
                             time=f"{(ev[-1]['at'] - ev[0]['at']) if ev else 0:.1f}")
        summary = "; ".join([f"RTO {r['rto_s']} s", f"failed {r['failed']}, dropped {r['dropped']}",
                             *(objective_text(k, o) for k, o in r["objectives"].items())])
        if r["outcome"] == "missed":
            ET.SubElement(case, "failure", message=summary).text = summary
        elif r["outcome"] == "error":
            ET.SubElement(case, "error", message=r["reason"]).text = r["reason"]
        ET.SubElement(case, "system-out").text = "\n".join(f"{e['at']:.3f} {e['what']}: {e['detail']}" for e in ev) + "\n" + summary
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode") + "\n"


def write_junit(body: dict, path: Path) -> Path:
    path = Path(path)
    atomic_write(path, junit_xml(body).encode())
    return path


def write_drill_report(body: dict, folder: Path) -> list[Path]:
    """drill.html, drill.json and drill-junit.xml in `folder` (each written whole or not at all)."""
    folder = Path(folder)
    page = folder / "drill.html"
    atomic_write(page, drill_html(body).encode())
    data = folder / "drill.json"
    atomic_write(data, (json.dumps(body, indent=2) + "\n").encode())
    return [page, data, write_junit(body, folder / "drill-junit.xml")]
