"""trunkline's command line: the only place that prints errors and chooses exit codes.

Exit codes: 0 ok, 1 a check or a program failed, 2 bad input (blueprint, arguments).
Every command has --json for machines; tables (rich) are for people.

One module per command group (blueprint, render, lab, rollout, drill, cost, comply, onprem, cloud), each command a thin
function: it parses options, calls the library and prints through `output` (tables, --json, errors,
exit codes). `options` holds the arguments many commands share.

Imports: trunkline's own modules that reach the blueprint models (pydantic) are imported inside the
commands, not at the top of the group modules: together they cost about 0.8 s, which would more than
double `trunkline --help` and `trunkline size` (about 0.5 s). The light ones (sizing, plan tables,
rich) are imported at the top.
"""

from __future__ import annotations

import typer

from trunkline.cli import blueprint, cloud, comply, cost, drill, lab, onprem, render, rollout

app = typer.Typer(
    name="trunkline",
    help="Infrastructure as code for contact centers: blueprint -> sized plan -> rendered configs -> targets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# in the order `trunkline --help` lists them; a new command goes in its group's module and here
COMMANDS = (
    blueprint.validate, blueprint.init, blueprint.schema, blueprint.plan,
    render.render, render.check,
    blueprint.size,
    lab.up, lab.down, lab.verify, lab.status, lab.call, lab.load, rollout.rollout, drill.drill,
    cost.cost, cost.report, cost.diagram,
    comply.comply,
    onprem.inventory, onprem.apply, onprem.drift,
)
for command in COMMANDS:
    app.command()(command)
app.add_typer(cloud.app, name="cloud")  # a group: trunkline cloud preview|up|destroy


def main() -> None:  # pragma: no cover - console script entry
    app()
