"""The AWS stack's resources, per example blueprint with a cloud site, checked property by property
under Pulumi's mocks (offline). Each assertion message names the resource and the rule."""

from __future__ import annotations

import ipaddress

import pytest

from stacks_shared import CLOUD_EXAMPLES, SKIP_REASON, ingress, of_type, policy, sources, stack

pytest.importorskip("pulumi_aws", reason=SKIP_REASON)

from trunkline.cloud import aws as aws_stack, aws_sites  # noqa: E402  (pulumi_aws is there: the mocks are set per preview)
from trunkline.plan.topology import RTP_PORTS  # noqa: E402

# pulumi_aws warns about its own deprecated modules as the mock runtime loads them
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
examples = pytest.mark.parametrize("path", CLOUD_EXAMPLES, ids=[p.stem for p in CLOUD_EXAMPLES])


def test_every_example_with_a_cloud_site_is_covered():
    assert {p.stem for p in CLOUD_EXAMPLES} >= {"cloudshop", "ecommerce-hybrid", "global-support"}


def _site_of(sg_name: str, center) -> str:
    return next(s.name for s in aws_sites(center.plan) if sg_name.startswith(f"{s.name}-"))


@examples
def test_sip_is_open_only_to_the_trunks_peers_on_their_ports(path):
    center, resources = stack(path)
    for sg, rule in ingress(resources):
        if rule["description"].startswith("SIP ("):
            site = _site_of(sg, center)
            allowed = {(f"{p}/32", t.port) for t in center.plan.trunks if site in t.sites for p in t.peers}
            for src in sources(rule):
                assert (src, rule["fromPort"]) in allowed, f"{sg}: SIP from {src}:{rule['fromPort']} is no trunk peer of {site}"
    for s in aws_sites(center.plan):
        rules = [r for sg, r in ingress(resources) if sg == f"{s.name}-sip-proxy" and r["description"].startswith("SIP (")]
        want = {(f"{p}/32", t.port) for t in center.plan.trunks if s.name in t.sites for p in t.peers}
        got = {(src, r["fromPort"]) for r in rules for src in sources(r)}
        assert got == want, f"{s.name}-sip-proxy: SIP rules {sorted(got)} are not the trunks' peers {sorted(want)}"


@examples
def test_rtp_range_is_open_only_to_the_trunks_peers(path):
    center, resources = stack(path)
    for sg, rule in ingress(resources):
        if rule["description"].startswith("RTP from trunk"):
            site = _site_of(sg, center)
            peers = {f"{p}/32" for t in center.plan.trunks if site in t.sites for p in t.peers}
            assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("udp", *RTP_PORTS), f"{sg}: RTP rule {rule}"
            assert set(sources(rule)) <= peers, f"{sg}: RTP from {sources(rule)}, not the trunks' peers of {site}"
    for s in aws_sites(center.plan):
        assert any(r["description"].startswith("RTP from trunk") for sg, r in ingress(resources) if sg == f"{s.name}-rtpengine"), \
            f"{s.name}-rtpengine: no RTP rule for the site's trunks"


@examples
def test_ssh_is_open_only_from_the_admin_cidrs(path):
    center, resources = stack(path)
    for sg, rule in ingress(resources):
        if rule["description"].startswith("SSH"):
            assert rule["fromPort"] == rule["toPort"] == 22, f"{sg}: SSH rule on {rule['fromPort']}"
            assert sources(rule) == center.plan.security["admin_cidrs"], f"{sg}: SSH from {sources(rule)}"


@examples
def test_nothing_is_open_to_the_internet_unless_declared_public(path):
    _, resources = stack(path)
    for sg, rule in ingress(resources):
        assert not {"0.0.0.0/0", "::/0"} & set(sources(rule)), f"{sg}: '{rule['description']}' is open to the internet"


@examples
def test_the_center_own_hosts_reach_each_other_and_nothing_else_is_broad(path):
    center, resources = stack(path)
    own = sorted({s.cidr for s in center.plan.sites})
    for sg, rule in ingress(resources):
        if rule["protocol"] == "-1":
            assert sources(rule) == own, f"{sg}: all traffic from {sources(rule)}, not only the center's networks {own}"


@examples
def test_every_plan_host_has_exactly_one_instance_at_its_address(path):
    center, resources = stack(path)
    instances = {r.name: r for r in of_type(resources, "ec2/instance:Instance")}
    want = {h.name: h.address for s in aws_sites(center.plan) for h in center.plan.hosts_of(s.name)}
    assert sorted(instances) == sorted(want), "instances are not the plan's hosts of the AWS sites"
    for name, address in want.items():
        assert instances[name].properties["privateIp"] == address, f"{name}: private IP is not the plan's {address}"


@examples
def test_every_instance_requires_imdsv2(path):
    _, resources = stack(path)
    for r in of_type(resources, "ec2/instance:Instance"):
        assert r.properties["metadataOptions"]["httpTokens"] == "required", f"{r.name}: IMDSv1 is allowed"


@examples
def test_every_root_volume_is_encrypted(path):
    _, resources = stack(path)
    for r in of_type(resources, "ec2/instance:Instance"):
        assert r.properties["rootBlockDevice"]["encrypted"] is True, f"{r.name}: root volume not encrypted"


@examples
def test_no_iam_policy_has_a_wildcard_action(path):
    _, resources = stack(path)
    policies = of_type(resources, "iam/rolePolicy:RolePolicy")
    assert policies, "no instance policy"
    for r in policies:
        for st in policy(r)["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            assert all("*" not in a for a in actions), f"{r.name}: statement {st['Sid']} has a wildcard action {actions}"


@examples
def test_only_proxies_may_move_the_elastic_ip_and_only_rtpengines_write_recordings(path):
    center, resources = stack(path)
    for r in of_type(resources, "iam/rolePolicy:RolePolicy"):
        if not r.name.endswith("-policy"):
            continue  # not an instance's (the recordings' replication)
        host = center.plan.host(r.name.removesuffix("-policy"))
        actions = {a for st in policy(r)["Statement"] for a in st["Action"]}
        assert ("ec2:AssociateAddress" in actions) == (host.role == "sip-proxy" and host.ha is not None), \
            f"{r.name}: ec2:AssociateAddress for a {host.role}"
        assert "s3:PutObject" not in actions or host.role == "rtpengine", f"{r.name}: a {host.role} may write recordings"


@examples
def test_kms_keys_rotate(path):
    _, resources = stack(path)
    keys = of_type(resources, "kms/key:Key")
    assert keys, "no KMS key"
    for r in keys:
        assert r.properties["enableKeyRotation"] is True, f"{r.name}: key rotation is off"


@examples
def test_object_lock_keeps_recordings_at_least_the_retention(path):
    center, resources = stack(path)
    if center.plan.recording["mode"] == "none":
        pytest.skip("the center records nothing")
    locks = of_type(resources, "s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    # the recordings bucket's, and its replica's in the standby region where dr.rpo replicates them
    assert len(locks) == (2 if any(r.name == "recordings-replica" for r in of_type(resources, "s3/bucket:Bucket")) else 1)
    for lock in locks:
        retention = lock.properties["rule"]["defaultRetention"]
        assert retention["days"] >= center.plan.sizing.retention_days, f"{lock.name}: {retention['days']} days < the retention"
        assert retention["mode"] == ("COMPLIANCE" if center.plan.recording["storage"]["worm"] else "GOVERNANCE"), lock.name
    (bucket,) = [b for b in of_type(resources, "s3/bucket:Bucket") if b.name == "recordings"]
    assert bucket.properties["objectLockEnabled"] is True and bucket.properties["bucket"] == center.plan.recording["storage"]["bucket"]


@examples
def test_every_bucket_is_kms_encrypted_private_and_tls_only(path):
    _, resources = stack(path)
    buckets = {b.name for b in of_type(resources, "s3/bucket:Bucket")}
    enc = {r.name.removesuffix("-encryption"): r for r in of_type(resources, "BucketServerSideEncryptionConfiguration")}
    block = {r.name.removesuffix("-public-access"): r for r in of_type(resources, "BucketPublicAccessBlock")}
    pol = {r.name.removesuffix("-tls-only"): r for r in of_type(resources, "s3/bucketPolicy:BucketPolicy")}
    for b in buckets:
        rule = enc[b].properties["rules"][0]["applyServerSideEncryptionByDefault"]
        assert rule["sseAlgorithm"] == "aws:kms" and rule["kmsMasterKeyId"].startswith("arn:aws:kms:"), f"{b}: not SSE-KMS"
        assert all(block[b].properties[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                                     "restrictPublicBuckets")), f"{b}: public access not blocked"
        deny = [st for st in policy(pol[b])["Statement"] if st["Effect"] == "Deny"]
        assert any(st["Condition"].get("Bool", {}).get("aws:SecureTransport") == "false" for st in deny), f"{b}: not TLS only"


@examples
def test_recordings_expire_after_the_retention_in_every_bucket_the_replica_too(path):
    center, resources = stack(path)
    buckets = [b.properties["bucket"] for b in of_type(resources, "s3/bucket:Bucket") if b.name.startswith("recordings")]
    expiring = {life.properties["bucket"]: life.properties["rules"][0]["expiration"]["days"]
                for life in of_type(resources, "BucketLifecycleConfiguration")}
    assert buckets and expiring == {b: center.plan.sizing.retention_days for b in buckets}


@examples
def test_log_groups_keep_logs_as_long_as_the_packs_ask(path):
    center, resources = stack(path)
    groups = of_type(resources, "cloudwatch/logGroup:LogGroup")
    assert len(groups) == len(aws_sites(center.plan))
    for g in groups:
        assert g.properties["retentionInDays"] >= center.plan.log_retention_days, f"{g.name}: kept {g.properties['retentionInDays']} days"


@examples
def test_two_aws_sites_get_a_health_checked_failover_pair(path):
    center, resources = stack(path)
    sites = aws_sites(center.plan)
    pair = [r for r in of_type(resources, "route53/record:Record") if r.properties.get("failoverRoutingPolicies")]
    if len(sites) < 2:
        assert not pair, "a failover pair with one AWS site"
        return
    kinds = sorted(r.properties["failoverRoutingPolicies"][0]["type"] for r in pair)
    assert kinds == ["PRIMARY", "SECONDARY"], f"failover records {kinds}"
    assert len({r.properties["name"] for r in pair}) == 1, "the pair's records name different hosts"
    assert all(r.properties.get("healthCheckId") for r in pair), "a failover record without a health check"
    primary = next(r for r in pair if r.properties["failoverRoutingPolicies"][0]["type"] == "PRIMARY")
    assert center.plan.site(primary.properties["setIdentifier"]).role == "primary"


@examples
def test_hybrid_sites_route_every_onprem_network_through_the_vpn(path):
    center, resources = stack(path)
    onprem = sorted(s.cidr for s in center.plan.sites if s.kind == "onprem")
    for s in aws_sites(center.plan):
        vpn = sorted(r.properties["destinationCidrBlock"] for r in of_type(resources, "VpnConnectionRoute")
                     if r.name.startswith(f"{s.name}-vpn-"))
        routes = sorted(r.properties["destinationCidrBlock"] for r in of_type(resources, "ec2/route:Route")
                        if r.name.startswith(f"{s.name}-to-") and r.properties.get("gatewayId", "").endswith("-vgw-id"))
        assert vpn == onprem and routes == onprem, f"{s.name}: VPN routes {vpn}, table routes {routes}, on-prem {onprem}"
    if onprem:
        assert of_type(resources, "ec2/vpnConnection:VpnConnection"), "a hybrid center without a VPN"


@examples
def test_subnets_span_two_availability_zones_and_hold_every_host(path):
    center, resources = stack(path)
    for s in aws_sites(center.plan):
        subnets = [r for r in of_type(resources, "ec2/subnet:Subnet") if r.name.startswith(f"{s.name}-subnet-")]
        assert len({r.properties["availabilityZone"] for r in subnets}) == 2, f"{s.name}: subnets not in two zones"
        nets = [ipaddress.ip_network(r.properties["cidrBlock"]) for r in subnets]
        for h in center.plan.hosts_of(s.name):
            assert any(ipaddress.ip_address(h.address) in n for n in nets), f"{h.name}: {h.address} in no subnet"


def test_a_load_balancer_edge_replaces_the_elastic_ip():
    path = next(p for p in CLOUD_EXAMPLES if p.stem == "global-support")
    center, resources = stack(path, ("spec.sites[0].edge.address=load-balancer",))
    assert [r.name for r in of_type(resources, "ec2/eip:Eip")] == ["sin1-sip"], "fra1 still has an elastic IP"
    (nlb,) = of_type(resources, "lb/loadBalancer:LoadBalancer")
    assert nlb.properties["loadBalancerType"] == "network" and len(nlb.properties["subnets"]) == 2
    attached = {r.properties["targetId"] for r in of_type(resources, "TargetGroupAttachment")}
    assert attached == {"fra1-sip1-id", "fra1-sip2-id"}, f"the load balancer's targets {attached}"


def test_a_public_edge_opens_only_sip_over_tls_and_rtp_to_the_internet():
    path = next(p for p in CLOUD_EXAMPLES if p.stem == "global-support")
    _, resources = stack(path, ("spec.sites[0].edge.public=true",))
    open_ = [(sg, r["protocol"], r["fromPort"]) for sg, r in ingress(resources) if "0.0.0.0/0" in sources(r)]
    assert sorted(open_) == [("fra1-rtpengine", "udp", RTP_PORTS[0]), ("fra1-sip-proxy", "tcp", 5061)], open_


def test_ssh_from_anywhere_is_refused():
    from trunkline.cloud import CloudError

    path = next(p for p in CLOUD_EXAMPLES if p.stem == "global-support")
    with pytest.raises(CloudError, match="SSH would be open to the whole internet"):
        stack(path, ("spec.security.admin_cidrs=[0.0.0.0/0]",))


def test_a_center_without_aws_sites_is_refused():
    from trunkline import center as pipeline
    from trunkline.cloud import CloudError
    from trunkline.cloud.mocks import preview

    with pytest.raises(CloudError, match="no site has kind: cloud and provider: aws"):
        preview(pipeline.load(next(p for p in CLOUD_EXAMPLES if p.stem == "cloudshop")))


def test_a_declared_rpo_replicates_recordings_to_the_standby_region_locked_and_encrypted():
    path = next(p for p in CLOUD_EXAMPLES if p.stem == "cloudshop")
    center, resources = stack(path, ("spec.dr.rpo=15m",))
    standby = next(s for s in aws_sites(center.plan) if s.role == "standby")
    (repl,) = of_type(resources, "BucketReplicationConfig")
    rule = repl.properties["rules"][0]
    assert rule["status"] == "Enabled" and rule["destination"]["bucket"].endswith("-replica"), repl.name
    assert rule["destination"]["replicationTime"]["time"]["minutes"] <= center.plan.dr["rpo"] // 60, "replication slower than the RPO"
    assert f":{standby.region}:" in rule["destination"]["encryptionConfiguration"]["replicaKmsKeyId"], "replica not in the standby region"
    locks = {r.name: r.properties["rule"]["defaultRetention"]["days"] for r in of_type(resources, "BucketObjectLockConfiguration")}
    assert locks["recordings-replica-object-lock"] >= center.plan.sizing.retention_days, "the replica is locked shorter"
    for r in of_type(resources, "iam/rolePolicy:RolePolicy"):
        for st in policy(r)["Statement"]:
            assert all("*" not in a for a in st["Action"]), f"{r.name}: wildcard action in {st['Sid']}"


@examples
def test_no_replication_without_a_declared_rpo_or_a_second_region(path):
    center, resources = stack(path)
    rpo = "rpo" in (center.data["spec"].get("dr") or {})
    regions = {s.region for s in aws_sites(center.plan)}
    assert bool(of_type(resources, "BucketReplicationConfig")) == (rpo and len(regions) > 1), "replication where none was asked"


@examples
def test_route53_health_checkers_reach_the_proxies_tls_port_through_the_managed_prefix_list(path):
    center, resources = stack(path)
    for s in aws_sites(center.plan):
        rules = [r for sg, r in ingress(resources) if sg == f"{s.name}-sip-proxy" and r.get("prefixListIds")]
        assert [(r["fromPort"], r["prefixListIds"]) for r in rules] == [(5061, [f"pl-route53-healthchecks-{s.region}"])], \
            f"{s.name}-sip-proxy: health checkers' rule {rules}"
