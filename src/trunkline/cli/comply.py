"""The comply command: the compliance packs on the blueprint, its rendered files and (--live) its hosts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from trunkline.cli.options import Blueprint, Layers, Sets, load_center
from trunkline.cli.output import exit_with, fail, out
from trunkline.errors import TrunklineError, UsageError


def comply(
    blueprint: Blueprint,
    live: Optional[str] = typer.Option(None, "--live", help="also check the running hosts of a target: lab or onprem"),
    packs: Optional[list[str]] = typer.Option(None, "--pack", help="evaluate this pack instead of the blueprint's spec.compliance (repeatable; baseline is always on)"),
    waivers: Optional[Path] = typer.Option(None, "--waivers", help="YAML file: control id -> {justification, expiration_date}"),
    fmt: str = typer.Option("table", "--format", help="table, json, junit or sarif"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="write the report to this file (a summary line goes to stdout)"),
    layers: Layers = None,
    sets: Sets = None,
    as_json: bool = typer.Option(False, "--json", help="same as --format json"),
    strict: bool = typer.Option(False, "--strict", help="a control that could not be evaluated fails the run too"),
) -> None:
    """Evaluate the compliance packs on the blueprint, its rendered files and (--live) its hosts. Exit 1 when a control fails."""
    from trunkline.comply import evaluate
    from trunkline.comply.output import FORMATS, print_table, render_report, summary_line

    fmt = "json" if as_json else fmt
    try:
        if fmt not in FORMATS:
            raise UsageError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
        if live is not None and live not in ("lab", "onprem"):
            raise UsageError(f"--live {live}: use lab or onprem")
        report = evaluate.comply(load_center(blueprint, layers, sets), [], packs, waivers, live, strict=strict)
        if output:
            try:
                output.write_text(render_report(report, fmt), encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"-o {output}: cannot write the report ({exc.strerror})") from None
    except TrunklineError as exc:
        fail(exc, fmt == "json")
    if output:
        out.print(f"{'[red]FAILED[/]' if report.failed else '[green]ok[/]'} {summary_line(report)}; report in {output}", highlight=False)
    elif fmt == "table":
        print_table(report, out)
    else:
        sys.stdout.write(render_report(report, fmt))
    exit_with(report.failed)
