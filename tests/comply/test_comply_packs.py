"""The rule packs as data: one file per pack, every control complete, mistakes in a pack refused."""

from __future__ import annotations

import typing

import pytest

from trunkline.blueprint.models import Spec
from trunkline.comply.packs import PACKS_DIR, PackError, all_packs, load_pack, select_packs

CONTROLS = [c for p in all_packs().values() for c in p.controls]


def test_the_packs_are_the_ones_a_blueprint_can_declare():
    declarable = set(typing.get_args(typing.get_args(Spec.model_fields["compliance"].annotation)[0]))
    assert set(all_packs()) == declarable


def test_each_pack_is_one_file_named_after_it():
    assert sorted(p.stem for p in PACKS_DIR.glob("*.yaml")) == sorted(all_packs())


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: c.id)
def test_control_names_its_citation_scope_severity_and_fix(control):
    assert control.citation.strip() and control.title.strip() and control.fix.strip()
    assert control.applies in ("blueprint", "files", "hosts", "cloud")
    assert control.severity in ("critical", "high", "medium", "low")


def test_the_issue_s_conflicts_are_controls_of_kind_conflict():
    conflicts = {c.id for c in CONTROLS if c.kind == "conflict"}
    assert conflicts == {"pci-dss-4/conflict-record-all", "gdpr/conflict-worm-erasure"}


def test_retention_duties_are_those_of_the_laws():
    packs = all_packs()
    assert packs["mifid-2"].retention_duty == 5 * 365 * 86400
    assert packs["finance-retention"].retention_duty == 3 * 365 * 86400


def test_baseline_is_always_evaluated_and_first():
    assert [p.id for p in select_packs(["gdpr"])] == ["baseline", "gdpr"]
    assert [p.id for p in select_packs(["gdpr"], ["hipaa"])] == ["baseline", "hipaa"]


@pytest.mark.parametrize("mistake, message", [
    ("check: tls_min_version", "no blueprint check named 'tls_min_versoin'"),
    ("params: {minimum: \"1.2\"}", "takes no parameter ['minimun']"),
    ("severity: high", "severity 'severe' is not one of"),
])
def test_a_pack_with_a_mistake_is_refused(tmp_path, mistake, message):
    text = (PACKS_DIR / "baseline.yaml").read_text()
    broken = {"check: tls_min_version": "check: tls_min_versoin", 'params: {minimum: "1.2"}': 'params: {minimun: "1.2"}',
              "severity: high": "severity: severe"}[mistake]
    path = tmp_path / "baseline.yaml"
    path.write_text(text.replace(mistake, broken, 1))
    with pytest.raises(PackError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_pack(path)


def test_every_control_is_documented_with_its_citation():
    from comply_cases import ROOT

    doc = (ROOT / "docs" / "compliance.md").read_text()
    missing = [c.id for c in CONTROLS if f"`{c.id}`" not in doc or c.citation not in doc]
    assert not missing, f"docs/compliance.md lacks {missing}"
