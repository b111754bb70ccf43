"""trunkline drill without a lab: the RTO read from the load's calls, and the scenarios the lab can
and cannot run. The calls are shaped as the load's CallResults (test_live_load.result)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from trunkline.errors import UsageError
from trunkline.targets.lab.drill import NOT_IN_THE_LAB, SCENARIOS, rto, scenario_names

from shared import ROOT
from test_live_load import T0, result

FAULT = T0 + 20.0


def calls(failed_starts: set[float], rate: float = 2.0, seconds: float = 40.0):
    """Calls started `rate` a second from T0; those starting at failed_starts never get established."""
    starts = [T0 + i / rate for i in range(int(seconds * rate))]
    return [result(s, answered=s not in failed_starts, held=10.0, status=503) for s in starts]


def test_no_failed_call_after_the_fault_is_an_rto_of_zero():
    assert rto(calls(set()), 10.0, FAULT, FAULT + 20) == 0.0


def test_the_rto_runs_to_the_first_call_established_after_the_last_failure():
    failed = {FAULT + 0.0, FAULT + 0.5, FAULT + 1.0}  # the backup took over within 1.5 s
    assert rto(calls(failed), 10.0, FAULT, FAULT + 20) == 1.5


def test_a_failure_after_a_success_moves_the_rto_to_the_later_recovery():
    failed = {FAULT + 0.5, FAULT + 3.0}  # one call got through in between: not yet recovered
    assert rto(calls(failed), 10.0, FAULT, FAULT + 20) == 3.5


def test_failures_before_the_fault_or_after_the_watch_are_not_the_drills():
    failed = {T0 + 2.0, FAULT + 25.0}
    assert rto(calls(failed), 10.0, FAULT, FAULT + 20) == 0.0


def test_no_recovery_within_the_watch_is_the_whole_watch():
    failed = {FAULT + i / 2 for i in range(40)}
    assert rto(calls(failed), 10.0, FAULT, FAULT + 20) == 20.0


def test_all_runs_every_lab_scenario_and_the_others_are_refused_with_the_reason():
    assert scenario_names("all") == list(SCENARIOS)
    assert scenario_names("media-node-loss") == ["media-node-loss"]
    for name in NOT_IN_THE_LAB:
        with pytest.raises(UsageError, match="carrier edge"):
            scenario_names(name)
    with pytest.raises(UsageError, match="one of proxy-master-loss"):
        scenario_names("power-cut")


def test_a_dry_run_lists_each_scenarios_steps_and_the_hosts_they_touch_without_a_lab():
    cli = subprocess.run([sys.executable, "-m", "trunkline.cli", "drill", str(ROOT / "blueprints" / "acme-bank.yaml"),
                          "--scenario", "all", "--dry-run", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert cli.returncode == 0, cli.stderr[-2000:]
    body = json.loads(cli.stdout)
    assert body["dry_run"] is True and list(body["scenarios"]) == list(SCENARIOS)
    hit = {name: steps[1]["hosts"] for name, steps in body["scenarios"].items()}
    # the proxy keepalived starts as MASTER, the site's first media node and first relay
    assert hit == {"proxy-master-loss": ["sh-dc1-sip1"], "proxy-master-crash": ["sh-dc1-sip1"],
                   "media-node-loss": ["sh-dc1-media1"], "relay-loss": ["sh-dc1-rtp1"]}
    assert body["scenarios"]["proxy-master-loss"][2]["hosts"] == ["sh-dc1-sip2"]  # the backup is watched for the VIP
    assert all(s["step"].startswith("fault: ") for steps in body["scenarios"].values() for s in steps[1:2])
