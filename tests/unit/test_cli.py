"""The command line: exit codes, JSON shapes, and nothing written on bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from trunkline.cli import app

from shared import BASE, ROOT

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_validate_exits_0_on_every_example():
    examples = sorted((ROOT / "blueprints").glob("*.yaml"))
    result = run("validate", *examples)
    assert result.exit_code == 0, result.output
    assert result.output.count("ok ") == len(examples) >= 6


def test_validate_reports_problems_of_all_files_and_exits_2(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(BASE.read_text().replace("transport: tls", "transport: sctp"))
    b.write_text(BASE.read_text().replace("format: mp3", "format: flac"))
    result = run("validate", a, b)
    assert result.exit_code == 2
    assert f"{a}:18:7 spec.trunks[0].transport: 'sctp' is not one of" in result.output
    assert f"{b}:31:5 spec.recording.format: 'flac' is not one of" in result.output


def test_validate_json_lists_problems_with_positions(tmp_path):
    a = tmp_path / "a.yaml"
    a.write_text(BASE.read_text().replace("  timezone:", "  timzone:"))
    result = run("validate", a, "--json")
    body = json.loads(result.stdout)
    assert result.exit_code == 2 and body["ok"] is False
    assert body["problems"][0] | {"file": None} == {"file": None, "line": 8, "column": 3, "path": "spec.timzone",
                                                   "message": "unknown key 'timzone'", "fix": "did you mean 'timezone'?"}


def test_render_writes_nothing_for_an_invalid_blueprint(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.read_text().replace("role: primary", "role: boss"))
    out = tmp_path / "out"
    result = run("render", bad, "-o", out)
    assert result.exit_code == 2
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_render_json_summary(tmp_path):
    result = run("render", BASE, "-o", tmp_path / "out", "--json")
    body = json.loads(result.stdout)
    assert result.exit_code == 0 and body["ok"] and body["checked"] is True
    assert (tmp_path / "out" / "manifest.json").is_file()


def test_render_unknown_host_is_a_usage_error(tmp_path):
    result = run("render", BASE, "-o", tmp_path / "out", "--host", "nope")
    assert result.exit_code == 2 and "--host nope: not in the plan" in result.output


def test_plan_json_is_the_plan(tmp_path):
    result = run("plan", BASE, "--json", "--set", "spec.forecast.peak_calls_per_hour=360")
    body = json.loads(result.stdout)
    assert body["center"] == "small-shop" and body["sizing"]["traffic_erlangs"] == 18.0


def test_plan_table_shows_sizing_hosts_and_dispatcher_sets():
    result = run("plan", BASE)
    assert result.exit_code == 0
    for word in ("sizing", "hosts", "dispatcher sets", "fra1-sip1", "trunk channels"):
        assert word in result.output


def test_size_json_has_the_keys_pre_sales_needs():
    result = run("size", "--calls-per-hour", 360, "--aht", 240, "--answer-within", 20, "--service-level", 0.8, "--json")
    body = json.loads(result.stdout)
    assert {"agents", "channels", "service_level", "occupancy", "bandwidth_kbps"} <= body.keys()
    assert body["traffic_erlangs"] == 24.0 and body["service_level"] >= 0.8


def test_size_from_erlangs_gives_channels_by_erlang_b():
    # standard Erlang B table: 10 channels carry 4.46 E at 1 % blocking, so 4.46 E needs 10
    result = run("size", "--erlangs", 4.46, "--grade-of-service", 0.01, "--json")
    body = json.loads(result.stdout)
    assert body["channels"] == 10 and body["blocking"] <= 0.01
    assert {"channels", "service_level", "occupancy", "bandwidth_kbps"} <= body.keys()


def test_size_with_neither_input_is_a_usage_error():
    result = run("size")
    assert result.exit_code == 2 and "--calls-per-hour" in result.output


def test_size_with_bad_numbers_is_a_usage_error_not_a_traceback():
    result = run("size", "--calls-per-hour", 100, "--aht", 0, "--json")
    assert result.exit_code == 2 and json.loads(result.stdout)["ok"] is False


def test_schema_is_json_schema_of_the_center():
    result = run("schema")
    body = json.loads(result.stdout)
    assert body["title"] == "Center" and "spec" in body["properties"]


def test_committed_schema_matches_the_models():
    from trunkline.blueprint.schema import schema_json

    assert (ROOT / "schema" / "trunkline-center.schema.json").read_text() == schema_json(), "run: trunkline schema -o schema/trunkline-center.schema.json"


@pytest.mark.parametrize("path", sorted((ROOT / "blueprints").glob("*.yaml")), ids=lambda p: p.stem)
def test_example_carries_the_schema_modeline_and_validates_against_the_schema(path):
    import jsonschema
    from ruamel.yaml import YAML

    first = path.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schema/trunkline-center.schema.json"
    schema = json.loads((ROOT / "schema" / "trunkline-center.schema.json").read_text())
    jsonschema.validate(YAML(typ="safe").load(path.read_text()), schema)


def test_plan_tables_are_not_cut_when_output_is_not_a_terminal():
    """CI logs and `make demo > file` get whole names (rich cut them to 80 columns: "sh-d…")."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run([sys.executable, "-m", "trunkline.cli", "plan", str(ROOT / "blueprints" / "global-support.yaml")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout
    assert "│ dfw1-media1 │" in done.stdout and "cloud (aws)" in done.stdout


def test_plan_says_no_recordings_when_recording_is_off():
    result = run("plan", BASE, "--set", "spec.recording.mode=none")
    assert result.exit_code == 0, result.output
    line = next(l for l in result.output.splitlines() if "recordings" in l)
    assert "none (recording.mode: none)" in line and "0 B" not in line


def test_check_command_passes_a_rendered_tree_and_names_a_rejected_file(tmp_path):
    out = tmp_path / "build"
    assert run("render", BASE, "-o", out, "--no-check").exit_code == 0
    good = run("check", out, "--json")
    assert good.exit_code == 0, good.output
    results = json.loads(good.stdout)["results"]
    assert {r["checker"] for r in results} >= {"kamailio -c", "XML parser"} and all(r["status"] == "passed" for r in results)
    cfg = next(out.glob("*/etc/kamailio/kamailio.cfg"))
    cfg.write_text(cfg.read_text().replace("request_route {", "request_route {\n    no_such_function();", 1))
    bad = run("check", out)
    assert bad.exit_code == 1
    assert f"{cfg.parent.parent.parent.name}:/etc/kamailio/kamailio.cfg: kamailio -c" in bad.output
    assert "1 failed" in bad.output


def test_check_command_on_a_folder_without_a_manifest_says_how_to_make_one(tmp_path):
    result = run("check", tmp_path, "--json")
    assert result.exit_code == 2 and "render into it first" in json.loads(result.stdout)["message"]


def test_every_default_in_the_schema_validates_against_its_own_field():
    """An editor that fills in a default must write a value the field takes (rpo: 15m, not 900)."""
    import jsonschema

    from trunkline.blueprint.schema import schema

    doc = schema()
    defaults = []

    def walk(node, where):
        if isinstance(node, dict):
            if "default" in node:
                defaults.append((where, node))
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(doc, "")
    assert len(defaults) > 20
    for where, field in defaults:
        own = {k: v for k, v in field.items() if k != "default"}
        jsonschema.validate(field["default"], {**own, "$defs": doc["$defs"]})  # raises, naming the field's rule
    rpo = doc["$defs"]["Dr"]["properties"]["rpo"]["default"]
    assert rpo == "15m"
