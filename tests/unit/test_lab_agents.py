"""The lab agents' log-in and first ring, against a stand-in for FreeSWITCH's API (fs_cli -x):
what the lab does when mod_callcenter's +OK did not take, or when ringing an agent fails."""

import pytest

from trunkline.targets.lab import agents
from trunkline.targets.lab.state import LabError


class FakeApi:
    """callcenter_config agent set/get over a dict, where the first `lost` sets are answered +OK but not
    kept (mod_callcenter's cc_execute_sql ignores a failed write); originate answers from `rings`."""

    def __init__(self, lost: int = 0, rings=()):
        self.values: dict[tuple[str, str], str] = {}
        self.lost, self.rings, self.calls = lost, list(rings), []

    def __call__(self, cmd: str) -> str:
        self.calls.append(cmd)
        words = cmd.split()
        if words[:3] == ["callcenter_config", "agent", "set"]:
            if self.lost:
                self.lost -= 1
            else:
                self.values[(words[3], words[4])] = words[5]
            return "+OK\n"
        if words[:3] == ["callcenter_config", "agent", "get"]:
            return self.values.get((words[3], words[4]), "Logged Out") + "\n"
        if words[0] == "originate":
            return self.rings.pop(0) + "\n"
        return "+OK\n"


def test_log_in_sets_again_what_mod_callcenter_did_not_keep(monkeypatch):
    monkeypatch.setattr(agents.time, "sleep", lambda s: None)
    api = FakeApi(lost=1)
    agents.log_in(api, ["sales-0001", "sales-0002"])
    assert api.values == {("status", "sales-0001"): "Available", ("state", "sales-0001"): "Waiting",
                          ("status", "sales-0002"): "Available", ("state", "sales-0002"): "Waiting"}
    assert api.calls.count("callcenter_config agent set status sales-0001 Available") == 2


def test_log_in_gives_up_with_what_the_node_holds(monkeypatch):
    monkeypatch.setattr(agents.time, "sleep", lambda s: None)
    with pytest.raises(LabError, match="sales-0001: status is 'Logged Out' after 3 times setting Available"):
        agents.log_in(FakeApi(lost=99), ["sales-0001"])


def test_ring_once_counts_the_tries_and_hangs_up_the_answered_call(monkeypatch):
    monkeypatch.setattr(agents.time, "sleep", lambda s: None)
    api = FakeApi(rings=["-ERR NORMAL_TEMPORARY_FAILURE", "+OK 1b4e28ba-2fa1-11d2-883f-0016d3cca427"])
    assert agents.ring_once(api, "sales-0001", "acme-bank") == 2
    assert api.calls[0].endswith("user/sales-0001@acme-bank &park")
    assert api.calls[-1] == "uuid_kill 1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def test_ring_once_fails_the_lab_with_freeswitch_answers(monkeypatch):
    monkeypatch.setattr(agents.time, "sleep", lambda s: None)
    api = FakeApi(rings=["-ERR USER_NOT_REGISTERED"] * 3)
    with pytest.raises(LabError, match="failed 3 times: .*USER_NOT_REGISTERED"):
        agents.ring_once(api, "sales-0001", "acme-bank")
    assert not any(c.startswith("uuid_kill") for c in api.calls)
