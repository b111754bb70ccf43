"""`trunkline cloud up|destroy`: the center's cloud stacks with Pulumi's Automation API and the real `pulumi` CLI.

Each stack the center's cloud sites need (mocks.stacks_of: aws, kubernetes) runs as its own Pulumi
project (trunkline-aws, trunkline-kubernetes) with an inline program (build_stack on the loaded
center), so no project folder is needed; each stack's own configuration (see stacks/<kind>/Pulumi.yaml)
is read as `pulumi up` in stacks/<kind> reads it. Without the CLI on PATH nothing runs:
CloudToolMissing (exit 2) says how to install it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from trunkline.cloud import CloudError, CloudToolMissing

PROJECTS = {"aws": "trunkline-aws", "kubernetes": "trunkline-kubernetes"}  # the names in stacks/<kind>/Pulumi.yaml
PROJECT = PROJECTS["aws"]
PULUMI_HINT = ("the Pulumi CLI is not on PATH: install it (curl -fsSL https://get.pulumi.com | sh, or see "
               "https://www.pulumi.com/docs/install/), run `pulumi login`, then try again; `trunkline cloud preview` "
               "works without it (docs/cloud.md)")


def _program(center, kind: str) -> Callable[[], None]:
    def program() -> None:
        if kind == "aws":
            from trunkline.cloud.aws import StackConfig, build_stack
        else:
            from trunkline.cloud.kubernetes import StackConfig, build_stack
        build_stack(center, StackConfig.from_pulumi())

    return program


def _stacks(center, name: str) -> dict:
    """{kind: Automation API stack} for every stack the center needs."""
    if shutil.which("pulumi") is None:
        raise CloudToolMissing(PULUMI_HINT)
    from trunkline.cloud.mocks import require, stacks_of

    kinds = stacks_of(center.plan)
    if not kinds:
        raise CloudError(f"{center.plan.source}: no site has kind: cloud and provider: aws or kubernetes; "
                         "no cloud stack has anything to deploy")
    for kind in kinds:
        require(kind)
    from pulumi import automation as auto

    out = {}
    for kind in kinds:
        # stacks/<kind> (when run from the checkout) keeps each stack's config beside Pulumi.yaml, where
        # `pulumi config set -C stacks/<kind>` writes it; elsewhere Pulumi uses a temporary folder
        work_dir = Path("stacks") / kind
        opts = auto.LocalWorkspaceOptions(work_dir=str(work_dir)) if (work_dir / "Pulumi.yaml").is_file() else None
        out[kind] = auto.create_or_select_stack(stack_name=name, project_name=PROJECTS[kind],
                                                program=_program(center, kind), opts=opts)
    return out


def up(center, name: str, on_output: Callable[[str], None] = print) -> dict:
    """Create or update every stack the center needs; their outputs, by stack kind."""
    return {kind: {k: v.value for k, v in s.up(on_output=on_output).outputs.items()}
            for kind, s in _stacks(center, name).items()}


def destroy(center, name: str, on_output: Callable[[str], None] = print) -> None:
    for s in _stacks(center, name).values():
        s.destroy(on_output=on_output)
