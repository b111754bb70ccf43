"""check_tree: every listed file gets its real program's verdict, identical inputs are checked once."""

from __future__ import annotations

import json
from pathlib import Path

import trunkline.render.check as check
from trunkline.center import load as load_center
from trunkline.render import MANIFEST, render_site

from shared import ROOT


def _tree(tmp_path) -> Path:
    out = tmp_path / "out"
    render_site(load_center(ROOT / "blueprints" / "acme-bank.yaml").plan, out, check=False)
    return out


def test_identical_inputs_are_checked_once_and_every_file_gets_a_verdict(tmp_path, monkeypatch):
    out = _tree(tmp_path)
    entries = json.loads((out / MANIFEST).read_text())["files"]
    calls = []
    real = check.check_file
    monkeypatch.setattr(check, "check_file", lambda tree, target: calls.append((tree.name, target)) or real(tree, target))
    results = check.check_tree(out)
    checked = [(e["host"], e["path"]) for e in entries if real(out / e["host"], e["path"])]
    assert [(r.host, r.path) for r in results] == checked  # the manifest's order, none left out
    distinct = {check._input_key(out / e["host"], e["path"]) for e in entries}
    assert len(calls) == len(distinct) < len(entries)


def test_a_reused_failure_names_each_host_that_has_the_file(tmp_path):
    out = _tree(tmp_path)
    entries = json.loads((out / MANIFEST).read_text())["files"]
    bad = [e for e in entries if e["path"].endswith("/ivr_menus/trunkline.xml")]
    assert len(bad) >= 2, "acme-bank has identical media nodes"
    for e in bad:
        (out / e["host"] / e["path"].lstrip("/")).write_text("<include><menu></include>\n")
    failed = [r for r in check.failed(check.check_tree(out)) if r.path.endswith("/ivr_menus/trunkline.xml")]
    assert sorted(r.host for r in failed) == sorted(e["host"] for e in bad)


def test_kamailio_verdict_depends_on_the_files_it_includes(tmp_path):
    out = _tree(tmp_path)
    proxy = next(e for e in json.loads((out / MANIFEST).read_text())["files"] if e["path"] == "/etc/kamailio/kamailio.cfg")
    host = out / proxy["host"]
    before = check._input_key(host, "/etc/kamailio/kamailio.cfg")
    (host / "etc/kamailio/tls.cfg").write_text("[server:default]\nmethod = TLSv1.2+\n")
    assert check._input_key(host, "/etc/kamailio/kamailio.cfg") != before
