"""The canary weight of a lab rollout (targets/lab/rollout.py), against a stand-in for Kamailio's
dispatcher RPC: the canary goes back at its share of the calls, the others share the rest, and
dispatcher.reload gives every node its rendered weight again; a proxy that does not take the
weights leaves the rendered ones in place."""

from __future__ import annotations

import pytest

from trunkline.center import load as load_center
from trunkline.targets.lab import rollout as lab_rollout
from trunkline.targets.rollout import HostChange, RolloutRun

from shared import ROOT


class FakeDispatcher:
    """Each proxy's in-memory dispatcher: set -> {uri: attrs}; reload brings back the rendered list."""

    def __init__(self, plan, honour_add: bool = True):
        self.rendered = {s.id: {d.uri: f"weight={d.weight};duid={d.host}" for d in s.destinations} for s in plan.dispatcher_sets}
        self.held: dict[str, dict] = {}
        self.honour_add, self.calls = honour_add, []

    def of(self, proxy: str) -> dict:
        return self.held.setdefault(proxy, {k: dict(v) for k, v in self.rendered.items()})

    def kamcmd(self, proxy, *args: str) -> str:
        self.calls.append((proxy.name, *args))
        sets = self.of(proxy.name)
        if args[0] == "dispatcher.remove":
            sets[int(args[1])].pop(args[2], None)
        elif args[0] == "dispatcher.add":
            sets[int(args[1])][args[2]] = args[5] if self.honour_add else self.rendered[int(args[1])][args[2]]
        elif args[0] == "dispatcher.reload":
            self.held[proxy.name] = {k: dict(v) for k, v in self.rendered.items()}
        return ""

    def listing(self, center: str, proxy: str) -> list[dict]:
        return [{"set": s, "uri": uri, "flags": "AP", "attrs": dict(kv.split("=") for kv in attrs.split(";"))}
                for s, dests in self.of(proxy).items() for uri, attrs in dests.items()]


@pytest.fixture()
def rollout(monkeypatch):
    plan = load_center(ROOT / "blueprints" / "acme-bank.yaml").plan
    node = plan.hosts_of("sh-dc1", "media")[0]

    def make(honour_add: bool = True):
        fake = FakeDispatcher(plan, honour_add)
        r = object.__new__(lab_rollout.LabRollout)
        r.plan, r.say = plan, lambda e: None
        r.state = type("State", (), {"center": plan.center})()
        r.r = RolloutRun(center=plan.center, folder="", canary_percent=20, soak_s=5, max_failed=0.001, drain_timeout_s=60,
                         hosts=[HostChange(node.name, node.site, "media", [], canary=True)])
        monkeypatch.setattr(r, "_kamcmd", fake.kamcmd)
        monkeypatch.setattr(lab_rollout.time, "sleep", lambda s: None)  # the gap Kamailio needs between list rebuilds
        monkeypatch.setattr(lab_rollout, "dispatcher_list", fake.listing)
        return r, fake, node
    return make


def test_the_canary_goes_back_at_its_share_and_the_reload_restores_the_rendered_weights(rollout):
    r, fake, node = rollout()
    routes = r._dispatcher(node)
    assert routes, "acme-bank's first media node is in a dispatcher set"
    said = r._weigh(node, routes)
    assert "20 of 100" in said
    for proxy, set_id, uri in routes:
        weights = r._weights(proxy, set_id)
        assert weights[node.name] == 20 and sum(weights.values()) == 100
    # the canary is re-added first: while the others are re-weighed the set never lacks the canary
    adds = [c for c in fake.calls if c[1] == "dispatcher.add"]
    assert adds[0][3] == routes[0][2]
    r._unweigh(node, routes)
    for proxy, set_id, _ in routes:
        assert r._weights(proxy, set_id) == {d.host: d.weight for d in next(s for s in r.plan.dispatcher_sets if s.id == set_id).destinations}
    assert [e.what for e in r.r.events] == ["weights as rendered"]


def test_a_proxy_that_keeps_other_weights_gets_the_rendered_ones_back_and_says_so(rollout):
    r, fake, node = rollout(honour_add=False)
    routes = r._dispatcher(node)
    assert r._weigh(node, routes) == ""
    assert [e.what for e in r.r.events] == ["weights as rendered", "canary weight refused"]
    assert any(c[1] == "dispatcher.reload" for c in fake.calls)
