"""`trunkline init`: a starter blueprint that validates and renders as written, with its schema beside it."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from trunkline.cli import app
from trunkline.center import load as load_center
from trunkline.render import render_site

runner = CliRunner()
ANSWERS = ["--name", "acme-support", "--customer", "ACME Support", "--sites", "2", "--carrier", "carrier-a",
           "--carrier", "carrier-b", "--queue", "cards", "--queue", "loans", "--compliance", "pci-dss-4",
           "--compliance", "finance-retention", "--timezone", "Asia/Shanghai"]


def init(folder, *args):
    return runner.invoke(app, ["init", str(folder), *args])


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    folder = tmp_path_factory.mktemp("new") / "acme"
    result = init(folder, *ANSWERS)
    assert result.exit_code == 0, result.output
    return folder


def test_init_writes_a_blueprint_that_validates(started):
    result = runner.invoke(app, ["validate", str(started / "acme-support.yaml")])
    assert result.exit_code == 0, result.output


def test_init_blueprint_renders_and_the_real_programs_accept_it(started, tmp_path):
    files = render_site(load_center(started / "acme-support.yaml").plan, tmp_path / "build")  # kamailio -c, keepalived -t ...
    assert {f.host for f in files} >= {"dc1-sip1", "dc2-sip1", "dc1-media1"}


def test_init_modeline_names_the_schema_written_beside_it_and_the_blueprint_follows_it(started):
    text = (started / "acme-support.yaml").read_text()
    schema_ref = re.match(r"# yaml-language-server: \$schema=(\S+)\n", text).group(1)
    schema = json.loads((started / schema_ref).read_text())
    jsonschema.validate(YAML(typ="safe").load(text), schema)


def test_init_takes_the_answers(started):
    data = YAML(typ="safe").load((started / "acme-support.yaml").read_text())
    spec = data["spec"]
    assert data["metadata"]["customer"] == "ACME Support" and spec["timezone"] == "Asia/Shanghai"
    assert [s["role"] for s in spec["sites"]] == ["primary", "standby"]
    assert [t["name"] for t in spec["trunks"]] == ["carrier-a", "carrier-b"]
    assert [t["credentials"]["secret"] for t in spec["trunks"]] == ["env:CARRIER_A_PASSWORD", "env:CARRIER_B_PASSWORD"]
    assert {q["name"] for q in spec["queues"]} == {"cards", "loans"}
    assert spec["compliance"] == ["pci-dss-4", "finance-retention"] and spec["recording"]["pause_on_payment"] is True


def test_init_splits_fixed_seats_over_the_queues(tmp_path):
    assert init(tmp_path, "--name", "small", "--seats", "25", "--queue", "a", "--queue", "b").exit_code == 0
    seats = YAML(typ="safe").load((tmp_path / "small.yaml").read_text())["spec"]["seats"]
    assert [p["count"] for p in seats] == [13, 12]


def test_init_never_replaces_a_file(started):
    before = (started / "acme-support.yaml").read_bytes()
    result = init(started, *ANSWERS)
    assert result.exit_code == 2 and "never replaces" in result.output
    assert (started / "acme-support.yaml").read_bytes() == before


def test_a_refused_answer_names_its_flag_and_writes_nothing(tmp_path):
    result = init(tmp_path / "x", "--name", "shop", "--timezone", "Mars/Olympus")
    assert result.exit_code == 2 and "--timezone" in result.output
    assert not (tmp_path / "x" / "shop.yaml").exists() and not list((tmp_path / "x").glob(".trunkline-init.*"))


def test_a_bad_name_is_refused(tmp_path):
    result = init(tmp_path, "--name", "Bad Name")
    assert result.exit_code == 2 and "--name" in result.output
    assert not list(tmp_path.iterdir())
