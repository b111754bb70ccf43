"""Each blueprint mistake in mistakes.yaml yields its message at its place, and nothing else breaks."""

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from trunkline.blueprint.load import load_blueprint
from trunkline.errors import BlueprintError

HERE = Path(__file__).parent
BASE = (HERE / "base.yaml").read_text()
CASES = YAML(typ="safe").load((HERE / "mistakes.yaml").read_text())


def _apply(replace) -> str:
    pairs = replace if isinstance(replace[0], list) else [replace]
    text = BASE
    for old, new in pairs:
        assert text.count(old) == 1, f"case text {old!r} must occur once in base.yaml"
        text = text.replace(old, new)
    return text


def test_base_blueprint_is_valid():
    assert load_blueprint(HERE / "base.yaml").metadata.name == "small-shop"


def test_there_are_at_least_15_distinct_mistakes():
    assert len({c["name"] for c in CASES}) >= 15


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_mistake_is_reported_at_its_place_with_a_fix(case, tmp_path):
    path = tmp_path / "center.yaml"
    path.write_text(_apply(case["replace"]))
    with pytest.raises(BlueprintError) as info:
        load_blueprint(path)
    matching = [p for p in info.value.problems if p.path == case["path"]]
    assert matching, f"no problem at {case['path']}; got: {[str(p) for p in info.value.problems]}"
    problem = matching[0]
    assert problem.file == str(path)
    assert problem.line == case["line"], str(problem)
    assert case["message"] in problem.message, str(problem)
    assert case.get("fix", "") in problem.fix, str(problem)
    # the rendered line is FILE:LINE:COL path: message; fix
    assert str(problem).startswith(f"{path}:{case['line']}:")
