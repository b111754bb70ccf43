"""The corpus of weakenings (weakenings.yaml): each hand edit of a fresh render makes its controls fail,
and the unedited render passes them. A control that still passes on a weakened tree tests strings, not
behaviour."""

from __future__ import annotations

from dataclasses import replace as dc_replace
from functools import lru_cache

import pytest

from comply_cases import ROOT, load_cases
from trunkline.center import load as load_center
from trunkline.comply.evaluate import compliance_report

ACME = ROOT / "blueprints" / "acme-bank.yaml"
PACKS = ["pci-dss-4", "mlps-3"]
WEAKENINGS = load_cases("weakenings.yaml")


@lru_cache(maxsize=1)
def _clean():
    return compliance_report(load_center(ACME), PACKS)


def _weakened(entry: dict):
    subject = load_center(ACME)  # a fresh render for each entry
    pairs = entry["replace"] if isinstance(entry["replace"][0], list) else [entry["replace"]]
    hits = [i for i, f in enumerate(subject.files) if f.path == entry["file"] and entry.get("host", f.host) == f.host]
    assert hits, f"no rendered {entry['file']}"
    for i in hits:
        text = subject.files[i].content.decode()
        for old, new in pairs:
            assert old in text, f"{old!r} is not in {subject.files[i].host}:{entry['file']}: the corpus no longer fits the render"
            text = text.replace(old, new)
        subject.files[i] = dc_replace(subject.files[i], content=text.encode())
    return compliance_report(subject, PACKS)


@pytest.mark.parametrize("entry", WEAKENINGS, ids=[w["name"] for w in WEAKENINGS])
def test_weakening_makes_its_controls_fail(entry):
    report = _weakened(entry)
    for control in entry["fails"]:
        result = report.result(control)
        assert result.status == "fail", f"{control} is {result.status} on a tree with {entry['name']!r}"
        assert result.failures and all(f.place.file for f in result.failures)


def test_the_unweakened_render_passes_every_control_the_corpus_names():
    report = _clean()
    named = {c for w in WEAKENINGS for c in w["fails"]}
    bad = {c: [f"{f.place}: {f.message}" for f in report.result(c).failures] for c in named if report.result(c).status != "pass"}
    assert not bad, bad


def test_the_corpus_covers_the_weakenings_the_issue_found():
    names = " ".join(w["name"] for w in WEAKENINGS)
    for found in ("SRTP 488 rule made dead", "NULL, anonymous, export and RC4", "client side's certificate check off",
                  "stranger's drop replaced by a 200", "recordings folder (FreeSWITCH writes there) at mode 0777", "pike off",
                  "scanner route no longer called", "stranger drop replaced by a reply", "carrier's INFO made to stop rtpengine recording"):
        assert found in names, found
