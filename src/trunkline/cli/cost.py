"""Commands for buyers: cost (the cost of ownership), report (one HTML page) and diagram (the topology)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from trunkline.cli.options import Blueprint, JsonSummary, Layers, Sets, load_center
from trunkline.cli.output import fail, out, print_json
from trunkline.errors import TrunklineError, UsageError

Months = Annotated[int, typer.Option("--months", help="how many months to total (1-600)")]
PriceBook = Annotated[Optional[Path], typer.Option("--price-book", help="your price book (YAML; default: the articles' figures in CNY)")]


def cost(
    blueprint: Blueprint,
    months: Months = 36,
    price_book: PriceBook = None,
    plot: Optional[Path] = typer.Option(None, "--plot", help="write the cumulative cost curves here (.png or .svg)"),
    layers: Layers = None,
    sets: Sets = None,
    as_json: bool = typer.Option(False, "--json", help="machine-readable result: series, break_even_month, expansion"),
) -> None:
    """Cost of ownership month by month: self-built vs hosted vs hybrid, break-even, cost of more seats."""
    from trunkline.cloud.bill import bill_for
    from trunkline.cost import cost_report, load_price_book
    from trunkline.report import show_cost, write_cost_plot

    try:
        book = load_price_book(price_book)
        center = load_center(blueprint, layers, sets)
        rep = cost_report(center.plan, book, months, bill_for(center, book))
        if plot:
            write_cost_plot(rep, plot)
    except TrunklineError as exc:
        fail(exc, as_json)
    if as_json:
        print_json(rep.as_dict() | {"plot": str(plot) if plot else None}, ensure_ascii=False)
        return
    show_cost(rep, out)
    if plot:
        out.print(f"[green]wrote[/] {plot}", highlight=False)


def report(
    blueprint: Blueprint,
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="report folder (default build/<center>-report)"),
    months: Months = 36,
    price_book: PriceBook = None,
    layers: Layers = None,
    sets: Sets = None,
    as_json: JsonSummary = False,
) -> None:
    """One HTML page for buyers: the decision, cost curves and tables, sizing, topology diagram, plan."""
    from trunkline.cloud.bill import bill_for
    from trunkline.cost import cost_report, load_price_book
    from trunkline.report import write_report

    try:
        book = load_price_book(price_book)
        center = load_center(blueprint, layers, sets)
        p = center.plan
        rep = cost_report(p, book, months, bill_for(center, book))
        files = write_report(p, rep, output or Path("build") / f"{p.center}-report")
    except TrunklineError as exc:
        fail(exc, as_json)
    if as_json:
        print_json({"ok": True, "html": str(files.html), "plot": str(files.plot), "diagram": str(files.diagram),
                    "break_even_month": rep.as_dict()["break_even_month"]})
    else:
        out.print(f"[green]wrote[/] {files.html} (with {files.plot.name} and {files.diagram.name} beside it)", highlight=False)


def diagram(
    blueprint: Blueprint,
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="write here (.svg, .png, or .dot for the Graphviz source); default: SVG to stdout"),
    layers: Layers = None,
    sets: Sets = None,
    as_json: bool = typer.Option(False, "--json", help="machine-readable summary (needs -o)"),
) -> None:
    """The topology diagram alone: sites, hosts, proxy pairs with their VIPs, trunks (Graphviz)."""
    from trunkline.report import topology_svg, write_diagram

    try:
        if as_json and not output:
            raise UsageError("--json needs -o FILE: the diagram goes to the file, the summary to stdout")
        p = load_center(blueprint, layers, sets).plan
        if output:
            write_diagram(p, output)
        else:
            sys.stdout.buffer.write(topology_svg(p))
    except TrunklineError as exc:
        fail(exc, as_json)
    if as_json:
        print_json({"ok": True, "output": str(output), "hosts": len(p.hosts), "sites": len(p.sites)})
    elif output:
        out.print(f"[green]wrote[/] {output}", highlight=False)
