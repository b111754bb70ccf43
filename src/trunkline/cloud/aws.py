"""The AWS stack: every `kind: cloud, provider: aws` site of a plan as AWS resources.

`build_stack(center, config)` is the whole Pulumi program (stacks/aws/__main__.py only calls it);
it reads the plan and the rendered files, never the YAML. Per AWS site, in the site's region:

  network   a VPC on the site's CIDR, one subnet per half of it in two availability zones, an
            internet gateway; DHCP options that resolve through 169.254.169.253, because the
            plan's VIP (.2 of the site) is where the VPC's resolver would be
  firewall  a security group per role: SIP (each trunk's transport and port) and the RTP range
            from the trunks' peers only, everything between the center's own networks, SSH from
            security.admin_cidrs; 0.0.0.0/0 only for SIP over TLS and RTP when the site's
            edge.public says so, never for SSH
  hosts     one instance per plan host at the plan's address: IMDSv2 required, encrypted root
            volume, an instance profile whose policy names only the actions that host needs
            (its bundle, its secrets, its log group; the elastic IP for proxies, the recordings
            bucket for rtpengine), user-data from userdata.script()
  config    a private bucket (SSE-KMS, TLS only, no public access) with each host's bundle, and a
            Secrets Manager secret (no value: the operator puts it) per reference the files need
  edge      the proxy pair's public address: an elastic IP that follows keepalived's master, or
            a network load balancer (edge.address)
  logs      a log group kept as long as the compliance packs ask (plan.log_retention_days)
  hybrid    a site-to-site VPN to the on-prem sites with a route per on-prem network; VPC
            peering between AWS sites, for the DR dispatcher sets and media between sites

Once per center: Route 53 health checks and a name per site, a failover pair (PRIMARY, SECONDARY)
for `sip.<domain>` when two AWS sites can take calls, and the recordings bucket (storage kind s3):
Object Lock for the retention (COMPLIANCE with worm, else GOVERNANCE), SSE-KMS with a rotating
customer key, TLS-only policy, public access blocked, lifecycle expiry after the retention, and,
when the blueprint declares dr.rpo and another AWS region has a site, replication to that region.
"""

from __future__ import annotations

import base64
import ipaddress
import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from trunkline.cloud import CloudError, stack_sites, userdata
from trunkline.plan.topology import FREESWITCH_RTP_PORTS, RTP_PORTS, SIP_TLS_PORT, Plan, SitePlan

ANYWHERE = "0.0.0.0/0"
# CloudWatch Logs takes only these retentions (days); the stack takes the first at least the plan's
LOG_RETENTIONS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
OBJECT_LOCK_MAX_DAYS = 36500
DEBIAN_OWNER = "136693071363"  # Debian's AWS account: its official images
INSTANCE_TYPES = {"sip-proxy": "c6i.large", "rtpengine": "c6i.large", "media": "c6i.xlarge", "recording": "m6i.large"}
ASSUME_EC2 = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
PLACEHOLDER_GATEWAY = "192.0.2.1"  # a documentation address: the on-prem VPN device until config names it


@dataclass(frozen=True)
class StackConfig:
    """What the blueprint does not say and a deployment must (Pulumi stack config, see docs/cloud.md)."""

    domain: str | None = None  # the DNS zone of the SIP names; default <center>.example.com
    zone_id: str | None = None  # an existing Route 53 zone of that domain; default: the stack makes one
    onprem_gateway: str | None = None  # public address of the on-prem VPN device (hybrid centers)
    onprem_asn: int = 65000  # its BGP ASN (the VPN uses static routes; AWS still asks for one)
    ami: str | None = None  # default: the newest Debian 12 image of the region
    instance_types: dict = field(default_factory=dict)  # role -> type, over INSTANCE_TYPES
    root_volume_gb: int = 20

    @classmethod
    def from_pulumi(cls) -> "StackConfig":
        """From the stack's configuration (pulumi config set domain acme.example ...; the keys of stacks/aws/Pulumi.yaml)."""
        cfg = pulumi.Config()
        return cls(domain=cfg.get("domain") or None, zone_id=cfg.get("zoneId") or None,
                   onprem_gateway=cfg.get("onpremGateway") or None, ami=cfg.get("ami") or None,
                   instance_types=cfg.get_object("instanceTypes") or {})


def log_retention(days: int) -> int:
    return next((d for d in LOG_RETENTIONS if d >= days), LOG_RETENTIONS[-1])


def _cidr(address: str) -> dict:
    """A peer address as a security-group source: /32 or /128."""
    ip = ipaddress.ip_address(address)
    return {"ipv6_cidr_blocks": [f"{ip}/128"]} if ip.version == 6 else {"cidr_blocks": [f"{ip}/32"]}


def _rule(protocol: str, ports: tuple[int, int], description: str, *, cidrs: list[str] = (), peer: str | None = None) -> dict:
    src = _cidr(peer) if peer else {"cidr_blocks": list(cidrs)}
    return {"protocol": protocol, "from_port": ports[0], "to_port": ports[1], "description": description, **src}


def ingress_rules(plan: Plan, site: SitePlan, role: str, edge: dict, health_checkers: str | None = None) -> list[dict]:
    """A role's ingress at a site: the trunks' peers, the center's own networks, the admins, Route 53's
    health checkers (the managed prefix list `health_checkers`) on the proxies' TLS port; the world
    only for SIP over TLS and RTP when the site's edge is declared public."""
    trunks = [t for t in plan.trunks if site.name in t.sites]
    rtp_role = "rtpengine" if site.rtpengines else "media"
    rtp = RTP_PORTS if site.rtpengines else FREESWITCH_RTP_PORTS  # carriers reach the media nodes when a site has no relay
    rules = [_rule("-1", (0, 0), "the center's own hosts: SIP, RTP, VRRP, relay control",
                   cidrs=sorted({s.cidr for s in plan.sites}))]
    for t in trunks:
        for peer in t.peers:
            if role == "sip-proxy":
                rules.append(_rule("udp" if t.transport == "udp" else "tcp", (t.port, t.port),
                                   f"SIP ({t.transport}) from trunk {t.name}", peer=peer))
            if role == rtp_role:
                rules.append(_rule("udp", rtp, f"RTP from trunk {t.name}", peer=peer))
    if role == "sip-proxy" and health_checkers:
        rules.append({"protocol": "tcp", "from_port": SIP_TLS_PORT, "to_port": SIP_TLS_PORT, "prefix_list_ids": [health_checkers],
                      "description": "Route 53 health checks (AWS-managed prefix list)"})
    if edge.get("public"):
        if role == "sip-proxy":
            rules.append(_rule("tcp", (SIP_TLS_PORT, SIP_TLS_PORT), "SIP over TLS from anywhere (edge.public)", cidrs=[ANYWHERE]))
        if role == rtp_role:
            rules.append(_rule("udp", rtp, "RTP from anywhere (edge.public)", cidrs=[ANYWHERE]))
    admins = plan.security["admin_cidrs"]
    wide = [c for c in admins if ipaddress.ip_network(c).prefixlen == 0]
    if wide:
        raise CloudError(f"security.admin_cidrs holds {', '.join(wide)}: SSH would be open to the whole internet; "
                         "name the admins' networks")
    port = site.ssh.port if site.ssh else 22
    if admins:
        rules.append(_rule("tcp", (port, port), "SSH from security.admin_cidrs", cidrs=list(admins)))
    return rules


def partition(region: str) -> str:
    """The ARN partition of a region: aws-cn in China, aws-us-gov in GovCloud, else aws."""
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def _statement(sid: str, actions: list[str], resources: list, condition: dict | None = None) -> dict:
    out = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources}
    return out | ({"Condition": condition} if condition else {})


def _tls_only(bucket_arn: str) -> str:
    """A bucket policy that refuses any request not over TLS 1.2 or later."""
    objects = [bucket_arn, f"{bucket_arn}/*"]
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": objects,
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "Tls12", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": objects,
         "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}}]})


def _private_bucket(name: str, key: aws.kms.Key, opts: pulumi.ResourceOptions, tags: dict, *,
                    bucket: str | None = None, object_lock: bool = False) -> aws.s3.Bucket:
    """A bucket with versioning, SSE-KMS under `key`, public access blocked and a TLS-only policy."""
    b = aws.s3.Bucket(name, bucket=bucket, object_lock_enabled=object_lock or None, tags=tags, opts=opts)
    child = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=b))
    aws.s3.BucketVersioning(f"{name}-versioning", bucket=b.id, versioning_configuration={"status": "Enabled"}, opts=child)
    aws.s3.BucketServerSideEncryptionConfiguration(f"{name}-encryption", bucket=b.id, rules=[{
        "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn},
        "bucket_key_enabled": True}], opts=child)
    block = aws.s3.BucketPublicAccessBlock(f"{name}-public-access", bucket=b.id, block_public_acls=True,
                                           block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
                                           opts=child)
    aws.s3.BucketPolicy(f"{name}-tls-only", bucket=b.id, policy=b.arn.apply(_tls_only),
                        opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[block])))
    return b


def _key(name: str, description: str, opts: pulumi.ResourceOptions, tags: dict) -> aws.kms.Key:
    return aws.kms.Key(name, description=description, enable_key_rotation=True, deletion_window_in_days=30,
                       tags=tags, opts=opts)


@dataclass
class _Edge:
    """A site's public SIP address: what Route 53 points at and health-checks."""

    site: str
    role: str
    ip: pulumi.Output | None = None  # elastic IP
    dns_name: pulumi.Output | None = None  # load balancer
    zone_id: pulumi.Output | None = None


def build_stack(center, config: StackConfig | None = None) -> dict:
    """Every resource of the center's AWS sites; returns the stack's outputs (also exported)."""
    config = config or StackConfig()
    plan: Plan = center.plan
    sites = stack_sites(plan, "aws", "AWS")
    edges_declared = {s.name: (s.edge.model_dump() if s.edge else {}) for s in center.blueprint.spec.sites}
    files_of: dict[str, list] = {}
    for f in center.files:
        files_of.setdefault(f.host, []).append(f)
    tags = {"trunkline:center": plan.center}
    providers = {s.name: aws.Provider(f"{s.name}-aws", region=s.region) for s in sites}
    outputs: dict = {"sites": {}}
    vpcs: dict[str, tuple] = {}
    edges: list[_Edge] = []
    recordings = _recordings(plan, providers[sites[0].name], tags)  # in the first AWS site's region
    for s in sites:
        edge, vpc = _site(plan, s, providers[s.name], files_of, edges_declared[s.name] or {}, recordings, config, tags)
        edges.append(edge)
        vpcs[s.name] = vpc
        outputs["sites"][s.name] = {"vpc": vpc[0].id, "region": s.region}
    _peerings(sites, vpcs, providers, tags)
    outputs["dns"] = _dns(plan, sites, edges, providers[sites[0].name], config, tags)
    if recordings:
        outputs["recordings_bucket"] = recordings[0].id
        rpo_declared = "rpo" in ((center.data or {}).get("spec", {}).get("dr") or {})
        replica = _replica(plan, sites, providers, recordings, tags) if rpo_declared else None
        if replica is not None:
            outputs["recordings_replica"] = replica.id
    for k, v in outputs.items():
        pulumi.export(k, v)
    return outputs


def _recordings(plan: Plan, provider: aws.Provider, tags: dict):
    """The recordings bucket and its key, when recordings go to S3; None otherwise."""
    rec = plan.recording
    if rec["mode"] == "none" or rec["storage"]["kind"] != "s3":
        return None
    opts = pulumi.ResourceOptions(provider=provider)
    key = _key("recordings-key", f"{plan.center}: call recordings", opts, tags)
    bucket = _private_bucket("recordings", key, opts, tags, bucket=rec["storage"]["bucket"], object_lock=True)
    _kept_for_retention(plan, "recordings", bucket, pulumi.ResourceOptions(provider=provider, parent=bucket))
    return bucket, key


def _kept_for_retention(plan: Plan, name: str, bucket, opts) -> None:
    """A recordings bucket (or its replica) keeps each recording for the retention and no longer:
    Object Lock until then (COMPLIANCE with worm), and a lifecycle rule that expires it then."""
    days = min(OBJECT_LOCK_MAX_DAYS, plan.sizing.retention_days)
    aws.s3.BucketObjectLockConfiguration(f"{name}-object-lock", bucket=bucket.id, object_lock_enabled="Enabled", rule={
        "default_retention": {"mode": "COMPLIANCE" if plan.recording["storage"]["worm"] else "GOVERNANCE", "days": days}},
        opts=opts)
    aws.s3.BucketLifecycleConfiguration(f"{name}-lifecycle", bucket=bucket.id, rules=[{
        "id": "retention", "status": "Enabled", "filter": {},
        "expiration": {"days": days},  # the lock keeps every version until then
        "noncurrent_version_expiration": {"noncurrent_days": 1},
        "abort_incomplete_multipart_upload": {"days_after_initiation": 7}}], opts=opts)


def _replica(plan: Plan, sites: list[SitePlan], providers: dict, recordings, tags: dict):
    """A declared recovery point objective: the recordings replicated to the standby region (the first
    AWS standby site's, else the next AWS site's in another region), locked and encrypted the same way,
    with S3 Replication Time Control (15 minutes) when the RPO allows it; None without such a region."""
    home = sites[0]
    far = [s for s in sites if s.region != home.region]
    target = next((s for s in far if s.role == "standby"), far[0] if far else None)
    if target is None:
        return None
    source, source_key = recordings
    opts = pulumi.ResourceOptions(provider=providers[target.name])
    key = _key("recordings-replica-key", f"{plan.center}: call recordings, replica in {target.region}", opts, tags)
    rec = plan.recording
    replica = _private_bucket("recordings-replica", key, opts, tags, bucket=f"{rec['storage']['bucket'][:55]}-replica",
                              object_lock=True)
    # the replica expires as the source does: a replicated recording must not outlive its retention
    _kept_for_retention(plan, "recordings-replica", replica, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=replica)))
    home_opts = pulumi.ResourceOptions(provider=providers[home.name])
    role = aws.iam.Role("recordings-replication", assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole"}]}), tags=tags, opts=home_opts)
    aws.iam.RolePolicy("recordings-replication", role=role.id, opts=home_opts, policy=pulumi.Output.all(
        source.arn, source_key.arn, replica.arn, key.arn).apply(lambda a: json.dumps({"Version": "2012-10-17", "Statement": [
            _statement("Source", ["s3:GetReplicationConfiguration", "s3:ListBucket"], [a[0]]),
            _statement("SourceObjects", ["s3:GetObjectLegalHold", "s3:GetObjectRetention", "s3:GetObjectVersionAcl",
                                         "s3:GetObjectVersionForReplication", "s3:GetObjectVersionTagging"], [f"{a[0]}/*"]),
            _statement("Replica", ["s3:ReplicateDelete", "s3:ReplicateObject", "s3:ReplicateTags"], [f"{a[2]}/*"]),
            _statement("Keys", ["kms:Decrypt"], [a[1]]),
            _statement("ReplicaKey", ["kms:Encrypt", "kms:GenerateDataKey"], [a[3]])]})))
    rtc = plan.dr["rpo"] >= 15 * 60  # S3 Replication Time Control replicates 99.99 % of objects within 15 minutes
    destination = {"bucket": replica.arn, "storage_class": "STANDARD", "encryption_configuration": {"replica_kms_key_id": key.arn}}
    if rtc:
        destination |= {"replication_time": {"status": "Enabled", "time": {"minutes": 15}},
                        "metrics": {"status": "Enabled", "event_threshold": {"minutes": 15}}}
    aws.s3.BucketReplicationConfig("recordings-replication", bucket=source.id, role=role.arn, rules=[{
        "id": "to-standby-region", "status": "Enabled", "filter": {}, "delete_marker_replication": {"status": "Disabled"},
        "source_selection_criteria": {"sse_kms_encrypted_objects": {"status": "Enabled"}}, "destination": destination}],
        opts=pulumi.ResourceOptions.merge(home_opts, pulumi.ResourceOptions(parent=source)))
    return replica


def _site(plan: Plan, s: SitePlan, provider: aws.Provider, files_of: dict, edge_decl: dict, recordings, config: StackConfig,
          tags: dict) -> tuple[_Edge, tuple]:
    opts = pulumi.ResourceOptions(provider=provider)
    tags = tags | {"trunkline:site": s.name}
    net = ipaddress.ip_network(s.cidr)
    zones = aws.get_availability_zones(state="available", opts=pulumi.InvokeOptions(provider=provider)).names[:2]
    if len(zones) < 2:
        raise CloudError(f"site {s.name}: region {s.region} has fewer than two availability zones")
    vpc = aws.ec2.Vpc(f"{s.name}-vpc", cidr_block=s.cidr, enable_dns_support=True, enable_dns_hostnames=True,
                      tags=tags | {"Name": f"{plan.center}-{s.name}"}, opts=opts)
    dhcp = aws.ec2.VpcDhcpOptions(f"{s.name}-dhcp", domain_name_servers=["169.254.169.253"], tags=tags, opts=opts)
    aws.ec2.VpcDhcpOptionsAssociation(f"{s.name}-dhcp", vpc_id=vpc.id, dhcp_options_id=dhcp.id, opts=opts)
    igw = aws.ec2.InternetGateway(f"{s.name}-igw", vpc_id=vpc.id, tags=tags, opts=opts)
    table = aws.ec2.RouteTable(f"{s.name}-routes", vpc_id=vpc.id, tags=tags, opts=opts)
    aws.ec2.Route(f"{s.name}-default", route_table_id=table.id, destination_cidr_block=ANYWHERE, gateway_id=igw.id, opts=opts)
    halves = list(net.subnets(prefixlen_diff=1)) if net.prefixlen < 28 else [net]
    if len(halves) < 2:
        raise CloudError(f"site {s.name}: {s.cidr} is too small for subnets in two availability zones; give it a /27 or larger")
    subnets = []
    for i, (half, az) in enumerate(zip(halves, zones)):
        sn = aws.ec2.Subnet(f"{s.name}-subnet-{az}", vpc_id=vpc.id, cidr_block=str(half), availability_zone=az,
                            map_public_ip_on_launch=False, tags=tags, opts=opts)
        aws.ec2.RouteTableAssociation(f"{s.name}-subnet-{az}", subnet_id=sn.id, route_table_id=table.id, opts=opts)
        subnets.append((half, sn))

    key = _key(f"{s.name}-key", f"{plan.center} {s.name}: configuration bundles and secrets", opts, tags)
    config_bucket = _private_bucket(f"{s.name}-config", key, opts, tags)
    logs = aws.cloudwatch.LogGroup(f"{s.name}-logs", name=f"/trunkline/{plan.center}/{s.name}",
                                   retention_in_days=log_retention(plan.log_retention_days), tags=tags, opts=opts)
    secrets: dict[str, aws.secretsmanager.Secret] = {}
    hosts = plan.hosts_of(s.name)
    for h in hosts:
        for ref in sorted({r for f in files_of.get(h.name, []) for r in f.secrets}):
            if ref not in secrets:
                name = userdata.secret_name(plan.center, ref)
                secrets[ref] = aws.secretsmanager.Secret(f"{s.name}-secret-{name.split('/', 2)[2].replace('/', '-')}",
                                                         name=name, kms_key_id=key.arn, recovery_window_in_days=7,
                                                         description=f"{plan.center}: the value of {ref} (put it with "
                                                         "aws secretsmanager put-secret-value)", tags=tags, opts=opts)

    edge_decl = {"address": "elastic-ip", "public": False} | edge_decl
    health_checkers = aws.ec2.get_managed_prefix_list(name=f"com.amazonaws.{s.region}.route53-healthchecks",
                                                      opts=pulumi.InvokeOptions(provider=provider)).id
    groups = {role: aws.ec2.SecurityGroup(
        f"{s.name}-{role}", vpc_id=vpc.id, description=f"trunkline {plan.center} {s.name}: {role}",
        ingress=ingress_rules(plan, s, role, edge_decl, health_checkers),
        egress=[_rule("-1", (0, 0), "packages, AWS APIs, carriers", cidrs=[ANYWHERE])], tags=tags, opts=opts)
        for role in dict.fromkeys(h.role for h in hosts)}

    eip = None
    pair = [h for h in hosts if h.role == "sip-proxy" and h.ha]
    if edge_decl["address"] == "elastic-ip":
        eip = aws.ec2.Eip(f"{s.name}-sip", domain="vpc", tags=tags | {"Name": f"{plan.center}-{s.name}-sip"}, opts=opts)
    ident = aws.get_caller_identity(opts=pulumi.InvokeOptions(provider=provider))
    ami = config.ami or aws.ec2.get_ami(most_recent=True, owners=[DEBIAN_OWNER], filters=[
        {"name": "name", "values": ["debian-12-amd64-*"]}, {"name": "architecture", "values": ["x86_64"]}],
        opts=pulumi.InvokeOptions(provider=provider)).id
    instances = {}
    for h in hosts:
        files = files_of.get(h.name, [])
        obj_key = f"{h.name}/files.tar.gz"
        obj = aws.s3.BucketObjectv2(f"{h.name}-files", bucket=config_bucket.id, key=obj_key,
                                    content_base64=base64.b64encode(userdata.bundle(files)).decode(),
                                    content_type="application/gzip", kms_key_id=key.arn, server_side_encryption="aws:kms",
                                    tags=tags, opts=opts)
        host_secrets = [secrets[r] for r in sorted({r for f in files for r in f.secrets})]
        follower = bool(eip and h in pair)
        policy = pulumi.Output.all(config_bucket.arn, key.arn, logs.arn, [x.arn for x in host_secrets],
                                   eip.allocation_id if follower else None,
                                   recordings[0].arn if recordings and h.role == "rtpengine" else None,
                                   recordings[1].arn if recordings and h.role == "rtpengine" else None).apply(
            lambda a, h=h: _host_policy(h, s.region, ident.account_id, *a))
        role = aws.iam.Role(f"{h.name}-role", assume_role_policy=ASSUME_EC2, tags=tags, opts=opts)
        aws.iam.RolePolicy(f"{h.name}-policy", role=role.id, policy=policy, opts=opts)
        profile = aws.iam.InstanceProfile(f"{h.name}-profile", role=role.name, tags=tags, opts=opts)
        subnet = next(sn for half, sn in subnets if ipaddress.ip_address(h.address) in half)
        user_data = pulumi.Output.all(config_bucket.bucket, eip.allocation_id if follower else None).apply(
            lambda a, h=h, files=files, obj_key=obj_key: userdata.script(
                plan, h.name, files, bucket=a[0], key=obj_key, region=s.region, eip=(a[1], h.ha.vip) if a[1] else None))
        instances[h.name] = aws.ec2.Instance(
            h.name, ami=ami, instance_type=config.instance_types.get(h.role, INSTANCE_TYPES[h.role]),
            subnet_id=subnet.id, private_ip=h.address, vpc_security_group_ids=[groups[h.role].id],
            associate_public_ip_address=True,  # packages from Debian's mirrors, media to carriers; the groups admit only the above
            iam_instance_profile=profile.name, user_data=user_data, user_data_replace_on_change=True,
            metadata_options={"http_tokens": "required", "http_endpoint": "enabled", "http_put_response_hop_limit": 1},
            root_block_device={"encrypted": True, "kms_key_id": key.arn, "volume_type": "gp3",
                               "volume_size": config.root_volume_gb, "delete_on_termination": True},
            tags=tags | {"Name": h.name, "trunkline:role": h.role, "trunkline:pair": h.ha.group if h.ha else ""},
            opts=pulumi.ResourceOptions(provider=provider, depends_on=[obj]))

    edge = _Edge(site=s.name, role=s.role)
    if eip is not None:
        edge.ip = eip.public_ip
    else:
        edge.dns_name, edge.zone_id = _load_balancer(plan, s, vpc, [sn for _, sn in subnets],
                                                     {n: instances[n] for n in s.proxies}, opts, tags)
    _vpn(plan, s, vpc, table, config, opts, tags)
    return edge, (vpc, table)


def _host_policy(h, region: str, account: str, config_arn: str, key_arn: str, logs_arn: str, secret_arns: list[str],
                 eip_alloc: str | None, recordings_arn: str | None, recordings_key: str | None) -> str:
    """The instance profile's policy of one host: named actions on named resources, nothing else."""
    st = [
        _statement("Bundle", ["s3:GetObject"], [f"{config_arn}/{h.name}/*"]),
        _statement("DecryptOwn", ["kms:Decrypt"], [key_arn]),
        _statement("Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{logs_arn}:*"]),
    ]
    if secret_arns:
        st.append(_statement("Secrets", ["secretsmanager:GetSecretValue"], sorted(secret_arns)))
    if eip_alloc:
        st.append(_statement("ElasticIpDescribe", ["ec2:DescribeAddresses"], ["*"]))  # takes no resource
        arn = f"arn:{partition(region)}:ec2:{region}:{account}"
        st.append(_statement("ElasticIpFollowsMaster", ["ec2:AssociateAddress"], [
            f"{arn}:elastic-ip/{eip_alloc}", f"{arn}:instance/*", f"{arn}:network-interface/*"],
            {"StringEqualsIfExists": {"aws:ResourceTag/trunkline:pair": h.ha.group}}))
    if recordings_arn:
        st.append(_statement("Recordings", ["s3:PutObject"], [f"{recordings_arn}/*"]))
        st.append(_statement("RecordingsKey", ["kms:GenerateDataKey"], [recordings_key]))
    return json.dumps({"Version": "2012-10-17", "Statement": st})


def _load_balancer(plan: Plan, s: SitePlan, vpc, subnets, proxies, opts, tags):
    """A network load balancer before the proxies: a listener per SIP port the site's trunks use, and TLS."""
    nlb = aws.lb.LoadBalancer(f"{s.name}-sip", load_balancer_type="network", internal=False,
                              subnets=[sn.id for sn in subnets], enable_cross_zone_load_balancing=True, tags=tags, opts=opts)
    ports = {("TCP", SIP_TLS_PORT)} | {("UDP" if t.transport == "udp" else "TCP", t.port) for t in plan.trunks if s.name in t.sites}
    for proto, port in sorted(ports):
        tg = aws.lb.TargetGroup(f"{s.name}-sip-{proto.lower()}-{port}", port=port, protocol=proto, vpc_id=vpc.id,
                                target_type="instance", health_check={"protocol": "TCP", "port": str(SIP_TLS_PORT)},
                                tags=tags, opts=opts)
        aws.lb.Listener(f"{s.name}-sip-{proto.lower()}-{port}", load_balancer_arn=nlb.arn, port=port, protocol=proto,
                        default_actions=[{"type": "forward", "target_group_arn": tg.arn}], opts=opts)
        for name, instance in proxies.items():
            aws.lb.TargetGroupAttachment(f"{s.name}-sip-{proto.lower()}-{port}-{name}", target_group_arn=tg.arn,
                                         target_id=instance.id, port=port, opts=opts)
    return nlb.dns_name, nlb.zone_id


def _vpn(plan: Plan, s: SitePlan, vpc, table, config: StackConfig, opts, tags) -> None:
    """Hybrid: a site-to-site VPN from this site to the on-prem core, static routes both ways."""
    onprem = [o for o in plan.sites if o.kind == "onprem"]
    if not onprem:
        return
    cgw = aws.ec2.CustomerGateway(f"{s.name}-onprem", bgp_asn=str(config.onprem_asn), type="ipsec.1",
                                  ip_address=config.onprem_gateway or PLACEHOLDER_GATEWAY, tags=tags, opts=opts)
    vgw = aws.ec2.VpnGateway(f"{s.name}-vgw", vpc_id=vpc.id, tags=tags, opts=opts)
    vpn = aws.ec2.VpnConnection(f"{s.name}-vpn", customer_gateway_id=cgw.id, vpn_gateway_id=vgw.id, type="ipsec.1",
                                static_routes_only=True, tags=tags, opts=opts)
    for o in onprem:
        aws.ec2.VpnConnectionRoute(f"{s.name}-vpn-{o.name}", vpn_connection_id=vpn.id, destination_cidr_block=o.cidr, opts=opts)
        aws.ec2.Route(f"{s.name}-to-{o.name}", route_table_id=table.id, destination_cidr_block=o.cidr, gateway_id=vgw.id,
                      opts=opts)


def _peerings(sites: list[SitePlan], vpcs: dict, providers: dict, tags: dict) -> None:
    """Every pair of AWS sites: VPC peering (across regions) and a route each way."""
    for i, a in enumerate(sites):
        for b in sites[i + 1:]:
            peering = aws.ec2.VpcPeeringConnection(f"{a.name}-{b.name}-peering", vpc_id=vpcs[a.name][0].id,
                                                   peer_vpc_id=vpcs[b.name][0].id, peer_region=b.region, tags=tags,
                                                   opts=pulumi.ResourceOptions(provider=providers[a.name]))
            aws.ec2.VpcPeeringConnectionAccepter(f"{a.name}-{b.name}-accept", vpc_peering_connection_id=peering.id,
                                                 auto_accept=True, tags=tags,
                                                 opts=pulumi.ResourceOptions(provider=providers[b.name]))
            for x, y in ((a, b), (b, a)):
                aws.ec2.Route(f"{x.name}-to-{y.name}", route_table_id=vpcs[x.name][1].id, destination_cidr_block=y.cidr,
                              vpc_peering_connection_id=peering.id, opts=pulumi.ResourceOptions(provider=providers[x.name]))


def _dns(plan: Plan, sites: list[SitePlan], edges: list[_Edge], provider, config: StackConfig, tags: dict) -> dict:
    """A health-checked name per site, and the failover pair for sip.<domain>: the first primary AWS
    site, then the first standby (else the next AWS site that takes calls)."""
    opts = pulumi.ResourceOptions(provider=provider)
    domain = config.domain or f"{plan.center}.example.com"
    zone_id = config.zone_id or aws.route53.Zone("zone", name=domain, tags=tags, opts=opts).zone_id
    checks = {}
    for e in edges:
        target = {"ip_address": e.ip} if e.ip is not None else {"fqdn": e.dns_name}
        checks[e.site] = aws.route53.HealthCheck(f"{e.site}-sip", type="TCP", port=SIP_TLS_PORT, request_interval=10,
                                                 failure_threshold=3, tags=tags | {"Name": f"{plan.center}-{e.site}-sip"},
                                                 opts=opts, **target)
        _record(f"{e.site}-sip", zone_id, f"{e.site}.sip.{domain}", e, opts)
    order = sorted(edges, key=lambda e: {"primary": 0, "standby": 1}.get(e.role, 2))
    out = {"sites": {e.site: f"{e.site}.sip.{domain}" for e in edges}}
    if len(order) >= 2:
        for kind, e in (("PRIMARY", order[0]), ("SECONDARY", order[1])):
            _record(f"sip-{kind.lower()}", zone_id, f"sip.{domain}", e, opts, set_identifier=e.site,
                    failover_routing_policies=[{"type": kind}], health_check_id=checks[e.site].id)
        out["failover"] = {"name": f"sip.{domain}", "primary": order[0].site, "secondary": order[1].site}
    return out


def _record(name: str, zone_id, fqdn: str, e: _Edge, opts, **extra):
    if e.ip is not None:
        return aws.route53.Record(name, zone_id=zone_id, name=fqdn, type="A", ttl=30, records=[e.ip], opts=opts, **extra)
    return aws.route53.Record(name, zone_id=zone_id, name=fqdn, type="A", opts=opts, aliases=[
        {"name": e.dns_name, "zone_id": e.zone_id, "evaluate_target_health": True}], **extra)


def sip_ports(plan: Plan, site: SitePlan) -> set[tuple[str, int]]:
    """(protocol, port) of the SIP the site's trunks speak (tests, preview)."""
    return {("udp" if t.transport == "udp" else "tcp", t.port) for t in plan.trunks if site.name in t.sites}
