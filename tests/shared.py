"""Paths and example lists the test modules share (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "blueprints").glob("*.yaml"))
BASE = ROOT / "tests" / "blueprint" / "base.yaml"


def example_ids() -> list[str]:
    return [p.stem for p in EXAMPLES]


def field_paths(node, prefix=()):
    """Every place in plain blueprint data, as a tuple of keys and indexes (the root is ())."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from field_paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from field_paths(v, prefix + (i,))


def cannot_run(message: str) -> None:
    """Skip on a developer's machine; in CI (which installs FreeSWITCH and runs as root) fail."""
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run this test (.ci/run installs FreeSWITCH from FREESWITCH_TARBALL)")
    pytest.skip(message)


def needs_freeswitch() -> Path:
    """FreeSWITCH's launcher; skips (fails in CI) where trunkline's build is not installed."""
    from trunkline import freeswitch

    exe = freeswitch.launcher()
    if exe is None:
        cannot_run(f"FreeSWITCH is not installed under {freeswitch.PREFIX}: {freeswitch.INSTALL_HINT}")
    return exe
