"""Running the YAML cases: edit base.yaml, optionally edit rendered files, evaluate, pick one control.

Kept apart from the test modules so each of them can use it (tests/comply has no __init__.py,
and a second conftest.py would shadow the top-level one).
"""

from __future__ import annotations

from dataclasses import replace as dc_replace
from pathlib import Path

from ruamel.yaml import YAML

from trunkline.center import Center, load as load_center
from trunkline.comply.evaluate import compliance_report
from trunkline.comply.findings import ControlResult
from trunkline.comply.packs import control_by_id

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
BASE = ROOT / "tests" / "blueprint" / "base.yaml"


def load_cases(name: str) -> list[dict]:
    return YAML(typ="safe").load((HERE / name).read_text(encoding="utf-8"))


def case_id(case: dict) -> str:
    return f"{case['control']}: {case['name']}"


def blueprint_text(case: dict) -> str:
    text = BASE.read_text()
    pairs = case.get("replace") or []
    pairs = pairs if not pairs or isinstance(pairs[0], list) else [pairs]
    for old, new in pairs:
        assert text.count(old) == 1, f"case text {old!r} must occur once in base.yaml"
        text = text.replace(old, new)
    return text + case.get("append", "")


def _edit_rendered(subject: Center, edits: list[dict]) -> None:
    for edit in edits:
        hits = [i for i, f in enumerate(subject.files) if f.path == edit["path"] and edit.get("host", f.host) == f.host]
        if "content" in edit:  # a file the templates do not render (any more): add it to the named host
            assert "host" in edit, "a rendered file given whole needs its host"
            template = next(f for f in subject.files if f.host == edit["host"])
            new = dc_replace(template, path=edit["path"], template="(case)", content=edit["content"].encode())
            subject.files = [f for i, f in enumerate(subject.files) if i not in hits] + [new]
            continue
        assert hits, f"no rendered {edit['path']} to edit"
        old, new = edit["replace"]
        for i in hits:
            text = subject.files[i].content.decode()
            assert old in text, f"{old!r} is not in {subject.files[i].host}:{edit['path']}"
            subject.files[i] = dc_replace(subject.files[i], content=text.replace(old, new).encode())


def evaluate_case(case: dict, tmp_path: Path) -> tuple[ControlResult, Path]:
    path = tmp_path / "center.yaml"
    path.write_text(blueprint_text(case))
    subject = load_center(path)
    _edit_rendered(subject, case.get("rendered", []))
    control = control_by_id(case["control"])
    assert control is not None, f"no control {case['control']}"
    report = compliance_report(subject, pack_ids=case.get("packs") or [control.pack])
    return report.result(control.id), path
