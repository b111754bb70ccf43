"""Pulumi program of the AWS stack: load the blueprint named in the stack config, build its AWS sites.

The infrastructure code is trunkline.cloud.aws (importable, tested under Pulumi's mocks in
tests/stacks); this file only reads the stack's configuration. See docs/cloud.md.
"""

import pulumi

from trunkline import center
from trunkline.cloud.aws import StackConfig, build_stack

# the project's own keys: pulumi config set blueprint ../../blueprints/NAME.yaml (layers comma-separated)
blueprint = [p.strip() for p in pulumi.Config().require("blueprint").split(",") if p.strip()]
build_stack(center.load(blueprint), StackConfig.from_pulumi())
