"""Blueprint files -> Center: the one pipeline object every command, target, check and report receives.

    center = load(paths, sets)   loader (layers, --set, positions) -> validated Blueprint -> Plan
    center.files                 the rendered files, in memory (rendered once, on first use)
    center.render(out)           the same files checked by the real programs and written as a tree

The pipeline runs one way (blueprint -> plan -> render -> targets) and is assembled only here;
targets, verification and compliance take a Center (or its plan) and never reopen the blueprint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from trunkline.blueprint.load import Positions, load_layers, validate_data
from trunkline.blueprint.models import Blueprint
from trunkline.plan.topology import Plan, build_plan
from trunkline.render import RenderedFile, render_plan, render_site


@dataclass
class Center:
    """A blueprint as written (data and source positions) and validated, with its plan."""

    blueprint: Blueprint
    plan: Plan
    source: str = "<blueprint>"  # the first file (what the plan and reports name)
    data: dict = field(default_factory=dict)  # the merged document, as written (compliance reads it)
    positions: Positions = field(default_factory=Positions)

    @property
    def name(self) -> str:
        return self.plan.center

    @cached_property
    def files(self) -> list[RenderedFile]:
        return render_plan(self.plan)

    def render(self, out: Path, hosts: list[str] | None = None, check: bool = True, force: bool = False,
               notes: list[str] | None = None) -> list[RenderedFile]:
        return render_site(self.plan, out, hosts, check=check, force=force, notes=notes)


def load(paths: list[Path] | Path | str, sets: list[str] = ()) -> Center:
    """Blueprint files (a base and its layers, in order) and --set overrides -> a Center.
    Raises BlueprintError with every problem found, each with its file, line and fix."""
    if isinstance(paths, (str, Path)):
        paths = [Path(paths)]
    data, positions, source = load_layers(list(paths), list(sets))
    blueprint = validate_data(data, positions, source)
    return Center(blueprint, build_plan(blueprint, source=source), source, data, positions)


def from_blueprint(blueprint: Blueprint, source: str = "<blueprint>") -> Center:
    """A Center from an already validated blueprint (tests, benchmarks, generated centers)."""
    return Center(blueprint, build_plan(blueprint, source=source), source)
