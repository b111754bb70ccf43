"""The imports point one way, as docs/architecture.md draws them: a layer imports only layers
below it (cli -> targets, verify, comply, cloud -> center -> render -> plan -> blueprint)."""

from __future__ import annotations

import ast
from pathlib import Path

import trunkline

PACKAGE = Path(trunkline.__file__).parent
# the layer of each top-level module or package; a module may import its own layer and those below
LAYER = {
    "errors": 0, "paths": 0, "secrets": 0, "durations": 0,
    "blueprint": 1,
    "plan": 2,
    "render": 3, "roles": 3,
    "center": 4,
    "deploys": 5, "targets": 5, "freeswitch": 5, "cost": 5,
    "verify": 6, "comply": 6, "cloud": 6, "report": 6, "starter": 6,
    "cli": 9,
}


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):  # imports inside functions count too
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "trunkline":
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.split(".")[0] == "trunkline"]
    return out


def test_every_top_level_module_has_a_layer():
    tops = {p.name.removesuffix(".py") for p in PACKAGE.iterdir()
            if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").exists()}
    assert tops <= set(LAYER), f"give these a layer here and in docs/architecture.md: {sorted(tops - set(LAYER))}"


def test_no_module_imports_a_layer_above_its_own():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).parts
        if rel[0] in ("ansible", "templates"):  # Ansible plugins and templates are data, not layers
            continue
        mine = LAYER.get(rel[0].removesuffix(".py"))
        for module in _imports(path):
            parts = module.split(".")
            theirs = LAYER.get(parts[1]) if len(parts) > 1 else None
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{'/'.join(rel)} imports {module}")
    assert upward == []
