"""Which standby takes over which primary (sites[].standby_for), how a standby is sized for what it
covers (sum or largest), and each primary's DR dispatcher set: 1+1, 2+1 and 2+2 centers, and the
mistakes a four-site center invites (a standby that names nothing, a primary named twice)."""

from __future__ import annotations

import pytest

from trunkline.blueprint.load import validate_data
from trunkline.errors import BlueprintError
from trunkline.plan.topology import build_plan
from trunkline.render import render_host

PRIMARIES = {"fra1": 30, "muc1": 10}  # seats at each primary: fra1 carries 3/4 of the calls


def center(base_data, standbys: dict[str, dict], primaries=PRIMARIES) -> dict:
    """base_data with the given primaries (fixed seats each) and standby sites (name -> extra fields)."""
    spec = base_data["spec"]
    spec["forecast"]["peak_calls_per_hour"] = 600
    spec["seats"] = [{"pool": f"desk-{p}", "count": n, "skills": ["orders"], "site": p} for p, n in primaries.items()]
    names = list(primaries) + list(standbys)
    spec["sites"] = [{"name": p, "kind": "onprem", "role": "primary", "network": {"cidr": f"10.{i + 1}.0.0/24"}}
                     for i, p in enumerate(primaries)]
    spec["sites"] += [{"name": s, "kind": "onprem", "role": "standby", "network": {"cidr": f"10.{len(primaries) + i + 1}.0.0/24"}, **extra}
                      for i, (s, extra) in enumerate(standbys.items())]
    spec["trunks"][0]["sites"] = names
    return base_data


def plan_of(data):
    return build_plan(validate_data(data))


def dr_target(plan, primary: str) -> str | None:
    sets = [d.purpose.split(":", 1)[1] for d in plan.dispatcher_sets if d.site == primary and d.purpose.startswith("dr:")]
    assert len(sets) <= 1
    return sets[0] if sets else None


def agents_at(plan, site: str) -> set[str]:
    """The pools whose agents the site's media nodes carry (callcenter.conf.xml as rendered)."""
    node = plan.hosts_of(site, "media")[0]
    text = next(f for f in render_host(plan, node) if f.path.endswith("callcenter.conf.xml")).content.decode()
    return {p for p in (f"desk-{x}" for x in PRIMARIES) if f'<agent name="{p}-0001"' in text}


def test_one_primary_one_standby_needs_no_declaration(base_data):
    plan = plan_of(center(base_data, {"ber1": {}}, primaries={"fra1": 30}))
    assert plan.site("ber1").covers == ["fra1"] and dr_target(plan, "fra1") == "ber1"
    assert plan.site("ber1").concurrent_calls == plan.site("fra1").concurrent_calls > 0
    assert agents_at(plan, "ber1") == {"desk-fra1"}


def test_two_primaries_one_standby_covers_both_sized_for_their_sum(base_data):
    plan = plan_of(center(base_data, {"ber1": {}}))
    ber1 = plan.site("ber1")
    assert ber1.covers == ["fra1", "muc1"]
    assert dr_target(plan, "fra1") == dr_target(plan, "muc1") == "ber1"
    # sized as one site with both primaries' share (1.0 of the calls), not as the larger one alone
    assert ber1.concurrent_calls >= plan.site("fra1").concurrent_calls + plan.site("muc1").concurrent_calls - 1
    assert ber1.traffic_share == pytest.approx(1.0)
    assert agents_at(plan, "ber1") == {"desk-fra1", "desk-muc1"}


def test_a_standby_declared_for_the_largest_is_sized_for_it_alone(base_data):
    plan = plan_of(center(base_data, {"ber1": {"standby_for": ["fra1", "muc1"], "standby_sizing": "largest"}}))
    assert plan.site("ber1").concurrent_calls == plan.site("fra1").concurrent_calls
    assert plan.site("ber1").traffic_share == pytest.approx(0.75)


def test_two_primaries_two_standbys_each_primary_routes_to_its_own(base_data):
    plan = plan_of(center(base_data, {"ber1": {"standby_for": ["fra1"]}, "ham1": {"standby_for": ["muc1"]}}))
    assert dr_target(plan, "fra1") == "ber1" and dr_target(plan, "muc1") == "ham1"
    assert plan.site("ber1").concurrent_calls == plan.site("fra1").concurrent_calls
    assert plan.site("ham1").concurrent_calls == plan.site("muc1").concurrent_calls
    assert plan.site("ber1").concurrent_calls > plan.site("ham1").concurrent_calls
    assert agents_at(plan, "ber1") == {"desk-fra1"} and agents_at(plan, "ham1") == {"desk-muc1"}
    assert not any("standby" in w for w in plan.warnings), plan.warnings


def problems(data) -> dict[str, str]:
    with pytest.raises(BlueprintError) as info:
        validate_data(data)
    return {p.path: f"{p.message}; {p.fix}" for p in info.value.problems}


def test_with_two_standbys_each_must_say_which_primaries_it_takes(base_data):
    found = problems(center(base_data, {"ber1": {"standby_for": ["fra1"]}, "ham1": {}}))
    assert found == {"spec.sites[3].standby_for": "with 2 standby sites, standby ham1 does not say which primaries it "
                                                  "takes over; list them, e.g. standby_for: [fra1]"}


@pytest.mark.parametrize("standbys, path, text", [
    ({"ber1": {"standby_for": ["fra1"]}, "ham1": {"standby_for": ["fra1"]}}, "spec.sites[3].standby_for[0]",
     "primary fra1 is already taken over by standby ber1"),
    ({"ber1": {"standby_for": ["nowhere"]}}, "spec.sites[2].standby_for[0]", "site 'nowhere' is not defined; name primary sites: fra1, muc1"),
    ({"ber1": {"standby_for": ["ham1"]}, "ham1": {"standby_for": ["fra1", "muc1"]}}, "spec.sites[2].standby_for[0]",
     "site ham1 is standby, not primary"),
], ids=["a primary twice", "undefined", "a standby"])
def test_standby_for_names_each_primary_once(base_data, standbys, path, text):
    found = problems(center(base_data, standbys))
    assert text in found.get(path, ""), found


def test_only_a_standby_takes_over(base_data):
    data = center(base_data, {"ber1": {}})
    data["spec"]["sites"][0]["standby_for"] = ["muc1"]
    assert "site fra1 is primary; only a standby site takes over others" in problems(data)["spec.sites[0].standby_for"]


def test_a_primary_no_standby_covers_is_warned_of(base_data):
    plan = plan_of(center(base_data, {"ber1": {"standby_for": ["fra1"]}}))
    assert dr_target(plan, "muc1") is None
    assert any(w.startswith("primary muc1 has no standby") for w in plan.warnings), plan.warnings


def test_a_standby_with_fixed_media_nodes_below_what_it_takes_over_is_warned_of(base_data):
    data = center(base_data, {"ber1": {"media": {"nodes": 1, "calls_per_node": 10}}})
    plan = plan_of(data)
    ber1 = plan.site("ber1")
    assert ber1.concurrent_calls > 10
    assert any(w.startswith(f"site ber1 takes over fra1, muc1 with {ber1.concurrent_calls} calls at once, but its 1 media "
                            "nodes of 10 calls hold 10") for w in plan.warnings), plan.warnings
