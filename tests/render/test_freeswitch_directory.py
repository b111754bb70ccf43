"""FreeSWITCH's user directory (directory/trunkline.xml): the agents' phones, one claim per test.

Every callcenter contact user/<agent>@$${domain} needs a directory user for the agent's phone
to register (mod_sofia looks it up on REGISTER) and for mod_callcenter to ring it (the domain's
dial-string). Real registrations and calls through it are proven in tests/lab/test_ivr_paths.py.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

import test_freeswitch as fsx
from trunkline.blueprint.load import validate_data
from trunkline.center import load as load_center
from trunkline.errors import BlueprintError
from trunkline.render import manifest, render_plan
from trunkline.secrets import marker

from shared import EXAMPLES, example_ids

DIRECTORY = "/etc/freeswitch/directory/trunkline.xml"
DEFAULT_REF = "env:TRUNKLINE_AGENT_SIP_PASSWORD"


def domain(plan, host=None) -> ET.Element:
    root = fsx.parse(fsx.files(plan, host)[DIRECTORY])
    assert root.tag == "include"
    (dom,) = root.findall("domain")
    return dom


def users(dom: ET.Element) -> list[str]:
    return [u.get("id") for u in dom.iter("user")]


def test_the_top_document_includes_the_directory_folder():
    top = fsx.parse(fsx.files(fsx.acme())[fsx.TOP])
    section = next(s for s in top.iter("section") if s.get("name") == "directory")
    assert [e.get("data") for e in section.iter("X-PRE-PROCESS")] == ["directory/*.xml"]


def test_the_directory_domain_is_the_centers_domain():
    assert domain(fsx.small()).get("name") == "$${domain}"


@pytest.mark.parametrize("path", EXAMPLES, ids=example_ids())
def test_every_callcenter_agent_is_a_directory_user_on_every_media_node(path):
    plan = load_center(path).plan
    for host in fsx.media(plan):
        agents = [a.get("name") for a in fsx.callcenter(plan, host).find("agents").iter("agent")]
        assert agents and users(domain(plan, host)) == agents == fsx.site_agents(plan, host.site), host.name


def test_the_password_is_the_marker_of_the_blueprint_reference_once_for_the_domain():
    dom = domain(fsx.small())
    assert fsx.params(dom.find("params"), "password") == [marker(DEFAULT_REF)]
    # users carry nothing of their own: FreeSWITCH merges the domain's params into each one
    assert all(len(u) == 0 and set(u.attrib) == {"id"} for u in dom.iter("user"))


def test_the_password_reference_comes_from_the_blueprint():
    ref = "file:/etc/trunkline/agents.secret"
    plan = load_center(EXAMPLES[0], [f"spec.security.agent_sip_password={ref}"]).plan
    assert fsx.params(domain(plan).find("params"), "password") == [marker(ref)]


def test_a_literal_agent_password_is_refused(base_data):
    base_data["spec"].setdefault("security", {})["agent_sip_password"] = "1234"
    with pytest.raises(BlueprintError, match="agent_sip_password"):
        validate_data(base_data)


def test_manifest_lists_the_agent_secret_and_keeps_the_file_from_other_users():
    plan = load_center(EXAMPLES[0]).plan
    entries = [e for e in manifest(plan, render_plan(plan))["files"] if e["path"] == DIRECTORY]
    assert entries and all(e["secrets"] == [DEFAULT_REF] and e["mode"] == "0640" for e in entries)


def test_a_call_to_an_agent_rings_its_registered_contact():
    (dial,) = fsx.params(domain(fsx.small()).find("params"), "dial-string")
    assert "${sofia_contact(*/${dialed_user}@${dialed_domain})}" in dial


def test_the_agents_profile_challenges_every_registration():
    s = fsx.settings(fsx.files(fsx.small())[fsx.INTERNAL])
    assert fsx.params(s, "accept-blind-reg") in ([], ["false"])
    assert fsx.params(s, "auth-calls") == ["true"]
    # the directory user found is the one the phone authenticates as, in the center's domain
    assert fsx.params(s, "inbound-reg-force-matching-username") == ["true"]
    assert fsx.params(s, "force-register-domain") == ["$${domain}"]


def test_directory_users_are_a_loop_not_plan_data():
    plan = fsx.small(seats=[{"pool": "floor", "count": 10000, "skills": ["help", "sales"], "site": "hq"}])
    names = users(domain(plan))
    assert len(names) == 10000 and names[-1] == "floor-10000"
