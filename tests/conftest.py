"""Fixtures every test folder can use; shared paths live in tests/shared.py."""

from __future__ import annotations

import copy

import pytest
from ruamel.yaml import YAML

from shared import BASE


@pytest.fixture
def base_data() -> dict:
    """A valid small blueprint as plain data, fresh for each test."""
    return copy.deepcopy(YAML(typ="safe").load(BASE.read_text()))
