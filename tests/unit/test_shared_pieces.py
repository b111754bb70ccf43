"""Small pieces written once: the comply imports point one way, one check registry serves every
scope, one duration parser reads every table, one module reads and writes the secret marker,
one translator words pydantic errors with one field-path format."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from trunkline import durations, secrets
from trunkline.blueprint.models import format_duration, parse_duration
from trunkline.comply import registry
from trunkline.comply.files import tmpfiles_age
from trunkline.comply.hosts import systemd_timespan

COMPLY = Path(__file__).resolve().parents[2] / "src" / "trunkline" / "comply"


def _comply_imports() -> dict[str, set[str]]:
    """comply module -> the comply modules it imports anywhere (inside functions and TYPE_CHECKING too)."""
    graph = {}
    for f in COMPLY.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "trunkline.comply":
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("trunkline.comply."):
                deps.add(node.module.split(".")[2])
            elif isinstance(node, ast.Import):
                deps |= {a.name.split(".")[2] for a in node.names if a.name.startswith("trunkline.comply.")}
        graph[f.stem] = deps - {f.stem}
    return graph


def test_the_comply_modules_import_one_another_without_a_cycle():
    graph, done, path = _comply_imports(), set(), []

    def visit(module: str) -> None:
        assert module not in path, f"import cycle: {' -> '.join(path[path.index(module):] + [module])}"
        if module in done:
            return
        path.append(module)
        for dep in sorted(graph.get(module, ())):
            visit(dep)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


@pytest.mark.parametrize("module", ["findings", "registry", "blueprint", "files", "hosts", "packs", "waivers", "evaluate", "output"])
def test_each_comply_module_imports_alone_in_a_fresh_interpreter(module):
    run = subprocess.run([sys.executable, "-c", f"import trunkline.comply.{module}"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_one_registry_serves_every_scope_and_the_packs_name_only_its_checks():
    from trunkline.comply.packs import all_packs

    assert set(registry.CHECKS) == set(registry.SCOPES)
    for scope in ("blueprint", "files", "hosts"):
        assert registry.checks(scope), f"no {scope} check registered"
    assert registry.lookup("files", "sip_allow_list_rendered").__module__ == "trunkline.comply.files"
    for pack in all_packs().values():
        for c in pack.controls:
            assert c.applies == "cloud" or c.check in registry.checks(c.applies), c.id


@pytest.mark.parametrize("syntax", [durations.BLUEPRINT, durations.SYSTEMD, durations.TMPFILES], ids=lambda s: s.name)
def test_the_duration_parser_reads_every_unit_of_each_table(syntax):
    for unit, seconds in syntax.units.items():
        assert durations.parse_span(f"7{unit}", syntax) == round(7 * seconds), unit
        assert durations.parse_span(f" 7 {unit} ", syntax) == round(7 * seconds), unit
    with pytest.raises(ValueError):
        durations.parse_span("7 parsecs", syntax)


def test_blueprint_durations_round_trip_through_the_one_formatter():
    for unit, seconds in durations.BLUEPRINT.units.items():
        assert parse_duration(format_duration(3 * seconds)) == 3 * seconds, unit
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration("1h 30m")  # one term in a blueprint


def test_the_three_readers_keep_their_own_words_for_never():
    assert systemd_timespan("1y 2w") == 31557600 + 2 * 604800 and systemd_timespan("infinity") is None
    assert tmpfiles_age("~1w2d") == 9 * 86400 and tmpfiles_age("-") is None


def test_a_long_hostile_span_is_refused_in_linear_time():
    with pytest.raises(ValueError):
        durations.parse_span("1" * 50_000 + "x", durations.SYSTEMD)


def test_the_secret_marker_helpers_find_and_split_the_references():
    text = f"user=u\npass={secrets.marker('env:P')} key={secrets.marker('vault:kv/x#k')}\n"
    assert secrets.refs_in(text) == ["env:P", "vault:kv/x#k"]
    assert secrets.split(text) == ["user=u\npass=", " key=", "\n"]
    assert secrets.has_marker(text) and not secrets.has_marker("user=u\n")


def test_the_price_book_and_the_blueprint_write_field_paths_alike():
    from trunkline.blueprint.load import dotted

    assert dotted(("spec", "trunks", 0, "transport")) == "spec.trunks[0].transport"
    assert dotted(("models", "self-built", "trunks", "per")) == "models.self-built.trunks.per"
    assert dotted(("spec", "odd key")) == "spec.'odd key'"
