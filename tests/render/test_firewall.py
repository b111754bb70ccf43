"""The firewall (/etc/nftables.conf) as render/ makes it from templates/common/etc/nftables.conf.j2:
what each role opens, to whom, and that the real nft accepts it (render/check.py runs `nft -c`)."""

from __future__ import annotations

import os
import shutil

import pytest

from shared import ROOT
from trunkline.center import load as load_center
from trunkline.render import render_host
from trunkline.render.check import check_file

BLUEPRINT = ROOT / "blueprints" / "acme-bank.yaml"
FIREWALL = "/etc/nftables.conf"
NFT = shutil.which("nft") or "/usr/sbin/nft"


def firewall(plan, host: str) -> str:
    return next(f.content.decode() for f in render_host(plan, plan.host(host)) if f.path == FIREWALL)


@pytest.fixture(scope="module")
def plan():
    return load_center(BLUEPRINT).plan


def test_every_onprem_host_gets_a_firewall_in_the_render_manifest(plan):
    for h in plan.hosts:
        files = {f.path: f for f in render_host(plan, h)}
        onprem = plan.site(h.site).kind == "onprem"
        assert (FIREWALL in files) == onprem, h.name
        if onprem:
            f = files[FIREWALL]
            assert (f.template, f.mode, f.owner, f.group) == ("common/etc/nftables.conf.j2", "0755", "root", "root")
            assert files["/etc/timezone"].content.decode() == plan.site(h.site).timezone + "\n"


def test_the_firewall_starts_with_the_managed_by_header(plan):
    lines = firewall(plan, "sh-dc1-sip1").splitlines()
    assert lines[0] == "#!/usr/sbin/nft -f"
    assert lines[1].startswith("# managed by trunkline from blueprint") and "common/etc/nftables.conf.j2" in lines[1]


def test_sip_tls_is_open_only_to_the_trunk_peers_and_the_site(plan):
    rules = firewall(plan, "sh-dc1-sip1")
    assert "set trunk_peers_v4 { type ipv4_addr; flags interval; elements = { 198.51.100.20, 203.0.113.10, 203.0.113.11 }; }" in rules
    assert "ip saddr @trunk_peers_v4 tcp dport { 5061 } accept" in rules
    assert "ip saddr @site_v4 meta l4proto { tcp, udp } th dport { 5060, 5061 } accept" in rules
    assert "policy drop;" in rules and "dport 5061 accept" not in rules.replace("{ 5061 }", "")


def test_ssh_is_open_only_to_the_admin_cidrs(plan):
    rules = firewall(plan, "sh-dc1-media1")
    assert "set admin_v4 { type ipv4_addr; flags interval; elements = { 10.0.0.0/8 }; }" in rules
    assert [line.strip() for line in rules.splitlines() if "dport 22" in line] == ["ip saddr @admin_v4 tcp dport 22 accept"]


def test_ssh_opens_the_port_of_the_sites_ssh_settings():
    plan = load_center(BLUEPRINT, ["spec.sites[0].ssh.port=2222"]).plan
    assert [line.strip() for line in firewall(plan, "sh-dc1-media1").splitlines() if "tcp dport 2222" in line] == \
        ["ip saddr @admin_v4 tcp dport 2222 accept"]
    assert "tcp dport 22 accept" in firewall(plan, "bj-dc2-media1")  # the other site keeps the default


def test_without_admin_cidrs_ssh_is_closed():
    plan = load_center(BLUEPRINT, ["spec.security.admin_cidrs=[]"]).plan
    rules = firewall(plan, "sh-dc1-media1")
    assert "admin_v4" not in rules and "SSH is closed" in rules


def test_an_ipv6_admin_network_gets_a_set_and_a_rule_of_its_own():
    plan = load_center(BLUEPRINT, ["spec.security.admin_cidrs=[10.0.0.0/8, '2001:db8::/32']"]).plan
    rules = firewall(plan, "sh-dc1-rtp1")
    assert "set admin_v6 { type ipv6_addr; flags interval; elements = { 2001:db8::/32 }; }" in rules
    assert "ip6 saddr @admin_v6 tcp dport 22 accept" in rules


def test_the_rtp_range_is_open_on_rtpengine_and_the_control_port_only_to_the_proxies(plan):
    rules = firewall(plan, "sh-dc1-rtp1")
    assert "udp dport 30000-40000 accept" in rules
    assert "set proxies_v4 { type ipv4_addr; flags interval; elements = { 10.10.0.10, 10.10.0.11 }; }" in rules
    assert "ip saddr @proxies_v4 udp dport 2223 accept" in rules


def test_the_proxy_pair_lets_its_peers_vrrp_in(plan):
    assert 'ip saddr 10.10.0.11 ip protocol 112 accept comment "VRRP"' in firewall(plan, "sh-dc1-sip1")


def test_the_firewall_leaves_other_tables_alone(plan):
    rules = firewall(plan, "sh-dc1-sip1")
    assert "flush ruleset" not in rules and "delete table inet trunkline\ntable inet trunkline {" in rules


def test_without_a_media_relay_the_media_nodes_take_rtp_from_the_carriers():
    plan = load_center(BLUEPRINT, ["spec.recording.mode=none", "spec.sites[0].sip_proxy.media_relay=none"]).plan
    rules = firewall(plan, "sh-dc1-media1")
    assert "ip saddr @trunk_peers_v4 udp dport 16384-32768 accept" in rules
    # the other site keeps its relay: its media nodes take RTP from the site only
    assert "@trunk_peers" not in firewall(plan, "bj-dc2-media1")


def test_the_recording_store_serves_nfs_only_to_the_sites_media_nodes():
    """FreeSWITCH on the media nodes writes the recordings; the relays record nothing."""
    plan = load_center(ROOT / "blueprints" / "clinic.yaml").plan
    rec = plan.hosts_of(plan.sites[0].name, "recording")[0]
    rules = firewall(plan, rec.name)
    writers = ", ".join(h.address for h in plan.hosts_of(rec.site, "media"))
    assert f"set writers_v4 {{ type ipv4_addr; flags interval; elements = {{ {writers} }}; }}" in rules
    assert "ip saddr @writers_v4 meta l4proto { tcp, udp } th dport { 111, 2049, 20048 } accept" in rules


needs_nft = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(NFT), reason="nft -c needs root and nftables (make deps installs it)")


@needs_nft
@pytest.mark.parametrize("host", ["sh-dc1-sip1", "sh-dc1-rtp1", "sh-dc1-media1", "bj-dc2-sip1"])
def test_the_render_check_runs_nft_on_the_firewall(plan, host, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "nftables.conf").write_text(firewall(plan, host))
    assert check_file(tmp_path, FIREWALL) == ("nft -c", "passed", "")


@needs_nft
def test_the_render_check_rejects_a_broken_firewall(plan, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "nftables.conf").write_text(firewall(plan, "sh-dc1-sip1").replace("policy drop;", "policy dorp;", 1))
    checker, status, detail = check_file(tmp_path, FIREWALL)
    assert (checker, status) == ("nft -c", "failed") and "dorp" in detail


def test_the_settings_files_sh_sources_are_checked_by_sh(tmp_path):
    """/etc/default/trunkline-retention (sourced by the retention job) was made outside render/ before;
    now render's check runs sh -n on it."""
    plan = load_center(ROOT / "blueprints" / "clinic.yaml").plan
    rec = plan.hosts_of(plan.sites[0].name, "recording")[0]
    text = next(f.content.decode() for f in render_host(plan, rec) if f.path == "/etc/default/trunkline-retention")
    (tmp_path / "etc" / "default").mkdir(parents=True)
    (tmp_path / "etc" / "default" / "trunkline-retention").write_text(text)
    assert check_file(tmp_path, "/etc/default/trunkline-retention") == ("sh -n", "passed", "")
    (tmp_path / "etc" / "default" / "trunkline-retention").write_text(text.replace("TRUNKLINE_RETENTION_DIR=", "TRUNKLINE_RETENTION_DIR='"))
    assert check_file(tmp_path, "/etc/default/trunkline-retention")[:2] == ("sh -n", "failed")
