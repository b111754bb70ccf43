"""The drill report (trunkline drill --report DIR) from a real run's --json body: acme-bank in the
lab, every scenario (--scenario all --load 2,8 --watch 10s), the lab's load of SRTP calls. The page
is one file for an auditor; the JSON and the JUnit file are the same run."""

from __future__ import annotations

import copy
import json
from html.parser import HTMLParser
from pathlib import Path

from junitparser import Failure, JUnitXml

from trunkline.report.drill import drill_html, junit_xml, write_drill_report

BODY = json.loads((Path(__file__).parent / "drill-run.json").read_text())


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.rows, self.text, self._row, self._cell = [], [], [], None, None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell += data


def parsed(body: dict) -> tuple[str, Page]:
    text = drill_html(body)
    page = Page()
    page.feed(text)
    return text, page


def test_the_page_is_one_file_with_a_plot_per_scenario_that_fetches_nothing():
    text, page = parsed(BODY)
    assert not [t for t, a in page.tags if t in ("script", "link", "img", "iframe")]
    assert not [a for t, a in page.tags if any(str(v).startswith(("http:", "https:", "//")) for k, v in a.items() if k in ("src", "href"))]
    assert text.count("<svg") == len(BODY["drills"]) >= 4


def test_the_summary_has_a_row_per_scenario_with_its_measures():
    _, page = parsed(BODY)
    summary = {r[0]: r for r in page.rows if r and r[0] in {d["scenario"] for d in BODY["drills"]}}
    for d in BODY["drills"]:
        row = summary[d["scenario"]]
        assert row[1] == d["host"] and row[2] == d["outcome"]
        assert row[3] == f"{d['rto_s']:g} s" and row[4] == str(d["failed"]) and row[5] == str(d["dropped"])
        if d["in_flight"] is not None:
            assert row[6].startswith(f"{d['in_flight']} ")


def test_each_timeline_lists_every_event_from_the_fault():
    _, page = parsed(BODY)
    for d in BODY["drills"]:
        rows = [r for r in page.rows if len(r) == 4 and r[2] == "fault injected" and r[3] == d["events"][2]["detail"]]
        assert rows and abs(float(rows[0][1].removesuffix(" s"))) < 0.5  # the timeline is read from the fault
        for e in d["events"]:
            offset = f"{round(e['at'] - d['fault_at'], 2) + 0.0:+.2f} s"  # never '-0.00'
            assert [offset, e["what"], e["detail"]] in [r[1:] for r in page.rows if len(r) == 4], (offset, e)


def test_the_plot_marks_the_fault_its_detection_and_the_restore():
    text, _ = parsed(BODY)
    svgs = text.split("<svg")[1:]
    for d, svg in zip(BODY["drills"], svgs):
        for label in ("fault injected", "detected", "restored"):
            assert label in svg, (d["scenario"], label)
        assert "calls up" in svg and d["scenario"] in svg


def test_a_missed_objective_shows_on_the_page_and_fails_its_junit_case():
    body = copy.deepcopy(BODY)
    d = body["drills"][0]
    d["objectives"]["rto"].update(declared_s=0.1, met=False)
    d["outcome"], body["ok"] = "missed", False
    text, _ = parsed(body)
    assert "not every objective met" in text and "MISSED" in text
    xml = JUnitXml.fromstring(junit_xml(body))
    cases = {c.name: c for suite in xml for c in suite}
    assert any(isinstance(r, Failure) for r in cases[d["scenario"]].result)
    assert all(not cases[x["scenario"]].result for x in body["drills"][1:] if x["outcome"] == "met")


def test_the_report_folder_holds_the_page_the_json_and_the_junit(tmp_path):
    written = write_drill_report(BODY, tmp_path / "report")
    assert [p.name for p in written] == ["drill.html", "drill.json", "drill-junit.xml"]
    assert json.loads((tmp_path / "report" / "drill.json").read_text()) == BODY
    assert (tmp_path / "report" / "drill-junit.xml").read_text() == junit_xml(BODY)
    assert not [p for p in (tmp_path / "report").iterdir() if p.name.startswith(".")]  # no temporary file left
