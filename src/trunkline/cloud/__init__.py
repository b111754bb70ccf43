"""Cloud sites: the Pulumi stacks that deploy a center's cloud sites from its plan and rendered files.

    aws.build_stack(center, config)   the AWS resources of every `kind: cloud, provider: aws` site
    kubernetes.build_stack(center, config)
                                       the Kubernetes objects of every `kind: cloud, provider: kubernetes`
                                       site: workloads per plan host, their files as ConfigMaps
    userdata                           what an instance runs at first boot: packages, the host's
                                       rendered files (one bundle), secrets read from Secrets Manager
    mocks.preview(center)              the stack program run under Pulumi's mock runtime, offline:
                                       the resources it would ask for (intent, not the provider's word);
                                       mocks.preview_all(center) for every stack the cloud sites need

Nothing here imports pulumi_aws or pulumi_kubernetes at module level except aws.py and kubernetes.py:
they are the `cloud` extra.
"""

from __future__ import annotations

from trunkline.errors import TrunklineError


class CloudError(TrunklineError):
    """A cloud stack cannot be built from this plan as asked (e.g. SSH open to the internet, no AWS site)."""


class CloudToolMissing(CloudError):
    """What the command needs is not installed here (pulumi-aws, pulumi-kubernetes, the Pulumi CLI): exit 2, with how to install it."""

    exit_code = 2


def cloud_sites(plan, provider: str) -> list:
    """The sites a provider's stack deploys (kind: cloud, provider: aws|kubernetes); without pulumi, for comply too."""
    return [s for s in plan.sites if s.kind == "cloud" and s.provider == provider]


def aws_sites(plan) -> list:
    return cloud_sites(plan, "aws")


def kubernetes_sites(plan) -> list:
    return cloud_sites(plan, "kubernetes")


def stack_sites(plan, provider: str, stack: str) -> list:
    """The sites of a provider's stack, else a CloudError naming every site: a stack with nothing to deploy."""
    sites = cloud_sites(plan, provider)
    if not sites:
        others = ", ".join(f"{s.name} ({s.kind}{', ' + s.provider if s.provider else ''})" for s in plan.sites)
        raise CloudError(f"{plan.source}: no site has kind: cloud and provider: {provider} (sites: {others}); "
                         f"the {stack} stack has nothing to deploy")
    return sites


INSTALL_HINT = "install the cloud extra: pip install 'trunkline[cloud]' (or make test, which installs it)"
