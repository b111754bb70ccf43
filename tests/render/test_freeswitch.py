"""FreeSWITCH media node files: what each rendered file must say, one claim per test.

The files are parsed as XML (FreeSWITCH itself is not packaged for Debian 12, so the lab
cannot load them); the claims follow FreeSWITCH 1.10's vanilla configuration and the
mod_sofia, mod_callcenter, mod_dptools and mod_commands sources named in the templates.
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from functools import lru_cache

import pytest

from trunkline.blueprint.load import validate_data
from trunkline.errors import BlueprintError
from trunkline.plan.topology import MEDIA_SIP_PORT, Plan, build_plan
from trunkline.center import load as load_center
from trunkline.render import render_host
from trunkline.roles import OUTPUTS

from shared import ROOT

ACME = ROOT / "blueprints" / "acme-bank.yaml"

VARS = "/etc/freeswitch/vars.xml"
MODULES = "/etc/freeswitch/autoload_configs/modules.conf.xml"
CALLCENTER = "/etc/freeswitch/autoload_configs/callcenter.conf.xml"
INTERNAL = "/etc/freeswitch/sip_profiles/internal.xml"
EXTERNAL = "/etc/freeswitch/sip_profiles/external.xml"
DIALPLAN = "/etc/freeswitch/dialplan/trunkline.xml"
IVR = "/etc/freeswitch/ivr_menus/trunkline.xml"
EVENT_SOCKET = "/etc/freeswitch/autoload_configs/event_socket.conf.xml"
# the rest of a complete configuration folder: FreeSWITCH starts on these files alone
TOP = "/etc/freeswitch/freeswitch.xml"
REST = [TOP] + [f"/etc/freeswitch/autoload_configs/{n}.conf.xml" for n in
                ("switch", "timezones", "console", "logfile", "sofia", "db", "local_stream", "ivr", "post_load_modules", "opus")]
DIRECTORY = "/etc/freeswitch/directory/trunkline.xml"
ALL = [VARS, MODULES, CALLCENTER, INTERNAL, EXTERNAL, DIALPLAN, IVR, EVENT_SOCKET, DIRECTORY, *REST]

SHOUT = "/etc/freeswitch/autoload_configs/shout.conf.xml"  # mp3 recordings only
REC = "${trunkline_recording}"  # the call's recording path, set by the carrier extension

# a small center built in the tests: one site, one media node, a rented (hosted) pool beside ours
SMALL = {
    "apiVersion": "trunkline/v1",
    "kind": "Center",
    "metadata": {"name": "tiny", "customer": "Tiny & Sons \"Ltd\""},
    "spec": {
        "timezone": "Europe/Berlin",
        "languages": ["en-US"],
        "forecast": {
            "peak_calls_per_hour": 60,
            "average_handle_time": "180s",
            "service_level": {"answer_within": "20s", "target": 0.8},
        },
        "seats": [
            {"pool": "desk", "count": 3, "skills": ["help", "sales"], "site": "hq"},
            {"pool": "night", "count": 2, "skills": ["help"], "site": "hq"},
            {"pool": "rented", "count": 5, "skills": ["help"], "site": "hq", "hosted": True},
        ],
        "trunks": [
            {"name": "telco", "transport": "tls", "codecs": ["PCMU", "OPUS"], "peers": ["203.0.113.10"]},
        ],
        "sites": [
            {
                "name": "hq", "kind": "onprem", "role": "primary", "network": {"cidr": "198.51.100.0/24"},
                "sip_proxy": {"ha": "single"}, "media": {"nodes": 1},
            },
        ],
        "queues": [
            {"name": "help", "skill": "help", "max_wait": "90s"},
            {"name": "sales", "skill": "sales", "strategy": "round-robin"},
        ],
        "recording": {"mode": "all", "format": "wav", "pause_on_payment": True},
        "security": {"sip_tls_min": "1.2", "srtp": "optional"},
    },
}


def small(**spec) -> Plan:
    """The small center with spec keys replaced, e.g. small(languages=["zh-CN"])."""
    data = copy.deepcopy(SMALL)
    data["spec"].update(copy.deepcopy(spec))
    return build_plan(validate_data(data), source="tests/small.yaml")


@lru_cache(maxsize=None)
def acme() -> Plan:
    return load_center(ACME).plan


def media(plan: Plan) -> list:
    return [h for h in plan.hosts if h.role == "media"]


def files(plan: Plan, host=None) -> dict[str, str]:
    """Target path -> text of one media node's FreeSWITCH files (the first media node by default)."""
    host = host or media(plan)[0]
    return {f.path: f.content.decode() for f in render_host(plan, host) if f.path.startswith("/etc/freeswitch/")}


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)


def params(element: ET.Element, name: str) -> list[str]:
    return [p.get("value") for p in element.iter("param") if p.get("name") == name]


def settings(profile_text: str) -> ET.Element:
    return parse(profile_text).find("settings")


def sets(vars_text: str) -> dict[str, str]:
    out = {}
    for e in parse(vars_text).iter("X-PRE-PROCESS"):
        assert e.get("cmd") == "set"
        name, _, value = e.get("data").partition("=")
        out[name] = value
    return out


def actions(extension: ET.Element) -> list[tuple[str, str]]:
    return [(a.get("application"), a.get("data") or "") for a in extension.iter("action")]


def extension(dialplan_text: str, name: str) -> ET.Element:
    found = [e for e in parse(dialplan_text).iter("extension") if e.get("name") == name]
    assert len(found) == 1, name
    return found[0]


# --- every file -------------------------------------------------------------------------------


def test_media_node_gets_every_freeswitch_file_of_the_output_map():
    # besides these the media role has the recordings' tmpfiles.d entry and the NFS store's mount unit;
    # shout.conf.xml is there because acme-bank records mp3
    assert sorted(files(acme())) == sorted(o.target for o in OUTPUTS["media"] if o.target.startswith("/etc/freeswitch/")) == sorted([*ALL, SHOUT])
    assert SHOUT not in files(small(recording={"mode": "all", "format": "wav"}))


@pytest.mark.parametrize("plan", [acme, lambda: small()], ids=["acme-bank", "small"])
def test_every_file_starts_with_managed_by_header(plan):
    plan = plan()
    for host in media(plan):
        for path, text in files(plan, host).items():
            first = text.splitlines()[0]
            assert first.startswith("<!-- managed by trunkline") and first.endswith("-->"), (host.name, path)


@pytest.mark.parametrize("plan", [acme, lambda: small()], ids=["acme-bank", "small"])
def test_every_file_is_well_formed_xml(plan):
    plan = plan()
    for host in media(plan):
        for path, text in files(plan, host).items():
            parse(text)  # raises on a malformed file


def test_include_tags_stand_alone_on_their_lines():
    # FreeSWITCH's pre-processor drops every line holding <include> or </include>
    for path, text in files(acme()).items():
        for line in text.splitlines():
            if "<include>" in line or "</include>" in line:
                assert line.strip() in ("<include>", "</include>"), (path, line)


def test_no_preprocessor_command_sits_in_a_comment():
    # the pre-processor acts on (or drops) such lines even inside a comment
    for path, text in files(acme()).items():
        for comment in re.findall(r"<!--.*?-->", text, re.S):
            assert "x-pre-process" not in comment.lower(), path


def test_user_text_is_escaped_in_attributes():
    """The loader refuses such a greeting; placed straight into the plan, the XML still holds it as one attribute."""
    plan = small(ivr=[{"name": "hello", "entry": True, "greeting": "greet/hello.wav", "options": {"1": {"queue": "help"}}}])
    plan.ivr[0]["greeting"] = 'greet/a&b "x" <y>.wav'
    menu = parse(files(plan)[IVR]).find("menu")
    assert menu.get("greet-long") == 'greet/a&b "x" <y>.wav'


def test_a_greeting_with_markup_is_refused_by_the_loader():
    with pytest.raises(BlueprintError, match=r"spec\.ivr\[0\]\.greeting: .* is not a sound file or phrase macro"):
        small(ivr=[{"name": "hello", "entry": True, "greeting": 'greet/a&b "x" <y>.wav', "options": {"1": {"queue": "help"}}}])


# --- vars.xml ---------------------------------------------------------------------------------


def test_vars_local_ip_is_the_media_node_address():
    plan = acme()
    for host in media(plan):
        assert sets(files(plan, host)[VARS])["local_ip_v4"] == host.address


def test_vars_proxy_vip_is_the_site_vip():
    plan = acme()
    for host in media(plan):
        assert sets(files(plan, host)[VARS])["proxy_vip"] == plan.site(host.site).vip


def test_vars_codec_prefs_are_the_codecs_of_the_site_trunks_in_order():
    plan = acme()
    host = media(plan)[0]
    expected = []
    for t in plan.trunks:
        if host.site in t.sites:
            expected += [c for c in t.codecs if c not in expected]
    v = sets(files(plan, host)[VARS])
    assert v["global_codec_prefs"] == v["outbound_codec_prefs"] == ",".join(expected)
    assert sets(files(small())[VARS])["global_codec_prefs"] == "PCMU,OPUS"


def test_vars_rtp_range_is_freeswitchs_stock_16384_to_32768():
    # an odd end port makes FreeSWITCH warn "Rounding odd end port" and use one port less
    v = sets(files(acme())[VARS])
    assert (v["rtp_start_port"], v["rtp_end_port"]) == ("16384", "32768")


def test_vars_recordings_dir_is_the_recording_storage_path():
    plan = acme()
    assert sets(files(plan)[VARS])["recordings_dir"] == plan.recording["storage"]["path"]


@pytest.mark.parametrize(("srtp", "value"), [("required", "mandatory"), ("optional", "optional"), ("off", "forbidden")])
def test_vars_rtp_secure_media_follows_security_srtp(srtp, value):
    plan = small(security={"srtp": srtp}, trunks=[{"name": "telco", "transport": "tls", "peers": ["203.0.113.10"]}])
    assert sets(files(plan)[VARS])["rtp_secure_media"] == value


def test_vars_default_language_and_timezone_come_from_the_blueprint():
    plan = small(languages=["zh-CN", "en-US"], timezone="Asia/Shanghai")
    v = sets(files(plan)[VARS])
    assert (v["default_language"], v["default_dialect"]) == ("zh", "cn")
    assert v["sound_prefix"] == "$${sounds_dir}/zh/cn/sinmei"
    assert v["timezone"] == "Asia/Shanghai"
    assert sets(files(small())[VARS])["timezone"] == "Europe/Berlin"


@pytest.mark.parametrize(("minimum", "versions"), [("1.0", "tlsv1,tlsv1.1,tlsv1.2,tlsv1.3"), ("1.2", "tlsv1.2,tlsv1.3"), ("1.3", "tlsv1.3")])
def test_vars_sip_tls_version_allows_the_blueprint_minimum_and_newer(minimum, versions):
    plan = small(security={"sip_tls_min": minimum, "srtp": "optional"})
    assert sets(files(plan)[VARS])["sip_tls_version"] == versions


# --- modules.conf.xml -------------------------------------------------------------------------


def loaded(plan: Plan) -> list[str]:
    root = parse(files(plan)[MODULES])
    assert root.tag == "configuration" and root.get("name") == "modules.conf"
    return [m.get("module") for m in root.find("modules").iter("load")]


def test_modules_conf_loads_callcenter_and_sofia():
    mods = loaded(acme())
    assert "mod_sofia" in mods and "mod_callcenter" in mods


def test_modules_conf_loads_every_module_the_media_node_needs():
    need = {
        "mod_sofia", "mod_dptools", "mod_dialplan_xml", "mod_callcenter", "mod_commands", "mod_event_socket",
        "mod_console", "mod_logfile", "mod_sndfile", "mod_native_file", "mod_tone_stream", "mod_local_stream",
        "mod_say_en", "mod_spandsp", "mod_expr", "mod_db", "mod_hash",
    }
    mods = loaded(small())
    assert need <= set(mods) and len(mods) == len(set(mods))


def built_modules() -> set[str]:
    """The modules trunkline's FreeSWITCH build has: MODULES="cat/mod_x ..." in scripts/freeswitch/build.sh."""
    text = (ROOT / "scripts" / "freeswitch" / "build.sh").read_text()
    return set(re.findall(r"/(mod_\w+)", re.search(r'^MODULES="([^"]*)"', text, re.M).group(1)))


def test_modules_conf_loads_only_modules_trunkline_builds():
    # a module that is not built fails to load with a CRIT line (acme-bank's zh-CN asked for mod_say_zh)
    assert set(loaded(acme())) <= built_modules()
    assert len(built_modules()) == 25


def test_modules_conf_loads_g729_only_when_a_trunk_offers_it():
    assert "mod_g729" in loaded(acme())
    assert "mod_g729" not in loaded(small())


def test_modules_conf_loads_opus_for_an_opus_trunk_only():
    """Opus recordings need no FreeSWITCH module: the call is recorded as wav and opusenc encodes it."""
    pcma = [{"name": "telco", "transport": "tls", "codecs": ["PCMA"], "peers": ["203.0.113.10"]}]
    assert "mod_opus" in loaded(small())  # the trunk offers OPUS
    assert "mod_opus" not in loaded(small(trunks=pcma, recording={"mode": "all", "format": "opus"}))


def test_modules_conf_loads_shout_only_for_mp3_recordings():
    assert "mod_shout" in loaded(small(recording={"mode": "all", "format": "mp3"}))
    assert "mod_shout" in loaded(small(recording={"mode": "on-demand", "format": "mp3"}))
    for recording in ({"mode": "all", "format": "wav"}, {"mode": "all", "format": "opus"}, {"mode": "none", "format": "mp3"}):
        assert "mod_shout" not in loaded(small(recording=recording)), recording


# --- callcenter.conf.xml ----------------------------------------------------------------------


def callcenter(plan: Plan, host=None) -> ET.Element:
    root = parse(files(plan, host)[CALLCENTER])
    assert root.tag == "configuration" and root.get("name") == "callcenter.conf"
    return root


def site_agents(plan: Plan, site: str) -> list[str]:
    serving = plan.site(site).covers or [site]  # a standby site serves its primaries' agents after failover
    return [f"{s.pool}-{i:04d}" for s in plan.seats if s.site in serving for i in range(1, s.agents + 1)]


def test_callcenter_has_one_queue_per_blueprint_queue():
    plan = acme()
    names = [q.get("name") for q in callcenter(plan).find("queues").iter("queue")]
    assert names == [f"{q['name']}@$${{domain}}" for q in plan.queues]


def test_callcenter_queue_params_come_from_the_blueprint_queue():
    plan = small()
    queues = {q.get("name"): q for q in callcenter(plan).find("queues").iter("queue")}
    help_q, sales_q = queues["help@$${domain}"], queues["sales@$${domain}"]
    assert params(help_q, "max-wait-time") == ["90"]
    assert params(help_q, "strategy") == ["longest-idle-agent"] and params(sales_q, "strategy") == ["round-robin"]
    assert params(help_q, "moh-sound") == ["local_stream://moh"]
    assert params(help_q, "announce-frequency") == ["30"]
    assert params(help_q, "tier-rules-apply") == ["false"]


def test_callcenter_has_one_agent_per_seat_of_the_site():
    plan = acme()
    site = media(plan)[0].site
    names = [a.get("name") for a in callcenter(plan).find("agents").iter("agent")]
    assert names == site_agents(plan, site)
    assert len(names) == sum(s.agents for s in plan.seats if s.site == site)


def test_agent_names_are_pool_and_four_digit_number():
    names = [a.get("name") for a in callcenter(small()).find("agents").iter("agent")]
    assert names == ["desk-0001", "desk-0002", "desk-0003", "night-0001", "night-0002",
                     "rented-0001", "rented-0002", "rented-0003", "rented-0004", "rented-0005"]


def test_agent_contact_rings_the_registered_user():
    for agent in callcenter(small()).find("agents").iter("agent"):
        assert agent.get("type") == "callback"
        assert agent.get("contact") == f"[leg_timeout=20]user/{agent.get('name')}@$${{domain}}"


def test_hosted_pools_log_in_here_like_our_own_seats():
    # hosted means rented per seat-month (the cost model); the agents still work on these queues
    names = [a.get("name") for a in callcenter(small()).find("agents").iter("agent")]
    assert [n for n in names if n.startswith("rented-")] == [f"rented-{i:04d}" for i in range(1, 6)]


def test_standby_media_carries_the_agents_of_the_primary_it_covers():
    plan = acme()
    standby = next(s for s in plan.sites if s.role == "standby")
    node = next(h for h in plan.hosts if h.site == standby.name and h.role == "media")
    names = [a.get("name") for a in callcenter(plan, node).find("agents").iter("agent")]
    assert standby.covers == ["sh-dc1"]
    assert names and names == site_agents(plan, "sh-dc1")


def test_every_agent_of_the_site_has_a_tier_for_each_matching_queue():
    for plan in (acme(), small()):
        site = media(plan)[0].site
        tiers = {(t.get("agent"), t.get("queue")) for t in callcenter(plan).find("tiers").iter("tier")}
        expected = {
            (f"{s.pool}-{i:04d}", f"{q['name']}@$${{domain}}")
            for s in plan.seats if s.site == site
            for q in plan.queues if q["skill"] in s.skills
            for i in range(1, s.agents + 1)
        }
        assert tiers == expected
        assert all(t.get("level") == "1" for t in callcenter(plan).find("tiers").iter("tier"))


def test_every_media_node_of_a_site_carries_the_same_agents_and_tiers():
    plan = acme()
    nodes = [h for h in media(plan) if h.site == media(plan)[0].site]
    assert len(nodes) > 1
    lists = [
        (ET.tostring(callcenter(plan, h).find("agents")), ET.tostring(callcenter(plan, h).find("tiers")))
        for h in nodes
    ]
    assert all(item == lists[0] for item in lists)


def test_callcenter_agents_are_a_loop_not_plan_data():
    # 10,000 agents render from a plan that holds one number per pool
    plan = small(seats=[{"pool": "floor", "count": 10000, "skills": ["help", "sales"], "site": "hq"}])
    root = callcenter(plan)
    assert len(root.find("agents")) == 10000
    assert len(root.find("tiers")) == 20000
    assert [a.get("name") for a in root.find("agents")][-1] == "floor-10000"


# --- SIP profiles -----------------------------------------------------------------------------


def test_internal_profile_listens_on_5060_at_the_node_address():
    plan = acme()
    host = media(plan)[0]
    root = parse(files(plan, host)[INTERNAL])
    assert root.tag == "profile" and root.get("name") == "internal"
    s = root.find("settings")
    assert params(s, "sip-port") == ["5060"]
    assert params(s, "sip-ip") == params(s, "rtp-ip") == [host.address]


def test_internal_profile_authenticates_agents():
    s = settings(files(acme())[INTERNAL])
    assert params(s, "auth-calls") == ["true"]
    assert params(s, "force-register-domain") == ["$${domain}"]


def test_internal_profile_uses_tls_with_the_vars_tls_version():
    s = settings(files(acme())[INTERNAL])
    assert params(s, "tls") == ["true"]
    assert params(s, "tls-sip-port") == ["5061"]
    assert params(s, "tls-version") == ["$${sip_tls_version}"]


def test_internal_profile_has_no_tls_without_srtp_or_tls_trunks():
    plan = small(security={"srtp": "off"}, trunks=[{"name": "telco", "transport": "udp", "peers": ["203.0.113.10"]}])
    assert params(settings(files(plan)[INTERNAL]), "tls") == ["false"]


def test_external_profile_listens_on_media_port():
    plan = acme()
    host = media(plan)[0]
    root = parse(files(plan, host)[EXTERNAL])
    assert root.tag == "profile" and root.get("name") == "external"
    s = root.find("settings")
    assert params(s, "sip-port") == [str(MEDIA_SIP_PORT)]
    assert params(s, "sip-ip") == [host.address]
    assert params(s, "context") == ["trunkline"]


def test_external_profile_lets_in_only_the_site_proxies():
    plan = acme()
    for host in media(plan):
        s = settings(files(plan, host)[EXTERNAL])
        allowed = {v.removesuffix("/32") for v in params(s, "apply-inbound-acl")}
        proxies = {h.address for h in plan.hosts_of(host.site, "sip-proxy")}
        assert allowed == proxies | {plan.site(host.site).vip}
        assert all(v.endswith("/32") for v in params(s, "apply-inbound-acl"))
        assert params(s, "auth-calls") == ["false"]  # so a source outside the ACL is refused (403)


def test_external_profile_has_a_gateway_per_trunk_of_the_site():
    plan = acme()
    for host in media(plan):
        gateways = [g.get("name") for g in parse(files(plan, host)[EXTERNAL]).find("gateways").iter("gateway")]
        assert gateways == [t.name for t in plan.trunks if host.site in t.sites]


def test_gateways_send_to_the_site_vip_without_registering():
    plan = acme()
    host = media(plan)[0]
    for g in parse(files(plan, host)[EXTERNAL]).find("gateways").iter("gateway"):
        assert params(g, "proxy") == [plan.site(host.site).vip]
        assert params(g, "register") == ["false"]


def test_gateway_username_is_the_trunk_username_or_its_name():
    plan = acme()
    assert {t.username is None for t in plan.trunks} == {True, False}  # acme-bank has both kinds
    gateways = {g.get("name"): g for g in parse(files(plan)[EXTERNAL]).find("gateways").iter("gateway")}
    for t in plan.trunks:
        if t.name in gateways:
            assert params(gateways[t.name], "username") == [t.username or t.name]


def test_gateway_password_is_a_secret_marker_not_a_value():
    plan = acme()
    host = media(plan)[0]
    refs = {t.name: t.secret_ref for t in plan.trunks if host.site in t.sites}
    assert any(refs.values())
    rendered = [f for f in render_host(plan, host) if f.path == EXTERNAL][0]
    for g in parse(rendered.content.decode()).find("gateways").iter("gateway"):
        ref = refs[g.get("name")]
        assert params(g, "password") == ([f"@@secret:{ref}@@"] if ref else [])
    assert set(rendered.secrets) == {r for r in refs.values() if r}


def test_gateway_without_a_secret_has_no_password():
    gateway = parse(files(small())[EXTERNAL]).find("gateways").find("gateway")
    assert params(gateway, "password") == []
    assert params(gateway, "username") == ["telco"]


# --- dialplan ---------------------------------------------------------------------------------


def test_dialplan_is_the_trunkline_context():
    root = parse(files(acme())[DIALPLAN])
    assert root.tag == "include"
    assert [c.get("name") for c in root.iter("context")] == ["trunkline"]


def test_dialplan_has_a_callcenter_extension_per_queue():
    plan = acme()
    text = files(plan)[DIALPLAN]
    for q in plan.queues:
        ext = extension(text, f"queue-{q['name']}")
        assert ext.find("condition").get("expression") == f"^{q['name']}$"
        assert ("callcenter", f"{q['name']}@$${{domain}}") in actions(ext)


def test_inbound_calls_go_to_the_entry_menu():
    plan = acme()
    entry = next(m["name"] for m in plan.ivr if m["entry"])
    root = parse(files(plan)[DIALPLAN])
    inbound = extension(files(plan)[DIALPLAN], "inbound")
    assert ("transfer", f"ivr-{entry} XML trunkline") in actions(inbound)
    assert ("ivr", entry) in actions(extension(files(plan)[DIALPLAN], f"ivr-{entry}"))
    assert list(root.iter("extension"))[-1].get("name") == "inbound"  # the catch-all comes last


def test_inbound_calls_go_to_the_first_queue_without_ivr():
    plan = small()
    assert ("transfer", "help XML trunkline") in actions(extension(files(plan)[DIALPLAN], "inbound"))


def test_inbound_extension_takes_only_calls_from_the_external_profile():
    conditions = extension(files(acme())[DIALPLAN], "inbound").findall("condition")
    assert (conditions[0].get("field"), conditions[0].get("expression")) == ("${sofia_profile_name}", "^external$")


def test_dialplan_masks_the_recording_for_payment_when_asked():
    """record_session_mask writes silence in place of the call's audio (the file stays one piece)."""
    plan = acme()
    assert plan.recording["pause_on_payment"] and plan.recording["mode"] != "none"
    steps = actions(extension(files(plan)[DIALPLAN], "payment"))
    mask, unmask = steps.index(("record_session_mask", REC)), steps.index(("record_session_unmask", REC))
    assert mask < [a for a, _ in steps].index("play_and_get_digits") < unmask
    # each pause is logged (PCI DSS 10.2), at NOTICE, which session_loglevel notice still lets through
    assert steps[mask + 1][0] == steps[unmask + 1][0] == "log" and steps[mask + 1][1].startswith("NOTICE ")


def test_card_data_is_cleared_before_the_recording_hears_the_call_again():
    steps = actions(extension(files(acme())[DIALPLAN], "payment"))
    assert steps.index(("unset", "trunkline_card_number")) < steps.index(("record_session_unmask", REC))


@pytest.mark.parametrize("recording", [
    {"mode": "all", "pause_on_payment": False},
    {"mode": "none", "pause_on_payment": True},
], ids=["pause-off", "mode-none"])
def test_dialplan_payment_masks_nothing_when_not_asked(recording):
    text = files(small(recording=recording))[DIALPLAN]
    payment = extension(text, "payment")
    assert "play_and_get_digits" in [a for a, _ in actions(payment)]
    assert "record_session_mask" not in text and "uuid_send_info" not in text


def recording_steps(plan: Plan) -> list[tuple[str, str]]:
    return actions(extension(files(plan)[DIALPLAN], "inbound"))


def test_mode_all_records_every_carrier_call_from_its_answer_before_the_ivr():
    steps = recording_steps(acme())
    apps = [a for a, _ in steps]
    start = steps.index(("record_session", REC))
    assert apps.index("set") < apps.index("answer") < start < apps.index("transfer")
    assert ("set", "trunkline_recording=${trunkline_recording_name}.mp3") in steps[:start]


def test_mode_on_demand_sets_the_path_and_starts_nothing():
    steps = recording_steps(small(recording={"mode": "on-demand", "format": "wav"}))
    assert ("set", "trunkline_recording=${trunkline_recording_name}.wav") in steps
    assert "record_session" not in [a for a, _ in steps]


def test_mode_none_records_nothing():
    text = files(small(recording={"mode": "none"}))[DIALPLAN]
    assert "record_session" not in text and "trunkline_recording" not in text and "X-Trunkline-Call" not in text


def test_recording_name_is_the_date_in_the_sites_zone_the_call_id_hash_and_the_uuid():
    steps = dict(s for s in recording_steps(acme()) if s[0] == "set" and "=" in s[1] for s in [tuple(s[1].split("=", 1))])
    assert steps["trunkline_recording_day"] == "${strftime_tz(Asia/Shanghai %Y/%m/%d)}"
    assert steps["trunkline_recording_name"] == "$${recordings_dir}/${trunkline_recording_day}/${trunkline_call_hash}_${uuid}"
    # mono 8 kHz, as the storage sizing counts it; even a call under FreeSWITCH's default 3 s is kept
    assert (steps.get("RECORD_STEREO"), steps["record_sample_rate"], steps["RECORD_MIN_SEC"]) == (None, "8000", "0")


def test_the_call_id_hash_is_taken_only_as_32_hex_digits():
    """The proxy sends MD5(Call-ID) in X-Trunkline-Call; anything else names the file nocallid."""
    cond = next(c for c in extension(files(acme())[DIALPLAN], "inbound").findall("condition")
                if c.get("field") == "${sip_h_X-Trunkline-Call}")
    assert cond.get("expression") == "^([0-9a-f]{32})$" and cond.get("break") == "never"
    assert [(a.tag, a.get("data")) for a in cond] == [("action", "trunkline_call_hash=$1"), ("anti-action", "trunkline_call_hash=nocallid")]


@pytest.mark.parametrize("fmt,ext", [("wav", "wav"), ("mp3", "mp3"), ("opus", "wav")])
def test_format_names_the_file_and_opus_is_encoded_after_the_call(fmt, ext):
    steps = dict(tuple(d.split("=", 1)) for a, d in recording_steps(small(recording={"mode": "all", "format": fmt})) if a == "set")
    assert steps["trunkline_recording"] == f"${{trunkline_recording_name}}.{ext}"
    post = steps.get("record_post_process_exec_api")
    if fmt == "opus":
        assert post == ("bg_system:cd /var/spool/trunkline/recordings/${trunkline_recording_day} && opusenc --quiet --bitrate 16 "
                        "${trunkline_call_hash}_${uuid}.wav ${trunkline_call_hash}_${uuid}.opus && rm -f ${trunkline_call_hash}_${uuid}.wav")
    else:
        assert post is None


def test_dialplan_sets_srtp_before_answering_carrier_calls():
    plan = acme()
    steps = actions(extension(files(plan)[DIALPLAN], f"queue-{plan.queues[0]['name']}"))
    assert steps.index(("set", "rtp_secure_media=$${rtp_secure_media}")) < steps.index(("answer", ""))


@pytest.mark.parametrize("srtp", ["required", "optional", "off"])
def test_carrier_calls_get_rtp_without_gaps_before_answering(srtp):
    # while an IVR waits for digits nothing plays; without this a plain RTP call sent no packet then,
    # and carriers' media timers end such calls (FreeSWITCH sets it itself on SRTP calls only)
    plan = small(security={"srtp": srtp}, trunks=[{"name": "telco", "transport": "tls", "peers": ["203.0.113.10"]}])
    for name in ("inbound", f"queue-{plan.queues[0]['name']}"):
        steps = actions(extension(files(plan)[DIALPLAN], name))
        assert steps.index(("set", "send_silence_when_idle=-1")) < steps.index(("answer", "")), name


def test_menu_extension_sets_the_menu_language():
    plan = small(languages=["en-US", "zh-CN"], ivr=[{"name": "top", "entry": True, "greeting": "top.wav", "language": "zh-CN"}])
    steps = actions(extension(files(plan)[DIALPLAN], "ivr-top"))
    assert ("set", "sound_prefix=$${sound_prefix_zh_cn}") in steps
    assert ("set", "default_language=zh") in steps
    assert sets(files(plan)[VARS])["sound_prefix_zh_cn"] == "$${sounds_dir}/zh/cn/sinmei"


# --- IVR menus --------------------------------------------------------------------------------


def menus(plan: Plan) -> dict[str, ET.Element]:
    root = parse(files(plan)[IVR])
    assert root.tag == "include"
    return {m.get("name"): m for m in root.findall("menu")}


def test_ivr_has_one_menu_per_blueprint_menu():
    plan = acme()
    assert list(menus(plan)) == [m["name"] for m in plan.ivr]


def test_ivr_timeout_is_the_blueprint_timeout_in_milliseconds():
    plan = acme()
    found = menus(plan)
    for m in plan.ivr:
        assert found[m["name"]].get("timeout") == str(m["timeout"] * 1000)
    timed = small(ivr=[{"name": "top", "entry": True, "greeting": "top.wav", "timeout": "8s"}])
    assert menus(timed)["top"].get("timeout") == "8000"


def test_ivr_menu_plays_the_blueprint_greeting():
    plan = acme()
    found = menus(plan)
    for m in plan.ivr:
        assert found[m["name"]].get("greet-long") == found[m["name"]].get("greet-short") == m["greeting"]


def test_ivr_queue_option_transfers_to_the_queue_extension():
    plan = acme()
    found = menus(plan)
    checked = 0
    for m in plan.ivr:
        entries = {e.get("digits"): e for e in found[m["name"]].iter("entry")}
        for digit, option in m["options"].items():
            if option["queue"] and not option["say"]:
                entry = entries[digit]
                assert (entry.get("action"), entry.get("param")) == ("menu-exec-app", f"transfer {option['queue']} XML trunkline")
                checked += 1
    assert checked


def test_ivr_menu_option_opens_the_sub_menu():
    plan = small(ivr=[
        {"name": "top", "entry": True, "greeting": "top.wav", "options": {"3": {"menu": "more"}}},
        {"name": "more", "greeting": "more.wav", "options": {"1": {"queue": "help"}}},
    ])
    entry = menus(plan)["top"].find("entry")
    assert (entry.get("digits"), entry.get("action"), entry.get("param")) == ("3", "menu-sub", "more")


def test_ivr_sub_menu_in_another_language_goes_through_its_extension():
    plan = small(
        languages=["en-US", "zh-CN"],
        ivr=[
            {"name": "top", "entry": True, "greeting": "top.wav", "language": "en-US", "options": {"9": {"menu": "zh"}}},
            {"name": "zh", "greeting": "zh.wav", "language": "zh-CN", "options": {"1": {"queue": "help"}}},
        ],
    )
    entry = menus(plan)["top"].find("entry")
    assert (entry.get("action"), entry.get("param")) == ("menu-exec-app", "transfer ivr-zh XML trunkline")
    assert ("set", "sound_prefix=$${sound_prefix_zh_cn}") in actions(extension(files(plan)[DIALPLAN], "ivr-zh"))


def test_ivr_option_with_say_plays_it_before_the_transfer():
    plan = small(ivr=[{"name": "top", "entry": True, "greeting": "top.wav", "options": {"*": {"queue": "help", "say": "phrase:help_intro"}}}])
    entry = menus(plan)["top"].find("entry")
    assert entry.get("param") == "transfer ivr-top-star XML trunkline"
    assert actions(extension(files(plan)[DIALPLAN], "ivr-top-star")) == [
        ("playback", "phrase:help_intro"), ("transfer", "help XML trunkline"),
    ]


def test_timezones_conf_names_every_zone_the_node_uses_with_its_posix_rule():
    # without it FreeSWITCH logs "Timezone 'Asia/Shanghai' not found!" on every call and uses UTC
    plan = acme()
    host = next(h for h in plan.hosts if h.role == "media")
    doc = ET.fromstring(files(plan, host)["/etc/freeswitch/autoload_configs/timezones.conf.xml"])
    zones = {z.get("name"): z.get("value") for z in doc.iter("zone")}
    v = sets(files(plan, host)[VARS])
    assert zones[v["timezone"]] == "CST-8" and set(plan.timezones) <= set(zones)


def test_a_zone_rule_with_angle_brackets_stays_one_xml_attribute():
    plan = small(timezone="Asia/Kathmandu")
    doc = ET.fromstring(files(plan)["/etc/freeswitch/autoload_configs/timezones.conf.xml"])
    assert {z.get("name"): z.get("value") for z in doc.iter("zone")}["Asia/Kathmandu"] == "<+0545>-5:45"
