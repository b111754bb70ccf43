"""The hardened edge as rendered (issue 11, section 5): Kamailio's guard routes, TLS, topology
hiding, rtpengine's control port and the proxies' nftables. Fast: no lab (tests/lab/test_hardened_edge.py
proves the same rules with real traffic). nftables is checked with the real nft in a scratch namespace."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid

import pytest

from trunkline.errors import TrunklineError
from trunkline.center import load as load_center
from trunkline.render import render_host, render_site
from trunkline.render.check import check_file

from shared import ROOT

ACME = ROOT / "blueprints" / "acme-bank.yaml"
NFT = shutil.which("nft") or "/usr/sbin/nft"
MTLS_B = "spec.trunks[1].tls.ca=file:/etc/trunkline/carrier-b-ca.pem"


def firewall_ruleset(plan, host) -> str:
    """The rendered /etc/nftables.conf of one host."""
    return next(f.content.decode() for f in render_host(plan, host) if f.path == "/etc/nftables.conf")


def _files(sets=(), host="sh-dc1-sip1") -> dict[str, str]:
    plan = load_center(ACME, list(sets)).plan
    return {f.path: f.content.decode() for f in render_host(plan, plan.host(host))}


@pytest.fixture(scope="module")
def cfg() -> str:
    return _files()["/etc/kamailio/kamailio.cfg"]


def _route(cfg: str, name: str) -> str:
    """The body of route[NAME] (or request_route for 'request_route'), braces balanced."""
    start = cfg.index("request_route {" if name == "request_route" else f"\nroute[{name}] {{")
    i, depth = cfg.index("{", start), 0
    for j in range(i, len(cfg)):
        depth += {"{": 1, "}": -1}.get(cfg[j], 0)
        if depth == 0:
            return cfg[i + 1 : j]
    raise AssertionError(f"route {name} is not closed")


REPLIES = ("sl_send_reply", "send_reply", "t_reply", "sl_reply_error", "t_relay", "route(REQINIT)")


def test_request_route_runs_the_guards_before_anything_can_reply(cfg):
    body = _route(cfg, "request_route")
    calls = [m.group(0) for m in re.finditer(r"route\(\w+\)|\b(?:sl_send_reply|send_reply|t_reply|sl_reply_error|t_relay)\b", body)]
    guards = ["route(CLASSIFY)", "route(SCANNERS)", "route(FLOOD)", "route(ALLOWLIST)"]
    assert calls[:4] == guards, calls
    first_reply = next(i for i, c in enumerate(calls) if c in REPLIES)  # REQINIT replies 483 to loops
    assert first_reply >= 4 and calls.index("route(SRTP)") < calls.index("route(WITHINDLG)")


def test_strangers_are_dropped_without_a_reply(cfg):
    body = _route(cfg, "ALLOWLIST")
    assert "!isflagset(FLT_FROM_TRUNK) && !isflagset(FLT_FROM_MEDIA)" in body and "exit;" in body
    assert not any(r in body for r in REPLIES) and 'sl_send_reply("403"' not in cfg


def test_scanners_route_drops_known_scanner_user_agents_without_a_reply(cfg):
    body = _route(cfg, "SCANNERS")
    pattern = re.search(r'\$\(ua\{s\.tolower\}\) =~ "([^"]+)"', body)[1]
    for ua in ("friendly-scanner", "sipvicious/0.3.4", "sipcli/v1.8", "sip-scan", "VaxSIPUserAgent/3.1", "iWar", "sundayddr"):
        assert re.search(pattern, ua.lower()), ua
    for ua in ("FreeSWITCH-mod_sofia/1.10.11", "Asterisk PBX 20.5", "carrier-sbc"):
        assert not re.search(pattern, ua.lower()), ua
    assert "exit;" in body and not any(r in body for r in REPLIES)


def test_srtp_rule_reads_the_transport_of_the_m_lines(cfg):
    body = _route(cfg, "SRTP")
    assert 'sdp_transport("$avp(rtp_transport)")' in body
    assert '$avp(rtp_transport) == "RTP/SAVP" || $avp(rtp_transport) == "RTP/SAVPF"' in body
    assert 'sl_send_reply("488"' in body
    assert "search_body" not in cfg  # a substring anywhere in the body passed plain RTP before


def test_the_edge_controls_no_recording_and_names_the_call_for_the_media_nodes_recording(cfg):
    """FreeSWITCH records (dialplan/trunkline.xml): nothing here starts, stops or pauses a recording,
    rtpengine is not asked to record, and the INVITE to a media node carries the Call-ID's MD5 (hex),
    which names the recording file, with any copy a carrier sent removed first."""
    for control in ("stop_recording(", "start_recording(", "pause_recording(", "record-call", "REC_PAUSE"):
        assert control not in cfg, control
    body = _route(cfg, "TO_MEDIA")
    removed, added = body.index('remove_hf("X-Trunkline-Call");'), body.index('append_hf("X-Trunkline-Call: $(ci{s.md5})\\r\\n");')
    assert removed < added < body.index("route(RELAY)")


def test_topology_hiding_is_on_by_default_towards_every_trunk_peer(cfg):
    plan = load_center(ACME).plan
    peers = sorted({p for t in plan.trunks if "sh-dc1" in t.sites for p in t.peers})
    assert '#!define WITH_TOPOH' in cfg and 'loadmodule "topoh.so"' in cfg
    event = cfg[cfg.index("event_route[topoh:msg-outgoing]"):]
    assert sorted(re.findall(r'\$sndto\(ip\) != "([^"]+)"', event)) == peers


def test_the_topology_hiding_key_is_the_pairs_and_survives_a_blueprint_edit():
    # a rollout changes one proxy of a pair before the other: the one on the new files must decode the
    # carrier's in-dialog requests of calls set up through its peer (a key from the blueprint's digest
    # changed with every edit, and a full rollout's calls failed while the pair's keys differed)
    def key(sets=(), host="sh-dc1-sip1"):
        return re.search(r'modparam\("topoh", "mask_key", "([0-9a-f]{64})"\)', _files(sets, host)["/etc/kamailio/kamailio.cfg"])[1]
    first = key()
    assert key(host="sh-dc1-sip2") == first
    assert key(["spec.sites[0].timezone=Asia/Tokyo", "spec.security.pike=false"]) == first
    assert key(host="bj-dc2-sip1") != first  # another site, another key


def test_topology_hiding_off_for_a_trunk_leaves_its_peers_out():
    cfg = _files(["spec.trunks[1].topology_hiding=false"])["/etc/kamailio/kamailio.cfg"]
    assert "198.51.100.20" not in cfg[cfg.index("event_route[topoh:msg-outgoing]"):]
    none = _files(["spec.trunks[0].topology_hiding=false", "spec.trunks[1].topology_hiding=false"])["/etc/kamailio/kamailio.cfg"]
    assert "#!define WITH_TOPOH" not in none


def test_a_trunk_that_declares_its_ca_gets_mutual_tls():
    files = _files([MTLS_B])
    tls = files["/etc/kamailio/tls.cfg"]
    server = tls.split("[client:default]")[0]
    assert "verify_certificate = yes" in server and "ca_list = /etc/kamailio/tls/carriers-ca.crt" in server
    # carrier-a declares no CA and shares the socket: the handshake asks, route[ALLOWLIST] requires
    assert "require_certificate = no" in server
    cfg = files["/etc/kamailio/kamailio.cfg"]
    assert '$proto != "tls" || $tls_peer_verified != 1' in _route(cfg, "ALLOWLIST")
    classify = _route(cfg, "CLASSIFY")
    b = classify[classify.index('"198.51.100.20"'):]
    assert b.index("setflag(FLT_TRUNK_MTLS)") < b.index("return;")
    a = classify[classify.index('"203.0.113.10"'):classify.index('"198.51.100.20"')]
    assert "FLT_TRUNK_MTLS" not in a


def test_a_mixed_site_asks_for_a_certificate_but_does_not_refuse_an_unverified_one():
    # carrier-a (no CA) may present its SBC's own certificate: the handshake goes on, route[ALLOWLIST] decides
    server = _files([MTLS_B])["/etc/kamailio/tls.cfg"].split("[client:default]")[0]
    assert "verify_client = optional_no_ca" in server
    every = _files([MTLS_B, "spec.trunks[0].tls.ca=file:/etc/trunkline/carrier-a-ca.pem"])["/etc/kamailio/tls.cfg"]
    assert "verify_client" not in every.split("[client:default]")[0]


def test_connections_to_carriers_verify_their_certificate_public_cas_or_the_declared_ca():
    """The center's BYE goes to the carrier's Contact on a connection the proxy opens: the carrier's
    certificate is checked, against the system's public CAs, or the CA a trunk declares for its peers."""
    tls = _files([MTLS_B])["/etc/kamailio/tls.cfg"]
    profiles = dict(re.findall(r"^\[(client:[^\]]+)\]\n((?:(?!\n\[).)*)", tls, re.M | re.S))
    default = profiles.pop("client:default")
    assert "verify_certificate = yes" in default and "require_certificate = yes" in default
    assert "ca_list = /etc/ssl/certs/ca-certificates.crt" in default
    assert "certificate = /etc/kamailio/tls/sh-dc1-sip1.crt" in default  # shown to a carrier that asks
    assert sorted(profiles) == ["client:198.51.100.20:5061"]  # carrier-b's peer, at its port
    assert "ca_list = /etc/kamailio/tls/carriers-ca.crt" in profiles["client:198.51.100.20:5061"]
    assert "verify_certificate = yes" in profiles["client:198.51.100.20:5061"]


def test_every_tls_trunk_declaring_its_ca_makes_the_handshake_require_a_certificate():
    tls = _files([MTLS_B, "spec.trunks[0].tls.ca=file:/etc/trunkline/carrier-a-ca.pem"])["/etc/kamailio/tls.cfg"]
    assert "require_certificate = yes" in tls.split("[client:default]")[0]


def test_without_a_declared_ca_no_client_certificate_is_asked(cfg):
    tls = _files()["/etc/kamailio/tls.cfg"].split("[client:default]")[0]
    assert "verify_certificate = no" in tls and "FLT_TRUNK_MTLS)" not in _route(cfg, "ALLOWLIST")


@pytest.mark.parametrize("value,expect", [("env:CARRIER_B_CA", "certificate file"), ("/etc/ca.pem", "literal secret")])
def test_a_carrier_ca_must_be_a_file_reference(value, expect):
    with pytest.raises(TrunklineError, match=expect):
        load_center(ACME, [f"spec.trunks[1].tls.ca={value}"]).plan


def test_a_carrier_ca_on_a_trunk_without_tls_is_refused():
    with pytest.raises(TrunklineError, match="carrier CA is declared but the trunk's transport is 'udp'"):
        load_center(ACME, [MTLS_B, "spec.trunks[1].transport=udp", "spec.security.srtp=optional"]).plan


@pytest.mark.parametrize("sets", [[], [MTLS_B], ["spec.trunks[0].topology_hiding=false", "spec.trunks[1].topology_hiding=false"],
                                  ["spec.security.pike=false", "spec.security.srtp=optional"]], ids=["default", "mtls", "no-topoh", "no-pike"])
def test_kamailio_accepts_each_variant_of_the_edge(sets, tmp_path):
    render_site(load_center(ACME, sets).plan, tmp_path / "out", check=False)
    checker, status, detail = check_file(tmp_path / "out" / "sh-dc1-sip1", "/etc/kamailio/kamailio.cfg")
    assert (checker, status) == ("kamailio -c", "passed"), detail


def test_rtpengine_control_port_is_bound_to_the_host_and_open_only_to_the_proxies():
    plan = load_center(ACME).plan
    rtp = plan.host("sh-dc1-rtp1")
    conf = _files(host=rtp.name)["/etc/rtpengine/rtpengine.conf"]
    listen = dict(line.split(" = ", 1) for line in conf.splitlines() if " = " in line and not line.startswith("#"))
    assert listen["listen-ng"] == f"{rtp.address}:2223" and listen["listen-cli"].startswith("127.0.0.1:")
    nft = firewall_ruleset(plan, rtp)
    proxies = sorted(h.address for h in plan.hosts_of("sh-dc1", "sip-proxy"))
    assert re.search(r"set proxies_v4 \{[^}]*elements = \{ " + ", ".join(map(re.escape, proxies)) + r" \}", nft)
    assert [line.strip() for line in nft.splitlines() if "2223" in line] == ["ip saddr @proxies_v4 udp dport 2223 accept"]


def _input_rules(nft: str) -> list[str]:
    chain = nft[nft.index("chain input"):nft.index("chain forward")]
    return [line.strip() for line in chain.splitlines()[2:] if line.strip() and not line.strip().startswith("#")]


def test_sip_proxy_firewall_bans_and_rate_limits_per_source_before_accepting_established_flows():
    plan = load_center(ACME).plan
    site = plan.site("sh-dc1")
    nft = firewall_ruleset(plan, plan.host("sh-dc1-sip1"))
    assert "set sip_banned_v4 { type ipv4_addr; flags timeout; timeout 300s;" in nft
    rules = _input_rules(nft)
    est = rules.index("ct state established,related accept")
    assert rules.index("ip saddr @sip_banned_v4 drop") < est and rules.index("ip6 saddr @sip_banned_v6 drop") < est
    limit = next(i for i, r in enumerate(rules) if "update @sip_rate_v4 { ip saddr limit rate over" in r)
    assert limit < est and f"over {site.edge_cps * 10}/second" in rules[limit]
    assert rules[limit].startswith("ip saddr != @site_v4 ")  # the media nodes answering every call are not metered


def _scratch_ns():
    name = f"tl-edge-test-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    return name


needs_root_nft = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(NFT),
                                    reason="nft in a scratch namespace needs root and nftables (make deps installs it)")


@needs_root_nft
def test_nft_accepts_the_sip_proxy_firewall(tmp_path):
    plan = load_center(ACME).plan
    path = tmp_path / "sip1.nft"
    path.write_text(firewall_ruleset(plan, plan.host("sh-dc1-sip1")))
    ns = _scratch_ns()
    try:
        result = subprocess.run(["ip", "netns", "exec", ns, NFT, "-c", "-f", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    finally:
        subprocess.run(["ip", "netns", "del", ns])


@needs_root_nft
def test_the_command_kamailio_runs_on_a_pike_hit_bans_the_source_in_the_rendered_set(tmp_path, cfg):
    """The ruleset loaded for real in a scratch namespace; Kamailio's exec_cmd line, with $si a flooding
    source, adds it to sip_banned with the set's timeout."""
    plan = load_center(ACME).plan
    path = tmp_path / "sip1.nft"
    path.write_text(firewall_ruleset(plan, plan.host("sh-dc1-sip1")))
    command = re.search(r'exec_cmd\("(/usr/sbin/nft add element inet trunkline sip_banned_v4 [^"]+)"\)', _route(cfg, "FLOOD"))[1]
    ns = _scratch_ns()
    try:
        subprocess.run(["ip", "netns", "exec", ns, NFT, "-f", str(path)], check=True, capture_output=True)
        subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", command.replace("$si", "192.0.2.66").replace("/usr/sbin/nft", NFT)], check=True)
        listed = subprocess.run(["ip", "netns", "exec", ns, NFT, "list", "set", "inet", "trunkline", "sip_banned_v4"],
                                capture_output=True, text=True, check=True).stdout
        assert re.search(r"elements = \{ 192\.0\.2\.66 expires \d+m?\d*s", listed), listed
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def test_kamailio_may_run_nft_and_nothing_more_when_pike_is_on():
    unit = _files()["/etc/systemd/system/kamailio.service.d/trunkline.conf"]
    assert "AmbientCapabilities=CAP_NET_ADMIN" in unit and "CapabilityBoundingSet=CAP_NET_ADMIN" in unit and "NoNewPrivileges=yes" in unit
    off = _files(["spec.security.pike=false"])["/etc/systemd/system/kamailio.service.d/trunkline.conf"]
    assert "Capabilit" not in off


def test_a_drained_or_slow_relay_still_finishes_the_calls_it_holds(cfg):
    # a rollout takes a relay out with `rtpengine.enable URL 0`; without allow_op the answer and the
    # delete of its calls went to the other relay, which does not know them: a call set up across the
    # drain failed (503), and the drained relay kept its sessions until rtpengine's own timeout
    start = cfg.index('modparam("rtpengine", "rtpengine_sock"')
    relay = cfg[cfg.rindex("#!ifdef WITH_MEDIA_RELAY", 0, start):]
    assert 'modparam("rtpengine", "rtpengine_allow_op", 1)' in relay[:relay.index("#!endif")]
