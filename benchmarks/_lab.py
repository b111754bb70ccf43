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
def lab_up(blueprint: Path, sets: tuple[str, ...] = (), media: str = "auto", server: bool = True):
    """`media`: trunkline up --media (auto, freeswitch, or sipp: the stand-in, for a run that measures
    the edge alone). The lab runs with a deployed server's socket settings (server_settings), unless
    `server` is False: then with the machine's own, to measure what they cost."""
    from trunkline.center import load as load_center
    from trunkline.targets import lab

    center = load_center(blueprint).plan.center
    cli = [sys.executable, "-m", "trunkline.cli"]
    with server_settings() if server else contextlib.nullcontext():
        result = subprocess.run([*cli, "up", str(blueprint), "--json", "--media", media, *(a for s in sets for a in ("--set", s))],
                                capture_output=True, text=True, cwd=ROOT, timeout=300)
        try:
            if result.returncode != 0:
                raise SystemExit(f"trunkline up failed:\n{result.stderr[-2000:]}")
            state = lab.LabState.load(center)
            yield state, state.plan()
        finally:
            subprocess.run([*cli, "down", "--center", center], capture_output=True, cwd=ROOT, timeout=300)


MACHINE_SETTINGS: dict[str, str] = {}  # the machine's own values, before a run set the server's


@contextlib.contextmanager
def server_settings():
    """The machine-wide settings of the common role's sysctl file (net.core: socket buffer limits,
    the input backlog) for the run, the machine's own values put back after. A lab namespace can set
    its port range and keepalives itself (the lab does), but reads these from the machine, so
    without this a run measured whatever an earlier session or the image left there."""
    from trunkline.targets.lab.network import server_sysctls

    wanted = dict(kv.split("=", 1) for kv in server_sysctls() if kv.startswith("net.core."))
    paths = {k: Path("/proc/sys") / k.replace(".", "/") for k in wanted}
    before = {k: p.read_text().strip() for k, p in paths.items() if p.exists()}
    MACHINE_SETTINGS.update(before)
    try:
        for k in before:
            paths[k].write_text(wanted[k])
        yield
    finally:
        for k, v in before.items():
            paths[k].write_text(v)


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


# what the edge's cost per call rests on besides trunkline: each is printed with the figures, so two
# machines' runs can be told apart (a sysctl left by an earlier session, a kernel, a hypervisor)
SYSCTLS = ("net.core.rmem_max", "net.core.wmem_max", "net.core.rmem_default", "net.core.wmem_default",
           "net.core.netdev_max_backlog", "net.core.busy_read", "net.core.busy_poll", "kernel.sched_autogroup_enabled")


def machine() -> dict:
    """The machine a figure was measured on: kernel, CPU, cores, hypervisor, the settings above as
    the run had them, and the machine's own where the run set them (server_settings)."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    settings = {}
    for key in SYSCTLS:
        path = Path("/proc/sys") / key.replace(".", "/")
        settings[key] = path.read_text().strip() if path.exists() else None
    return {"kernel": os.uname().release, "cpu": model, "cores": os.cpu_count(), "virtual": "hypervisor" in flags,
            "settings": settings, "machine_settings": {k: v for k, v in MACHINE_SETTINGS.items() if v != settings.get(k)}}


def switches(programs=("kamailio",)) -> dict[str, int]:
    """Context switches so far of each program's running processes (voluntary: it waited, e.g. for a
    packet; involuntary: it was preempted), and the machine's since boot (/proc/stat ctxt)."""
    out = {f"{p} {kind}": 0 for p in programs for kind in ("voluntary", "involuntary")}
    for pid, comm, _ in processes():
        if comm not in programs:
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                out[f"{comm} voluntary"] += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                out[f"{comm} involuntary"] += int(line.split()[1])
    stat = Path("/proc/stat").read_text().split()
    out["machine"] = int(stat[stat.index("ctxt") + 1])
    return out


def per_call(before: dict, after: dict, calls: int) -> dict[str, float]:
    return {k: round((after[k] - before[k]) / max(1, calls), 2) for k in after}
