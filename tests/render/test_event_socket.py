"""FreeSWITCH's event socket as rendered for every media node (issue 11, section 5).

The stock event_socket.conf.xml listens on every address with the public default password
ClueCon (CVE-2019-19492). trunkline renders its own: loopback only, the password a secret
marker of the blueprint's reference, connections from loopback only. The running behaviour
(right password accepted, wrong and default refused, nothing from another host) is proven with
real FreeSWITCH in tests/binaries/test_freeswitch_loads.py.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET

import pytest

from trunkline.blueprint.load import validate_data
from trunkline.errors import BlueprintError
from trunkline.center import load as load_center
from trunkline.render import manifest, render_plan
from trunkline.secrets import marker

from shared import EXAMPLES, example_ids

PATH = "/etc/freeswitch/autoload_configs/event_socket.conf.xml"
DEFAULT_REF = "env:TRUNKLINE_EVENT_SOCKET_PASSWORD"


def settings(text: str) -> dict[str, list[str]]:
    root = ET.fromstring(text)
    assert root.tag == "configuration" and root.get("name") == "event_socket.conf"
    out: dict[str, list[str]] = {}
    for p in root.find("settings").iter("param"):
        out.setdefault(p.get("name"), []).append(p.get("value"))
    return out


def event_socket_files(plan) -> dict[str, str]:
    return {f.host: f.content.decode() for f in render_plan(plan) if f.path == PATH}


@pytest.mark.parametrize("path", EXAMPLES, ids=example_ids())
def test_every_media_node_gets_an_event_socket_conf(path):
    plan = load_center(path).plan
    assert set(event_socket_files(plan)) == {h.name for h in plan.hosts if h.role == "media"}


@pytest.mark.parametrize("path", EXAMPLES, ids=example_ids())
def test_event_socket_listens_on_loopback_only(path):
    for host, text in event_socket_files(load_center(path).plan).items():
        ips = settings(text)["listen-ip"]
        assert len(ips) == 1 and ipaddress.ip_address(ips[0]).is_loopback, (host, ips)


@pytest.mark.parametrize("path", EXAMPLES, ids=example_ids())
def test_event_socket_lets_in_loopback_only(path):
    for host, text in event_socket_files(load_center(path).plan).items():
        assert settings(text)["apply-inbound-acl"] == ["loopback.auto"], host


@pytest.mark.parametrize("path", EXAMPLES, ids=example_ids())
def test_event_socket_password_is_the_marker_of_the_blueprint_reference(path):
    plan = load_center(path).plan
    for host, text in event_socket_files(plan).items():
        assert settings(text)["password"] == [marker(plan.security["event_socket_password"])], host


@pytest.mark.parametrize("path", EXAMPLES, ids=example_ids())
def test_no_media_file_carries_the_public_default_password(path):
    files = [f for f in render_plan(load_center(path).plan) if f.path.startswith("/etc/freeswitch/")]
    assert files and not any(b"ClueCon" in f.content for f in files)


def test_event_socket_password_reference_defaults_to_an_environment_variable():
    plan = load_center(EXAMPLES[0]).plan
    assert plan.security["event_socket_password"] == DEFAULT_REF


def test_event_socket_password_reference_comes_from_the_blueprint():
    ref = "file:/etc/trunkline/event-socket.secret"
    plan = load_center(EXAMPLES[0], [f"spec.security.event_socket_password={ref}"]).plan
    texts = event_socket_files(plan)
    assert texts and all(settings(t)["password"] == [marker(ref)] for t in texts.values())


def test_manifest_lists_the_event_socket_secret_so_apply_resolves_it():
    plan = load_center(EXAMPLES[0]).plan
    entries = [e for e in manifest(plan, render_plan(plan))["files"] if e["path"] == PATH]
    assert entries and all(e["secrets"] == [DEFAULT_REF] and e["mode"] == "0640" for e in entries)


def test_a_literal_event_socket_password_is_refused(base_data):
    base_data["spec"].setdefault("security", {})["event_socket_password"] = "ClueCon"
    with pytest.raises(BlueprintError, match="event_socket_password"):
        validate_data(base_data)
