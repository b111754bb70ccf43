"""`trunkline comply`: exit 0 when nothing fails, 1 when a control fails, 2 on bad input; -o writes the report."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from comply_cases import BASE, ROOT
from trunkline.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["comply", *map(str, args)])


def test_an_example_that_meets_its_packs_exits_0():
    result = run(ROOT / "blueprints" / "clinic.yaml")
    assert result.exit_code == 0, result.output
    assert "riverside-clinic: 22 passed, 0 failed, 0 errors, 0 waived, 2 not evaluated" in result.output  # baseline/rendered-firewall: the 22nd


def test_not_evaluated_is_shown_with_its_reason_and_fails_the_run_only_under_strict():
    result = run(ROOT / "blueprints" / "clinic.yaml")
    assert "NOT EVALUATED hipaa/encryption-at-rest (high)" in result.output
    assert "nothing trunkline renders encrypts /srv/recordings" in result.output
    strict = run(ROOT / "blueprints" / "clinic.yaml", "--strict")
    assert strict.exit_code == 1, strict.output


def test_a_failing_control_exits_1_and_names_place_and_fix():
    result = run(BASE, "--pack", "pci-dss-4")
    assert result.exit_code == 1
    assert f"{BASE}:29 spec.recording.pause_on_payment: every call is recorded" in result.output
    assert "fix: set recording.pause_on_payment: true" in result.output


def test_an_invalid_blueprint_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.read_text().replace("transport: tls", "transport: sctp"))
    assert run(bad).exit_code == 2


def test_an_unknown_pack_or_format_exits_2():
    assert run(BASE, "--pack", "sox").exit_code == 2
    assert run(BASE, "--format", "xml").exit_code == 2


def test_live_without_a_reachable_target_exits_2_and_says_why():
    result = run(BASE, "--live", "lab")
    assert result.exit_code == 2
    assert "live checks need a running target" in result.output


def test_output_file_gets_the_report_and_stdout_a_summary(tmp_path):
    out = tmp_path / "comply.sarif"
    result = run(BASE, "--format", "sarif", "-o", out)
    assert result.exit_code == 1
    assert json.loads(out.read_text())["version"] == "2.1.0"
    assert "FAILED small-shop" in result.output and str(out) in result.output


def test_json_on_stdout_parses():
    result = run(ROOT / "blueprints" / "global-support.yaml", "--json")
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert body["ok"] is True and body["packs"] == ["baseline", "gdpr"]
