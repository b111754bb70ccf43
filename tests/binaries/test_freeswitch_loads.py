"""Real FreeSWITCH loads the rendered files of every example's media nodes without a complaint,
and its event socket answers only on loopback, only to the blueprint's password.

FreeSWITCH is trunkline's own build (`make freeswitch`, /opt/trunkline/freeswitch). Each node runs
on its rendered /etc/freeswitch tree alone (no stock file), with the secret markers replaced by
test values the way apply does, inside a network namespace made and removed here: the node's
address on a veth whose other end, in a second namespace, holds one of the site's SIP proxy
addresses (another host of the site). One node per site: the nodes of a site differ only in their
address and name. Every wait is bounded; FreeSWITCH is stopped by its PID.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from trunkline import freeswitch
from trunkline.deploys import unmark
from trunkline.plan.topology import MEDIA_SIP_PORT, Plan
from trunkline.center import load as load_center
from trunkline.render import render_plan

from shared import EXAMPLES

_serial = itertools.count()
START_TIMEOUT_S = 40  # measured: 4-6 s to both profiles RUNNING on 2 idle cores
STOP_TIMEOUT_S = 20
EVENT_SOCKET_PORT = 8021
# log lines that match BAD yet say nothing is wrong
BENIGN = [re.compile(p) for p in (r"sofia\.c:\d+ MSG Thread \d+ Started", r"Adding Endpoint 'error'")]
BAD = re.compile(r"\[(WARNING|ERR|CRIT|ALERT)\]|fail|error|can't|cannot|invalid|deprecated|refus|denied", re.I)

# a minimal event socket client, run inside a namespace: one line saying what the socket answered
ESL_CLIENT = r"""
import socket, sys
host, port, password = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def headers(s):
    buf = b""
    while b"\n\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return " | ".join(buf.decode(errors="replace").split("\n")).strip(" |")
try:
    s = socket.create_connection((host, port), timeout=3)
except OSError as exc:
    print("no connection:", type(exc).__name__)
    sys.exit()
s.settimeout(3)
try:
    hello = headers(s)
    if "auth/request" not in hello:
        print("no auth request:", hello)
        sys.exit()
    s.sendall(("auth " + password + "\n\n").encode())
    print(headers(s))
except OSError as exc:
    print("no answer:", type(exc).__name__)
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


def _in_ns(ns: str, *argv: str, timeout: float = 15) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout)


def _cannot_run(message: str) -> None:
    """Skip on a developer's machine; in CI (which installs FreeSWITCH and runs as root) fail."""
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run this test (.ci/run installs FreeSWITCH from FREESWITCH_TARBALL)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def launcher() -> Path:
    exe = freeswitch.launcher()
    if exe is None:
        _cannot_run(f"FreeSWITCH is not installed under {freeswitch.PREFIX}: {freeswitch.INSTALL_HINT}")
    if os.geteuid() != 0:
        _cannot_run("network namespaces need root")
    return exe


@dataclass
class Node:
    plan: Plan
    host: str
    address: str
    ns: str
    peer_ns: str
    peer_address: str
    root: Path
    secrets: dict[str, str]
    started_s: float = 0.0

    @property
    def log(self) -> str:
        path = self.root / "log" / "freeswitch.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def password(self) -> str:
        return self.secrets[self.plan.security["event_socket_password"]]

    def api(self, command: str) -> str:
        """An API command through fs_cli, from inside the node (loopback)."""
        out = _in_ns(self.ns, str(freeswitch.fs_cli()), "-H", "127.0.0.1", "-P", str(EVENT_SOCKET_PORT),
                     "-p", self.password(), "-t", "5000", "-x", command, timeout=10)
        return out.stdout

    def event_socket(self, ns: str, host: str, password: str) -> str:
        return _in_ns(ns, sys.executable, "-c", ESL_CLIENT, host, str(EVENT_SOCKET_PORT), password).stdout.strip()


def _running(node: Node) -> bool:
    status = node.api("sofia status")
    wanted = [f"external\tprofile\tsip:mod_sofia@{node.address}:{MEDIA_SIP_PORT}\tRUNNING",
              f"internal\tprofile\tsip:mod_sofia@{node.address}:5060\tRUNNING"]
    rows = ["\t".join(line.split()) for line in status.splitlines()]
    return all(any(row.startswith(w) for row in rows) for w in wanted) and "FreeSWITCH Started" in node.log


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    """FreeSWITCH's self-made keys (wss.pem, dtls-srtp.pem, tls.pem), kept from the first start:
    making them is about 5 s of CPU of each fresh start, and they are not trunkline's files."""
    return tmp_path_factory.mktemp("freeswitch-certs") / "cert"


@contextmanager
def running_node(plan: Plan, host_name: str, where: Path, launcher: Path, certs: Path):
    """FreeSWITCH on one media node's rendered files, in its own namespace, until the block ends."""
    host = next(h for h in plan.hosts if h.name == host_name)
    site = plan.site(host.site)
    prefix = ipaddress.ip_network(site.cidr).prefixlen
    peer = plan.hosts_of(site.name, "sip-proxy")[0].address
    files = render_plan(plan, [host_name])
    secrets = {ref: f"test-{i}-Pw&<x>" for i, ref in enumerate(sorted({r for f in files for r in f.secrets}))}
    root = where / host_name
    freeswitch.write_conf(files, host_name, root / "conf", lambda text, path: unmark(text, path, secrets))
    if certs.exists():
        shutil.copytree(certs, root / "cert")
    tag = f"{os.getpid() % 100000}-{next(_serial)}"
    node = Node(plan, host_name, host.address, f"tlfs-{tag}", f"tlfsp-{tag}", peer, root, secrets)
    proc = None
    try:
        for ns in (node.ns, node.peer_ns):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", node.ns, "link", "add", "n0", "type", "veth", "peer", "name", "p0", "netns", node.peer_ns)
        _ip("-n", node.ns, "addr", "add", f"{host.address}/{prefix}", "dev", "n0")
        _ip("-n", node.peer_ns, "addr", "add", f"{peer}/{prefix}", "dev", "p0")
        _ip("-n", node.ns, "link", "set", "n0", "up")
        _ip("-n", node.peer_ns, "link", "set", "p0", "up")
        t0 = time.monotonic()
        proc = subprocess.Popen(["ip", "netns", "exec", node.ns, *freeswitch.command(root, launcher)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not _running(node):
            if proc.poll() is not None:
                pytest.fail(f"FreeSWITCH on {host_name} exited with {proc.returncode}:\n" + "\n".join(node.log.splitlines()[-30:]))
            if bad := complaints(node.log):  # a profile that failed to bind retries for a while: fail now
                pytest.fail(f"FreeSWITCH complained about the rendered files of {host_name}:\n" + "\n".join(bad))
            if time.monotonic() - t0 > START_TIMEOUT_S:
                pytest.fail(f"{host_name}: the SIP profiles were not RUNNING after {START_TIMEOUT_S} s:\n{node.api('sofia status')}")
            time.sleep(0.5)
        node.started_s = time.monotonic() - t0
        if not certs.exists():
            shutil.copytree(root / "cert", certs)
        yield node
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()  # `ip netns exec` execs FreeSWITCH: this PID is FreeSWITCH's
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for ns in (node.ns, node.peer_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


def complaints(log: str) -> list[str]:
    return [line for line in log.splitlines() if BAD.search(line) and not any(b.search(line) for b in BENIGN)]


def _one_node_per_site() -> list:
    cases = []
    for path in EXAMPLES:
        plan = load_center(path).plan
        for site in plan.sites:
            media = plan.hosts_of(site.name, "media")
            if media:
                cases.append(pytest.param(path, media[0].name, id=f"{path.stem}-{media[0].name}"))
    return cases


@pytest.mark.parametrize("blueprint, host", _one_node_per_site())
def test_freeswitch_runs_the_rendered_files_without_a_complaint(launcher, certs, tmp_path, blueprint, host):
    with running_node(load_center(blueprint).plan, host, tmp_path, launcher, certs) as node:
        time.sleep(1)  # late module threads (local_stream, callcenter) log their first lines
        bad = complaints(node.log)
        print(f"{host}: profiles RUNNING {node.started_s:.1f} s after start")
    assert not bad, f"FreeSWITCH complained about the rendered files of {host}:\n" + "\n".join(bad)


def test_the_complaint_filter_catches_what_freeswitch_logs_about_a_bad_file():
    log = ("2026-12-01 10:04:58.553717 0.00% [CRIT] switch_loadable_module.c:1754 Error Loading module /x/mod/mod_say_zh.so\n"
           "2026-12-01 10:08:07.457660 100.00% [CONSOLE] mod_local_stream.c:289 Can't open directory: /x/sounds/music/8000\n"
           "2026-12-01 10:08:07.456911 0.00% [CONSOLE] switch_loadable_module.c:2285 open of post_load_modules.conf failed\n"
           "2026-12-01 10:04:54.409860 0.00% [WARNING] sofia.c:5328 rtp-timeout-sec deprecated use media_timeout variable.\n"
           "2026-12-01 10:07:46.204104 0.00% [WARNING] sofia.c:2290 MSG Thread 0 Started\n"
           "2026-12-01 10:07:47.707244 0.00% [NOTICE] switch_loadable_module.c:172 Adding Endpoint 'error'\n")
    assert len(complaints(log)) == 4


@pytest.fixture(scope="module")
def acme_node(launcher, certs, tmp_path_factory):
    plan = load_center(next(p for p in EXAMPLES if p.stem == "acme-bank")).plan
    with running_node(plan, "sh-dc1-media1", tmp_path_factory.mktemp("esl"), launcher, certs) as node:
        yield node


def test_event_socket_accepts_the_blueprints_password_on_loopback(acme_node):
    assert "Reply-Text: +OK accepted" in acme_node.event_socket(acme_node.ns, "127.0.0.1", acme_node.password())


def test_event_socket_refuses_the_public_default_password(acme_node):
    answer = acme_node.event_socket(acme_node.ns, "127.0.0.1", "ClueCon")
    assert "Reply-Text: -ERR invalid" in answer, answer


def test_event_socket_refuses_a_wrong_password(acme_node):
    answer = acme_node.event_socket(acme_node.ns, "127.0.0.1", acme_node.password() + "x")
    assert "Reply-Text: -ERR invalid" in answer, answer


def test_event_socket_does_not_answer_from_another_host(acme_node):
    # the other host (a SIP proxy's address) does reach the node: its SIP port accepts TCP
    reach = _in_ns(acme_node.peer_ns, sys.executable, "-c",
                   f"import socket; socket.create_connection(({acme_node.address!r}, {MEDIA_SIP_PORT}), timeout=3); print('ok')")
    assert reach.stdout.strip() == "ok", reach.stderr
    answer = acme_node.event_socket(acme_node.peer_ns, acme_node.address, acme_node.password())
    assert answer.startswith("no connection:"), answer


def test_fs_cli_logs_in_with_the_settings_apply_writes_for_root(acme_node, tmp_path):
    # the reload handler runs plain `fs_cli -x reloadxml` as root: it must find the password in ~/.fs_cli_conf
    (tmp_path / ".fs_cli_conf").write_text(freeswitch.fs_cli_conf(acme_node.password()))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    out = subprocess.run(["ip", "netns", "exec", acme_node.ns, str(freeswitch.fs_cli()), "-t", "5000", "-x", "reloadxml"],
                         capture_output=True, text=True, timeout=15, env=env)
    assert "+OK [Success]" in out.stdout, out.stdout + out.stderr
