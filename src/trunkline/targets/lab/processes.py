"""The lab's processes: what runs on each host, the command line of each (as its unit says; FreeSWITCH's
in media.py), and starting and stopping them by recorded PID and start time (a recycled PID is never ours)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from trunkline.plan.topology import MEDIA_SIP_PORT, Host, Plan
from trunkline.roles import lab_programs
from trunkline.targets.lab import media
from trunkline.targets.lab.shell import in_host, in_ns
from trunkline.targets.lab.state import LAB_SRC, LabError, LabState, Proc
from trunkline.targets.lab.units import unit_command, unit_umask


KAMAILIO_DROPIN = "/etc/systemd/system/kamailio.service.d/trunkline.conf"

SIPP_DIR = Path(__file__).parents[1] / "sipp"  # targets/sipp: SIPp scenarios, shipped as package data

# SIPp's socket buffers (its default is 64 KB): at a few thousand calls/s the carrier's and the media
# nodes' sockets overflowed (UdpRcvbufErrors in their namespaces) while Kamailio's did not, which
# measured the load generator instead of the edge. The kernel caps it at net.core.rmem_max.
SIPP_SOCKET_BUFFER = 4 << 20


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, start time) of a PID from /proc, or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], int(fields[2]), int(fields[19])


def _start_time(pid: int) -> int:
    st = _stat(pid)
    return st[2] if st else -1


def alive(p: Proc) -> bool:
    """Our process, still running: its start time is the recorded one (a recycled PID is never ours)
    and it is not a zombie. A lab started by another process (pytest, an earlier `trunkline up`) is
    not reaped by this one: a process that ended stays a zombie of its parent, and counting it as
    running made every stop wait its full timeout (7 s for a keepalived, with its VIP long gone)."""
    st = _stat(p.pid)
    return st is not None and st[2] == p.start and st[0] != "Z"


def _running_groups() -> set[int]:
    """The process groups with a process still running (not a zombie): one pass over /proc, whatever
    the number of processes a stop waits for (a recorded process's group is it and what it forked)."""
    groups = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (st := _stat(int(entry.name))) and st[0] != "Z":
            groups.add(st[1])
    return groups


def spawn(state: LabState, host: str, name: str, argv: list[str], ns: str | None = None) -> Proc:
    """Start argv in a lab host's namespaces (or in the bare namespace `ns`, e.g. the agents'), recorded in the state."""
    logs = state.dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{host}.{name}.log"
    cmd = in_ns(ns, argv) if ns else in_host(state.center, host, argv)
    with open(log, "ab") as fh:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, cwd="/")
    proc = Proc(host=host, name=name, pid=p.pid, start=_start_time(p.pid), argv=argv, log=str(log))
    state.processes.append(proc)
    state.save()
    return proc


def argv_for(state: LabState, plan: Plan, host: Host, name: str) -> list[str]:
    if name == "kamailio":
        # as systemd would start it (memory sized in /etc/default/kamailio, the memory manager in the
        # drop-in), in the foreground and logging to stderr, dropping to the unit's user
        argv, user = unit_command(state.center, host.name, "kamailio.service", KAMAILIO_DROPIN)
        ids = [a for k, flag in (("User", "-u"), ("Group", "-g")) if k in user for a in (flag, user[k])]
        return [argv[0], "-DD", "-E", *ids, *argv[1:]]
    if name == "keepalived":
        # like a service manager's ExecStopPost: when keepalived dies, however it dies, its VIP goes
        # with it, so a crashed master never leaves a second holder behind
        vip = f"{host.ha.vip}/{host.prefix}"
        # and, like its ExecStartPre, no stale pid file of a killed run stops it from starting again
        return ["sh", "-c", "rm -f /run/keepalived.pid /run/keepalived_vrrp.pid /run/keepalived_checkers.pid; "
                f"keepalived -n -l -D -f /etc/keepalived/keepalived.conf -p /run/keepalived.pid "
                f"-r /run/keepalived_vrrp.pid -c /run/keepalived_checkers.pid; rc=$?; "
                f"ip addr del {vip} dev {host.interface} 2>/dev/null; exit $rc"]
    if name == "rtpengine":
        # the unit drop-in's UMask, as systemd would apply it (recordings are not world-readable)
        umask = unit_umask(state.center, host.name, "/etc/systemd/system/rtpengine-daemon.service.d/trunkline.conf")
        return ["sh", "-c", f"umask {umask}; exec \"$0\" \"$@\"", "rtpengine", "--config-file=/etc/rtpengine/rtpengine.conf", "--config-section=rtpengine",
                "--foreground", "--log-stderr", "--pidfile=/run/rtpengine.pid", "--no-fallback"]
    if name == "freeswitch":
        return media.argv()
    if name == "sipp-uas":
        scenario = "uas-srtp.xml" if plan.security["srtp"] == "required" else "uas.xml"
        return ["sipp", "-sf", f"{LAB_SRC}/sipp/{scenario}", "-i", host.address, "-p", str(MEDIA_SIP_PORT),
                "-nostdin", "-nd", "-max_socket", "10000", "-max_recv_loops", "10000", "-buff_size", str(SIPP_SOCKET_BUFFER), "-trace_err",
                "-error_file", "/tmp/sipp-uas-errors.log", "-trace_counts", "-fd", "1"]
    raise LabError(f"no program {name!r} in the lab")


def services(state: LabState, host: Host) -> list[str]:
    """What runs on a host in the lab, in start order (the role catalogue's lab programs; the
    stand-in's in place of FreeSWITCH's when the lab runs it)."""
    return lab_programs(host, stand_in=state.media == "sipp")


def start_host(state: LabState, plan: Plan, host: Host, only: str | None = None) -> list[Proc]:
    started = []
    for name in services(state, host):
        if only and name != only:
            continue
        started.append(spawn(state, host.name, name, argv_for(state, plan, host, name)))
    return started


def stop_proc(state: LabState, proc: Proc, sig: int = signal.SIGTERM, wait: float = 5.0) -> None:
    """End one recorded process (and the children it forked: its own session) by PID."""
    stop_procs(state, [proc], sig, wait)


def stop_procs(state: LabState, procs: list[Proc], sig: int = signal.SIGTERM, wait: float = 5.0) -> None:
    """End recorded processes by PID, all signalled at once and waited for together (a FreeSWITCH
    takes seconds to shut down); SIGKILL for any still alive after `wait` s."""
    live = [p for p in procs if alive(p)]
    for p in live:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
    # the whole group: a shell wrapper dies at the signal while the program it started (keepalived
    # removing its VIP) is still shutting down
    deadline = time.monotonic() + wait
    while live and time.monotonic() < deadline:
        for p in live:
            _reap(p.pid)
        running = _running_groups()
        live = [p for p in live if p.pid in running]
        if live:
            time.sleep(0.05)
    for p in live:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for _ in range(40):
        for p in live:
            _reap(p.pid)
        running = _running_groups()
        live = [p for p in live if p.pid in running]
        if not live:
            break
        time.sleep(0.05)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass

