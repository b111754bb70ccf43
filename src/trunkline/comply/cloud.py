"""Cloud checks: the AWS stack's resources as its program declares them, read from the offline
preview (trunkline.cloud.mocks: the program run under Pulumi's mocks), as the files checks read
rendered files. What the preview proves is the program's intent for this blueprint, not what an
account holds: a bucket changed by hand in the console is `trunkline cloud up`'s drift, not seen here.

    ctx = CloudContext(plan, resources)
    ctx.of("s3/bucket:Bucket")                   every bucket
    ctx.attached("s3/bucketPolicy:BucketPolicy", bucket)   what the stack attaches to a bucket
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from trunkline.blueprint.models import parse_duration
from trunkline.cloud.mocks import bucket_name, of_type
from trunkline.comply import registry
from trunkline.comply.findings import Fail, NotApplicable, Place
from trunkline.plan.topology import Plan

check = registry.check("cloud")
Result = list[Fail] | NotApplicable

BUCKET = "s3/bucket:Bucket"


@dataclass
class CloudContext:
    plan: Plan
    resources: list  # trunkline.cloud.mocks.Resource

    def of(self, token: str) -> list:
        """Resources whose type ends with `token` (e.g. 's3/bucket:Bucket')."""
        return of_type(self.resources, token)

    def attached(self, token: str, bucket) -> list:
        """The resources of type `token` that name the bucket (the stack links them by its name)."""
        name = bucket_name(bucket.name, bucket.properties)
        return [r for r in self.of(token) if r.properties.get("bucket") == name]

    def key(self, arn: str):
        """The KMS key of an ARN the stack wrote (arn:aws:kms:<region>:<account>:<logical name>)."""
        return next((k for k in self.of("kms/key:Key") if arn.rsplit(":", 1)[-1] == k.name), None)

    def fail(self, resource, message: str, fix: str = "") -> Fail:
        return Fail(Place("cloud", file=resource.type, host=resource.name), message, fix)


@check
def recordings_expire_in_cloud(ctx: CloudContext) -> Result:
    """Recordings in S3 are deleted when their retention ends: an enabled lifecycle rule on each
    recordings bucket (the replica too) expires objects no later than the retention."""
    rec = ctx.plan.recording
    if rec["mode"] == "none":
        return NotApplicable("recording.mode is none")
    if rec["storage"]["kind"] != "s3":
        return NotApplicable(f"recordings are kept in {rec['storage']['kind']} storage, not in the AWS stack")
    keep = ctx.plan.sizing.retention_days
    buckets = [b for b in ctx.of(BUCKET) if b.name.startswith("recordings")]
    if not buckets:
        return [Fail(Place("cloud", file="aws:s3/bucket:Bucket", host="recordings"),
                     "recordings go to S3 but the stack makes no recordings bucket", "build the recordings bucket (trunkline.cloud.aws)")]
    out = []
    for b in buckets:
        days = [rule.get("expiration", {}).get("days") for c in ctx.attached("s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", b)
                for rule in c.properties.get("rules", []) if rule.get("status") == "Enabled" and not rule.get("filter", {}).get("prefix")]
        days = [d for d in days if d]
        if not days:
            out.append(ctx.fail(b, f"nothing deletes recordings in bucket {b.properties.get('bucket', b.name)}: they outlive their {keep}-day retention",
                                f"a lifecycle rule on the whole bucket with expiration after {keep} days"))
        elif min(days) > keep:
            out.append(ctx.fail(b, f"bucket {b.properties.get('bucket', b.name)} expires recordings after {min(days)} days, later than the {keep}-day retention",
                                f"expire them after {keep} days"))
    return out


@check
def storage_encrypted_at_rest_cloud(ctx: CloudContext) -> Result:
    """Every bucket is encrypted with a customer KMS key that rotates, and every instance's root
    volume is encrypted."""
    out = []
    for b in ctx.of(BUCKET):
        rules = [r.get("applyServerSideEncryptionByDefault", {}) for c in
                 ctx.attached("s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", b)
                 for r in c.properties.get("rules", [])]
        kms = [r for r in rules if r.get("sseAlgorithm") in ("aws:kms", "aws:kms:dsse") and r.get("kmsMasterKeyId")]
        if not kms:
            out.append(ctx.fail(b, f"bucket {b.name} is not encrypted with a customer KMS key (S3's own keys can be used by anyone with read access)",
                                "a server-side encryption configuration with sse_algorithm aws:kms and the center's key"))
            continue
        key = ctx.key(kms[0]["kmsMasterKeyId"])
        if key is None or not key.properties.get("enableKeyRotation"):
            out.append(ctx.fail(key or b, f"the key of bucket {b.name} does not rotate", "enable_key_rotation=True on the KMS key"))
    for i in ctx.of("ec2/instance:Instance"):
        if not (i.properties.get("rootBlockDevice") or {}).get("encrypted"):
            out.append(ctx.fail(i, f"instance {i.name}'s root volume is not encrypted", "root_block_device encrypted=True with the site's key"))
    if not ctx.of(BUCKET) and not ctx.of("ec2/instance:Instance"):
        return NotApplicable("the stack stores nothing: no bucket, no instance")
    return out


def _denies_plain_http(policy: dict) -> bool:
    return any(s.get("Effect") == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
               and s.get("Action") in ("s3:*", ["s3:*"]) for s in policy.get("Statement", []))


@check
def storage_tls_only_cloud(ctx: CloudContext) -> Result:
    """Every bucket's policy refuses requests without TLS (aws:SecureTransport false) and blocks public access."""
    out = []
    for b in ctx.of(BUCKET):
        policies = []
        for p in ctx.attached("s3/bucketPolicy:BucketPolicy", b):
            try:
                policies.append(json.loads(p.properties.get("policy") or "{}"))
            except ValueError:
                out.append(ctx.fail(p, f"the policy of bucket {b.name} is not JSON"))
        if not any(_denies_plain_http(p) for p in policies):
            out.append(ctx.fail(b, f"bucket {b.name} accepts requests without TLS",
                                'a bucket policy denying s3:* when "aws:SecureTransport" is "false"'))
        blocks = ctx.attached("s3/bucketPublicAccessBlock:BucketPublicAccessBlock", b)
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        if not any(all(x.properties.get(f) for f in flags) for x in blocks):
            out.append(ctx.fail(b, f"bucket {b.name} does not block public access", "a public access block with all four settings true"))
    if not ctx.of(BUCKET):
        return NotApplicable("the stack makes no bucket")
    return out


@check
def log_retention_cloud(ctx: CloudContext, minimum: str = "180d") -> Result:
    """Every log group keeps its entries at least `minimum` (CloudWatch Logs retention)."""
    need = parse_duration(minimum) // 86400
    groups = ctx.of("cloudwatch/logGroup:LogGroup")
    if not groups:
        return NotApplicable("the stack makes no log group")
    out = []
    for g in groups:
        days = g.properties.get("retentionInDays")
        if days and days < need:  # 0 or unset: never expire
            out.append(ctx.fail(g, f"log group {g.properties.get('name', g.name)} keeps entries {days} days, less than {need}",
                                f"retention_in_days at least {need}"))
    return out
