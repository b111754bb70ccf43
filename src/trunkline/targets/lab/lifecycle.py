"""Bringing a lab up, taking it down and telling its status.

`up` renders the center, makes the PKI, the network and the file systems (the lab's secret values
filled in), starts the services (FreeSWITCH on the media nodes, or the SIPp stand-in: media.choose)
and returns when every site answers; on any failure it takes down what it made. `down` removes
what the state file records, and whatever carries the center's namespace prefix.
"""

from __future__ import annotations

import os
import shutil
import signal
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from trunkline.center import Center
from trunkline.plan.topology import Host, Plan
from trunkline.targets.lab import media as media_server
from trunkline.targets.lab.agents import start_agents
from trunkline.targets.lab.filesystems import build_filesystems, fill_secrets
from trunkline.targets.lab.network import build_network
from trunkline.targets.lab.pki import make_lab_pki
from trunkline.targets.lab.processes import SIPP_DIR, alive, services, start_host, stop_procs
from trunkline.targets.lab.readiness import vip_holders, wait_ready, wait_until
from trunkline.targets.lab.shell import ip, run
from trunkline.targets.lab.state import RUN_ROOT, STATE_ROOT, LabError, LabState, carrier_ns, ns_name


PROGRAMS = {"kamailio": "kamailio", "keepalived": "keepalived", "rtpengine": "rtpengine-daemon", "sipp": "sip-tester",
"openssl": "openssl", "nsenter": "util-linux"}

LAB_MAX_MEDIA = 2  # media nodes per site in the lab (a FreeSWITCH each): two show the failover


def require_privileges() -> None:
    """Namespaces, veths and mounts need CAP_NET_ADMIN and CAP_SYS_ADMIN: stop at once without them."""
    caps = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            caps = int(line.split()[1], 16)
    missing = [name for bit, name in ((12, "CAP_NET_ADMIN"), (21, "CAP_SYS_ADMIN")) if not caps >> bit & 1]
    if missing:
        raise LabError(
            f"the lab needs {' and '.join(missing)} to create network namespaces and mounts; "
            "run it as root (e.g. sudo trunkline up BLUEPRINT)"
        )


def missing_programs() -> list[str]:
    out = []
    for exe, pkg in PROGRAMS.items():
        if not (shutil.which(exe) or Path(f"/usr/sbin/{exe}").exists() or Path(f"/usr/bin/{exe}").exists()):
            out.append(f"{exe} (Debian package {pkg})")
    return out


def lab_overrides(plan: Plan) -> tuple[list[str], list[str]]:
    """--set overrides that fit a plan on one machine, and the sentences that say so."""
    sets, said = [], []
    for i, site in enumerate(plan.sites):
        if site.media_nodes > LAB_MAX_MEDIA:
            sets.append(f"spec.sites[{i}].media.nodes={LAB_MAX_MEDIA}")
            said.append(f"site {site.name}: {site.media_nodes} media nodes planned, {LAB_MAX_MEDIA} in the lab "
                        f"(rule: at most {LAB_MAX_MEDIA} media nodes per site)")
    return sets, said


def up(center: Center, scaled: list[str] = (), progress: Callable[[str], None] = lambda s: None,
       media: str = "auto") -> LabState:
    """Render the center's plan, check it, and run it: returns when every site answers calls.
    `media`: auto, freeswitch or sipp (media.choose)."""
    plan = center.plan
    require_privileges()
    chosen, note = media_server.choose(media)
    if note:
        progress(f"media nodes: {note}")
    missing = missing_programs()
    if missing:
        raise LabError("the lab needs these programs: " + ", ".join(missing) + "; `make demo` installs them")
    old = LabState.load(plan.center)
    if old:
        progress(f"an earlier lab of {plan.center} is still recorded; taking it down first")
        down(plan.center)
    state = LabState(center=plan.center, blueprint=center.source, scaled=list(scaled), media=chosen, media_note=note)
    state.save()
    try:
        (state.dir / "plan.json").write_text(plan.to_json())
        progress("render: the files the lab runs, accepted by kamailio -c and keepalived -t first")
        center.render(state.render_dir())
        make_lab_pki(plan, state.dir / "pki")
        shutil.copytree(SIPP_DIR, state.dir / "sipp", dirs_exist_ok=True)
        progress(f"network: {len(plan.hosts)} hosts, {len(plan.sites)} site bridges, {len(plan.trunks)} carriers")
        build_network(state, plan)
        progress("file systems: rendered files placed at their server paths, with the lab's secret values")
        fill_secrets(state)
        build_filesystems(state, plan)
        order = {"rtpengine": 0, "media": 1, "recording": 2, "sip-proxy": 3}
        hosts = sorted(plan.hosts, key=lambda h: (order[h.role], h.name))
        # FreeSWITCH's keys: the first media node makes them, the others start from its copy
        later = [h for h in hosts if h.role == "media"][1:] if state.media == "freeswitch" else []
        for host in hosts:
            if services(state, host) and host not in later:
                progress(f"start {host.name}: {', '.join(services(state, host))}")
                start_host(state, plan, host)
        if later:
            _start_from_first_keys(state, plan, [h for h in hosts if h.role == "media"][0], later, progress)
        wait_ready(state, plan, progress)
        if state.media == "freeswitch":  # agents: SIP phones for the seat pools, logged in to the queues
            start_agents(state, plan, progress=progress)
        state.ready = True
        state.save()
        return state
    except BaseException:
        progress("bringing the lab up failed; removing what was made")
        down(plan.center)
        raise


def _start_from_first_keys(state: LabState, plan: Plan, first: Host, later: list[Host], progress: Callable[[str], None]) -> None:
    progress(f"FreeSWITCH on {first.name} makes its TLS and DTLS keys; the other media nodes start from a copy")
    proc = next(p for p in state.processes if p.host == first.name)

    def made() -> bool:
        if not alive(proc):
            raise LabError(f"FreeSWITCH on {first.name} exited while starting")
        return media_server.keys_made(state, first.name)

    try:
        wait_until(f"FreeSWITCH on {first.name} to make its keys", made, media_server.START_TIMEOUT_S, 0.2)
    except LabError as exc:
        raise LabError(f"{exc}; the end of its log:\n{media_server.log_tail(state, first.name)}") from None
    media_server.keep_keys(state, first.name)
    for host in later:
        media_server.seed_keys(state, host.name)
        progress(f"start {host.name}: {', '.join(services(state, host))}")
        start_host(state, plan, host)


def down(center: str, progress: Callable[[str], None] = lambda s: None) -> list[str]:
    """Remove everything trunkline made for the center's lab; harmless when nothing is left."""
    done: list[str] = []
    state = LabState.load(center)
    namespaces = set(state.namespaces if state else [])
    # also what a crash left before its state was saved: our prefix is ours alone
    listing = ip("netns", "list", check=False).stdout
    namespaces |= {line.split()[0] for line in listing.splitlines() if line.startswith(f"tl-{center}-")}
    if state:
        live = [p for p in reversed(state.processes) if alive(p)]
        stop_procs(state, live)
        done += [f"stopped {p.name} on {p.host} (PID {p.pid})" for p in live]
    # any process still inside one of our namespaces was started by us (e.g. a call run cut short)
    for ns in sorted(namespaces):
        pids = ip("netns", "pids", ns, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
                done.append(f"killed PID {pid} left in {ns}")
            except (ProcessLookupError, ValueError):
                pass
    mounts = set(state.mounts if state else [])
    base = RUN_ROOT / center
    if (base / "mnt").exists():
        mounts |= {str(p) for p in (base / "mnt").iterdir()}
    for m in sorted(mounts):
        if Path(m).exists():
            run(["umount", "-l", m], check=False)
    for ns in sorted(namespaces):
        if ip("netns", "del", ns, check=False).returncode == 0:
            done.append(f"removed namespace {ns}")
    if base.exists():
        # overlays' upper dirs live here; every mount inside the host namespaces died with them
        shutil.rmtree(base, ignore_errors=True)
    if RUN_ROOT.exists() and not any(RUN_ROOT.iterdir()):
        run(["umount", str(RUN_ROOT)], check=False)
        try:
            RUN_ROOT.rmdir()
        except OSError:
            pass
    if state and state.dir.exists():
        shutil.rmtree(state.dir)
        done.append(f"removed state {state.dir}")
    return done


@dataclass
class HostStatus:
    name: str
    site: str
    role: str
    address: str
    processes: list[dict]
    addresses: list[str]
    holds_vip: bool


def status(center: str) -> dict:
    state = LabState.load(center)
    if not state:
        raise LabError(f"no lab of {center} is up (nothing under {STATE_ROOT / center}); start one with trunkline up BLUEPRINT")
    plan = state.plan()
    hosts = []
    for h in plan.hosts:
        procs = [{"name": p.name, "pid": p.pid, "alive": alive(p)} for p in state.processes if p.host == h.name]
        text = ip("-n", ns_name(center, h.name), "-o", "-4", "addr", "show", "dev", h.interface, check=False).stdout
        addrs = [line.split()[3] for line in text.splitlines()]
        vip = plan.site(h.site).vip
        hosts.append(asdict(HostStatus(h.name, h.site, h.role, h.address, procs, addrs, any(a.startswith(vip + "/") for a in addrs))))
    return {
        "center": center, "blueprint": state.blueprint, "ready": state.ready, "scaled": state.scaled,
        "media": media_server.describe(state),
        "sites": [{"name": s.name, "vip": s.vip, "vip_holders": vip_holders(center, plan, s.name)} for s in plan.sites],
        "carriers": [{"trunk": t.name, "namespace": carrier_ns(center, t.name), "peers": t.peers} for t in plan.trunks],
        "hosts": hosts,
    }

