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


def test_auto_trunk_channels_come_from_erlang_b_at_the_grade_of_service(base_data):
    base_data["spec"]["trunks"][0]["grade_of_service"] = 0.001
    plan = _plan(base_data)
    traffic = 120 * 180 / 3600
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
    traffic = 120 * 180 / 3600  # 6 E offered to the one trunk
    need = sizing.erlang_b_channels(traffic, 0.01)
    assert plan.trunks[0].channels == 5 and plan.trunks[0].blocking == pytest.approx(sizing.erlang_b(traffic, 5), abs=1e-6)
    assert any(w.startswith("trunk carrier: 5 channels block") and f"set spec.trunks[0].channels to {need} or auto" in w
               for w in plan.warnings)


def test_a_fixed_trunk_at_its_grade_of_service_gives_no_warning(base_data):
    traffic = 120 * 180 / 3600
    base_data["spec"]["trunks"][0]["channels"] = sizing.erlang_b_channels(traffic, 0.01)
    assert not [w for w in _plan(base_data).warnings if w.startswith("trunk ")]


def test_two_trunks_share_the_busy_hour_traffic_evenly(base_data):
    trunk = dict(base_data["spec"]["trunks"][0])
    base_data["spec"]["trunks"].append({**trunk, "name": "carrier-b", "peers": ["192.0.2.20"]})
    plan = _plan(base_data)
    half = 120 * 180 / 3600 / 2
    assert [t.channels for t in plan.trunks] == [sizing.erlang_b_channels(half, 0.01)] * 2


def test_seats_far_above_the_forecast_are_a_warning_with_both_figures(base_data):
    base_data["spec"]["seats"][0]["count"] = 100
    plan = _plan(base_data)
    need = sizing.erlang_c_agents(120, 180, 30, 0.8).scheduled
    assert any(w.startswith(f"the seat pools hold 100 agents") and f"the {need} the forecast needs" in w for w in plan.warnings)


def test_seats_close_to_the_forecast_give_no_staffing_warning(base_data):
    base_data["spec"]["seats"][0]["count"] = sizing.erlang_c_agents(120, 180, 30, 0.8).scheduled + 1
    assert not [w for w in _plan(base_data).warnings if w.startswith("the seat pools hold")]


def test_plan_shows_how_auto_pools_split_what_the_fixed_pools_leave(base_data, tmp_path):
    import io

    from ruamel.yaml import YAML
    from typer.testing import CliRunner

    from trunkline.cli import app

    base_data["spec"]["seats"] += [{"pool": "vip", "count": 2, "skills": ["orders"], "site": "fra1"},
                                   {"pool": "extra", "count": "auto", "skills": ["orders"], "site": "fra1"}]
    plan = _plan(base_data)
    need = sizing.erlang_c_agents(120, 180, 30, 0.8).scheduled
    auto = [s.agents for s in plan.seats if s.auto]
    assert sum(auto) == need - 2 and max(auto) - min(auto) <= 1
    buf = io.StringIO()
    YAML().dump(base_data, buf)
    path = tmp_path / "center.yaml"
    path.write_text(buf.getvalue())
    out = CliRunner().invoke(app, ["plan", str(path)]).output
    table = out[out.index("seat pools"):out.index(" sites ")]
    rows = {line.split("│")[1].strip(): line for line in table.splitlines() if line.count("│") == 6}
    assert "seat pools" in out and {"support", "vip", "extra"} <= set(rows)
    assert "fixed" in rows["vip"] and "│ 2 " in rows["vip"] and "auto" in rows["extra"]
