"""`trunkline cloud up|destroy`: the AWS stack with Pulumi's Automation API and the real `pulumi` CLI.

The program is inline (aws.build_stack on the loaded center), so no project folder is needed; the
stack's own configuration (domain, zoneId, onpremGateway, ami, instanceTypes: see stacks/aws/Pulumi.yaml)
is read as `pulumi up` in stacks/aws reads it. Without the CLI on PATH nothing runs: CloudToolMissing
(exit 2) says how to install it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from trunkline.cloud import INSTALL_HINT, CloudToolMissing

PROJECT = "trunkline-aws"  # the name in stacks/aws/Pulumi.yaml
STACK_DIR = Path("stacks/aws")
PULUMI_HINT = ("the Pulumi CLI is not on PATH: install it (curl -fsSL https://get.pulumi.com | sh, or see "
               "https://www.pulumi.com/docs/install/), run `pulumi login`, then try again; `trunkline cloud preview` "
               "works without it (docs/cloud.md)")


def _stack(center, name: str):
    if shutil.which("pulumi") is None:
        raise CloudToolMissing(PULUMI_HINT)
    try:
        import pulumi_aws  # noqa: F401
        from pulumi import automation as auto
    except ImportError:
        raise CloudToolMissing(f"the AWS stack needs pulumi-aws; {INSTALL_HINT}") from None

    def program() -> None:
        from trunkline.cloud.aws import StackConfig, build_stack

        build_stack(center, StackConfig.from_pulumi())

    # stacks/aws (when run from the checkout) keeps each stack's config beside Pulumi.yaml, where
    # `pulumi config set -C stacks/aws` writes it; elsewhere Pulumi uses a temporary folder
    work_dir = STACK_DIR if (STACK_DIR / "Pulumi.yaml").is_file() else None
    return auto.create_or_select_stack(stack_name=name, project_name=PROJECT, program=program,
                                       opts=auto.LocalWorkspaceOptions(work_dir=str(work_dir)) if work_dir else None)


def up(center, name: str, on_output: Callable[[str], None] = print) -> dict:
    """Create or update the stack; its outputs."""
    result = _stack(center, name).up(on_output=on_output)
    return {k: v.value for k, v in result.outputs.items()}


def destroy(center, name: str, on_output: Callable[[str], None] = print) -> None:
    _stack(center, name).destroy(on_output=on_output)
