"""Every example center comes up in the lab and carries calls through each site's VIP.

`kamailio -c` only parses; this starts the real programs on every example's rendered files
(FreeSWITCH on the media nodes where it is installed), which is what catches a module parameter or
a fixup that only fails at start-up, and what FreeSWITCH logs only when calls arrive.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from trunkline.targets import lab
from trunkline.targets.calls import place_calls
from trunkline.targets.lab import media as media_server

from shared import EXAMPLES, ROOT

CLI = [sys.executable, "-m", "trunkline.cli"]
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (CI and make test run as root)")


@pytest.mark.parametrize("path", [p for p in EXAMPLES if p.stem != "acme-bank"], ids=lambda p: p.stem)
def test_example_comes_up_and_every_trunk_carries_calls(path):
    up = subprocess.run([*CLI, "up", str(path), "--json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    from trunkline.center import load as load_center

    center = load_center(path).plan.center
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        state = lab.LabState.load(center)
        plan = state.plan()
        for trunk in plan.trunks:
            report = place_calls(state, plan, 20, 20, trunk=trunk.name, audio=False)
            assert (report.succeeded, report.failed) == (20, 0), (trunk.name, report.failures)
        for site in plan.sites:
            if site.ha == "pair":
                assert lab.vip_holders(center, plan, site.name) == [site.proxies[0]]
        if state.media == "freeswitch":
            for node in [h for h in plan.hosts if h.role == "media"]:
                assert media_server.complaints(state, node) == [], node.name
    finally:
        subprocess.run([*CLI, "down", "--center", center], capture_output=True, cwd=ROOT, timeout=300)
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"tl-{center}-" not in listing


def test_a_signalling_only_edge_carries_calls_with_no_relay_started():
    """media_relay: none: the site's proxies pass the SDP through and no rtpengine runs there."""
    path = ROOT / "blueprints" / "acme-bank.yaml"
    sets = ["spec.recording.mode=none", "spec.sites[0].sip_proxy.media_relay=none"]
    up = subprocess.run([*CLI, "up", str(path), "--json", *(a for s in sets for a in ("--set", s))],
                        capture_output=True, text=True, cwd=ROOT, timeout=300)
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        state = lab.LabState.load("acme-bank")
        plan = state.plan()
        site = plan.sites[0]
        assert site.rtpengines == [] and plan.sites[1].rtpengines  # the other site keeps its relays
        assert not [p for p in state.processes if p.name == "rtpengine" and plan.host(p.host).site == site.name]
        report = place_calls(state, plan, 50, 100, audio=False)
        assert (report.succeeded, report.failed) == (100, 0), report.failures
        cfg = (state.render_dir() / site.proxies[0] / "etc/kamailio/kamailio.cfg").read_text()
        assert "#!define WITH_MEDIA_RELAY" not in cfg
    finally:
        subprocess.run([*CLI, "down", "--center", "acme-bank"], capture_output=True, cwd=ROOT, timeout=300)
