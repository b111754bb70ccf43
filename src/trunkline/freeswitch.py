"""Where trunkline's own FreeSWITCH is, and how to start one on a media node's rendered files.

Debian 12 has no FreeSWITCH package: `make freeswitch` (scripts/freeswitch/install.sh) installs
FreeSWITCH 1.10.12 under PREFIX as a relocatable tree started through bin/freeswitch-reloc.
The lab, the tests and benchmarks find it here; None means it is not installed.

`standalone_node(plan, host, where)` runs one media node on its rendered /etc/freeswitch tree
alone (no stock file), secret markers replaced by test values the way apply does, in a network
namespace made and removed here: the node's address on a veth whose other end, in a second
namespace, holds one of the site's SIP proxy addresses (where its calls come from). Its mount
namespace has /var as an overlay under the node's folder, so what it writes there (recordings)
never lands in this machine's /var. Every wait is bounded; FreeSWITCH is stopped by its PID; both
namespaces are removed whatever happens.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import re
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from trunkline.errors import TrunklineError
from trunkline.plan.topology import MEDIA_SIP_PORT, Plan
from trunkline.render import RenderedFile, render_plan
from trunkline.targets.lab import shell

PREFIX = Path(os.environ.get("FREESWITCH_PREFIX", "/opt/trunkline/freeswitch"))
CONF = "/etc/freeswitch/"
EVENT_SOCKET_CONF = "/etc/freeswitch/autoload_configs/event_socket.conf.xml"
FS_CLI_CONF = "/root/.fs_cli_conf"  # fs_cli reads ~/.fs_cli_conf (or /etc/fs_cli.conf) and nothing else
INSTALL_HINT = "make freeswitch (scripts/freeswitch/install.sh; FREESWITCH_TARBALL or FREESWITCH_SRC name a local source)"


def _executable(path: Path) -> Path | None:
    return path if path.is_file() and os.access(path, os.X_OK) else None


def launcher() -> Path | None:
    """bin/freeswitch-reloc of the installed tree: it sets the library path and -base/-mod itself."""
    return _executable(PREFIX / "bin" / "freeswitch-reloc")


def fs_cli() -> Path | None:
    return _executable(PREFIX / "bin" / "fs_cli")


def write_conf(files: list[RenderedFile], host: str, conf: Path, unmark=None) -> Path:
    """Lay out one host's rendered /etc/freeswitch files under conf, the folder given to -conf.

    `unmark(text, path)` replaces secret markers the way apply does (trunkline.deploys.unmark).
    """
    conf.mkdir(parents=True, exist_ok=True)
    for f in files:
        if f.host != host or not f.path.startswith(CONF):
            continue
        dest = conf / f.path.removeprefix(CONF)
        dest.parent.mkdir(parents=True, exist_ok=True)
        text = f.content.decode()
        dest.write_text(unmark(text, f.path) if unmark else text)
    return conf


def command(root: Path, launcher_path: Path | None = None) -> list[str]:
    """argv that runs FreeSWITCH in the foreground on root/conf, its state in root/{log,db,run,...}.

    -base root keeps everything FreeSWITCH creates (cert/, storage/, ...) out of PREFIX; the sounds
    (music on hold in sounds/music/8000, made by install.sh) are the installed tree's.
    """
    exe = launcher_path or launcher()
    if exe is None:
        raise FileNotFoundError(f"FreeSWITCH is not installed under {PREFIX}; install it with {INSTALL_HINT}")
    for d in ("log", "db", "run"):
        (root / d).mkdir(parents=True, exist_ok=True)
    sounds = Path(exe).resolve().parents[1] / "sounds"
    return [str(exe), "-nonat", "-nc", "-nf", "-base", str(root), "-sounds", str(sounds), "-conf", str(root / "conf"),
            "-log", str(root / "log"), "-db", str(root / "db"), "-run", str(root / "run")]


def event_socket_ref(entries: list[dict]) -> str | None:
    """The secret reference of the event socket's password, from a host's manifest entries."""
    return next((e["secrets"][0] for e in entries if e["path"] == EVENT_SOCKET_CONF and e["secrets"]), None)


def fs_cli_conf(password: str) -> str:
    """root's fs_cli settings: without them fs_cli (and the reload handler) tries the default ClueCon.
    The roles write the same bytes (roles/freeswitch/tasks/main.yml)."""
    return f"[default]\nhost => 127.0.0.1\nport => 8021\npassword => {password}\n"


# --- one media node on its own -----------------------------------------------------------------

START_TIMEOUT_S = 40  # measured: 4-6 s to both profiles RUNNING on 2 idle cores
STOP_TIMEOUT_S = 20
EVENT_SOCKET_PORT = 8021
# log lines that match BAD yet say nothing is wrong; log-auth-failures (for fail2ban) logs every
# digest challenge of a phone's REGISTER as a WARNING (sofia_reg.c), a failed answer as "SIP auth failure";
# "SQLite is BUSY" is FreeSWITCH's own core database waiting on its other threads under load (it
# retries, switch_core_db.c), seen once with three sites' labs on two cores
BENIGN = [re.compile(p) for p in (r"sofia\.c:\d+ MSG Thread \d+ Started", r"Adding Endpoint 'error'",
                                  r"sofia_reg\.c:\d+ SIP auth challenge \(REGISTER\)",
                                  r"switch_core_db\.c:\d+ SQLite is BUSY")]
BAD = re.compile(r"\[(WARNING|ERR|CRIT|ALERT)\]|fail|error|can't|cannot|invalid|deprecated|refus|denied", re.I)
_serial = itertools.count()


def stop(proc: subprocess.Popen) -> None:
    """End a FreeSWITCH we started, by its PID: TERM (it hangs up and exits), KILL after STOP_TIMEOUT_S."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class NodeError(TrunklineError):
    """FreeSWITCH did not start on a node's rendered files, or complained about them."""


def complaints(log: str) -> list[str]:
    """The lines of a FreeSWITCH log that say something is wrong with what it was given."""
    return [line for line in log.splitlines() if BAD.search(line) and not any(b.search(line) for b in BENIGN)]


def in_ns(ns: str, *argv: str, timeout: float = 15) -> subprocess.CompletedProcess:
    """argv run in a namespace; its exit status is the caller's to read."""
    return shell.run(shell.in_ns(ns, list(argv)), check=False, timeout=timeout)


@dataclass
class Node:
    plan: Plan
    host: str
    address: str
    ns: str  # the node's namespace
    peer_ns: str  # the namespace holding a SIP proxy address of the site
    peer_address: str
    root: Path  # -base: conf/, log/, db/, run/, cert/
    secrets: dict[str, str]  # reference -> the test value put in its place
    pid: int = 0
    started_s: float = 0.0

    @property
    def log(self) -> str:
        path = self.root / "log" / "freeswitch.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def password(self) -> str:
        return self.secrets[self.plan.security["event_socket_password"]]

    def api(self, command: str, timeout: float = 10) -> str:
        """An API command through fs_cli, from inside the node (loopback)."""
        return in_ns(self.ns, str(fs_cli()), "-H", "127.0.0.1", "-P", str(EVENT_SOCKET_PORT), "-p", self.password(),
                     "-t", "5000", "-x", command, timeout=timeout).stdout

    def running(self) -> bool:
        """Both SIP profiles RUNNING on the node's address, and the core started."""
        wanted = [f"external\tprofile\tsip:mod_sofia@{self.address}:{MEDIA_SIP_PORT}\tRUNNING",
                  f"internal\tprofile\tsip:mod_sofia@{self.address}:5060\tRUNNING"]
        rows = ["\t".join(line.split()) for line in self.api("sofia status").splitlines()]
        return all(any(row.startswith(w) for row in rows) for w in wanted) and "FreeSWITCH Started" in self.log


@contextmanager
def standalone_node(plan: Plan, host_name: str, where: Path, certs: Path | None = None,
                    launcher_path: Path | None = None) -> Iterator[Node]:
    """FreeSWITCH on one media node's rendered files, in its own namespace, until the block ends.

    `certs`: a folder of FreeSWITCH's self-made keys (wss.pem, dtls-srtp.pem, tls.pem) to start
    from, filled from the first start when empty: making them is about 5 s of CPU per fresh start."""
    from trunkline.deploys import unmark

    exe = launcher_path or launcher()
    if exe is None:
        raise NodeError(f"FreeSWITCH is not installed under {PREFIX}; install it with {INSTALL_HINT}")
    host = plan.host(host_name)
    site = plan.site(host.site)
    prefix = ipaddress.ip_network(site.cidr).prefixlen
    peer = plan.hosts_of(site.name, "sip-proxy")[0].address
    files = render_plan(plan, [host_name])
    secrets = {ref: f"test-{i}-Pw&<x>" for i, ref in enumerate(sorted({r for f in files for r in f.secrets}))}
    root = where / host_name
    write_conf(files, host_name, root / "conf", lambda text, path: unmark(text, path, secrets))
    if certs and certs.exists():
        shutil.copytree(certs, root / "cert")
    tag = f"{os.getpid() % 100000}-{next(_serial)}"
    node = Node(plan, host_name, host.address, f"tlfs-{tag}", f"tlfsp-{tag}", peer, root, secrets)
    proc = None
    try:
        for ns in (node.ns, node.peer_ns):
            shell.ip("netns", "add", ns)
            shell.ip("-n", ns, "link", "set", "lo", "up")
        shell.ip("-n", node.ns, "link", "add", "n0", "type", "veth", "peer", "name", "p0", "netns", node.peer_ns)
        shell.ip("-n", node.ns, "addr", "add", f"{host.address}/{prefix}", "dev", "n0")
        shell.ip("-n", node.peer_ns, "addr", "add", f"{peer}/{prefix}", "dev", "p0")
        shell.ip("-n", node.ns, "link", "set", "n0", "up")
        shell.ip("-n", node.peer_ns, "link", "set", "p0", "up")
        t0 = time.monotonic()
        # in a mount namespace of its own where /var is an overlay (root/var.*): what the node writes
        # there (recordings under the rendered recordings_dir) stays out of this machine's /var.
        # unshare, sh and `ip netns exec` each exec the next: this PID is FreeSWITCH's
        for d in ("var.upper", "var.work"):
            (root / d).mkdir(parents=True, exist_ok=True)
        private_var = f"mount -t overlay overlay -o lowerdir=/var,upperdir={root}/var.upper,workdir={root}/var.work /var && exec \"$@\""
        proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", private_var, "sh",
                                 *shell.in_ns(node.ns, command(root, exe))],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        node.pid = proc.pid
        while not node.running():
            if proc.poll() is not None:
                raise NodeError(f"FreeSWITCH on {host_name} exited with {proc.returncode}:\n" + "\n".join(node.log.splitlines()[-30:]))
            if bad := complaints(node.log):  # a profile that failed to bind retries for a while: fail now
                raise NodeError(f"FreeSWITCH complained about the rendered files of {host_name}:\n" + "\n".join(bad))
            if time.monotonic() - t0 > START_TIMEOUT_S:
                raise NodeError(f"{host_name}: the SIP profiles were not RUNNING after {START_TIMEOUT_S} s:\n{node.api('sofia status')}")
            time.sleep(0.5)
        node.started_s = time.monotonic() - t0
        if certs and not certs.exists():
            shutil.copytree(root / "cert", certs)
        yield node
    finally:
        if proc is not None:
            stop(proc)
        for ns in (node.ns, node.peer_ns):
            shell.ip("netns", "del", ns, check=False)
