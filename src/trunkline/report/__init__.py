"""Plan + cost -> pictures and one HTML page for buyers, one module per medium:

  * `plot`: `cost_plot()`, the cumulative cost curves of the three models (matplotlib, Agg; PNG or
    SVG), with each break-even inside the horizon marked where the lines cross;
  * `dot`: `topology_dot()` / `topology_svg()`, sites, hosts, proxy pairs with their VIPs, trunks,
    seat pools and recording storage as a Graphviz graph, rendered by `dot`;
  * `html`: `write_report()`, one self-contained page (both SVGs inline, no scripts, nothing fetched
    from the network) plus the two SVGs beside it for slides;
  * `table`: `show_cost()`, the cost report as rich tables in the terminal (trunkline cost).

This module holds what they share (the models' colours, money and byte formats, atomic writes) and
names the public functions, so `from trunkline.report import write_report` keeps working.

Everything is built in memory first; files are written only when all of it succeeded, each
through a temporary file and a rename, so a failed report leaves the folder as it was.
Output is deterministic: same plan and price book, same bytes.
"""

from __future__ import annotations

import os
import tempfile
from decimal import Decimal
from pathlib import Path

from trunkline.cost import CostReport
from trunkline.errors import UsageError
from trunkline.plan.show import human_bytes

COLORS = {"self-built": "#1f5f99", "hosted": "#c8423b", "hybrid": "#2e8b57"}


def money(value: Decimal | float | int) -> str:
    """1500000 -> '1,500,000'; cents only when there are some."""
    v = Decimal(str(value)).quantize(Decimal("0.01"))
    return f"{v:,.0f}" if v == v.to_integral_value() else f"{v:,.2f}"


def twin_models(rep: CostReport) -> dict[str, str]:
    """Models whose curve is exactly another's (e.g. a hybrid with no hosted seats): model -> twin."""
    out = {}
    for a, b in (("self-built", "hybrid"), ("hosted", "hybrid")):
        ma, mb = rep.models[a], rep.models[b]
        if (ma.initial, ma.monthly) == (mb.initial, mb.monthly):
            out[b] = a
    return out


def atomic_write(path: Path, data: bytes) -> None:
    """Write through a temporary file and a rename: a failed report leaves the folder as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def suffix_format(path: Path, allowed: tuple[str, ...], option: str) -> str:
    """The format a file name asks for by its suffix (one of `allowed`), or a UsageError naming `option`."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in allowed:
        raise UsageError(f"{option} {path}: the file name must end in {' or '.join('.' + a for a in allowed)}; the suffix picks the format")
    return fmt


# the media modules import the shared pieces above, so they come last
from trunkline.report.dot import DIAGRAM_FORMATS, DOT_TIMEOUT_S, Left, render_dot, topology_dot, topology_svg, write_diagram  # noqa: E402
from trunkline.report.html import TEMPLATE, ReportFiles, inline_svg, report_html, write_report  # noqa: E402
from trunkline.report.plot import LINESTYLES, PLOT_FORMATS, cost_figure, cost_plot, short_money, write_cost_plot  # noqa: E402
from trunkline.report.table import show_cost  # noqa: E402

__all__ = [
    "COLORS", "DIAGRAM_FORMATS", "DOT_TIMEOUT_S", "LINESTYLES", "Left", "PLOT_FORMATS", "TEMPLATE", "ReportFiles",
    "atomic_write", "cost_figure", "cost_plot", "human_bytes", "inline_svg", "money", "render_dot", "report_html",
    "short_money", "show_cost", "suffix_format", "topology_dot", "topology_svg", "twin_models", "write_cost_plot",
    "write_diagram", "write_report",
]
