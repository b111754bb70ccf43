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

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from trunkline import freeswitch
from trunkline.center import load as load_center
from trunkline.freeswitch import EVENT_SOCKET_PORT, NodeError, complaints, in_ns
from trunkline.plan.topology import MEDIA_SIP_PORT, Plan

from shared import EXAMPLES, cannot_run, needs_freeswitch

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


@pytest.fixture(scope="module")
def launcher() -> Path:
    exe = needs_freeswitch()
    if os.geteuid() != 0:
        cannot_run("network namespaces need root")
    return exe


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    """FreeSWITCH's self-made keys, kept from the first start (not trunkline's files)."""
    return tmp_path_factory.mktemp("freeswitch-certs") / "cert"


@contextmanager
def running_node(plan: Plan, host_name: str, where: Path, launcher: Path, certs: Path):
    """freeswitch.standalone_node, with its refusals as test failures."""
    try:
        with freeswitch.standalone_node(plan, host_name, where, certs, launcher) as node:
            yield node
    except NodeError as exc:
        pytest.fail(str(exc))


def event_socket(ns: str, host: str, password: str) -> str:
    return in_ns(ns, sys.executable, "-c", ESL_CLIENT, host, str(EVENT_SOCKET_PORT), password).stdout.strip()


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
           "2026-12-01 10:07:47.707244 0.00% [NOTICE] switch_loadable_module.c:172 Adding Endpoint 'error'\n"
           "2026-12-01 22:08:10.526006 86.50% [WARNING] switch_core_db.c:92 SQLite is BUSY, sane=299 [BEGIN EXCLUSIVE]\n")
    assert len(complaints(log)) == 4


@pytest.fixture(scope="module")
def acme_node(launcher, certs, tmp_path_factory):
    plan = load_center(next(p for p in EXAMPLES if p.stem == "acme-bank")).plan
    with running_node(plan, "sh-dc1-media1", tmp_path_factory.mktemp("esl"), launcher, certs) as node:
        yield node


def test_event_socket_accepts_the_blueprints_password_on_loopback(acme_node):
    assert "Reply-Text: +OK accepted" in event_socket(acme_node.ns, "127.0.0.1", acme_node.password())


def test_event_socket_refuses_the_public_default_password(acme_node):
    answer = event_socket(acme_node.ns, "127.0.0.1", "ClueCon")
    assert "Reply-Text: -ERR invalid" in answer, answer


def test_event_socket_refuses_a_wrong_password(acme_node):
    answer = event_socket(acme_node.ns, "127.0.0.1", acme_node.password() + "x")
    assert "Reply-Text: -ERR invalid" in answer, answer


def test_event_socket_does_not_answer_from_another_host(acme_node):
    # the other host (a SIP proxy's address) does reach the node: its SIP port accepts TCP
    reach = in_ns(acme_node.peer_ns, sys.executable, "-c",
                   f"import socket; socket.create_connection(({acme_node.address!r}, {MEDIA_SIP_PORT}), timeout=3); print('ok')")
    assert reach.stdout.strip() == "ok", reach.stderr
    answer = event_socket(acme_node.peer_ns, acme_node.address, acme_node.password())
    assert answer.startswith("no connection:"), answer


def test_fs_cli_logs_in_with_the_settings_apply_writes_for_root(acme_node, tmp_path):
    # the reload handler runs plain `fs_cli -x reloadxml` as root: it must find the password in ~/.fs_cli_conf
    (tmp_path / ".fs_cli_conf").write_text(freeswitch.fs_cli_conf(acme_node.password()))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    out = subprocess.run(["ip", "netns", "exec", acme_node.ns, str(freeswitch.fs_cli()), "-t", "5000", "-x", "reloadxml"],
                         capture_output=True, text=True, timeout=15, env=env)
    assert "+OK [Success]" in out.stdout, out.stdout + out.stderr


def test_calls_into_a_queue_leave_nothing_in_the_log_to_complain_about(acme_node, tmp_path):
    """A file FreeSWITCH only reads when a call runs (time zones, the RTP port range, the queue's
    settings) is checked here: two calls from the proxy's address into a queue, answered and held."""
    from trunkline.targets.calls import scenario

    (tmp_path / "uac.xml").write_text(scenario(acme_node.plan, audio=True))
    queue = acme_node.plan.queues[0]["name"]
    before = len(acme_node.log.splitlines())
    run = in_ns(acme_node.peer_ns, "sipp", f"{acme_node.address}:{MEDIA_SIP_PORT}", "-sf", str(tmp_path / "uac.xml"),
                "-s", queue, "-i", acme_node.peer_address, "-p", "0", "-t", "u1", "-m", "2", "-r", "2", "-d", "3000",
                "-timeout", "40s", "-timeout_error", "-nostdin", "-nd", timeout=60)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    time.sleep(1)  # the hangup's last lines
    assert complaints("\n".join(acme_node.log.splitlines()[before:])) == []
