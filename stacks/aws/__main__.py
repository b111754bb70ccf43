"""Pulumi program of the AWS stack: load the blueprint named in the stack config, build its AWS sites.

The infrastructure code is trunkline.cloud.aws (importable, tested under Pulumi's mocks in
tests/stacks); this file only reads the stack's configuration. See docs/cloud.md.
"""

import pulumi

from trunkline import center
from trunkline.cloud.aws import StackConfig, build_stack

cfg = pulumi.Config("trunkline")
blueprint = [p.strip() for p in cfg.require("blueprint").split(",") if p.strip()]
build_stack(center.load(blueprint), StackConfig(
    domain=cfg.get("domain") or None,
    zone_id=cfg.get("zoneId") or None,
    onprem_gateway=cfg.get("onpremGateway") or None,
    ami=cfg.get("ami") or None,
    instance_types=cfg.get_object("instanceTypes") or {},
))
