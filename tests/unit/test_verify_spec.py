"""What `trunkline verify` expects of FreeSWITCH on each media node comes from the node's rendered
files: the SIP profiles at their addresses, every queue with the tiers of the agents whose pool has
its skill, the agents, and the event socket's port."""

from __future__ import annotations

import pytest

from trunkline.center import load
from trunkline.verify import suite_spec

from shared import EXAMPLES, example_ids


@pytest.mark.parametrize("path", EXAMPLES, ids=example_ids())
def test_the_suite_expects_what_each_media_nodes_files_say(path, tmp_path):
    center = load([path], [])
    center.render(tmp_path / "tree")
    spec = suite_spec(center.plan, tmp_path / "tree", "onprem", lambda h: f"ssh://{h}", secrets_resolved=True)
    plan = center.plan
    for host in plan.hosts:
        fs = spec["hosts"][host.name]["freeswitch"]
        if host.role != "media":
            assert fs is None
            continue
        assert fs["profiles"] == {"external": f"sip:mod_sofia@{host.address}:5080", "internal": f"sip:mod_sofia@{host.address}:5060"}
        assert fs["queues"] == [q["name"] for q in plan.queues]
        site = plan.site(host.site)
        pools = [p for p in plan.seats if p.site in (site.covers or [site.name])]
        assert fs["agents"] == sum(p.agents for p in pools)
        assert fs["tiers"] == {q["name"]: sum(p.agents for p in pools if q["skill"] in p.skills) for q in plan.queues}
        assert fs["event_socket_port"] == 8021


def test_a_lab_with_the_sipp_stand_in_expects_no_freeswitch(tmp_path):
    center = load([EXAMPLES[0]], [])
    center.render(tmp_path / "tree")
    spec = suite_spec(center.plan, tmp_path / "tree", "lab", lambda h: h, secrets_resolved=False, freeswitch=False)
    assert all(h["freeswitch"] is None for h in spec["hosts"].values())
