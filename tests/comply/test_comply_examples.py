"""Each example center passes the packs it declares (blueprint and rendered-file controls)."""

from __future__ import annotations

import pytest

from comply_cases import ROOT
from trunkline.comply.evaluate import comply

EXAMPLES = sorted((ROOT / "blueprints").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_passes_the_packs_it_declares(path):
    report = comply(path)
    bad = [(r.control.id, [f"{f.place}: {f.message}" for f in r.failures] or r.reason) for r in report.results if r.status in ("fail", "error")]
    assert not bad, bad
    assert set(report.packs) == {"baseline", *report_declared(path)}


def report_declared(path) -> list[str]:
    from trunkline.blueprint.load import load_blueprint

    return list(load_blueprint(path).spec.compliance)


def test_every_pack_is_declared_by_some_example():
    declared = {p for path in EXAMPLES for p in report_declared(path)}
    assert declared == {"pci-dss-4", "hipaa", "mifid-2", "mlps-3", "gdpr", "finance-retention", "baseline"}
