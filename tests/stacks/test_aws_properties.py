"""Hypothesis over valid blueprints made from the examples with a cloud site (moved to AWS) by varying
the trunks' peers, transports and ports, the admin ranges, each cloud site's edge and size, the
retention and the packs: no security group ever opens SIP, RTP or SSH to the internet unless the
site declares its edge public (and then only SIP over TLS and RTP), every plan host of an AWS site
has exactly one instance, and Object Lock keeps recordings at least the retention."""

from __future__ import annotations

import copy
import ipaddress

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from ruamel.yaml import YAML

from stacks_shared import CLOUD_EXAMPLES, SKIP_REASON, aws_sets, ingress, of_type, sources

pytest.importorskip("pulumi_aws", reason=SKIP_REASON)

from trunkline import center as pipeline  # noqa: E402
from trunkline.blueprint.load import parse_set, validate_data  # noqa: E402
from trunkline.cloud import aws_sites  # noqa: E402
from trunkline.cloud.mocks import preview  # noqa: E402
from trunkline.errors import BlueprintError  # noqa: E402
from trunkline.plan.topology import RTP_PORTS, SIP_TLS_PORT  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
INTERNET = {"0.0.0.0/0", "::/0"}


def _aws_data(path) -> dict:
    """The example as plain data with its cloud sites on AWS (the same --set the other tests use)."""
    data = YAML(typ="safe").load(path.read_text())
    for expr in aws_sets(path):
        loc, value = parse_set(expr)
        node = data
        for part in loc[:-1]:
            node = node[part]
        node[loc[-1]] = value
    return data


BASES = [_aws_data(p) for p in CLOUD_EXAMPLES]

addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
networks = st.tuples(st.ip_addresses(v=4), st.integers(8, 32)).map(
    lambda a: str(ipaddress.ip_network(f"{a[0]}/{a[1]}", strict=False)))
edges = st.one_of(st.none(), st.fixed_dictionaries({"address": st.sampled_from(["elastic-ip", "load-balancer"]),
                                                      "public": st.booleans()}))


@st.composite
def blueprints(draw):
    data = copy.deepcopy(draw(st.sampled_from(BASES)))
    spec = data["spec"]
    for t in spec["trunks"]:
        t["peers"] = draw(st.lists(addresses, min_size=1, max_size=3, unique=True))
        t["transport"] = draw(st.sampled_from(["tls", "tcp", "udp"]))
        t["port"] = draw(st.one_of(st.none(), st.integers(1024, 65535)))
        if t["port"] is None:
            del t["port"]
    if any(t["transport"] != "tls" for t in spec["trunks"]):
        spec["security"]["srtp"] = "optional"  # SDP keys would cross in clear otherwise (refused)
    spec["security"]["admin_cidrs"] = draw(st.lists(networks, max_size=3, unique=True))
    for s in spec["sites"]:
        if s["kind"] == "cloud":
            edge = draw(edges)
            if edge:
                s["edge"] = edge
            s["sip_proxy"] = {"ha": draw(st.sampled_from(["pair", "single"]))}
            s["media"] = {"nodes": draw(st.integers(1, 3))}
    spec["recording"]["retention"] = f"{draw(st.integers(1, 3650))}d"
    spec["recording"]["storage"]["worm"] = draw(st.booleans())
    spec["compliance"] = draw(st.lists(st.sampled_from(["baseline", "pci-dss-4", "hipaa", "mlps-3", "gdpr"]), unique=True))
    try:
        return pipeline.from_blueprint(validate_data(data))
    except BlueprintError:
        assume(False)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(center=blueprints())
def test_no_security_group_opens_sip_rtp_or_ssh_to_the_internet_unless_declared_and_one_instance_per_host(center):
    resources = preview(center)
    public = {s.name for s in center.blueprint.spec.sites if s.edge and s.edge.public}
    for sg, rule in ingress(resources):
        if INTERNET & set(sources(rule)):
            site = next(s.name for s in aws_sites(center.plan) if sg.startswith(f"{s.name}-"))
            assert site in public, f"{sg}: '{rule['description']}' open to the internet, edge not public"
            assert (rule["protocol"], rule["fromPort"]) in {("tcp", SIP_TLS_PORT), ("udp", RTP_PORTS[0]), ("udp", 16384)}, \
                f"{sg}: '{rule['description']}' is more than SIP over TLS or RTP"
            assert not rule["description"].startswith("SSH"), f"{sg}: SSH open to the internet"
    instances = sorted(r.name for r in of_type(resources, "ec2/instance:Instance"))
    hosts = sorted(h.name for s in aws_sites(center.plan) for h in center.plan.hosts_of(s.name))
    assert instances == hosts, "instances are not exactly the plan's hosts of the AWS sites"
    for lock in of_type(resources, "BucketObjectLockConfiguration"):
        assert lock.properties["rule"]["defaultRetention"]["days"] >= center.plan.sizing.retention_days, lock.name
