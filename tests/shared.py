"""Paths and example lists the test modules share (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "blueprints").glob("*.yaml"))
BASE = ROOT / "tests" / "blueprint" / "base.yaml"


def example_ids() -> list[str]:
    return [p.stem for p in EXAMPLES]
