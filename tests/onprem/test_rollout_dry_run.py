"""`trunkline rollout --target onprem --dry-run` against the Debian roots an apply made: the hosts whose
files differ from what the blueprint renders now, in the order a rollout takes them, with their
files; nothing on the hosts changes. A live on-prem rollout is refused (not in this version)."""

from __future__ import annotations

import json

import pytest

from onprem_support import BLUEPRINT, HOSTS, cli, sets_args

pytestmark = pytest.mark.chroot

TOKYO = ["--set", "spec.sites[0].timezone=Asia/Tokyo"]  # sh-dc1 moves: its media node, relay and proxy change


def rollout_cli(applied, workdir, *extra: str):
    return cli("rollout", BLUEPRINT, *sets_args(), *extra, "--target", "onprem", "--chroot", applied.roots,
               "--limit", ",".join(HOSTS), "--inventory", workdir / "inventory")


def test_nothing_to_change_right_after_an_apply(pyinfra_applied, workdir):
    result = rollout_cli(pyinfra_applied, workdir, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert run["outcome"] == "dry run" and run["hosts"] == []


def test_the_dry_run_orders_the_hosts_a_change_touches_and_changes_nothing(pyinfra_applied, workdir):
    result = rollout_cli(pyinfra_applied, workdir, *TOKYO, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    order = [(h["host"], h["role"], h["canary"], h["vip"]) for h in run["hosts"]]
    assert order[0] == ("sh-dc1-media1", "media", True, "")
    assert ("sh-dc1-rtp1", "rtpengine", False, "") in order
    assert order[-1] == ("sh-dc1-sip1", "sip-proxy", False, "master")  # the pair's first proxy, its peer unread
    media = next(h for h in run["hosts"] if h["host"] == "sh-dc1-media1")
    assert {"path": "/etc/freeswitch/dialplan/trunkline.xml", "what": "content"}.items() <= \
        next(f for f in media["files"] if f["path"] == "/etc/freeswitch/dialplan/trunkline.xml").items()
    # the roots still hold what the apply wrote: drift against the blueprint as applied finds nothing
    drift = cli("drift", BLUEPRINT, *sets_args(), "--target", "onprem", "--chroot", pyinfra_applied.roots,
                "--limit", ",".join(HOSTS), "--json")
    assert drift.exit_code == 0 and json.loads(drift.stdout)["drift"] == [], drift.output


def test_a_live_onprem_rollout_is_refused_and_says_why(pyinfra_applied, workdir):
    result = rollout_cli(pyinfra_applied, workdir, *TOKYO)
    assert result.exit_code == 2
    assert "only --dry-run" in result.output and "deployed manifest" in result.output
