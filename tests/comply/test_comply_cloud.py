"""Cloud controls: the AWS stack's resources, read from the offline preview (Pulumi's mocks), as
the file controls read rendered files. The example with AWS sites passes each of them; each check
fails on the resource list with the one property it reads taken away; a blueprint without an AWS
site skips them, and without pulumi-aws they are not evaluated (never passed)."""

from __future__ import annotations

import copy
import json

import pytest

from trunkline.center import load
from trunkline.comply import cloud
from trunkline.comply.evaluate import compliance_report

from shared import ROOT

GLOBAL = ROOT / "blueprints" / "global-support.yaml"  # AWS sites, recordings in S3 (90 days), gdpr + baseline
ACME = ROOT / "blueprints" / "acme-bank.yaml"  # on-prem only
CLOUD_CONTROLS = {"baseline/cloud-encrypted-at-rest", "baseline/cloud-tls-only", "gdpr/cloud-retention-enforced",
                  "mlps-3/cloud-log-retention", "pci-dss-4/cloud-log-retention"}
# each check below has a passing and a failing case (test_comply_controls asks it of every control)
CHECKS_TESTED = {"recordings_expire_in_cloud", "storage_encrypted_at_rest_cloud", "storage_tls_only_cloud", "log_retention_cloud"}


@pytest.fixture(scope="module")
def stack():
    pytest.importorskip("pulumi_aws", reason="pulumi-aws is not installed (the cloud extra; make test installs it)")
    from trunkline.cloud.mocks import preview

    center = load(GLOBAL)
    return center, preview(center)


def ctx_with(stack, change=None) -> cloud.CloudContext:
    """A context on a copy of the resources, `change(resources)` applied to it."""
    center, resources = stack
    resources = copy.deepcopy(resources)
    if change:
        change(resources)
    return cloud.CloudContext(center.plan, resources)


def named(resources, name):
    return next(r for r in resources if r.name == name)


def test_the_aws_example_passes_every_cloud_control_of_its_packs_and_the_others_on_its_resources(stack):
    center, _ = stack
    report = compliance_report(center, pack_ids=["gdpr", "mlps-3", "pci-dss-4"])
    results = {r.control.id: r for r in report.results if r.control.applies == "cloud"}
    assert set(results) == CLOUD_CONTROLS
    # the stack keeps logs as long as the declared packs ask (gdpr: 90 days), so the log controls
    # of packs it does not declare fail here, naming each log group
    assert {i for i, r in results.items() if r.status == "pass"} == CLOUD_CONTROLS - {"mlps-3/cloud-log-retention", "pci-dss-4/cloud-log-retention"}
    failed = results["mlps-3/cloud-log-retention"]
    assert failed.status == "fail" and sorted(str(f.place) for f in failed.failures) == [
        "fra1-logs (aws:cloudwatch/logGroup:LogGroup)", "sin1-logs (aws:cloudwatch/logGroup:LogGroup)"]
    assert "keeps entries 90 days, less than 180" in failed.failures[0].message


def test_a_center_without_an_aws_site_skips_the_cloud_controls_and_says_why():
    report = compliance_report(load(ACME))
    cloud_results = [r for r in report.results if r.control.applies == "cloud"]
    assert cloud_results and all(r.status == "skip" and "no AWS site" in r.reason for r in cloud_results)


def test_without_pulumi_aws_the_cloud_controls_are_not_evaluated(monkeypatch):
    import trunkline.cloud.mocks as mocks
    from trunkline.cloud import CloudToolMissing

    def missing(*a, **k):
        raise CloudToolMissing("the AWS stack needs pulumi-aws; install the cloud extra")

    monkeypatch.setattr(mocks, "preview", missing)
    report = compliance_report(load(GLOBAL))
    cloud_results = [r for r in report.results if r.control.applies == "cloud"]
    assert cloud_results and all(r.status == "not-evaluated" and "pulumi-aws" in r.reason for r in cloud_results)


def test_recordings_kept_past_their_retention_or_never_deleted_fail(stack):
    assert cloud.recordings_expire_in_cloud(ctx_with(stack)) == []

    def later(rs):
        named(rs, "recordings-lifecycle").properties["rules"][0]["expiration"]["days"] = 400

    (f,) = cloud.recordings_expire_in_cloud(ctx_with(stack, later))
    assert "expires recordings after 400 days, later than the 90-day retention" in f.message and f.place.host == "recordings"

    def disabled(rs):
        named(rs, "recordings-lifecycle").properties["rules"][0]["status"] = "Disabled"

    (f,) = cloud.recordings_expire_in_cloud(ctx_with(stack, disabled))
    assert "nothing deletes recordings in bucket globex-recordings" in f.message


def test_a_bucket_without_a_customer_key_a_key_that_does_not_rotate_or_a_plain_volume_fails(stack):
    assert cloud.storage_encrypted_at_rest_cloud(ctx_with(stack)) == []

    def s3_keys(rs):
        named(rs, "recordings-encryption").properties["rules"][0]["applyServerSideEncryptionByDefault"] = {"sseAlgorithm": "AES256"}

    (f,) = cloud.storage_encrypted_at_rest_cloud(ctx_with(stack, s3_keys))
    assert "bucket recordings is not encrypted with a customer KMS key" in f.message

    def no_rotation(rs):
        named(rs, "recordings-key").properties["enableKeyRotation"] = False

    (f,) = cloud.storage_encrypted_at_rest_cloud(ctx_with(stack, no_rotation))
    assert "the key of bucket recordings does not rotate" in f.message and f.place.host == "recordings-key"

    def plain_volume(rs):
        next(r for r in rs if r.type.endswith("ec2/instance:Instance")).properties["rootBlockDevice"]["encrypted"] = False

    (f,) = cloud.storage_encrypted_at_rest_cloud(ctx_with(stack, plain_volume))
    assert "root volume is not encrypted" in f.message


def test_a_bucket_that_takes_plain_http_or_public_access_fails(stack):
    assert cloud.storage_tls_only_cloud(ctx_with(stack)) == []

    def plain(rs):
        p = named(rs, "recordings-tls-only")
        policy = json.loads(p.properties["policy"])
        policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "TlsOnly"]
        p.properties["policy"] = json.dumps(policy)

    (f,) = cloud.storage_tls_only_cloud(ctx_with(stack, plain))
    assert f.message == "bucket recordings accepts requests without TLS"

    def public(rs):
        named(rs, "recordings-public-access").properties["blockPublicPolicy"] = False

    (f,) = cloud.storage_tls_only_cloud(ctx_with(stack, public))
    assert f.message == "bucket recordings does not block public access"


def test_log_groups_kept_shorter_than_asked_fail_and_never_expiring_ones_pass(stack):
    assert cloud.log_retention_cloud(ctx_with(stack), minimum="90d") == []
    assert len(cloud.log_retention_cloud(ctx_with(stack), minimum="91d")) == 2

    def forever(rs):
        for r in rs:
            if r.type.endswith("logGroup:LogGroup"):
                r.properties.pop("retentionInDays")

    assert cloud.log_retention_cloud(ctx_with(stack, forever), minimum="3650d") == []
