"""baseline/live-firewall against the real nft: each role's rendered ruleset loaded into a scratch network
namespace (never this machine's own), listed by nft and read back by the check; a rule added by hand or a
table never loaded fails; the lab, which loads no ruleset, is not evaluated."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from comply_cases import ROOT
from trunkline.center import load as load_center
from trunkline.comply.findings import NotApplicable
from trunkline.comply.hosts import NFT_LIST, firewall_loaded

NFT = shutil.which("nft") or "/usr/sbin/nft"
ACME = ROOT / "blueprints" / "acme-bank.yaml"
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(NFT),
                                reason="a scratch namespace and nft need root and nftables (make deps installs it)")


@dataclass
class Ran:
    rc: int
    stdout: str
    stderr: str


class InNamespace:
    """The one thing firewall_loaded asks of a testinfra host (run), done inside a scratch namespace."""

    def __init__(self, ns: str):
        self.ns = ns

    def run(self, command: str) -> Ran:
        p = subprocess.run(["ip", "netns", "exec", self.ns, "sh", "-c", command.replace("nft ", f"{NFT} ", 1)],
                           capture_output=True, text=True, timeout=30)
        return Ran(p.returncode, p.stdout, p.stderr)


@contextmanager
def scratch_namespace():
    ns = f"tl-fw-test-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        yield InNamespace(ns)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)


@pytest.fixture(scope="module")
def center():
    return load_center(ACME)


def _load(host: InNamespace, center, name: str, tmp_path) -> None:
    path = tmp_path / f"{name}.nft"
    path.write_bytes(next(f.content for f in center.files if f.host == name and f.path == "/etc/nftables.conf"))
    assert host.run(f"nft -f {path}").rc == 0


@pytest.mark.parametrize("name", ["sh-dc1-sip1", "sh-dc1-rtp1", "sh-dc1-media1", "bj-dc2-sip2"])
def test_the_loaded_rendered_table_passes(center, name, tmp_path):
    with scratch_namespace() as host:
        _load(host, center, name, tmp_path)
        assert firewall_loaded(host, center.plan.host(name), center.plan) == []


def test_a_rule_added_by_hand_that_opens_sip_to_anyone_fails(center, tmp_path):
    with scratch_namespace() as host:
        _load(host, center, "sh-dc1-sip1", tmp_path)
        assert host.run("nft insert rule inet trunkline input udp dport 5060 accept").rc == 0
        found = firewall_loaded(host, center.plan.host("sh-dc1-sip1"), center.plan)
        assert any("a stranger (192.0.2.250) reaches udp/5060" in f.message and f.place.command == NFT_LIST for f in found), found


def test_a_host_that_never_loaded_the_table_fails(center):
    with scratch_namespace() as host:
        found = firewall_loaded(host, center.plan.host("sh-dc1-media1"), center.plan)
        assert [f.message.split(":")[0] for f in found] == ["no table inet trunkline is loaded"]


def test_the_lab_which_loads_no_ruleset_is_not_evaluated(center):
    result = firewall_loaded(None, center.plan.host("sh-dc1-sip1"), center.plan, target="lab")
    assert isinstance(result, NotApplicable) and "do not load" in result.reason
