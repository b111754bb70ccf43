"""The rollout's page (trunkline rollout --html) from a real run's --json body: acme-bank, sh-dc1's
time zone changed under a load of 2 calls a second held 10 s (trimmed to three of its hosts: a media
node, a relay and the proxy that held the VIP, and the one call that failed as the VIP moved)."""

from __future__ import annotations

import copy
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from trunkline.report.rollout import around, rollout_html, write_rollout_page

RUN = json.loads((Path(__file__).parent / "rollout-run.json").read_text())


class Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.tags, self._row, self._cell = [], [], None, None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = [dict(attrs).get("class", ""), ""]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(tuple(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data


@pytest.fixture(scope="module")
def page() -> tuple[str, Cells]:
    text = rollout_html(RUN)
    cells = Cells()
    cells.feed(text)
    return text, cells


def test_the_page_is_one_file_that_fetches_nothing(page):
    text, cells = page
    assert not [t for t, a in cells.tags if t in ("script", "link", "img", "iframe")]
    assert not [a for t, a in cells.tags if any(str(v).startswith(("http:", "https:", "//")) for k, v in a.items() if k in ("src", "href"))]
    assert text.count("<svg") == 1


def test_the_timeline_lists_every_step_with_the_load_around_it(page):
    _, cells = page
    steps = [r for r in cells.rows if len(r) == 8 and r[2][1] in {e["host"] for e in RUN["events"]}]
    assert [(r[2][1], r[3][1]) for r in steps] == [(e["host"], e["what"]) for e in RUN["events"]]
    handover = next(r for r in steps if r[3][1] == "VIP handed over")
    # the one call that failed (503 on the carrier's TLS connection as the VIP moved) shows beside it, marked
    assert handover[6] == ("n bad", "1")
    assert all(r[7] == ("n", "0") for r in steps)  # nothing dropped anywhere


def test_the_load_around_a_step_counts_the_seconds_within_reach():
    moved = next(e for e in RUN["events"] if e["what"] == "VIP handed over")
    assert around(RUN, moved["at"])["failed"] == 1
    assert around(RUN, moved["at"] - 60)["failed"] == 0
    assert around(RUN | {"load": None}, moved["at"]) == {"ok": 0, "failed": 0, "dropped": 0}


def test_the_hosts_are_listed_in_the_order_changed_with_their_files(page):
    text, cells = page
    hosts = [r for r in cells.rows if len(r) == 7 and r[0][1].isdigit()]
    assert [r[1][1] for r in hosts] == [h["host"] for h in RUN["hosts"]]
    for h in RUN["hosts"]:
        for f in h["files"]:
            assert f"{f['path']} ({f['what']})" in text


def test_the_plot_marks_each_host_and_a_rollback(tmp_path):
    run = copy.deepcopy(RUN)
    run["outcome"], run["reason"] = "rolled back", "canary sh-dc1-media1 failed 3 of 5 calls in its soak"
    run["events"].append({"at": run["events"][-1]["at"] + 1, "host": "sh-dc1-media1", "what": "rollback", "detail": run["reason"]})
    out = write_rollout_page(run, tmp_path / "rollout.html")
    text = out.read_text()
    assert "rolled back" in text and run["reason"] in text
    svg = text[text.index("<svg"):text.index("</svg>")]
    for host in {e["host"] for e in RUN["events"]}:
        assert host in svg
    assert "rollback" in svg and "calls up" in svg
