"""Loading: layers, --set, positions and the guarantees around secrets."""

from __future__ import annotations

import pytest

from trunkline.blueprint.load import load_blueprint, load_layers, parse_set
from trunkline.errors import BlueprintError, UsageError

from shared import BASE


def test_local_layer_beside_the_file_overrides_the_base(tmp_path):
    (tmp_path / "shop.yaml").write_text(BASE.read_text())
    (tmp_path / "shop.local.yaml").write_text("spec:\n  forecast:\n    peak_calls_per_hour: 999\n")
    center = load_blueprint(tmp_path / "shop.yaml")
    assert center.spec.forecast.peak_calls_per_hour == 999
    assert center.spec.forecast.average_handle_time == 180  # untouched keys stay


def test_set_overrides_the_local_layer(tmp_path):
    (tmp_path / "shop.yaml").write_text(BASE.read_text())
    (tmp_path / "shop.local.yaml").write_text("spec:\n  forecast:\n    peak_calls_per_hour: 999\n")
    center = load_blueprint(tmp_path / "shop.yaml", ["spec.forecast.peak_calls_per_hour=50"])
    assert center.spec.forecast.peak_calls_per_hour == 50


def test_layer_changes_one_named_item_and_keeps_the_others(tmp_path):
    (tmp_path / "shop.yaml").write_text(BASE.read_text())
    over = tmp_path / "more.yaml"
    over.write_text(
        "spec:\n  trunks:\n    - name: carrier\n      channels: 30\n"
        "    - {name: backup, peers: [192.0.2.99], credentials: {secret: 'env:B'}}\n"
    )
    center = load_blueprint([tmp_path / "shop.yaml", over])
    assert [t.name for t in center.spec.trunks] == ["carrier", "backup"]
    assert center.spec.trunks[0].channels == 30
    assert center.spec.trunks[0].peers == ["192.0.2.10"]


def test_error_in_a_layer_points_at_the_layer_file(tmp_path):
    (tmp_path / "shop.yaml").write_text(BASE.read_text())
    local = tmp_path / "shop.local.yaml"
    local.write_text("spec:\n  trunks:\n    - name: carrier\n      transport: sctp\n")
    with pytest.raises(BlueprintError) as info:
        load_blueprint(tmp_path / "shop.yaml")
    (problem,) = info.value.problems
    assert (problem.file, problem.line, problem.path) == (str(local), 4, "spec.trunks[0].transport")


def test_error_from_set_names_the_set_path_and_the_message_quotes_the_value(tmp_path):
    with pytest.raises(BlueprintError) as info:
        load_blueprint(BASE, ["spec.trunks[0].transport=sctp"])
    (problem,) = info.value.problems
    assert problem.file == "--set spec.trunks[0].transport"  # the value stays out of the location: it may be a secret
    assert problem.path == "spec.trunks[0].transport"
    assert "'sctp' is not one of" in problem.message


def test_set_parses_paths_with_indexes_and_yaml_values():
    assert parse_set("spec.trunks[0].peers=[192.0.2.1, 192.0.2.2]") == (("spec", "trunks", 0, "peers"), ["192.0.2.1", "192.0.2.2"])


@pytest.mark.parametrize("expr", ["spec.forecast", "=3", "spec..x=1"])
def test_malformed_set_is_a_usage_error(expr):
    with pytest.raises(UsageError, match="PATH=VALUE"):
        parse_set(expr)


def test_set_into_a_missing_list_item_is_a_usage_error():
    with pytest.raises(UsageError, match="does not exist"):
        load_layers([BASE], ["spec.trunks[5].channels=3"])


def test_every_problem_is_reported_at_once(tmp_path):
    text = BASE.read_text().replace("transport: tls", "transport: sctp").replace("format: mp3", "format: flac")
    text = text.replace("  timezone: Europe/Berlin", "  timezon: Europe/Berlin")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(BlueprintError) as info:
        load_blueprint(path)
    assert {p.path for p in info.value.problems} == {"spec.trunks[0].transport", "spec.recording.format", "spec.timezon"}


def test_literal_secret_value_never_appears_in_the_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(BASE.read_text().replace('"env:CARRIER_PASSWORD"', '"Tr0ub4dor&3"'))
    with pytest.raises(BlueprintError) as info:
        load_blueprint(path)
    assert "Tr0ub4dor" not in str(info.value)


def test_non_string_secret_is_not_echoed_either(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(BASE.read_text().replace('"env:CARRIER_PASSWORD"', "31415926"))
    with pytest.raises(BlueprintError) as info:
        load_blueprint(path)
    assert "31415926" not in str(info.value)


def test_missing_file_is_a_usage_error_naming_it(tmp_path):
    with pytest.raises(UsageError, match="nope.yaml: no such blueprint file"):
        load_blueprint(tmp_path / "nope.yaml")


def test_document_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(BlueprintError, match="not a mapping"):
        load_blueprint(path)


def test_durations_are_held_as_seconds(base_data):
    from trunkline.blueprint.load import validate_data

    base_data["spec"]["recording"]["retention"] = "5y"
    center = validate_data(base_data)
    assert center.spec.recording.retention == 5 * 365 * 86400
    assert center.model_dump(mode="json")["spec"]["recording"]["retention"] == "5y"


def test_blueprint_is_frozen(base_data):
    from pydantic import ValidationError

    from trunkline.blueprint.load import validate_data

    center = validate_data(base_data)
    with pytest.raises(ValidationError):
        center.spec.timezone = "UTC"


@pytest.mark.parametrize("tagged", ["x: !!python/object:os.system [id]", "x: !!python/name:os.system ''",
                                    "x: !!binary aGVsbG8=", "x: !custom {a: 1}", "x: !!set {a, b}"])
def test_a_tag_that_is_not_plain_data_is_refused_where_it_stands(tmp_path, tagged):
    path = tmp_path / "tagged.yaml"
    path.write_text("apiVersion: trunkline/v1\nkind: Center\n" + tagged + "\n")
    with pytest.raises(BlueprintError) as caught:
        load_blueprint(path)
    problem = caught.value.problems[0]
    assert (problem.line, problem.column) == (3, 4) and "is not plain data" in problem.message
