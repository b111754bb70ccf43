"""The AWS bill (trunkline.cloud.bill): the AWS stack's resources and the plan's usage priced from
the price book's cloud.aws section, and the hybrid cost of ownership that uses it."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from shared import EXAMPLES
from stacks_shared import CLOUD_EXAMPLES, SKIP_REASON, of_type, stack

pytest.importorskip("pulumi_aws", reason=SKIP_REASON)

from trunkline import center as pipeline  # noqa: E402
from trunkline.cli import app  # noqa: E402
from trunkline.cloud import aws_sites  # noqa: E402
from trunkline.cloud.bill import DAYS, GB, HOURS, aws_bill, bill_for  # noqa: E402
from trunkline.cloud.mocks import Resource  # noqa: E402
from trunkline.cost import PriceBookError, cost_report, load_price_book  # noqa: E402

examples = pytest.mark.parametrize("path", CLOUD_EXAMPLES, ids=[p.stem for p in CLOUD_EXAMPLES])
runner = CliRunner()
BOOK = load_price_book()
PRICES = BOOK.cloud.aws


def lines(bill, prefix: str) -> list:
    return [x for x in bill.lines if x.item.startswith(prefix)]


@examples
def test_every_instance_is_priced_for_a_month_at_its_type(path):
    center, resources = stack(path)
    bill = aws_bill(center.plan, resources, BOOK)
    instances = of_type(resources, "ec2/instance:Instance")
    assert len(instances) == sum(len(center.plan.hosts_of(s.name)) for s in aws_sites(center.plan))
    hours = {x.item.split()[1]: x.quantity for x in lines(bill, "EC2 ")}
    expected: dict[str, Decimal] = {}
    for i in instances:
        expected[i.properties["instanceType"]] = expected.get(i.properties["instanceType"], Decimal(0)) + HOURS
    assert hours == expected
    for x in lines(bill, "EC2 "):
        assert x.price == PRICES.instance_hour.rates[x.item.split()[1]]
        assert x.monthly == x.quantity * x.price * PRICES.rate


@examples
def test_volumes_and_public_addresses_are_counted_from_the_stack(path):
    center, resources = stack(path)
    bill = aws_bill(center.plan, resources, BOOK)
    instances = of_type(resources, "ec2/instance:Instance")
    (disks,) = lines(bill, "EBS gp3")
    assert disks.quantity == sum(i.properties["rootBlockDevice"]["volumeSize"] for i in instances)
    (ips,) = lines(bill, "public IPv4")
    public = sum(bool(i.properties.get("associatePublicIpAddress")) for i in instances) + len(of_type(resources, "ec2/eip:Eip"))
    assert ips.quantity == HOURS * public
    checks = of_type(resources, "route53/healthCheck:HealthCheck")
    assert sum(x.quantity for x in lines(bill, "Route 53 health checks")) == len(checks)
    vpns = of_type(resources, "ec2/vpnConnection:VpnConnection")
    assert sum(x.quantity for x in lines(bill, "site-to-site VPN")) == HOURS * len(vpns)


@examples
def test_recordings_are_stored_for_the_retention_in_each_bucket(path):
    """In steady state a bucket holds a retention's worth: the plan's storage figure, in every bucket
    (source and replica), each object written once (a PUT) a month."""
    center, resources = stack(path)
    s = center.plan.sizing
    bill = aws_bill(center.plan, resources, BOOK)
    buckets = [b.properties["bucket"] for b in of_type(resources, "s3/bucket:Bucket") if b.name.startswith("recordings")]
    assert buckets
    for name in buckets:
        (stored,) = [x for x in bill.lines if x.item == f"S3 STANDARD: {name}"]
        assert abs(stored.quantity - Decimal(s.storage_bytes) / GB) < Decimal("0.001"), name
        (puts,) = [x for x in bill.lines if x.item == f"S3 PUT requests: {name}"]
        assert abs(puts.quantity - Decimal(s.daily_calls) * Decimal(str(s.recorded_share)) * DAYS / 1000) < Decimal("0.001")


def test_lifecycle_transitions_split_the_storage_by_class():
    center, resources = stack(next(p for p in CLOUD_EXAMPLES if p.stem == "helpdesk-aws"))
    s = center.plan.sizing
    name = "northwind-helpdesk-recordings"
    moved = [r if r.name != "recordings-lifecycle" else Resource(r.type, r.name, {**r.properties, "rules": [
        {**r.properties["rules"][0], "transitions": [{"days": 30, "storageClass": "STANDARD_IA"},
                                                     {"days": 90, "storageClass": "GLACIER_IR"}]}]}) for r in resources]
    bill = aws_bill(center.plan, moved, BOOK)
    per_day = Decimal(s.storage_bytes) / s.retention_days / GB
    stored = {x.item.split(":")[0]: x.quantity for x in bill.lines if x.item.endswith(": " + name) and x.unit == "GB-month"}
    assert stored == {"S3 STANDARD": per_day * 30, "S3 STANDARD_IA": per_day * 60, "S3 GLACIER_IR": per_day * (s.retention_days - 90)}
    assert {x.item for x in bill.lines if x.item.startswith("S3 transitions")} == {
        f"S3 transitions to STANDARD_IA: {name}", f"S3 transitions to GLACIER_IR: {name}"}


def test_rtp_sent_to_the_internet_is_the_documented_usage():
    """One AWS site carrying every call: (trunk holding + talk) seconds a call at the codec's rate."""
    center, resources = stack(next(p for p in CLOUD_EXAMPLES if p.stem == "helpdesk-aws"))
    s, plan = center.plan.sizing, center.plan
    bill = aws_bill(plan, resources, BOOK)
    (out,) = lines(bill, "data out to the internet")
    calls = Decimal(s.daily_calls) * DAYS
    seats = sum(x.seats for x in plan.sites)
    (primary,) = [x for x in aws_sites(plan) if x.role == "primary"]  # carries every call; the standby none on a normal day
    assert primary.traffic_share == 1.0
    seconds = calls * Decimal(str(s.trunk_holding_s)) + sum(calls * Decimal(x.seats) / seats * s.talk_s for x in aws_sites(plan))
    assert out.quantity == seconds * Decimal(str(s.bandwidth_per_call_kbps)) * 125 / GB


def test_replication_pays_the_transfer_and_replication_time_control():
    center, resources = stack(next(p for p in CLOUD_EXAMPLES if p.stem == "helpdesk-aws"))
    s = center.plan.sizing
    bill = aws_bill(center.plan, resources, BOOK)
    month = Decimal(s.storage_bytes) / s.retention_days / GB * DAYS
    assert [x.quantity for x in lines(bill, "replication to the standby region")] == [month]
    assert [x.quantity for x in lines(bill, "S3 Replication Time Control")] == [month]


def test_an_instance_type_without_a_price_is_refused_with_the_field_and_fix():
    center, resources = stack(CLOUD_EXAMPLES[0])
    aws = PRICES.model_copy(update={"instance_hour": PRICES.instance_hour.model_copy(update={"rates": {"c6i.large": Decimal("0.085")}})})
    book = BOOK.model_copy(update={"cloud": BOOK.cloud.model_copy(update={"aws": aws})})
    with pytest.raises(PriceBookError) as info:
        aws_bill(center.plan, resources, book)
    (problem,) = [str(p) for p in info.value.problems if "c6i.xlarge" in str(p)]
    assert "cloud.aws.instance_hour.rates" in problem and "add c6i.xlarge: PRICE" in problem


def test_sites_outside_the_books_region_are_named_in_a_note():
    center, resources = stack(next(p for p in CLOUD_EXAMPLES if p.stem == "global-support"))
    bill = aws_bill(center.plan, resources, BOOK)
    (note,) = [n for n in bill.notes if "region" in n]
    assert "eu-central-1" in note and "ap-southeast-1" in note and PRICES.region in note


def test_the_hybrid_pays_the_bill_every_month_and_the_other_models_do_not():
    center, _ = stack(next(p for p in CLOUD_EXAMPLES if p.stem == "helpdesk-aws"))
    bill = bill_for(center, BOOK)
    without, with_bill = cost_report(center.plan, BOOK), cost_report(center.plan, BOOK, bill=bill)
    assert bill.monthly > 0
    assert with_bill.models["hybrid"].monthly == without.models["hybrid"].monthly + bill.monthly
    assert with_bill.models["hybrid"].initial == without.models["hybrid"].initial
    for m in ("self-built", "hosted"):
        assert (with_bill.models[m].initial, with_bill.models[m].monthly) == (without.models[m].initial, without.models[m].monthly)
    aws_items = [i for i in with_bill.models["hybrid"].items if i.item.startswith("aws: ")]
    assert len(aws_items) == len(bill.lines) and all(i.part == "cloud" and i.once == 0 for i in aws_items)
    # the cloud part buys no platform: its seats are software on rented resources
    assert not [i for i in with_bill.models["hybrid"].items if i.part == "cloud" and i.item == "initial_build"]


def test_a_book_without_cloud_prices_says_the_resources_are_not_priced():
    center, _ = stack(next(p for p in CLOUD_EXAMPLES if p.stem == "helpdesk-aws"))
    book = BOOK.model_copy(update={"cloud": None})
    reason = bill_for(center, book)
    assert isinstance(reason, str) and "cloud.aws" in reason
    rep = cost_report(center.plan, book, bill=reason)
    assert rep.cloud_bill is None
    assert any(n.startswith("the AWS sites' resources are not priced") for n in rep.notes)


def test_a_center_without_an_aws_site_has_no_bill():
    clinic = next(p for p in EXAMPLES if p.stem == "clinic")
    assert bill_for(pipeline.load(clinic), BOOK) is None


def test_cost_json_carries_the_bill_and_the_cloud_part():
    path = next(p for p in EXAMPLES if p.stem == "helpdesk-aws")
    result = runner.invoke(app, ["cost", str(path), "--json"])
    assert result.exit_code == 0, result.stdout
    body = json.loads(result.stdout)
    bill = body["cloud_bill"]
    assert (bill["provider"], bill["currency"], bill["region"]) == ("aws", "USD", "us-east-1")
    assert abs(sum(x["monthly"] for x in bill["lines"]) - bill["monthly"]) < 0.01 * len(bill["lines"])
    assert body["hybrid_split"]["cloud"]["seats"] == sum(s["seats"] for s in body["hybrid_split"].values())
    assert any(i["item"].startswith("aws: EC2 ") for i in body["models"]["hybrid"]["items"])
