"""Every blueprint and rendered-file control, on blueprints that pass and blueprints that fail (cases.yaml)."""

from __future__ import annotations

import pytest

from comply_cases import case_id, evaluate_case, load_cases
from trunkline.comply.packs import all_packs

CASES = load_cases("cases.yaml")
HOST_CASES = load_cases("host_cases.yaml")


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_case_gives_its_status_at_its_place(case, tmp_path):
    result, path = evaluate_case(case, tmp_path)
    assert result.status == case["expect"], f"{result.status}: {[str(f.place) + ' ' + f.message for f in result.failures]} {result.reason}"
    if case["expect"] == "not-evaluated":
        assert case["message"] in result.reason and not result.failures
        return
    if case["expect"] != "fail":
        return
    here = [f for f in result.failures if f.place.path == case["where"] or f.place.file == case["where"]]
    assert here, f"no failure at {case['where']}; got {[str(f.place) for f in result.failures]}"
    matching = [f for f in here if case["message"] in f.message and ("line" not in case or f.place.line == case["line"])]
    assert matching, f"expected line {case.get('line')} and {case['message']!r}; got {[(str(f.place), f.message) for f in here]}"
    finding = matching[0]
    assert result.fix_for(finding), "a failure says what to change"
    if "fix" in case:
        assert result.fix_for(finding) == case["fix"]
    if finding.place.kind == "blueprint":
        assert finding.place.file == str(path)
        assert str(finding.place) == f"{path}:{finding.place.line} {case['where']}"


def _statuses(cases: list[dict]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for c in cases:
        seen.setdefault(c["control"], set()).add(c["expect"])
    return seen


@pytest.mark.parametrize("control", [c for p in all_packs().values() for c in p.controls], ids=lambda c: c.id)
def test_every_control_has_a_passing_and_a_failing_case(control):
    """A control that cannot see what it claims never passes: its good case is not-evaluated instead."""
    if control.applies == "cloud":  # the AWS stack's resources: test_comply_cloud.py, a pass and a failure per check
        from test_comply_cloud import CHECKS_TESTED, CLOUD_CONTROLS

        assert control.id in CLOUD_CONTROLS and control.check in CHECKS_TESTED, control.id
        return
    seen = _statuses(CASES + HOST_CASES).get(control.id, set())
    assert "fail" in seen and seen & {"pass", "not-evaluated"}, f"{control.id} has cases {sorted(seen)}"


def test_host_controls_are_tested_in_host_cases_and_the_others_here():
    scope = {c.id: c.applies for p in all_packs().values() for c in p.controls}
    assert all(scope[c["control"]] in ("blueprint", "files") for c in CASES)
    assert all(scope[c["control"]] == "hosts" for c in HOST_CASES)


def test_a_check_that_breaks_is_an_error_that_fails_the_run(tmp_path, monkeypatch):
    from trunkline.comply import registry

    def broken(ctx):
        raise KeyError("no_such_field")

    monkeypatch.setitem(registry.CHECKS["files"], "sip_allow_list_rendered", broken)
    result, _ = evaluate_case({"control": "baseline/sip-peers-only", "name": "broken"}, tmp_path)
    assert result.status == "error" and "KeyError" in result.reason


def test_a_rendered_file_that_is_not_xml_fails_rather_than_crashes(tmp_path):
    case = {"control": "hipaa/unique-users", "name": "broken XML",
            "rendered": [{"path": "/etc/freeswitch/sip_profiles/internal.xml", "replace": ["</settings>", "</setings>"]}]}
    result, _ = evaluate_case(case, tmp_path)
    assert result.status == "fail" and "not well-formed XML" in result.failures[0].message
