"""Shared by the lab benchmarks: bring a center up for the run, always take it down."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "blueprints" / "acme-bank.yaml"


@contextlib.contextmanager
def lab_up(blueprint: Path, sets: tuple[str, ...] = ()):
    from trunkline.plan.topology import plan_from_file
    from trunkline.targets import lab

    center = plan_from_file(blueprint).center
    cli = [sys.executable, "-m", "trunkline.cli"]
    result = subprocess.run([*cli, "up", str(blueprint), "--json", *(a for s in sets for a in ("--set", s))], capture_output=True, text=True, cwd=ROOT, timeout=300)
    try:
        if result.returncode != 0:
            raise SystemExit(f"trunkline up failed:\n{result.stderr[-2000:]}")
        state = lab.LabState.load(center)
        yield state, state.plan()
    finally:
        subprocess.run([*cli, "down", "--center", center], capture_output=True, cwd=ROOT, timeout=300)
