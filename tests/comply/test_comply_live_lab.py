"""Live edge controls against the real lab: Kamailio, rtpengine and SIPp in network namespaces.

One lab of tests/blueprint/base.yaml with SRTP required, for the module (root needed; run it under
the lab lock: flock /tmp/trunkline-lab.lock). The probes go from the lab's carrier namespace (a trunk
peer's address) and its stranger namespace (an address no trunk lists) to the proxies: traffic
stays inside the namespaces made here.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest

from comply_cases import BASE, ROOT
from trunkline.comply.evaluate import comply

CLI = [sys.executable, "-m", "trunkline.cli"]
LIVE = ["baseline/live-tls-1.2", "baseline/live-strangers-unanswered", "baseline/live-flood-banned", "pci-dss-4/live-plain-rtp-refused"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (CI and make test run as root)")


def trunkline(*args, timeout=240):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


LOCK = "/tmp/trunkline-lab.lock"


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        with open(f"/proc/{pid}/stat") as fh:
            pid = int(fh.read().rsplit(")", 1)[1].split()[1])
    return pids


@contextmanager
def lab_lock(timeout: float = 1800):
    """The lab lock: taken here, unless a process this test runs under (flock LOCK pytest ...) holds it."""
    with open(LOCK, "a") as fh:
        inode = os.fstat(fh.fileno()).st_ino
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                with open("/proc/locks") as locks:
                    holders = {int(f[4]) for f in (line.split() for line in locks) if len(f) > 5 and f[1] != "->" and f[5].endswith(f":{inode}")}
                if holders & _ancestors():
                    break  # already ours
                if time.monotonic() > deadline:
                    pytest.fail(f"the lab lock {LOCK} is still held by {sorted(holders)} after {timeout:.0f} s")
                time.sleep(2)
        yield


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """small-shop with SRTP required, up in the lab for the module (under the lab lock); always taken down."""
    path = tmp_path_factory.mktemp("live") / "center.yaml"
    path.write_text(BASE.read_text() + "  security: {srtp: required}\n")
    with lab_lock():
        yield from _up(path)


def _up(path):
    result = trunkline("up", path, "--json")
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        from trunkline.targets import lab

        state = lab.LabState.load("small-shop")
        yield path, state, state.plan()
    finally:
        trunkline("down", "--center", "small-shop")


def _statuses(path):
    report = comply(path, pack_ids=["pci-dss-4"], live="lab")
    return report, {c: report.result(c) for c in LIVE}


def test_the_running_edge_passes_the_live_edge_controls(shop):
    path, _, _ = shop
    report, results = _statuses(path)
    bad = {c: (r.status, [f"{f.place}: {f.message}" for f in r.failures], r.reason) for c, r in results.items() if r.status != "pass"}
    assert not bad, bad


def test_the_live_firewall_is_skipped_in_the_lab_which_loads_no_ruleset(shop):
    path, _, _ = shop
    result = comply(path, pack_ids=["pci-dss-4"], live="lab").result("baseline/live-firewall")
    assert result.status == "skip" and "do not load their rendered nftables ruleset" in result.reason, (result.status, result.reason)


def test_a_proxy_that_answers_strangers_fails_the_live_control_naming_it(shop):
    from trunkline.targets import lab

    path, state, plan = shop
    proxy = plan.host("fra1-sip2")
    cfg = "/etc/kamailio/kamailio.cfg"
    # the allow-list still logs the stranger, then answers it instead of staying silent
    weaken = (f"cp -p {cfg} /tmp/kamailio.cfg.keep && sed -i "
              "'s/^\\(\\t*xlog(\"L_NOTICE\", \"dropped $rm from $si:$sp: not a trunk peer.*\\)$/\\1 sl_send_reply(\"403\", \"Forbidden\");/' " + cfg)
    subprocess.run(lab.in_host(plan.center, proxy.name, ["sh", "-c", weaken]), check=True)
    lab.restart_service(state, plan, proxy, "kamailio")
    state.save()
    try:
        _wait_for_udp(lab, plan, proxy)
        report = comply(path, pack_ids=["pci-dss-4"], live="lab")
        result = report.result("baseline/live-strangers-unanswered")
        assert result.status == "fail"
        assert {f.place.host for f in result.failures} == {"fra1-sip2"}
        assert any("a stranger's INVITE from 192.0.2.66" in f.message and "SIP/2.0 403" in f.message for f in result.failures)
    finally:
        subprocess.run(lab.in_host(plan.center, proxy.name, ["cp", "-p", "/tmp/kamailio.cfg.keep", cfg]), check=True)
        lab.restart_service(state, plan, proxy, "kamailio")
        state.save()
        _wait_for_udp(lab, plan, proxy)
    assert _statuses(path)[1]["baseline/live-strangers-unanswered"].status == "pass"


def _wait_for_udp(lab, plan, proxy):
    carrier = lab.carrier_ns(plan.center, plan.trunks[0].name)
    lab.wait_until(f"Kamailio on {proxy.name} answering OPTIONS",
                   lambda: (lab.sip_options(plan.center, carrier, plan.trunks[0].peers[0], proxy.address) or "").startswith("SIP/2.0 200"), 20, 0.3)
