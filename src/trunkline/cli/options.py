"""The arguments and options many commands share, and the pipeline object they build from them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

LAYER_HELP = "extra blueprint layer merged on top (repeatable; after BLUEPRINT.local.yaml)"
SET_HELP = "override one field: PATH=VALUE, e.g. spec.forecast.shrinkage=0.3 (repeatable, applied last)"
FORCE_HELP = ("replace an output folder that is not trunkline's own: it is moved aside to OUTPUT.bak-<time>, "
              "never deleted")

Blueprint = Annotated[Path, typer.Argument(help="blueprint file")]
Layers = Annotated[Optional[list[Path]], typer.Option("--layer", "-l", help=LAYER_HELP)]
Sets = Annotated[Optional[list[str]], typer.Option("--set", help=SET_HELP)]
Force = Annotated[bool, typer.Option("--force", help=FORCE_HELP)]
Json = Annotated[bool, typer.Option("--json", help="machine-readable result")]
JsonSummary = Annotated[bool, typer.Option("--json", help="machine-readable summary")]


def load_center(blueprint: Path, layers: list[Path] | None, sets: list[str] | None):
    """The pipeline object every command works on (trunkline.center), from BLUEPRINT, its --layer files and --set."""
    from trunkline.center import load  # pydantic and the models: see trunkline.cli's docstring

    return load([blueprint, *(layers or [])], sets or [])
