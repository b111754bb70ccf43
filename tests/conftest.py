"""Shared fixtures: the example blueprints and a way to build blueprints in tests."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "blueprints").glob("*.yaml"))
BASE = ROOT / "tests" / "blueprint" / "base.yaml"


@pytest.fixture
def base_data() -> dict:
    """A valid small blueprint as plain data, fresh for each test."""
    return copy.deepcopy(YAML(typ="safe").load(BASE.read_text()))


def example_ids() -> list[str]:
    return [p.stem for p in EXAMPLES]
