"""Report -> the formats a person or a CI reads: table (rich), JSON, JUnit XML, SARIF 2.1.0.

JUnit: one testsuite per pack, one testcase per control; fail -> <failure>, error -> <error>,
skip, waived and not-evaluated -> <skipped> (the message says which, and why).
SARIF: one rule per control, one result per failure (waived ones carry an accepted external
suppression with the justification); a not-evaluated control is one result at level note saying
why (properties.status not-evaluated), so it is seen and not counted as a pass. Blueprint places are physical locations (file, line,
column) with the field path as a logical location; rendered files are relative to the render
output folder (uriBaseId RENDERED); host places are logical locations (host and command).
"""

from __future__ import annotations

import json
from importlib import metadata
import xml.etree.ElementTree as ET
from pathlib import PurePosixPath
from urllib.parse import quote

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from trunkline.comply.findings import ControlResult, Fail, Report

FORMATS = ("table", "json", "junit", "sarif")
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
STYLE = {"pass": "green", "fail": "red", "error": "red", "waived": "yellow", "skip": "dim", "not-evaluated": "magenta"}


def summary_line(report: Report) -> str:
    c = report.counts()
    return (f"{report.center}: {c['pass']} passed, {c['fail']} failed, {c['error']} errors, {c['waived']} waived, "
            f"{c['not-evaluated']} not evaluated, {c['skip']} skipped ({', '.join(report.packs)})")


def print_table(report: Report, console: Console) -> None:
    table = Table("result", "control", "severity", "title", title=f"compliance of {report.blueprint} ({report.center})")
    for r in report.results:
        table.add_row(f"[{STYLE[r.status]}]{r.status}[/]", r.control.id, r.control.severity, escape(r.control.title))
    console.print(table)
    for r in report.results:
        if r.status == "pass":
            continue
        head = f"{r.status.upper()} {r.control.id} ({r.control.severity}): {r.control.title}"
        if r.status == "skip":
            console.print(f"[dim]{escape(head)}: {escape(r.reason)}[/dim]", highlight=False, soft_wrap=True)
            continue
        if r.status == "not-evaluated":
            console.print(f"[magenta]NOT EVALUATED {escape(r.control.id)} ({r.control.severity}): {escape(r.control.title)}[/]", highlight=False, soft_wrap=True)
            console.print(f"  {r.reason}", markup=False, highlight=False, soft_wrap=True)
            continue
        console.print(f"[{STYLE[r.status]}]{escape(head)}[/]", highlight=False, soft_wrap=True)
        console.print(f"  rests on: {r.control.citation}", markup=False, highlight=False, soft_wrap=True)
        for f in r.failures:
            console.print(f"  {f.place}: {f.message}", markup=False, highlight=False, soft_wrap=True)
            console.print(f"    fix: {r.fix_for(f)}", markup=False, highlight=False, soft_wrap=True)
        if r.reason:
            console.print(f"  {r.reason}", markup=False, highlight=False, soft_wrap=True)
    console.print(summary_line(report), markup=False, highlight=False, soft_wrap=True)


def to_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n"


# --- JUnit ------------------------------------------------------------------------------------------


def _details(r: ControlResult) -> str:
    lines = [f"{r.control.title}", f"rests on: {r.control.citation}"]
    for f in r.failures:
        lines += [f"{f.place}: {f.message}", f"  fix: {r.fix_for(f)}"]
    if r.reason:
        lines.append(r.reason)
    return "\n".join(lines)


def to_junit(report: Report) -> str:
    counts = report.counts()
    root = ET.Element("testsuites", name=f"trunkline comply {report.center}", tests=str(len(report.results)),
                      failures=str(counts["fail"]), errors=str(counts["error"]),
                      skipped=str(counts["skip"] + counts["waived"] + counts["not-evaluated"]))
    for pack in report.packs:
        results = [r for r in report.results if r.control.pack == pack]
        c = {s: sum(r.status == s for r in results) for s in ("fail", "error", "skip", "waived", "not-evaluated")}
        suite = ET.SubElement(root, "testsuite", name=pack, tests=str(len(results)), failures=str(c["fail"]), errors=str(c["error"]),
                              skipped=str(c["skip"] + c["waived"] + c["not-evaluated"]), timestamp=f"{report.today.isoformat()}T00:00:00")
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="blueprint", value=report.blueprint)
        ET.SubElement(props, "property", name="center", value=report.center)
        for r in results:
            case = ET.SubElement(suite, "testcase", classname=pack, name=r.control.id, time="0")
            if r.status == "fail":
                first = r.failures[0] if r.failures else None
                msg = f"{first.place}: {first.message}" if first else r.reason
                el = ET.SubElement(case, "failure", message=msg, type=r.control.severity)
                el.text = _details(r)
            elif r.status == "error":
                el = ET.SubElement(case, "error", message=r.reason, type="check-error")
                el.text = _details(r)
            elif r.status in ("skip", "waived"):
                ET.SubElement(case, "skipped", message=r.reason)
            elif r.status == "not-evaluated":
                ET.SubElement(case, "skipped", message=f"not evaluated: {r.reason}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --- SARIF ----------------------------------------------------------------------------------------


def _uri(path: str) -> str:
    return quote(PurePosixPath(path).as_posix(), safe="/:._-~")


def _location(f: Fail) -> dict:
    p = f.place
    if p.kind == "blueprint":
        physical: dict = {"artifactLocation": {"uri": _uri(p.file)}}
        if p.line > 0:
            physical["region"] = {"startLine": p.line, **({"startColumn": p.column} if p.column > 0 else {})}
        loc: dict = {"physicalLocation": physical}
        if p.path:
            loc["logicalLocations"] = [{"fullyQualifiedName": p.path, "kind": "member"}]
        return loc
    if p.kind == "file":
        physical = {"artifactLocation": {"uri": _uri(f"{p.host}{p.file}".lstrip("/")), "uriBaseId": "RENDERED"}}
        if p.line > 0:
            physical["region"] = {"startLine": p.line}
        return {"physicalLocation": physical, "logicalLocations": [{"name": p.host, "kind": "resource"}]}
    return {"logicalLocations": [{"name": p.host, "fullyQualifiedName": str(p), "kind": "resource"}]}


def to_sarif(report: Report) -> str:
    controls = [r.control for r in report.results]
    index = {c.id: i for i, c in enumerate(controls)}
    rules = [{
        "id": c.id,
        "name": c.id.split("/", 1)[1],
        "shortDescription": {"text": c.title},
        "fullDescription": {"text": f"{c.title}. Rests on: {c.citation}"},
        "help": {"text": f"{c.fix}\nRests on: {c.citation}"},
        "defaultConfiguration": {"level": SARIF_LEVEL[c.severity]},
        "properties": {"pack": c.pack, "severity": c.severity, "citation": c.citation, "applies": c.applies, "kind": c.kind,
                       "tags": [c.pack, c.applies, c.kind, "compliance"]},
    } for c in controls]
    results = []
    for r in report.results:
        if r.status not in ("fail", "waived", "error", "not-evaluated"):
            continue
        base = {"ruleId": r.control.id, "ruleIndex": index[r.control.id], "level": SARIF_LEVEL[r.control.severity]}
        if r.status == "not-evaluated":
            results.append(base | {"level": "note", "message": {"text": f"not evaluated: {r.reason}"}, "properties": {"status": "not-evaluated"}})
            continue
        if r.status == "error":
            results.append(base | {"level": "error", "message": {"text": f"the check could not run: {r.reason}"}})
            continue
        for f in r.failures:
            text = f"{f.message}. Fix: {r.fix_for(f)}"
            if r.waiver_expired:
                text += f" ({r.reason})"
            result = base | {"message": {"text": text}, "locations": [_location(f)]}
            if r.status == "waived":
                result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": r.waiver.justification}]
            results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "trunkline comply", "version": _version(), "rules": rules}},
            "originalUriBaseIds": {"RENDERED": {"description": {"text": "the render output folder: trunkline render BLUEPRINT -o DIR (default build/<center>/)"}}},
            "invocations": [{"executionSuccessful": True}],
            "results": results,
            "properties": {"center": report.center, "blueprint": report.blueprint, "packs": report.packs, "summary": report.counts()},
        }],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _version() -> str:
    try:
        return metadata.version("trunkline")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0"


def render_report(report: Report, fmt: str) -> str:
    """The report as text in a machine format (table: plain text, no colour)."""
    if fmt == "json":
        return to_json(report)
    if fmt == "junit":
        return to_junit(report)
    if fmt == "sarif":
        return to_sarif(report)
    import io

    buf = io.StringIO()
    print_table(report, Console(file=buf, width=160, no_color=True, highlight=False, soft_wrap=True))
    return buf.getvalue()
