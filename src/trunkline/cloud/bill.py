"""A center's monthly AWS bill: the AWS stack's resources (its offline preview) and the plan's usage,
priced from the price book's `cloud.aws` section and converted to the book's currency.

    aws_bill(plan, resources, book)     the bill from a preview's resources (no pulumi needed)
    bill_for(center, book)              the preview run and priced: a CloudBill, a reason it
                                        cannot be priced here, or None for a center with no AWS site

What a line is priced on (a month is 730 hours and 365/12 days, as AWS bills it):
  resources  each instance's hours by type and its root volume (GB-month by volume type); public
             IPv4 addresses (each elastic IP, and each instance's own); load balancers (hours, and
             one capacity unit an hour: a center's signalling stays under one); NAT gateways; VPN
             connections; KMS keys; Route 53 zones and health checks (10-s checks pay the fast
             interval); Secrets Manager secrets
  usage      from the plan, not the preview: the RTP each AWS site sends to the internet (to the
             carrier for as long as a call holds a trunk, to the agent for its talk time, at the
             codec's bandwidth, by the site's share of the traffic (none at a standby site) and of the seats); recordings in
             S3, stored by class as the bucket's lifecycle rules move them, in steady state (a
             retention's worth), their PUTs and transitions; replication to the standby region
             (transfer, and Replication Time Control where the stack turns it on); logs at the
             book's bytes a call, kept as long as the log group keeps them

Not priced, and said so in the bill's notes: a region other than the book's (prices differ by
region), free tiers and savings plans, KMS requests (the buckets use S3 bucket keys), the config
buckets' few MB, VPC peering and VPN traffic between the center's sites, and Kubernetes sites
(their cluster is not trunkline's to price).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trunkline.cloud import aws_sites, kubernetes_sites
from trunkline.cloud.mocks import of_type
from trunkline.cost import PriceBook, PriceBookError, Rate
from trunkline.errors import Problem

HOURS = Decimal(730)  # AWS's month
DAYS = Decimal(365) / 12
GB = Decimal(10**9)
KBPS = Decimal(125)  # bytes a second per kbit/s


@dataclass(frozen=True)
class BillLine:
    item: str  # what is rented, e.g. "EC2 c6i.large"
    quantity: Decimal  # a month's units
    unit: str  # instance-hour, GB-month, ...
    price: Decimal  # per unit, in the bill's currency
    monthly: Decimal  # quantity x price x rate: in the book's currency
    source: str


@dataclass(frozen=True)
class CloudBill:
    provider: str
    currency: str  # the prices' currency (the lines' `monthly` are in the book's)
    rate: Decimal  # book currency per unit of `currency`
    region: str
    lines: tuple[BillLine, ...]
    notes: tuple[str, ...]

    @property
    def monthly(self) -> Decimal:
        return sum((line.monthly for line in self.lines), Decimal(0))

    def as_dict(self, num) -> dict:
        return {"provider": self.provider, "currency": self.currency, "rate": num(self.rate), "region": self.region,
                "monthly": num(self.monthly),
                "lines": [{"item": x.item, "quantity": float(round(x.quantity, 3)), "unit": x.unit, "price": float(x.price),
                           "monthly": num(x.monthly), "source": x.source} for x in self.lines],
                "notes": list(self.notes)}


def _carried(site) -> Decimal:
    """The share of the calls a site carries on a normal day: a standby site's traffic_share is what it
    takes in a disaster, so it carries none."""
    return Decimal(0) if site.role == "standby" else Decimal(str(site.traffic_share))


def _bucket_days(resources: list, bucket: str, retention: int) -> tuple[int, list[tuple[int, str]]]:
    """(expiration days, [(days, class) transitions]) of a bucket's enabled whole-bucket rules."""
    expire, moves = None, []
    for cfg in of_type(resources, "s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"):
        if cfg.properties.get("bucket") != bucket:
            continue
        for rule in cfg.properties.get("rules", []):
            if rule.get("status") != "Enabled" or rule.get("filter", {}).get("prefix"):
                continue
            days = rule.get("expiration", {}).get("days")
            expire = min(expire, days) if expire and days else (days or expire)
            moves += [(int(t["days"]), t["storageClass"]) for t in rule.get("transitions", [])]
    return (int(expire) if expire else retention), sorted(moves)


def aws_bill(plan, resources: list, book: PriceBook) -> CloudBill:
    """The monthly bill of the AWS stack's resources and the plan's usage at the book's cloud.aws prices."""
    prices = book.cloud.aws
    lines: list[BillLine] = []
    notes: list[str] = []
    missing: list[tuple[str, str]] = []

    def line(item: str, qty, unit: str, price: Decimal, source: str) -> None:
        qty = Decimal(qty)
        if qty:
            lines.append(BillLine(item, qty, unit, price, qty * price * prices.rate, source))

    def at(item: str, qty, unit: str, r: Rate) -> None:
        line(item, qty, unit, r.price, r.source)

    def rate(field: str, kind: str) -> Decimal | None:
        rates = getattr(prices, field).rates
        if kind in rates:
            return rates[kind]
        missing.append((field, kind))
        return None

    # --- resources ---
    by_type: dict[str, int] = {}
    volumes: dict[str, int] = {}
    public = 0
    for i in of_type(resources, "ec2/instance:Instance"):
        p = i.properties
        by_type[p["instanceType"]] = by_type.get(p["instanceType"], 0) + 1
        disk = p.get("rootBlockDevice", {})
        kind = disk.get("volumeType", "gp3")
        volumes[kind] = volumes.get(kind, 0) + int(disk.get("volumeSize", 8))
        public += bool(p.get("associatePublicIpAddress"))
    for kind, n in sorted(by_type.items()):
        if (price := rate("instance_hour", kind)) is not None:
            line(f"EC2 {kind} x {n}", HOURS * n, "instance-hour", price, prices.instance_hour.source)
    for kind, gb in sorted(volumes.items()):
        if (price := rate("volume_gb_month", kind)) is not None:
            line(f"EBS {kind} root volumes", gb, "GB-month", price, prices.volume_gb_month.source)
    public += len(of_type(resources, "ec2/eip:Eip"))
    at("public IPv4 addresses (elastic IPs and instances')", HOURS * public, "address-hour", prices.public_ipv4_hour)
    for token, item, hourly in (("lb/loadBalancer:LoadBalancer", "network load balancers", prices.load_balancer_hour),
                                ("ec2/natGateway:NatGateway", "NAT gateways", prices.nat_gateway_hour),
                                ("ec2/vpnConnection:VpnConnection", "site-to-site VPN connections", prices.vpn_connection_hour)):
        at(item, HOURS * len(of_type(resources, token)), "hour", hourly)
    lbs = len(of_type(resources, "lb/loadBalancer:LoadBalancer"))
    at("load balancer capacity units (one an hour)", HOURS * lbs, "NLCU-hour", prices.load_balancer_capacity_unit_hour)
    at("KMS customer keys", len(of_type(resources, "kms/key:Key")), "key-month", prices.kms_key_month)
    at("Route 53 hosted zones", len(of_type(resources, "route53/zone:Zone")), "zone-month", prices.route53_zone_month)
    checks = of_type(resources, "route53/healthCheck:HealthCheck")
    at("Route 53 health checks", len(checks), "check-month", prices.route53_health_check_month)
    at("Route 53 fast interval (10 s)", sum(c.properties.get("requestInterval") == 10 for c in checks), "check-month",
       prices.route53_fast_interval_month)
    at("Secrets Manager secrets", len(of_type(resources, "secretsmanager/secret:Secret")), "secret-month", prices.secret_month)

    # --- usage, from the plan ---
    s = plan.sizing
    calls = Decimal(s.daily_calls) * DAYS
    sites = aws_sites(plan)
    seats = sum(x.seats for x in plan.sites) or 1
    kbps = Decimal(str(s.bandwidth_per_call_kbps))
    out_seconds = sum(calls * _carried(x) * Decimal(str(s.trunk_holding_s))
                      + calls * Decimal(x.seats) / seats * Decimal(s.talk_s) for x in sites)
    at("data out to the internet (RTP to carriers and agents)", out_seconds * kbps * KBPS / GB, "GB", prices.transfer_out_gb)
    # no NAT gateway data: the stack's hosts have public addresses, nothing goes through one

    buckets = [b for b in of_type(resources, "s3/bucket:Bucket") if b.name.startswith("recordings")]
    if buckets and s.retention_days:
        ingest_gb_day = Decimal(s.storage_bytes) / s.retention_days / GB
        objects = Decimal(s.daily_calls) * Decimal(str(s.recorded_share)) * DAYS
        for b in buckets:
            name = b.properties.get("bucket", b.name)
            expire, moves = _bucket_days(resources, name, s.retention_days)
            edges = [(0, "STANDARD")] + [(d, c) for d, c in moves if d < expire]
            for (start, cls), end in zip(edges, [d for d, _ in edges[1:]] + [expire]):
                if (price := rate("s3_gb_month", cls)) is not None:
                    line(f"S3 {cls}: {name}", ingest_gb_day * (end - start), "GB-month", price, prices.s3_gb_month.source)
            at(f"S3 PUT requests: {name}", objects / 1000, "1,000 requests", prices.s3_put_1000)
            for _, cls in edges[1:]:
                if (price := rate("s3_transition_1000", cls)) is not None:
                    line(f"S3 transitions to {cls}: {name}", objects / 1000, "1,000 requests", price, prices.s3_transition_1000.source)
        for r in of_type(resources, "s3/bucketReplicationConfig:BucketReplicationConfig"):
            month_gb = ingest_gb_day * DAYS
            at("replication to the standby region", month_gb, "GB", prices.transfer_inter_region_gb)
            if any(rule.get("destination", {}).get("replicationTime", {}).get("status") == "Enabled"
                   for rule in r.properties.get("rules", [])):
                at("S3 Replication Time Control", month_gb, "GB", prices.s3_replication_time_control_gb)
        notes.append("recordings are priced in steady state, a full retention stored; the first months store less")

    groups = {g.name: g for g in of_type(resources, "cloudwatch/logGroup:LogGroup")}
    log_gb = sum((calls * _carried(x) for x in sites), Decimal(0)) * prices.log_bytes_per_call.price / GB
    if groups and log_gb:
        kept = max(int(g.properties.get("retentionInDays", 0)) for g in groups.values())
        at("CloudWatch Logs ingested", log_gb, "GB", prices.logs_ingest_gb)
        at("CloudWatch Logs stored", log_gb * Decimal(kept) / DAYS, "GB-month", prices.logs_storage_gb_month)

    if missing:
        raise PriceBookError([Problem(book.path, 0, 0, f"cloud.aws.{field}.rates", f"no price for {kind}, which the AWS stack uses",
                                      f"add {kind}: PRICE (in {prices.currency}) under cloud.aws.{field}.rates")
                              for field, kind in dict.fromkeys(missing)])
    other = sorted({x.region for x in sites if x.region and x.region != prices.region})
    if other:
        notes.append(f"priced at the book's {prices.region} prices; sites in {', '.join(other)} pay that region's, "
                     "which differ (check AWS's price pages for the region)")
    if kubernetes_sites(plan):
        notes.append("Kubernetes sites are not priced: their cluster's nodes are the operator's, not the stack's")
    notes.append("on-demand list prices: no free tier, savings plan or reserved instance; KMS requests (S3 bucket keys), "
                 "the config buckets' few MB and traffic between the center's own sites are left out")
    return CloudBill("aws", prices.currency, prices.rate, prices.region, tuple(lines), tuple(notes))


def bill_for(center, book: PriceBook) -> CloudBill | str | None:
    """The center's AWS bill from its offline preview; None without an AWS site; a reason (text)
    when it cannot be priced here (no cloud.aws prices in the book, or the cloud extra missing)."""
    if not aws_sites(center.plan):
        return None
    prices = book.cloud.aws if book.cloud else None
    if prices is None:
        return f"the price book ({book.path or 'given'}) has no cloud.aws section"
    from trunkline.cloud import CloudToolMissing
    from trunkline.cloud.mocks import preview

    try:
        resources = preview(center)
    except CloudToolMissing as exc:
        return f"the AWS stack could not be read: {exc}"
    return aws_bill(center.plan, resources, book)
