"""Pulumi program of the Kubernetes stack: load the blueprint named in the stack config, build its kubernetes sites.

The infrastructure code is trunkline.cloud.kubernetes (importable, tested under Pulumi's mocks in
tests/stacks); this file only reads the stack's configuration. The cluster is the one of the
ambient kubeconfig (or `pulumi config set kubernetes:kubeconfig ...`). See docs/cloud.md.
"""

import pulumi

from trunkline import center
from trunkline.cloud.kubernetes import StackConfig, build_stack

# the project's own keys: pulumi config set blueprint ../../blueprints/NAME.yaml (layers comma-separated)
blueprint = [p.strip() for p in pulumi.Config().require("blueprint").split(",") if p.strip()]
build_stack(center.load(blueprint), StackConfig.from_pulumi())
