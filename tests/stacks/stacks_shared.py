"""The AWS stack's resources for every example blueprint with a cloud site, under Pulumi's mocks.

Examples whose cloud sites are on another provider (aliyun) are moved to AWS with --set
(provider, an AWS region, object storage s3), so each one is exercised by the AWS stack.
Resources are computed once per example (trunkline.cloud.mocks.preview sets the mocks
before the stack code is imported).
"""

from __future__ import annotations

import functools
import json

from shared import EXAMPLES

from trunkline import center as pipeline

# an AWS region near each region the examples name on another provider
AWS_REGION = {"cn-hangzhou": "cn-north-1", "cn-shanghai": "cn-northwest-1"}
SKIP_REASON = "pulumi-aws is not installed (the cloud extra: pip install -e '.[cloud]'; make test installs it)"


def _cloud_sites(path) -> list:
    return [s for s in pipeline.load(path).blueprint.spec.sites if s.kind == "cloud"]


CLOUD_EXAMPLES = [p for p in EXAMPLES if _cloud_sites(p)]


def aws_sets(path) -> list[str]:
    """--set expressions that put the example's cloud sites on AWS (and its object storage on S3)."""
    bp = pipeline.load(path).blueprint
    sets = []
    for i, s in enumerate(bp.spec.sites):
        if s.kind == "cloud" and s.provider != "aws":
            sets += [f"spec.sites[{i}].provider=aws", f"spec.sites[{i}].region={AWS_REGION.get(s.region, 'eu-west-1')}"]
    if bp.spec.recording.storage.kind == "oss":
        sets.append("spec.recording.storage.kind=s3")
    return sets


@functools.cache
def stack(path, extra: tuple[str, ...] = ()):
    """(center, resources) of an example on AWS, with `extra` --set expressions."""
    from trunkline.cloud.mocks import preview

    c = pipeline.load(path, [*aws_sets(path), *extra])
    return c, preview(c)


def of_type(resources, token: str) -> list:
    """Resources whose type ends with `token` (e.g. 'ec2/instance:Instance')."""
    return [r for r in resources if r.type.endswith(token)]


def policy(resource) -> dict:
    p = resource.properties["policy"]
    return json.loads(p) if isinstance(p, str) else p


def ingress(resources) -> list[tuple[str, dict]]:
    """(security group name, rule) for every ingress rule of the stack."""
    return [(sg.name, rule) for sg in of_type(resources, "ec2/securityGroup:SecurityGroup")
            for rule in sg.properties.get("ingress", [])]


def sources(rule: dict) -> list[str]:
    return [*rule.get("cidrBlocks", []), *rule.get("ipv6CidrBlocks", [])]
