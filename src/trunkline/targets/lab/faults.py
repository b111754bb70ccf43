"""Faults and what they do, for the tests, the benchmarks and drills: a host off its network, a
program killed, a service restarted; Kamailio's view of its media nodes; calls a media node answered."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from trunkline.plan.topology import Host, Plan
from trunkline.targets.lab.media import fs_api
from trunkline.targets.lab.processes import alive, start_host, stop_proc
from trunkline.targets.lab.shell import in_host, ip, run
from trunkline.targets.lab.state import LabError, LabState, Proc, ns_name


def set_link(center: str, plan: Plan, host: Host, up_: bool) -> None:
    """Take a host off its network (as if its cable or its machine were gone), or back on.

    A link going down takes its routes along; coming back, the default route is put back too.
    """
    ns = ns_name(center, host.name)
    ip("-n", ns, "link", "set", host.interface, "up" if up_ else "down")
    if up_:
        ip("-n", ns, "route", "replace", "default", "via", plan.site(host.site).gateway)


def program_pids(center: str, host: str, program: str) -> list[int]:
    """PIDs of a program running inside a lab host's network namespace."""
    pids = ip("netns", "pids", ns_name(center, host), check=False).stdout.split()
    out = []
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == program:
                out.append(int(pid))
        except OSError:
            pass
    return out


def kill_program(center: str, host: str, program: str, sig: int = signal.SIGKILL) -> list[int]:
    """Send sig to every process of `program` on a lab host (all started by the lab)."""
    pids = program_pids(center, host, program)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return pids


def restart_service(state: LabState, plan: Plan, host: Host, name: str, wait: float = 5.0) -> Proc:
    """Start a service again after a fault, as the host's service manager would (`wait`: seconds a
    running one gets to stop before SIGKILL)."""
    for p in state.processes:
        if p.host == host.name and p.name == name and alive(p):
            stop_proc(state, p, wait=wait)
    state.processes = [p for p in state.processes if not (p.host == host.name and p.name == name)]
    (proc,) = start_host(state, plan, host, only=name)
    return proc


def dispatcher_list(center: str, proxy: str) -> list[dict]:
    """Kamailio's dispatcher as a proxy holds it now (kamcmd dispatcher.list): one dict a destination,
    with its set, uri, flags (AP active+probing, IP inactive+probing) and its attributes (duid, weight)."""
    text = run(in_host(center, proxy, ["kamcmd", "-s", "unix:/run/kamailio/kamailio_ctl", "dispatcher.list"]), check=False).stdout
    out, set_id = [], None
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        value = value.strip()
        if key == "ID":
            set_id = int(value)
        elif key == "URI":
            out.append({"set": set_id, "uri": value, "flags": "", "attrs": {}})
        elif key == "FLAGS" and out:
            out[-1]["flags"] = value
        elif key == "BODY" and out:
            out[-1]["attrs"] = dict(kv.split("=", 1) for kv in value.split(";") if "=" in kv)
    return out


def dispatcher_flags(center: str, proxy: str) -> dict[str, str]:
    """Kamailio's view of its media nodes: URI -> flags (AP active+probing, IP inactive+probing)."""
    return {d["uri"]: d["flags"] for d in dispatcher_list(center, proxy)}


def external_counts(state: LabState, host: str) -> dict[str, int]:
    """A media node's external profile counters (`sofia status profile external`): CALLS-IN,
    FAILED-CALLS-IN, CALLS-OUT, FAILED-CALLS-OUT, REGISTRATIONS."""
    rows = [line.split() for line in fs_api(state, host, "sofia status profile external").splitlines()]
    return {r[0]: int(r[1]) for r in rows if len(r) == 2 and r[1].isdigit()}


def answered_calls(center: str, host: str) -> int:
    """Calls a media node has received so far (probes are OPTIONS and not counted). FreeSWITCH: the
    external profile's CALLS-IN since it started. The stand-in: SIPp's INVITE count (written every
    second), summed over restarts (each SIPp run writes its own file)."""
    state = LabState.load(center)
    if state and state.media == "freeswitch":
        return external_counts(state, host)["CALLS-IN"]
    script = 'for f in /tmp/*_counts.csv; do [ -f "$f" ] && head -1 "$f" && tail -1 "$f"; done; true'
    lines = run(in_host(center, host, ["sh", "-c", script]), check=False).stdout.strip().splitlines()
    total = 0
    for header, last in zip(lines[0::2], lines[1::2]):
        row = dict(zip(header.split(";"), last.split(";")))
        total += int(row.get("1_INVITE_Recv", 0) or 0)
    return total



RTPENGINE_CLI = 9900  # listen-cli of the rendered rtpengine.conf (loopback)


def relay_sessions(center: str, relay: str) -> int | None:
    """A relay's own sessions (calls it carries), from rtpengine's CLI on its loopback; None when the CLI does not answer."""
    code = ("import socket,sys\ns=socket.create_connection(('127.0.0.1',int(sys.argv[1])),5)\n"
            "s.sendall(b'list numsessions\\n');b=b''\nwhile True:\n c=s.recv(4096)\n if not c: break\n b+=c\n"
            "print(b.decode(errors='replace'))\n")
    proc = run(in_host(center, relay, ["python3", "-c", code, str(RTPENGINE_CLI)]), check=False)
    if proc.returncode != 0:
        return None
    for line in proc.stdout.splitlines():  # "Current sessions own: N"
        if "own" in line.lower() and line.split()[-1].isdigit():
            return int(line.split()[-1])
    return 0


def media_channels(state: LabState, node: str) -> int:
    """Channels up on a media node's FreeSWITCH (a bridged call is two)."""
    text = fs_api(state, node, "show channels count")
    words = [w for w in text.split() if w.isdigit()]
    return int(words[0]) if words else 0


def media_calls(state: LabState, node: str) -> int:
    """Carrier calls up on a media node: its inbound channels on the external profile (what a proxy
    sent it). An agent's leg is an outbound channel of the same call and is not counted."""
    text = fs_api(state, node, "show channels as json")
    try:
        rows = json.loads(text).get("rows", [])
    except ValueError:
        raise LabError(f"{node}: 'show channels as json' gave no JSON: {text[:200]!r}") from None
    return sum(r.get("direction") == "inbound" and str(r.get("name", "")).startswith("sofia/external/") for r in rows)


def relays_disabled(center: str, proxy: str) -> set[str]:
    """The relay URLs a proxy's rtpengine module has marked disabled (it found them not answering)."""
    text = run(in_host(center, proxy, ["kamcmd", "-s", "unix:/run/kamailio/kamailio_ctl", "rtpengine.show", "all"]), check=False).stdout
    out, url = set(), None
    for line in text.splitlines():
        key, _, value = line.strip().partition(": ")
        if key == "url":
            url = value
        elif key == "disabled" and url and value.strip() not in ("", "0"):
            out.add(url)
    return out
