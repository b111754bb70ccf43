"""The lab end to end: up -> real calls -> verify -> faults -> down, nothing left behind.

These tests run the real Kamailio, keepalived, rtpengine and FreeSWITCH (SIPp as the carrier) inside
network namespaces (root needed; `make test` runs as root in CI, where FreeSWITCH is installed; on a
machine without it the media nodes are the SIPp stand-in and the FreeSWITCH tests skip). Traffic
stays inside the namespaces made here.
Timing goals are printed by benchmarks/failover.py and benchmarks/edge_cps.py; here we assert
behaviour with generous bounds.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from trunkline import freeswitch
from trunkline.plan.topology import MEDIA_SIP_PORT
from trunkline.roles import lab_programs, processes
from trunkline.targets import lab
from trunkline.targets.calls import place_calls
from trunkline.targets.lab import media as media_server
from trunkline.verify import verify_lab

from shared import ROOT

ACME = ROOT / "blueprints" / "acme-bank.yaml"
SMALL = ROOT / "tests" / "blueprint" / "base.yaml"
CLI = [sys.executable, "-m", "trunkline.cli"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (CI and make test run as root)")


def trunkline(*args, check=False, timeout=180, **kw):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=check, **kw)


def namespaces(center: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(f"tl-{center}-")]


@pytest.fixture(scope="module")
def acme():
    """acme-bank up in the lab for the module; always taken down, also when a test fails."""
    result = trunkline("up", ACME, "--json")
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        state = lab.LabState.load("acme-bank")
        yield state, state.plan()
    finally:
        trunkline("down", "--center", "acme-bank")


def test_up_without_root_stops_at_once_with_a_clear_message():
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                             *CLI, "up", str(SMALL)], capture_output=True, text=True, timeout=60,
                            cwd="/tmp", env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "TRUNKLINE_STATE": "/tmp/tl-nonroot"})
    assert result.returncode == 1
    assert "needs CAP_NET_ADMIN and CAP_SYS_ADMIN" in result.stderr and "run it as root" in result.stderr
    assert namespaces("small-shop") == []


def test_every_host_is_a_namespace_addressed_from_the_plan(acme):
    state, plan = acme
    for host in plan.hosts:
        text = subprocess.run(["ip", "-n", lab.ns_name(plan.center, host.name), "-o", "-4", "addr"],
                              capture_output=True, text=True, check=True).stdout
        assert f" {host.address}/{host.prefix} " in text


def test_each_pair_starts_with_its_master_holding_the_vip(acme):
    state, plan = acme
    for site in plan.sites:
        assert lab.vip_holders(plan.center, plan, site.name) == [site.proxies[0]]


def test_status_names_processes_and_the_vip_holder(acme):
    result = trunkline("status", "--center", "acme-bank", "--json")
    info = json.loads(result.stdout)
    assert info["ready"] and all(p["alive"] for h in info["hosts"] for p in h["processes"])
    assert {s["name"]: s["vip_holders"] for s in info["sites"]} == {"sh-dc1": ["sh-dc1-sip1"], "bj-dc2": ["bj-dc2-sip1"]}
    if freeswitch.launcher():
        assert info["media"]["server"] == "freeswitch" and info["media"]["version"].startswith("FreeSWITCH 1.10.12")
        assert info["media"]["stand_in"] is None
        assert {p["name"] for h in info["hosts"] if h["role"] == "media" for p in h["processes"]} == {"freeswitch"}
    else:
        assert "SIPp UAS answers calls in place of FreeSWITCH" in info["media"]["stand_in"]


def test_media_nodes_hold_the_rendered_freeswitch_files(acme):
    state, plan = acme
    media = plan.hosts_of("sh-dc1", "media")[0]
    out = subprocess.run(lab.in_host(plan.center, media.name, ["cat", "/etc/freeswitch/autoload_configs/callcenter.conf.xml"]),
                         capture_output=True, text=True, check=True).stdout
    assert "managed by trunkline" in out and "<configuration name=\"callcenter.conf\"" in out


needs_freeswitch = pytest.mark.skipif(freeswitch.launcher() is None, reason="FreeSWITCH is not installed (make freeswitch)")


def _options(host: str, port: int) -> str:
    return (f"OPTIONS sip:{host}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {{src}}:{{port}};branch=z9hG4bKlab1\r\n"
            f"From: <sip:probe@{{src}}>;tag=1\r\nTo: <sip:{host}>\r\nCall-ID: media-probe@lab\r\nCSeq: 1 OPTIONS\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")


@needs_freeswitch
def test_media_nodes_run_freeswitch_as_its_unit_says_and_answer(acme):
    """FreeSWITCH, not the SIPp stand-in, on every media node: the server unit's command line (the
    placed /etc/freeswitch, user freeswitch), its mod_callcenter instance named for the node, and an
    answer to the site proxy's OPTIONS from it."""
    state, plan = acme
    assert state.media == "freeswitch"
    for node in [h for h in plan.hosts if h.role == "media"]:
        assert lab.program_pids(plan.center, node.name, "sipp") == [], node.name
        (pid,) = lab.program_pids(plan.center, node.name, "freeswitch")
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        assert argv[argv.index("-conf") + 1] == "/etc/freeswitch" and argv[argv.index("-log") + 1] == "/var/log/freeswitch"
        user = subprocess.run(lab.in_host(plan.center, node.name, ["ps", "-o", "user=", "-p", str(pid)]),
                              capture_output=True, text=True, check=True).stdout.strip()
        assert user == "freeswitch", node.name
        assert "FreeSWITCH (Version 1.10.12" in lab.fs_api(state, node.name, "status")
        # callcenter.conf.xml is the same on every node of the site; each node's instance is its own (vars.xml)
        loaded = lab.fs_api(state, node.name, "xml_locate configuration configuration name callcenter.conf")
        assert f'name="cc-instance-id" value="{node.name}"' in loaded, loaded[:400]
        proxy = plan.host(plan.site(node.site).proxies[0])
        message = _options(node.address, MEDIA_SIP_PORT).replace("{src}", proxy.address)
        answer = lab.sip_send(lab.ns_name(plan.center, proxy.name), proxy.address, node.address, message, MEDIA_SIP_PORT)
        assert answer and answer[-1].startswith("SIP/2.0 200"), (node.name, answer)
        assert "User-Agent: FreeSWITCH" in answer[-1], answer[-1]


def test_kamailio_runs_as_its_rendered_unit_and_drop_in_say(acme):
    """The lab starts Kamailio with systemd's command line: memory from /etc/default/kamailio (sized
    from the plan), the TLSF memory manager from the drop-in, the unit's user."""
    state, plan = acme
    for site in plan.sites:
        for proxy in site.proxies:
            pid = next(p.pid for p in state.processes if p.host == proxy and p.name == "kamailio")
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            opt = {flag: argv[argv.index(flag) + 1] for flag in ("-m", "-M", "-x", "-X", "-u", "-f")}
            assert opt == {"-m": str(site.kamailio_shm_mb), "-M": str(site.kamailio_pkg_mb), "-x": "tlsf", "-X": "tlsf",
                           "-u": "kamailio", "-f": "/etc/kamailio/kamailio.cfg"}, proxy


def test_calls_from_the_carrier_through_the_vip_all_succeed(acme):
    result = trunkline("call", ACME, "--rate", 20, "--calls", 100, "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0, report
    assert (report["attempted"], report["succeeded"], report["failed"]) == (100, 100, 0)
    assert report["response_ms"]["samples"] == 100 and report["response_ms"]["p50"] >= 0


def test_calls_are_spread_over_both_media_nodes_of_the_site(acme):
    state, plan = acme
    media = plan.hosts_of("sh-dc1", "media")
    before = {m.name: lab.answered_calls(plan.center, m.name) for m in media}
    assert place_calls(state, plan, 20, 40, audio=False).failed == 0
    if state.media == "sipp":
        time.sleep(2.5)  # the stand-in writes its statistics once a second (FreeSWITCH counts as calls arrive)
    gained = {m.name: lab.answered_calls(plan.center, m.name) - before[m.name] for m in media}
    assert sum(gained.values()) == 40
    assert all(n >= 10 for n in gained.values()), gained  # weights 50/50: neither node is idle


@needs_freeswitch
def test_freeswitch_logs_no_complaint_after_calls(acme):
    """Calls answered in the IVR and queued: nothing FreeSWITCH logs on any media node says a
    rendered file or a call went wrong (trunkline.freeswitch.complaints)."""
    state, plan = acme
    for trunk in plan.trunks:
        assert place_calls(state, plan, 20, 20, trunk=trunk.name, audio=False).failed == 0
    for node in [h for h in plan.hosts if h.role == "media"]:
        log = media_server.log(state, node.name)
        assert "FreeSWITCH Started" in log, node.name
        assert media_server.complaints(state, node) == [], node.name


def test_calls_from_an_unknown_address_get_no_answer(acme):
    state, plan = acme
    # the carrier namespace also holds a second, unlisted address: a stranger on the same path
    carrier = lab.carrier_ns(plan.center, plan.trunks[0].name)
    subprocess.run(["ip", "-n", carrier, "addr", "add", "192.0.2.250/32", "dev", "eth0"], check=True)
    core = lab.core_ns(plan.center)
    subprocess.run(["ip", "-n", core, "route", "add", "192.0.2.250/32", "dev", "c0"], check=True)
    try:
        code = (
            "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(2);s.bind(('192.0.2.250',0));"
            "p=s.getsockname()[1];"
            "m=('INVITE sip:100@10.10.0.2 SIP/2.0\\r\\nVia: SIP/2.0/UDP 192.0.2.250:%d;branch=z9hG4bKx1\\r\\nFrom: <sip:x@192.0.2.250>;tag=1\\r\\n"
            "To: <sip:100@10.10.0.2>\\r\\nCall-ID: stranger@x\\r\\nCSeq: 1 INVITE\\r\\nMax-Forwards: 70\\r\\nContent-Length: 0\\r\\n\\r\\n' % p);"
            "s.sendto(m.encode(),('10.10.0.2',5060))\n"
            "try: print(s.recv(4096).decode().split('\\r\\n')[0])\n"
            "except TimeoutError: print('no answer')"
        )
        out = subprocess.run(lab.in_ns(carrier, [sys.executable, "-c", code]), capture_output=True, text=True, timeout=10).stdout
        assert out.strip() == "no answer"  # dropped without a reply (route[ALLOWLIST]): a 403 would show a SIP server here
    finally:
        subprocess.run(["ip", "-n", core, "route", "del", "192.0.2.250/32"], check=False)
        subprocess.run(["ip", "-n", carrier, "addr", "del", "192.0.2.250/32", "dev", "eth0"], check=False)


def test_verify_suite_passes_on_the_running_lab(acme, tmp_path):
    junit = tmp_path / "verify.xml"
    result = verify_lab("acme-bank", junit, echo=False)
    assert result.ok, result.output[-3000:]
    import xml.etree.ElementTree as ET

    suite = ET.parse(junit).getroot().find("testsuite")
    assert int(suite.get("tests")) > 50 and int(suite.get("failures")) == 0


def test_verify_catches_a_file_changed_on_a_host(acme):
    state, plan = acme
    path = "/etc/kamailio/dispatcher.list"
    argv = lab.in_host(plan.center, "sh-dc1-sip2", ["sh", "-c", f"cp -p {path} /tmp/ds.keep && echo '# hand edit' >> {path}"])
    subprocess.run(argv, check=True)
    try:
        result = verify_lab("acme-bank", echo=False, extra=["-k", "manifest"])
        assert not result.ok
        assert "sh-dc1-sip2:/etc/kamailio/dispatcher.list" in result.output and "differs from the render (drift)" in result.output
    finally:
        subprocess.run(lab.in_host(plan.center, "sh-dc1-sip2", ["cp", "-p", "/tmp/ds.keep", path]), check=True)
    assert verify_lab("acme-bank", echo=False, extra=["-k", "manifest"]).ok


def _only_holder(plan, site, name, timeout=10.0):
    return lab.wait_until(f"{name} as the only VIP holder", lambda: lab.vip_holders(plan.center, plan, site) == [name], timeout, 0.02)


def test_master_lost_from_the_network_hands_the_vip_to_the_backup_and_calls_resume(acme):
    state, plan = acme
    master, backup = plan.hosts_of("sh-dc1", "sip-proxy")
    lab.set_link(plan.center, plan, master, False)
    try:
        _only_holder(plan, "sh-dc1", backup.name)  # the old master is off the network: not a holder anyone reaches
        report = place_calls(state, plan, 20, 40, audio=False)
        assert report.failed == 0 and report.succeeded == 40
    finally:
        lab.set_link(plan.center, plan, master, True)
    _only_holder(plan, "sh-dc1", master.name)  # higher priority takes it back; never two holders at the end


def test_keepalived_killed_on_the_master_moves_the_vip_and_leaves_one_holder(acme):
    state, plan = acme
    master, backup = plan.hosts_of("sh-dc1", "sip-proxy")
    killed = lab.kill_program(plan.center, master.name, "keepalived", signal.SIGKILL)
    assert killed
    _only_holder(plan, "sh-dc1", backup.name)
    time.sleep(1.0)  # stays that way: the crashed master does not keep a stale VIP
    assert lab.vip_holders(plan.center, plan, "sh-dc1") == [backup.name]
    assert place_calls(state, plan, 20, 20, audio=False).failed == 0
    lab.restart_service(state, plan, master, "keepalived")
    state.save()
    _only_holder(plan, "sh-dc1", master.name)


def test_a_killed_media_node_is_taken_out_and_only_its_live_calls_can_fail(acme):
    state, plan = acme
    media = plan.hosts_of("sh-dc1", "media")[0]
    uri = f"sip:{media.address}:5080"
    # 20 calls/s: what two FreeSWITCH nodes carry on 2 cores (about 40 ms of CPU a call in the IVR,
    # recorded); 50/s measured SIPp's stand-in, not a media node
    rate, hold_ms, calls = 20, 200, 100
    result: dict = {}
    run = threading.Thread(target=lambda: result.setdefault("r", place_calls(state, plan, rate, calls, hold_ms=hold_ms, audio=False)))
    run.start()
    time.sleep(1.5)
    (program,) = lab_programs(media, stand_in=state.media == "sipp")
    (process,) = processes(media, "lab", stand_in=state.media == "sipp")
    assert lab.kill_program(plan.center, media.name, process, signal.SIGKILL)
    took = lab.wait_until("the dispatcher to mark the dead node inactive",
                          lambda: all(lab.dispatcher_flags(plan.center, p).get(uri, "").startswith("I") for p in site_proxies(plan)), 10, 0.05)
    run.join(timeout=120)
    report = result["r"]
    # calls already up on the dead node (rate x hold x its half of the load) are the only ones that may fail
    assert report.failed <= math.ceil(rate * hold_ms / 1000), report
    assert report.attempted == calls
    assert took < 10
    lab.restart_service(state, plan, media, program)
    state.save()
    lab.wait_until("the restored node back in rotation", lambda: lab.dispatcher_flags(plan.center, "sh-dc1-sip1").get(uri) == "AP", 10, 0.05)
    assert place_calls(state, plan, 20, 20, audio=False).failed == 0


def site_proxies(plan):
    return [h.name for h in plan.hosts_of("sh-dc1", "sip-proxy")]


def test_live_compliance_passes_on_the_lab_and_catches_a_weakened_tls_listener(acme):
    state, plan = acme
    clean = trunkline("comply", ACME, "--live", "lab", "--format", "json")
    assert clean.returncode == 0, clean.stdout[-2000:]
    proxy = plan.host("sh-dc1-sip2")
    tls_cfg = "/etc/kamailio/tls.cfg"
    # TLS 1.0 needs OpenSSL's security level 0 as well on Debian 12, as a careless admin would set it
    weaken = (f"cp -p {tls_cfg} /tmp/tls.keep && sed -i -e 's/^method = TLSv1.2+/method = TLSv1+/' "
              f"-e 's/^cipher_list = .*/cipher_list = DEFAULT@SECLEVEL=0/' {tls_cfg}")
    subprocess.run(lab.in_host(plan.center, proxy.name, ["sh", "-c", weaken]), check=True)
    lab.restart_service(state, plan, proxy, "kamailio")
    try:
        lab.wait_until("Kamailio back on 5061", lambda: subprocess.run(
            lab.in_host(plan.center, proxy.name, ["sh", "-c", f"ss -ltn | grep -q '{proxy.address}:5061'"])).returncode == 0, 20, 0.2)
        weak = trunkline("comply", ACME, "--live", "lab", "--pack", "baseline", "--format", "json")
        assert weak.returncode == 1
        body = json.loads(weak.stdout)
        failed = [r for r in body["results"] if r["status"] == "fail"]
        assert [r["control"]["id"] if isinstance(r["control"], dict) else r["control"] for r in failed] == ["baseline/live-tls-1.2"]
        assert "sh-dc1-sip2" in json.dumps(failed) and "completes a TLS 1.0 handshake" in json.dumps(failed)
    finally:
        subprocess.run(lab.in_host(plan.center, proxy.name, ["cp", "-p", "/tmp/tls.keep", tls_cfg]), check=True)
        lab.restart_service(state, plan, proxy, "kamailio")
        state.save()
    lab.wait_until("Kamailio back on 5061", lambda: subprocess.run(
        lab.in_host(plan.center, proxy.name, ["sh", "-c", f"ss -ltn | grep -q '{proxy.address}:5061'"])).returncode == 0, 20, 0.2)
    assert trunkline("comply", ACME, "--live", "lab", "--pack", "baseline").returncode == 0


def test_down_removes_every_namespace_process_and_file(acme):
    state, plan = acme
    pids = [p for p in state.processes]
    result = trunkline("down", "--center", "acme-bank", "--json")
    assert result.returncode == 0
    assert namespaces("acme-bank") == []
    assert not any(lab.alive(p) for p in pids)
    assert not (lab.RUN_ROOT / "acme-bank").exists()
    assert lab.LabState.load("acme-bank") is None
    again = trunkline("down", "--center", "acme-bank", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["removed"] == []


def test_down_cleans_up_after_trunkline_is_killed_during_up(tmp_path):
    env = {**os.environ, "TRUNKLINE_STATE": str(tmp_path / "state")}
    proc = subprocess.Popen([*CLI, "up", str(SMALL)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lab.wait_until("namespaces being made", lambda: len(namespaces("small-shop")) >= 2, 60, 0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert namespaces("small-shop"), "the kill should leave a half-made lab behind"
    result = subprocess.run([*CLI, "down", "--center", "small-shop"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert namespaces("small-shop") == []
    assert not (lab.RUN_ROOT / "small-shop").exists()
    leftovers = subprocess.run(["pgrep", "-f", "tl-small-shop-"], capture_output=True, text=True).stdout.split()
    assert leftovers == []


def test_a_lab_asked_for_the_stand_in_says_it_runs_one():
    """--media sipp (the edge benchmarks): SIPp answers on the media nodes, and status says so and why."""
    up = trunkline("up", SMALL, "--media", "sipp", "--json")
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        info = json.loads(trunkline("status", "--center", "small-shop", "--json").stdout)
        assert info["media"]["server"] == "sipp" and info["media"]["version"] is None
        assert "SIPp UAS answers calls in place of FreeSWITCH" in info["media"]["stand_in"] and "asked for" in info["media"]["stand_in"]
        assert {p["name"] for h in info["hosts"] if h["role"] == "media" for p in h["processes"]} == {"sipp-uas"}
        assert "media nodes: SIPp UAS answers calls in place of FreeSWITCH" in trunkline("status", "--center", "small-shop").stdout
        state = lab.LabState.load("small-shop")
        assert place_calls(state, state.plan(), 20, 10, audio=False).failed == 0
    finally:
        trunkline("down", "--center", "small-shop")
    assert namespaces("small-shop") == []


def test_without_freeswitch_the_lab_falls_back_to_the_stand_in_and_says_why(monkeypatch, tmp_path):
    monkeypatch.setattr(freeswitch, "PREFIX", tmp_path / "none")
    monkeypatch.delenv("CI", raising=False)
    chosen, note = media_server.choose("auto")
    assert chosen == "sipp" and note.startswith(lab.STAND_IN_NOTE) and f"FreeSWITCH is not installed under {tmp_path / 'none'}" in note
    with pytest.raises(lab.LabError, match="FreeSWITCH is not installed"):
        media_server.choose("freeswitch")


def test_in_ci_a_lab_without_freeswitch_is_an_error_never_the_stand_in(tmp_path):
    env = {**os.environ, "CI": "true", "FREESWITCH_PREFIX": str(tmp_path / "none"), "TRUNKLINE_STATE": str(tmp_path / "state")}
    result = subprocess.run([*CLI, "up", str(SMALL)], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert result.returncode == 1
    assert "FreeSWITCH is not installed" in result.stderr and "in CI the lab never answers calls with the SIPp stand-in" in result.stderr
    assert namespaces("small-shop") == []
