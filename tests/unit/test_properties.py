"""Property tests: every valid blueprint renders and passes the real checks; bad input only
ever yields clean trunkline errors, never a traceback."""

from __future__ import annotations

import copy
import string
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trunkline.blueprint.load import load_blueprint, validate_data
from trunkline.errors import TrunklineError
from trunkline.plan.topology import build_plan
from trunkline.render import render_site
from trunkline.render.check import check_tree

from shared import field_paths

NAMES = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
SKILLS = ["sales", "support", "billing", "tech"]


@st.composite
def blueprints(draw) -> dict:
    n_sites = draw(st.integers(1, 3))
    site_names = draw(st.lists(NAMES, min_size=n_sites, max_size=n_sites, unique=True))
    sites = []
    for i, name in enumerate(site_names):
        kind = draw(st.sampled_from(["onprem", "cloud"]))
        # one standby at most: with two, each must name the primaries it takes over (standby_for)
        roles = ["primary", "burst"] + ([] if any(s["role"] == "standby" for s in sites) else ["standby"])
        site = {"name": name, "kind": kind, "role": "primary" if i == 0 else draw(st.sampled_from(roles)),
                "network": {"cidr": f"10.{i + 1}.0.0/{draw(st.sampled_from([22, 23, 24]))}"},
                "sip_proxy": {"ha": draw(st.sampled_from(["pair", "single"]))},
                "media": {"calls_per_node": draw(st.integers(20, 400))}}
        if kind == "cloud":
            site["provider"] = draw(st.sampled_from(["aws", "aliyun", "azure"]))
        sites.append(site)
    skills = draw(st.lists(st.sampled_from(SKILLS), min_size=1, max_size=4, unique=True))
    pools = []
    for i in range(draw(st.integers(1, 3))):
        pools.append({"pool": f"pool{i}", "count": draw(st.one_of(st.just("auto"), st.integers(1, 400))),
                      "skills": draw(st.lists(st.sampled_from(skills), min_size=1, unique=True)),
                      "site": draw(st.sampled_from(site_names)), "hosted": draw(st.booleans())})
    used = sorted({s for p in pools for s in p["skills"]})
    queues = [{"name": f"q-{s}", "skill": s} for s in used]
    srtp = draw(st.sampled_from(["required", "optional", "off"]))
    trunks = []
    for i in range(draw(st.integers(1, 3))):
        trunk = {"name": f"carrier{i}", "transport": "tls" if srtp == "required" else draw(st.sampled_from(["udp", "tcp", "tls"])),
                 "channels": draw(st.one_of(st.just("auto"), st.integers(1, 300))),
                 "grade_of_service": draw(st.sampled_from([0.001, 0.01, 0.05])),
                 "codecs": draw(st.lists(st.sampled_from(["PCMA", "PCMU", "G722", "G729", "OPUS"]), min_size=1, max_size=3, unique=True)),
                 "peers": [f"192.0.2.{10 * i + j + 1}" for j in range(draw(st.integers(1, 3)))],
                 "sites": draw(st.lists(st.sampled_from(site_names), unique=True, max_size=n_sites))}
        if draw(st.booleans()):
            trunk["credentials"] = {"secret": f"env:TRUNK_{i}_PASSWORD"}
        trunks.append(trunk)
    ivr = []
    if draw(st.booleans()):
        ivr = [{"name": "main", "entry": True, "greeting": "ivr/welcome.wav",
                "options": {str(k): {"queue": q["name"]} for k, q in enumerate(queues[:9], 1)}}]
    storage_kind = draw(st.sampled_from(["local", "nfs", "s3"]))
    storage = {"kind": storage_kind, "encryption": "aes-256"}
    if storage_kind == "s3":
        storage.update(bucket="recordings", worm=draw(st.booleans()))
    return {
        "apiVersion": "trunkline/v1", "kind": "Center",
        "metadata": {"name": draw(NAMES), "customer": "Generated Customer"},
        "spec": {
            "languages": draw(st.lists(st.sampled_from(["en-US", "zh-CN", "de-DE"]), min_size=1, unique=True)),
            "forecast": {"peak_calls_per_hour": draw(st.integers(0, 6000)),
                         "average_handle_time": f"{draw(st.integers(30, 900))}s",
                         "service_level": {"answer_within": f"{draw(st.integers(5, 120))}s", "target": draw(st.sampled_from([0.7, 0.8, 0.9]))},
                         "shrinkage": draw(st.sampled_from([0.0, 0.2, 0.35]))},
            "seats": pools, "trunks": trunks, "sites": sites, "queues": queues, "ivr": ivr,
            "recording": {"mode": draw(st.sampled_from(["all", "on-demand", "none"])), "format": draw(st.sampled_from(["wav", "mp3", "opus"])),
                          "pause_on_payment": draw(st.booleans()), "storage": storage, "retention": draw(st.sampled_from(["90d", "1y", "7y"]))},
            "security": {"srtp": srtp, "sip_tls_min": draw(st.sampled_from(["1.2", "1.3"])), "pike": draw(st.booleans())},
        },
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blueprints())
def test_every_valid_blueprint_renders_and_passes_the_real_checks(data):
    plan = build_plan(validate_data(data))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        render_site(plan, out, check=False)
        results = check_tree(out)
    assert results
    bad = [f"{r.host}{r.path}: {r.checker} {r.status}: {r.detail}" for r in results if r.status != "passed"]
    assert not bad, "\n".join(bad)


JUNK = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(string.ascii_lowercase, max_size=6), inner, max_size=3)),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_field_replaced_with_junk_gives_a_clean_error_or_a_plan(base_data, data):
    doc = copy.deepcopy(base_data)
    paths = [p for p in field_paths(doc) if p]
    path = data.draw(st.sampled_from(paths))
    junk = data.draw(JUNK)
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = junk
    try:
        build_plan(validate_data(doc))
    except TrunklineError as exc:
        assert str(exc)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=string.printable + "{}[]:-#&*!|>'\"%@`", max_size=300))
def test_any_yaml_text_gives_a_clean_error_or_a_blueprint(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "junk.yaml"
        path.write_text(text)
        try:
            load_blueprint(path)
        except TrunklineError as exc:
            assert str(exc)
