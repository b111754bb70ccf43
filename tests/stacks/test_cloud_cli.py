"""`trunkline cloud`: preview lists the AWS stack's resources offline and says it is the program's
intent; up and destroy exit 2 with how to install the Pulumi CLI when it is not on PATH."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from stacks_shared import CLOUD_EXAMPLES, SKIP_REASON

from trunkline.cli import app

GLOBAL = str(next(p for p in CLOUD_EXAMPLES if p.stem == "global-support"))
runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_preview_json_lists_every_resource_and_says_it_is_the_programs_intent():
    pytest.importorskip("pulumi_aws", reason=SKIP_REASON)
    result = runner.invoke(app, ["cloud", "preview", GLOBAL, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert "not a preview from AWS" in body["note"]
    instances = [r["name"] for r in body["resources"] if r["type"] == "aws:ec2/instance:Instance"]
    assert "fra1-sip1" in instances and "sin1-media1" in instances and not any(n.startswith("dfw1") for n in instances)


def test_preview_table_says_it_is_the_programs_intent():
    pytest.importorskip("pulumi_aws", reason=SKIP_REASON)
    result = runner.invoke(app, ["cloud", "preview", GLOBAL], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "ec2:Instance" in result.stdout and "not a preview from AWS" in result.stdout


def test_preview_of_a_center_without_aws_sites_fails_with_the_reason():
    pytest.importorskip("pulumi_aws", reason=SKIP_REASON)
    cloudshop = str(next(p for p in CLOUD_EXAMPLES if p.stem == "cloudshop"))
    result = runner.invoke(app, ["cloud", "preview", cloudshop, "--json"])
    assert result.exit_code == 1 and "no site has kind: cloud and provider: aws" in json.loads(result.stdout)["message"]


@pytest.mark.parametrize("verb", ["up", "destroy"])
def test_up_and_destroy_without_the_pulumi_cli_exit_2_saying_how_to_install_it(verb, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi here
    result = runner.invoke(app, ["cloud", verb, GLOBAL, "--stack", "prod", "--json"])
    assert result.exit_code == 2, result.output
    body = json.loads(result.stdout)
    assert body["error"] == "CloudToolMissing" and "get.pulumi.com" in body["message"]


def test_the_pulumi_project_runs_its_thin_main_with_the_stack_config(monkeypatch):
    """stacks/aws/__main__.py under the mocks, as `pulumi up` in stacks/aws would run it."""
    pytest.importorskip("pulumi_aws", reason=SKIP_REASON)
    import runpy


    from trunkline.cloud.automation import PROJECT
    from trunkline.cloud.mocks import run
    from shared import ROOT

    main = ROOT / "stacks" / "aws" / "__main__.py"
    assert f"name: {PROJECT}\n" in (main.parent / "Pulumi.yaml").read_text()
    # the stack's configuration as the Pulumi engine hands it to a program (and nothing left behind)
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({f"{PROJECT}:blueprint": GLOBAL, f"{PROJECT}:domain": "globex.example"}))
    resources = run(lambda: runpy.run_path(str(main)), project=PROJECT, stack="prod")
    instances = [r.name for r in resources if r.type == "aws:ec2/instance:Instance"]
    assert len(instances) == 12 and "fra1-sip1" in instances
    names = {r.properties.get("name") for r in resources if r.type == "aws:route53/record:Record"}
    assert "sip.globex.example" in names, "the stack config's domain is not used"
