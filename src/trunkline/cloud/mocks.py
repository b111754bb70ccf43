"""The stack programs under Pulumi's mock runtime: what they would ask the cloud for, offline.

`preview(center)` sets `pulumi.runtime.set_mocks` (before the stack code is imported), runs
aws.build_stack and returns every resource it registered with its inputs; `preview_kubernetes`
does the same with kubernetes.build_stack, and `preview_all` runs every stack the center's cloud
sites need. The mocks answer the AWS provider's look-ups (availability zones, the account, the
Debian image) and computed outputs (ARNs, the elastic IP, a load balancer's name) with made-up but
well-formed values; the Kubernetes objects need no look-up and are returned as given. So this is
the programs' intent, never what AWS or a cluster would accept or create: limits, quotas,
permissions, image availability, prices, scheduling and admission are not checked.
"""

from __future__ import annotations

import importlib
import itertools
from dataclasses import dataclass

from trunkline.cloud import INSTALL_HINT, CloudError, CloudToolMissing

ACCOUNT = "123456789012"
NOTE = ("the stack program's intent, run offline under Pulumi's mocks: not a preview from AWS or from a "
        "Kubernetes cluster (no limits, quotas, permissions, prices, scheduling or admission checked)")
# the provider package each stack needs (the cloud extra), and what the stack is called in messages
STACKS = {"aws": ("pulumi_aws", "pulumi-aws", "the AWS stack"),
          "kubernetes": ("pulumi_kubernetes", "pulumi-kubernetes", "the Kubernetes stack")}


@dataclass(frozen=True)
class Resource:
    type: str  # Pulumi type token, e.g. aws:ec2/instance:Instance
    name: str  # the logical name in the stack
    properties: dict  # the inputs the program gave it

    def as_dict(self) -> dict:
        return {"type": self.type, "name": self.name, "properties": self.properties}


def _whole(value):
    """The engine's numbers arrive as floats (protobuf): 90.0 -> 90 wherever a whole number was meant."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


def of_type(resources: list, token: str) -> list:
    """Resources whose type ends with `token` (e.g. 's3/bucket:Bucket')."""
    return [r for r in resources if r.type.endswith(":" + token)]


def bucket_name(name: str, inputs: dict) -> str:
    """A bucket's name: as the program gave it, else the one the mocks make up (AWS adds a random suffix)."""
    return inputs.get("bucket") or f"{name}-0000000"


def _mocks_class():
    import pulumi

    class Recorder(pulumi.runtime.Mocks):
        """Records every resource; answers look-ups and computed outputs with stable, well-formed values."""

        def __init__(self) -> None:
            self.resources: list[Resource] = []
            self.regions: dict[str, str] = {}  # provider id -> region
            self.ips = itertools.count(1)

        def _region(self, provider: str | None) -> str:
            return self.regions.get((provider or "").rsplit("::", 1)[-1], "us-east-1")

        def new_resource(self, args):
            typ, name, inputs = args.typ, args.name, _whole(dict(args.inputs))
            self.resources.append(Resource(typ, name, dict(inputs)))
            if typ.startswith(("kubernetes:", "pulumi:providers:kubernetes")):
                return f"{name}-id", inputs  # objects as given: the API server computes nothing the stack reads
            if typ == "pulumi:providers:aws":
                self.regions[f"{name}-id"] = inputs.get("region", "us-east-1")
                return f"{name}-id", inputs
            region, rid = self._region(args.provider), f"{name}-id"
            service = typ.split(":")[1].split("/")[0]
            state = {**inputs, "id": rid, "arn": f"arn:aws:{service}:{region}:{ACCOUNT}:{name}"}
            if typ == "aws:s3/bucket:Bucket":
                bucket = bucket_name(name, inputs)
                state |= {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}
                rid = bucket
            elif typ == "aws:ec2/eip:Eip":
                state |= {"publicIp": f"203.0.113.{next(self.ips)}", "allocationId": f"eipalloc-{name}"}
            elif typ == "aws:lb/loadBalancer:LoadBalancer":
                state |= {"dnsName": f"{name}.elb.{region}.amazonaws.com", "zoneId": "ZNLBMOCK"}
            elif typ == "aws:route53/zone:Zone":
                state |= {"zoneId": f"Z{name.upper()}MOCK"}
            elif typ == "aws:cloudwatch/logGroup:LogGroup":
                state["arn"] = f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{inputs.get('name', name)}"
            elif typ == "aws:secretsmanager/secret:Secret":
                state["arn"] = f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{inputs.get('name', name)}-AbCdEf"
            elif typ in ("aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile"):
                state |= {"name": inputs.get("name", name), "arn": f"arn:aws:iam::{ACCOUNT}:{service}/{name}"}
            return rid, state

        def call(self, args):
            region = self._region(args.provider)
            if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
                return {"names": [f"{region}a", f"{region}b", f"{region}c"], "zoneIds": [], "id": region}
            if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
                return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/preview", "userId": "preview", "id": ACCOUNT}
            if args.token == "aws:ec2/getManagedPrefixList:getManagedPrefixList":
                return {"id": f"pl-{args.args.get('name', 'list').rsplit('.', 1)[-1]}-{region}", "name": args.args.get("name")}
            if args.token == "aws:ec2/getAmi:getAmi":
                return {"id": f"ami-debian12-{region}", "name": "debian-12-amd64-preview", "architecture": "x86_64"}
            return {}

    return Recorder


def require(kind: str) -> None:
    """CloudToolMissing unless pulumi and the provider package of stack `kind` import here."""
    module, package, what = STACKS[kind]
    try:
        for name in ("pulumi", module):
            importlib.import_module(name)
    except ImportError:
        raise CloudToolMissing(f"{what} needs {package}; {INSTALL_HINT}") from None


def run(program, *, stack: str = "preview", project: str = "trunkline", kind: str = "aws") -> list[Resource]:
    """Run `program()` (which registers resources of stack `kind`) under fresh mocks; the resources it registered."""
    require(kind)
    import pulumi
    from pulumi.runtime.settings import SETTINGS
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    recorder = _mocks_class()()
    pulumi.runtime.set_mocks(recorder, project=project, stack=stack, preview=False)
    SETTINGS.rpc_manager.clear()  # as pulumi.runtime.test does: nothing left from an earlier run
    SETTINGS.outputs.clear()
    _sync_await(run_pulumi_func(program))
    return recorder.resources


def preview(center, config=None, stack: str = "preview") -> list[Resource]:
    """Every resource the AWS stack would create for `center`, with the inputs it gives them (offline)."""

    def program():
        from trunkline.cloud import aws  # after set_mocks, as Pulumi asks of stack code

        aws.build_stack(center, config)

    return [r for r in run(program, stack=stack) if r.type != "pulumi:pulumi:Stack"]


def preview_kubernetes(center, config=None, stack: str = "preview") -> list[Resource]:
    """Every object the Kubernetes stack would create for `center`, with the inputs it gives them (offline)."""

    def program():
        from trunkline.cloud import kubernetes  # after set_mocks

        kubernetes.build_stack(center, config)

    return [r for r in run(program, stack=stack, kind="kubernetes") if r.type != "pulumi:pulumi:Stack"]


def stacks_of(plan) -> list[str]:
    """The stacks the center's cloud sites need, in order: aws, kubernetes."""
    from trunkline.cloud import aws_sites, kubernetes_sites

    return [k for k, sites in (("aws", aws_sites(plan)), ("kubernetes", kubernetes_sites(plan))) if sites]


def preview_all(center, stack: str = "preview") -> dict[str, list[Resource]]:
    """The resources of every stack the center's cloud sites need ({"aws": [...], "kubernetes": [...]});
    CloudError when no site is on a provider trunkline deploys."""
    kinds = stacks_of(center.plan)
    if not kinds:
        others = ", ".join(f"{s.name} ({s.kind}{', ' + s.provider if s.provider else ''})" for s in center.plan.sites)
        raise CloudError(f"{center.plan.source}: no site has kind: cloud and provider: aws or kubernetes (sites: {others}); "
                         "no cloud stack has anything to deploy")
    run_one = {"aws": preview, "kubernetes": preview_kubernetes}
    return {k: run_one[k](center, stack=stack) for k in kinds}
