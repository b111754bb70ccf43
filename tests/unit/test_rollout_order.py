"""What a rollout changes and in which order (targets/rollout.py), on acme-bank's plan and its render
manifest: only hosts whose files differ, media nodes first (each site's canary share first), then
relays, then each proxy pair with the BACKUP before the master."""

from __future__ import annotations

import copy
import json

import pytest

from trunkline.center import load as load_center
from trunkline.errors import UsageError
from trunkline.plan.topology import Destination, DispatcherSet
from trunkline.targets.rollout import canary_weights, file_changes, order, parse_canary, parse_share

from shared import ROOT


@pytest.fixture(scope="module")
def acme(tmp_path_factory):
    center = load_center(ROOT / "blueprints" / "acme-bank.yaml")
    out = tmp_path_factory.mktemp("render") / "acme"
    center.render(out, check=False)
    return center.plan, json.loads((out / "manifest.json").read_text())


def changed(manifest: dict, hosts: set[str], path_part: str = "") -> dict:
    new = copy.deepcopy(manifest)
    for e in new["files"]:
        if e["host"] in hosts and path_part in e["path"]:
            e["sha256"] = "f" * 64
    return new


def test_nothing_differs_nothing_changes(acme):
    plan, manifest = acme
    assert file_changes(manifest, copy.deepcopy(manifest)) == {}
    assert order(plan, {}, 20) == []


def test_only_the_files_that_differ_are_named(acme):
    plan, manifest = acme
    new = changed(manifest, {"sh-dc1-media1"}, "callcenter")
    new["files"].append({**new["files"][0], "host": "sh-dc1-media1", "path": "/etc/freeswitch/new.xml"})
    gone = next(e for e in new["files"] if e["host"] == "sh-dc1-rtp1")
    new["files"].remove(gone)
    mode = next(e for e in new["files"] if e["host"] == "sh-dc1-sip2")
    mode["mode"] = "0600" if mode["mode"] != "0600" else "0640"
    diff = file_changes(manifest, new)
    assert set(diff) == {"sh-dc1-media1", "sh-dc1-rtp1", "sh-dc1-sip2"}
    assert {c.what for c in diff["sh-dc1-media1"]} == {"content", "added"}
    assert all("callcenter" in c.path for c in diff["sh-dc1-media1"] if c.what == "content")
    assert [(c.path, c.what) for c in diff["sh-dc1-rtp1"]] == [(gone["path"], "removed")]
    assert [c.what for c in diff["sh-dc1-sip2"]] == ["mode"]


def test_media_nodes_go_first_canary_first_then_relays_then_backup_then_master(acme):
    plan, manifest = acme
    everything = {h.name for h in plan.hosts if h.site == "sh-dc1"}
    steps = order(plan, file_changes(manifest, changed(manifest, everything)), 20,
                  vip_holders={"sh-dc1": ["sh-dc1-sip1"], "bj-dc2": ["bj-dc2-sip1"]})
    roles = [c.role for c in steps]
    assert roles == sorted(roles, key=["media", "rtpengine", "recording", "sip-proxy"].index)
    media = [c for c in steps if c.role == "media"]
    assert [c.canary for c in media] == [True, False]  # 20 % of 2 nodes: one canary
    proxies = [c for c in steps if c.role == "sip-proxy"]
    assert [(c.host, c.vip) for c in proxies] == [("sh-dc1-sip2", "backup"), ("sh-dc1-sip1", "master")]
    assert proxies[1].steps[0] == "hand the VIP to the peer"
    assert media[0].steps[:3] == ["drain", "wait for calls to end", "place"]


def test_the_vip_holder_decides_which_proxy_is_the_master(acme):
    plan, manifest = acme
    proxies = {"sh-dc1-sip1", "sh-dc1-sip2"}
    steps = order(plan, file_changes(manifest, changed(manifest, proxies)), 20, vip_holders={"sh-dc1": ["sh-dc1-sip2"]})
    assert [(c.host, c.vip) for c in steps] == [("sh-dc1-sip1", "backup"), ("sh-dc1-sip2", "master")]


def test_a_full_canary_share_makes_every_changed_node_a_canary(acme):
    plan, manifest = acme
    nodes = {h.name for h in plan.hosts if h.role == "media"}
    steps = order(plan, file_changes(manifest, changed(manifest, nodes)), 100)
    assert all(c.canary for c in steps) and len(steps) == len(nodes)


def test_hosts_the_blueprint_no_longer_has_are_refused(acme):
    plan, manifest = acme
    old = copy.deepcopy(manifest)
    old["files"].append({**manifest["files"][0], "host": "sh-dc1-media9"})
    with pytest.raises(UsageError, match="sh-dc1-media9"):
        order(plan, file_changes(old, manifest), 20)


@pytest.mark.parametrize("text, value", [("20%", 20), ("20", 20), (" 5 % ", 5), ("100%", 100), (None, 35)])
def test_canary_share(text, value):
    assert parse_canary(text, 35) == value


@pytest.mark.parametrize("text", ["0%", "101%", "a lot", "-5%"])
def test_canary_share_refused(text):
    with pytest.raises(UsageError, match="--canary"):
        parse_canary(text, 20)


def test_max_failed_share():
    assert parse_share("0.1%", "--max-failed") == pytest.approx(0.001)
    with pytest.raises(UsageError):
        parse_share("0.1", "--max-failed")


ACME = ROOT / "blueprints" / "acme-bank.yaml"


@pytest.mark.parametrize("args, words", [
    (["--target", "nowhere"], "--target nowhere: use lab or onprem"),
    (["--canary", "0%"], "--canary 0%"),
    (["--max-failed", "lots"], "--max-failed lots"),
    (["--soak", "soon"], "--soak soon"),
    (["--set", "spec.upgrades.strategy=manual", "--dry-run"], "upgrades.strategy is manual, which forbids automated rollouts"),
])
def test_the_command_refuses_bad_input_before_touching_anything(args, words):
    from typer.testing import CliRunner

    from trunkline.cli import app

    result = CliRunner().invoke(app, ["rollout", str(ACME), *args])
    assert result.exit_code == 2, result.output
    assert words in result.output


def _set(*weights: int) -> DispatcherSet:
    return DispatcherSet(id=1, site="dc", purpose="local", destinations=[
        Destination(host=f"m{i}", uri=f"sip:10.0.0.{i}:5080", weight=w, priority=0) for i, w in enumerate(weights, 1)])


@pytest.mark.parametrize("weights, percent, canary, others", [
    ((50, 50), 20, 20, {"m2": 80}),  # the grey release: a fifth of the calls to the changed node
    ((33, 33, 33), 20, 20, {"m2": 40, "m3": 40}),
    ((50, 50), 100, 50, {"m2": 50}),  # never more than its rendered weight gives it
    ((20, 20, 20, 20, 20), 20, 20, {"m2": 20, "m3": 20, "m4": 20, "m5": 20}),
    ((33, 33, 33), 0.5, 1, {"m2": 50, "m3": 49}),  # at least 1: Kamailio drops a destination weighted 0
    ((14,) * 7, 10, 10, {f"m{i}": 15 for i in range(2, 7)} | {"m7": 15}),
])
def test_canary_weights_give_the_canary_its_share_and_sum_to_100(weights, percent, canary, others):
    got = canary_weights(_set(*weights), "m1", percent)
    assert got["m1"] == canary and sum(got.values()) == 100 and all(1 <= w <= 100 for w in got.values())
    assert {h: w for h, w in got.items() if h != "m1"} == others


def test_a_set_of_one_keeps_its_weight():
    assert canary_weights(_set(100), "m1", 20) == {"m1": 100}
