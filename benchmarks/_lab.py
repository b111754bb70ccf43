"""Shared by the lab benchmarks: bring a center up for the run (FreeSWITCH or, asked for, the SIPp
stand-in on the media nodes), always take it down; CPU per program."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "blueprints" / "acme-bank.yaml"
_HZ = os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def lab_up(blueprint: Path, sets: tuple[str, ...] = (), media: str = "auto"):
    """`media`: trunkline up --media (auto, freeswitch, or sipp: the stand-in, for a run that measures
    the edge alone)."""
    from trunkline.center import load as load_center
    from trunkline.targets import lab

    center = load_center(blueprint).plan.center
    cli = [sys.executable, "-m", "trunkline.cli"]
    result = subprocess.run([*cli, "up", str(blueprint), "--json", "--media", media, *(a for s in sets for a in ("--set", s))],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    try:
        if result.returncode != 0:
            raise SystemExit(f"trunkline up failed:\n{result.stderr[-2000:]}")
        state = lab.LabState.load(center)
        yield state, state.plan()
    finally:
        subprocess.run([*cli, "down", "--center", center], capture_output=True, cwd=ROOT, timeout=300)


def processes():
    """(pid, name, CPU seconds so far) of every running process."""
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
        except OSError:
            continue
        comm, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        yield int(p.name), comm, (int(fields[11]) + int(fields[12])) / _HZ


def cpu_seconds(programs=("kamailio", "rtpengine", "sipp", "keepalived")) -> dict[str, float]:
    """CPU seconds used so far by the running processes of each program (by name, machine-wide:
    run one lab at a time), plus "carrier sipp": this process's finished children, the SIPp UAC
    that place_calls runs and waits for."""
    out = dict.fromkeys(programs, 0.0)
    for _, comm, seconds in processes():
        if comm in out:
            out[comm] += seconds
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["carrier sipp"] = ru.ru_utime + ru.ru_stime
    return out


def cpu_ms_per_call(before: dict[str, float], after: dict[str, float], calls: int) -> dict[str, float]:
    return {k: round(1000 * (after[k] - before[k]) / max(1, calls), 3) for k in after}
