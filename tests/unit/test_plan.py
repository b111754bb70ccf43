"""Plan: deterministic topology and sizing derived from the blueprint."""

from __future__ import annotations

import ipaddress
import json
import math
import subprocess
import sys

import pytest

from trunkline.blueprint.load import validate_data
from trunkline.errors import BlueprintError, PlanError
from trunkline.plan import sizing
from trunkline.plan.topology import build_plan
from trunkline.center import load as load_center

from shared import EXAMPLES, ROOT, example_ids


def _plan(data):
    return build_plan(validate_data(data))


@pytest.mark.parametrize("path", EXAMPLES, ids=example_ids())
def test_plan_json_is_the_same_bytes_in_a_fresh_process(path):
    code = "import sys; from trunkline.center import load; sys.stdout.write(load(sys.argv[1]).plan.to_json())"
    runs = {subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True, cwd=ROOT).stdout for _ in range(2)}
    assert len(runs) == 1
    assert json.loads(runs.pop())["center"]


@pytest.mark.parametrize("path", EXAMPLES, ids=example_ids())
def test_every_host_address_lies_in_its_site_network_and_is_unique(path):
    plan = load_center(path).plan
    seen = set()
    for host in plan.hosts:
        net = ipaddress.ip_network(plan.site(host.site).cidr)
        assert ipaddress.ip_address(host.address) in net
        assert host.address not in seen
        seen.add(host.address)
    for site in plan.sites:
        assert site.vip not in seen and site.gateway not in seen


def test_proxy_pair_has_one_master_with_the_higher_priority_and_unicast_peers(base_data):
    plan = _plan(base_data)
    sip1, sip2 = plan.hosts_of("fra1", "sip-proxy")
    assert (sip1.ha.state, sip2.ha.state) == ("MASTER", "BACKUP")
    assert sip1.ha.priority > sip2.ha.priority
    assert sip1.ha.peer == sip2.address and sip2.ha.peer == sip1.address
    assert sip1.ha.vip == sip2.ha.vip == plan.site("fra1").vip
    assert sip1.ha.advert_int < 1  # sub-second VRRP so failover fits a 5 minute RTO with room to spare


def test_single_proxy_site_has_no_ha_and_one_rtpengine(base_data):
    base_data["spec"]["sites"][0]["sip_proxy"] = {"ha": "single"}
    plan = _plan(base_data)
    assert [h.ha for h in plan.hosts_of("fra1", "sip-proxy")] == [None]
    assert len(plan.hosts_of("fra1", "rtpengine")) == 1


def _trunk_traffic(ivr_s=0, acw_s=0) -> float:
    """base.yaml's trunk traffic: 120 calls an hour, each holding a channel for the IVR, the mean wait
    and the handle time less the after-call work."""
    asa = sizing.erlang_c_agents(120, 180, 30, 0.8).asa_s
    return 120 * (ivr_s + asa + 180 - acw_s) / 3600


def test_auto_trunk_channels_come_from_erlang_b_at_the_grade_of_service(base_data):
    base_data["spec"]["trunks"][0]["grade_of_service"] = 0.001
    plan = _plan(base_data)
    traffic = _trunk_traffic()
    assert plan.trunks[0].channels == sizing.erlang_b_channels(traffic, 0.001)
    assert plan.trunks[0].blocking <= 0.001


def test_auto_seats_take_the_erlang_c_result_after_fixed_pools(base_data):
    base_data["spec"]["forecast"]["shrinkage"] = 0.25
    base_data["spec"]["seats"].append({"pool": "vip", "count": 2, "skills": ["orders"], "site": "fra1"})
    plan = _plan(base_data)
    need = sizing.erlang_c_agents(120, 180, 30, 0.8, shrinkage=0.25).scheduled
    assert sum(s.agents for s in plan.seats) == need
    assert plan.seats[1].agents == 2


def test_too_few_fixed_seats_is_a_warning_with_the_number_needed(base_data):
    base_data["spec"]["seats"][0]["count"] = 1
    plan = _plan(base_data)
    assert any("forecast needs" in w and "add seats" in w for w in plan.warnings)


def test_standby_site_mirrors_the_primary_capacity(base_data):
    base_data["spec"]["forecast"]["peak_calls_per_hour"] = 3000
    base_data["spec"]["sites"].append({"name": "ber1", "kind": "onprem", "role": "standby", "network": {"cidr": "10.2.0.0/24"}})
    plan = _plan(base_data)
    assert plan.site("ber1").concurrent_calls == plan.site("fra1").concurrent_calls > 0
    assert plan.site("ber1").media_nodes == plan.site("fra1").media_nodes


def test_primary_gets_the_standby_media_as_a_dr_dispatcher_set(base_data):
    base_data["spec"]["sites"].append({"name": "ber1", "kind": "onprem", "role": "standby", "network": {"cidr": "10.2.0.0/24"}})
    plan = _plan(base_data)
    dr = [d for d in plan.dispatcher_sets if d.site == "fra1" and d.purpose == "dr:ber1"]
    assert dr and {x.host for x in dr[0].destinations} == {h.name for h in plan.hosts_of("ber1", "media")}


def test_media_nodes_are_n_plus_one_over_calls_per_node(base_data):
    base_data["spec"]["forecast"]["peak_calls_per_hour"] = 3600
    base_data["spec"]["sites"][0]["media"] = {"calls_per_node": 50}
    plan = _plan(base_data)
    site = plan.site("fra1")
    assert site.media_nodes == -(-site.concurrent_calls // 50) + 1
    assert len(plan.hosts_of("fra1", "media")) == site.media_nodes


def test_traffic_splits_over_sites_by_seats(base_data):
    base_data["spec"]["sites"].append({"name": "burst", "kind": "cloud", "provider": "aws", "role": "burst", "network": {"cidr": "10.9.0.0/24"}})
    base_data["spec"]["seats"] = [
        {"pool": "a", "count": 30, "skills": ["orders"], "site": "fra1"},
        {"pool": "b", "count": 10, "skills": ["orders"], "site": "burst", "hosted": True},
    ]
    plan = _plan(base_data)
    assert plan.site("fra1").traffic_share == pytest.approx(0.75)
    assert plan.site("burst").traffic_share == pytest.approx(0.25)


def test_site_network_too_small_for_its_hosts_is_a_plan_error_with_a_fix(base_data):
    base_data["spec"]["sites"][0]["network"] = {"cidr": "10.1.0.0/29"}
    with pytest.raises(PlanError, match=r"10.1.0.0/29 has room for .* set spec.sites\[0\].network.cidr to a larger range"):
        _plan(base_data)


def test_kamailio_memory_grows_with_the_load(base_data):
    site = base_data["spec"]["sites"][0]["name"]
    small = _plan(base_data).site(site)
    base_data["spec"]["forecast"]["peak_calls_per_hour"] = 200_000
    busy = _plan(base_data).site(site)
    assert small.kamailio_shm_mb >= 128 and busy.kamailio_shm_mb > small.kamailio_shm_mb
    assert busy.edge_cps == math.ceil(10 * 200_000 / 3600)


def test_edge_rate_set_in_the_blueprint_sizes_the_proxies_memory(base_data):
    site = base_data["spec"]["sites"][0]
    site.setdefault("sip_proxy", {})["max_cps"] = 3000
    plan = _plan(base_data).site(site["name"])
    # 3,000 calls/s hold about 60,000 transactions of 16 KB: more than 512 MB
    assert plan.edge_cps == 3000 and plan.kamailio_shm_mb == 1024


def test_edge_rate_out_of_range_is_refused(base_data):
    base_data["spec"]["sites"][0].setdefault("sip_proxy", {})["max_cps"] = 0
    with pytest.raises(BlueprintError, match="max_cps"):
        _plan(base_data)


def test_plan_keeps_secrets_as_references(base_data):
    text = _plan(base_data).to_json()
    assert "env:CARRIER_PASSWORD" in text


def test_recording_storage_follows_retention_and_format(base_data):
    one = _plan(base_data).sizing.storage_bytes
    base_data["spec"]["recording"]["retention"] = "2y"
    assert _plan(base_data).sizing.storage_bytes == 2 * one
    base_data["spec"]["recording"]["mode"] = "none"
    assert _plan(base_data).sizing.storage_bytes == 0


def test_a_site_without_a_media_relay_gets_no_rtpengine(base_data):
    base_data["spec"]["recording"] = {**base_data["spec"].get("recording", {}), "mode": "none"}
    base_data["spec"]["sites"][0].setdefault("sip_proxy", {})["media_relay"] = "none"
    plan = _plan(base_data)
    site = plan.sites[0]
    assert site.rtpengines == []
    assert not [h for h in plan.hosts if h.site == site.name and h.role == "rtpengine"]


def test_recording_without_a_media_relay_is_allowed_since_the_media_nodes_record(base_data):
    """FreeSWITCH on the media nodes records (dialplan/trunkline.xml); rtpengine only relays."""
    base_data["spec"]["recording"] = {**base_data["spec"].get("recording", {}), "mode": "all"}
    base_data["spec"]["sites"][0].setdefault("sip_proxy", {})["media_relay"] = "none"
    plan = _plan(base_data)
    assert plan.recording["mode"] == "all" and plan.sites[0].rtpengines == []


def test_a_fixed_trunk_that_blocks_more_than_its_grade_of_service_is_a_warning_with_the_size_it_needs(base_data):
    base_data["spec"]["trunks"][0]["channels"] = 5
    plan = _plan(base_data)
    traffic = _trunk_traffic()  # a little over the 6 E of the agents: callers wait in queue on the trunk
    need = sizing.erlang_b_channels(traffic, 0.01)
    assert plan.trunks[0].channels == 5 and plan.trunks[0].blocking == pytest.approx(sizing.erlang_b(traffic, 5), abs=1e-6)
    assert any(w.startswith("trunk carrier: 5 channels block") and f"set spec.trunks[0].channels to {need} or auto" in w
               for w in plan.warnings)


def test_a_fixed_trunk_at_its_grade_of_service_gives_no_warning(base_data):
    traffic = _trunk_traffic()
    base_data["spec"]["trunks"][0]["channels"] = sizing.erlang_b_channels(traffic, 0.01)
    assert not [w for w in _plan(base_data).warnings if w.startswith("trunk ")]


def test_two_trunks_share_the_busy_hour_traffic_evenly(base_data):
    trunk = dict(base_data["spec"]["trunks"][0])
    base_data["spec"]["trunks"].append({**trunk, "name": "carrier-b", "peers": ["192.0.2.20"]})
    plan = _plan(base_data)
    half = _trunk_traffic() / 2
    assert [t.channels for t in plan.trunks] == [sizing.erlang_b_channels(half, 0.01)] * 2
    assert [t.traffic_erlangs for t in plan.trunks] == [round(half, 4)] * 2


def test_trunk_weights_split_a_sites_traffic(base_data):
    trunk = dict(base_data["spec"]["trunks"][0])
    base_data["spec"]["trunks"][0]["weight"] = 7
    base_data["spec"]["trunks"].append({**trunk, "name": "carrier-b", "peers": ["192.0.2.20"], "weight": 3})
    plan = _plan(base_data)
    a = _trunk_traffic()
    assert [t.traffic_erlangs for t in plan.trunks] == [round(0.7 * a, 4), round(0.3 * a, 4)]
    assert [t.channels for t in plan.trunks] == [sizing.erlang_b_channels(0.7 * a, 0.01), sizing.erlang_b_channels(0.3 * a, 0.01)]


def _two_sites(base_data):
    """fra1 with 2 fixed agents' worth of seats and ber1 with the auto pool; a trunk at each."""
    spec = base_data["spec"]
    spec["sites"].append({"name": "ber1", "kind": "onprem", "role": "primary", "network": {"cidr": "10.2.0.0/24"}})
    spec["seats"] = [{"pool": "fra", "count": 3, "skills": ["orders"], "site": "fra1"},
                     {"pool": "ber", "count": 9, "skills": ["orders"], "site": "ber1"}]
    trunk = dict(spec["trunks"][0])
    spec["trunks"] = [{**trunk, "name": "to-fra", "sites": ["fra1"]},
                      {**trunk, "name": "to-ber", "peers": ["192.0.2.20"], "sites": ["ber1"]}]


def test_a_trunks_traffic_follows_the_sites_it_ends_at(base_data):
    _two_sites(base_data)
    plan = _plan(base_data)
    a = _trunk_traffic()
    assert [t.traffic_erlangs for t in plan.trunks] == [round(a * 3 / 12, 4), round(a * 9 / 12, 4)]
    assert plan.trunks[0].channels < plan.trunks[1].channels


def test_a_site_no_trunk_ends_at_is_a_warning_and_its_calls_are_counted_on_every_trunk(base_data):
    _two_sites(base_data)
    base_data["spec"]["trunks"][1]["sites"] = ["fra1"]
    plan = _plan(base_data)
    assert any(w.startswith("site ber1 takes 75% of the calls but no trunk ends there") for w in plan.warnings)
    assert sum(t.traffic_erlangs for t in plan.trunks) == pytest.approx(_trunk_traffic(), abs=1e-3)


def test_a_trunk_that_ends_only_at_a_standby_is_sized_for_the_primary_it_takes_over(base_data):
    spec = base_data["spec"]
    spec["sites"].append({"name": "ber1", "kind": "onprem", "role": "standby", "network": {"cidr": "10.2.0.0/24"}})
    spec["trunks"].append({**spec["trunks"][0], "name": "dr", "peers": ["192.0.2.20"], "sites": ["ber1"]})
    plan = _plan(base_data)
    assert [t.traffic_erlangs for t in plan.trunks] == [round(_trunk_traffic(), 4)] * 2


def test_a_call_holds_its_trunk_for_the_ivr_the_wait_and_the_talk_not_the_wrap_up(base_data):
    base_data["spec"]["forecast"].update(ivr_time="20s", after_call_work="30s")
    s = _plan(base_data).sizing
    asa = sizing.erlang_c_agents(120, 180, 30, 0.8).asa_s
    assert (s.ivr_time_s, s.talk_s) == (20, 150) and s.queue_wait_s == pytest.approx(asa, abs=0.01)
    assert s.trunk_holding_s == pytest.approx(20 + asa + 150, abs=0.01)
    assert s.trunk_traffic_erlangs == pytest.approx(_trunk_traffic(20, 30), abs=1e-3)
    # the agents are sized on the whole handle time, wrap-up included
    assert s.traffic_erlangs == 6.0 and s.agents == sizing.erlang_c_agents(120, 180, 30, 0.8).agents


def test_the_wait_a_trunk_holds_is_at_most_the_longest_queue_max_wait(base_data):
    # 80 % within 5 minutes lets callers wait long; the queue lets them go after 20 s
    base_data["spec"]["forecast"]["service_level"] = {"answer_within": "5m", "target": 0.5}
    base_data["spec"]["queues"][0]["max_wait"] = "20s"
    s = _plan(base_data).sizing
    assert s.asa_s > 20 and s.queue_wait_s == 20 and s.trunk_holding_s == 200


def test_channels_sized_on_the_handle_time_alone_fall_below_the_agents_and_warn(base_data):
    """The issue's case (448 channels for 455 agents): at a high service level and a loose grade of
    service, channels on the agents' traffic come out below the agents on the phones; the callers
    waiting in queue hold channels too, and counted they lift the channels to the agents."""
    base_data["spec"]["forecast"].update(peak_calls_per_hour=1200, service_level={"answer_within": "20s", "target": 0.9})
    base_data["spec"]["trunks"][0]["grade_of_service"] = 0.05
    a = sizing.erlang_c_agents(1200, 180, 20, 0.9)
    short = sizing.erlang_b_channels(a.traffic_erlangs, 0.05)
    assert short < a.agents  # what the plan used to give: 66 channels for 68 agents
    plan = _plan(base_data)
    assert plan.sizing.channels >= a.agents and not [w for w in plan.warnings if "channels for" in w]
    base_data["spec"]["trunks"][0]["channels"] = short
    plan = _plan(base_data)
    assert any(w.startswith(f"the trunks have {short} channels for {a.agents} agents on the phones") for w in plan.warnings)
