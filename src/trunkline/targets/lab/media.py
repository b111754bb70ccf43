"""What answers calls on the lab's media nodes: FreeSWITCH as its server unit runs it, or the SIPp stand-in.

choose() decides once per lab: FreeSWITCH when trunkline's build is installed (`make freeswitch`),
else the SIPp stand-in with a note saying why; "sipp" asks for the stand-in on purpose (the edge
benchmarks measure Kamailio alone) and "freeswitch" refuses to go on without it. In CI (CI=true) a
lab without FreeSWITCH is an error, never the stand-in.

FreeSWITCH runs as the unit the freeswitch role installs on a server says
(roles/freeswitch/files/freeswitch.service, the unit both engines place): its ExecStart, User and
Group, UMask, limits, and the folders systemd makes for it, in the host's namespaces, on the placed
/etc/freeswitch. It makes its TLS and DTLS keys (RSA 4096, about 5 s of CPU) on a first start: the
lab's first node makes them and the others start from a copy (seed_keys), which keeps a lab's start
from queueing four key generations on two cores.

fs_api() runs an API command over a node's event socket (fs_cli, from inside the node: loopback).
"""

from __future__ import annotations

import os
import resource
import shlex
import shutil
import subprocess
from pathlib import Path


from trunkline import freeswitch as fs
from trunkline.plan.topology import Host
from trunkline.targets.lab.shell import in_host, run
from trunkline.targets.lab.state import LAB_SRC, LabError, LabState, host_run_dir
from trunkline.targets.lab.units import parse_unit

STAND_IN_NOTE = "SIPp UAS answers calls in place of FreeSWITCH; the rendered FreeSWITCH files are placed on each media node"
UNIT = "freeswitch/files/freeswitch.service"  # under roles/
START_TIMEOUT_S = 60  # measured: a node alone 6 s with its key generation, 2.6 s without; four at once on 2 cores, see wait_ready
KEYS = ("dtls-srtp.pem", "wss.pem", "tls.pem")  # what FreeSWITCH makes in its certificate folder
# systemd's folders for a unit, made owned by its User= (systemd.exec(5))
_UNIT_DIRS = {"RuntimeDirectory": "/run", "StateDirectory": "/var/lib", "CacheDirectory": "/var/cache",
              "LogsDirectory": "/var/log", "ConfigurationDirectory": "/etc"}
_LIMITS = {"LimitNOFILE": "nofile", "LimitNPROC": "nproc", "LimitSTACK": "stack", "LimitCORE": "core"}


def choose(asked: str = "auto") -> tuple[str, str]:
    """("freeswitch" | "sipp", why the stand-in runs, or "")."""
    if asked not in ("auto", "freeswitch", "sipp"):
        raise LabError(f"media {asked!r}: use auto, freeswitch or sipp")
    if asked == "sipp":
        return "sipp", f"{STAND_IN_NOTE} (asked for: the run measures the edge alone)"
    if fs.launcher():
        return "freeswitch", ""
    missing = f"FreeSWITCH is not installed under {fs.PREFIX}; install it with {fs.INSTALL_HINT}"
    if asked == "freeswitch" or os.environ.get("CI") == "true":
        raise LabError(missing + (" (in CI the lab never answers calls with the SIPp stand-in)" if asked == "auto" else ""))
    return "sipp", f"{STAND_IN_NOTE} ({missing})"


def describe(state: LabState) -> dict:
    """Which media server runs, for `trunkline status`."""
    if state.media == "freeswitch":
        return {"server": "freeswitch", "version": version(), "stand_in": None,
                "summary": f"{version()} on every media node, from the placed /etc/freeswitch"}
    note = state.media_note or STAND_IN_NOTE
    return {"server": "sipp", "version": None, "stand_in": note, "summary": note}


def version() -> str:
    """The installed build's version (BUILDINFO.txt's first line, up to the libraries): FreeSWITCH 1.10.12 (commit)."""
    info = fs.PREFIX / "BUILDINFO.txt"
    return info.read_text().splitlines()[0].split(",")[0] if info.exists() else "FreeSWITCH"


def unit() -> list[tuple[str, str]]:
    """The server unit's KEY=VALUE lines, with the lab's own install prefix in place of the servers'."""
    from trunkline.deploys.freeswitch import SERVER_PREFIX
    from trunkline.paths import ROLES

    if not (ROLES / UNIT).exists():
        raise LabError(f"roles/{UNIT} is missing: the lab runs FreeSWITCH as that unit does")
    return parse_unit((ROLES / UNIT).read_text().replace(SERVER_PREFIX, str(fs.PREFIX)))


def argv() -> list[str]:
    """FreeSWITCH's command line on a media node: the unit's folders made as systemd makes them, its
    umask and limits, then ExecStart as its User and Group (each step execs the next: the PID
    recorded is FreeSWITCH's)."""
    lines = unit()
    keys = dict(lines)
    user, group = keys.get("User", "root"), keys.get("Group", keys.get("User", "root"))
    dirs = [f"{_UNIT_DIRS[k]}/{v}" for k, v in lines if k in _UNIT_DIRS]
    limits = [f"--{_LIMITS[k]}={_limit(k, v)}" for k, v in lines if k in _LIMITS]
    prepare = f"umask {keys.get('UMask', '0022')}"
    if dirs:
        prepare += f"; install -d -o {user} -g {group} -m 0755 {' '.join(map(shlex.quote, dirs))}"
    return ["sh", "-c", prepare + '; exec "$0" "$@"', "prlimit", *limits, "--",
            "setpriv", f"--reuid={user}", f"--regid={group}", "--init-groups", "--", *shlex.split(keys["ExecStart"])]


def _limit(key: str, value: str) -> str:
    """A unit's limit, at most this machine's hard limit: raising that needs CAP_SYS_RESOURCE, which
    a container may not give (here NOFILE's hard limit is 20,000, the unit asks 100,000)."""
    hard = resource.getrlimit(getattr(resource, f"RLIMIT_{_LIMITS[key].upper()}"))[1]
    asked = resource.RLIM_INFINITY if value == "infinity" else int(value)
    if hard != resource.RLIM_INFINITY and (asked == resource.RLIM_INFINITY or asked > hard):
        asked = hard
    return "unlimited" if asked == resource.RLIM_INFINITY else str(asked)


def _arg(name: str) -> str:
    """A folder the unit's ExecStart gives FreeSWITCH (-log, -certs, ...)."""
    words = shlex.split(dict(unit())["ExecStart"])
    if name not in words:
        raise LabError(f"roles/{UNIT}: ExecStart passes no {name}")
    return words[words.index(name) + 1]


def _on_host(state: LabState, host: str, path: str) -> Path:
    """A path under a host's /var as the machine sees it (the overlay's upper folder)."""
    if not path.startswith("/var/"):
        raise LabError(f"{path}: the lab reads FreeSWITCH's files under /var only")
    return host_run_dir(state.center, host) / "var.upper" / path.removeprefix("/var/")


def log(state: LabState, host: str) -> str:
    path = _on_host(state, host, _arg("-log")) / "freeswitch.log"
    return path.read_text(errors="replace") if path.exists() else ""


def log_tail(state: LabState, host: str, lines: int = 30) -> str:
    """The end of FreeSWITCH's log on a node, else of what its process printed (a failed start)."""
    text = log(state, host)
    if not text.strip():
        out = [Path(p.log) for p in state.processes if p.host == host and p.name == "freeswitch"]
        text = out[-1].read_text(errors="replace") if out and out[-1].exists() else ""
    return "\n".join(text.splitlines()[-lines:]) or "(FreeSWITCH wrote no log and printed nothing)"


def keys_made(state: LabState, host: str) -> bool:
    certs = _on_host(state, host, _arg("-certs"))
    return all((certs / k).exists() and (certs / k).stat().st_size for k in KEYS)


def keep_keys(state: LabState, host: str) -> None:
    """Copy the keys a node made to the lab's state folder, for seed_keys."""
    shutil.copytree(_on_host(state, host, _arg("-certs")), state.dir / "freeswitch-cert", dirs_exist_ok=True)


def seed_keys(state: LabState, host: str) -> None:
    """Place the kept keys in a node's certificate folder before it starts, owned as FreeSWITCH
    would have made them."""
    certs, keys = _arg("-certs"), dict(unit())
    user = keys.get("User", "root")
    script = (f"umask {keys.get('UMask', '0022')}; install -d -o {user} -g {keys.get('Group', user)} -m 0750 {shlex.quote(certs)} && "
              f"for f in {LAB_SRC}/freeswitch-cert/*; do install -o {user} -g {keys.get('Group', user)} -m 0600 \"$f\" {shlex.quote(certs)}/; done")
    run(in_host(state.center, host, ["sh", "-c", script]))


def fs_api(state: LabState, host: str, cmd: str, timeout: float = 15) -> str:
    """An API command on a media node's FreeSWITCH (fs_cli to the event socket on 127.0.0.1 inside
    the host, with the lab's password); its output."""
    exe = fs.fs_cli()
    if state.media != "freeswitch" or exe is None:
        raise LabError(f"{host}: no FreeSWITCH in this lab ({state.media_note or STAND_IN_NOTE})")
    password = state.secrets()[state.plan().security["event_socket_password"]]
    argv = [str(exe), "-H", "127.0.0.1", "-P", str(fs.EVENT_SOCKET_PORT), "-p", password, "-t", str(int(timeout * 1000)), "-x", cmd]
    try:
        proc = run(in_host(state.center, host, argv), check=False, timeout=timeout + 5)
    except subprocess.TimeoutExpired:
        raise LabError(f"{host}: FreeSWITCH did not answer {cmd!r} within {timeout:.0f} s") from None
    if proc.returncode != 0:
        raise LabError(f"{host}: fs_cli -x {cmd!r} failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
    return proc.stdout


def complaints(state: LabState, host: Host | str) -> list[str]:
    """The lines of a node's FreeSWITCH log that say something is wrong (trunkline.freeswitch.complaints)."""
    return fs.complaints(log(state, host if isinstance(host, str) else host.name))
