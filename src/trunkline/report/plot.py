"""The cost plot: the cumulative cost curves of the three models (matplotlib, Agg; PNG or SVG),
with each break-even inside the horizon marked where the lines cross.

matplotlib is imported inside the functions: it takes about a second, which `trunkline cost`
without --plot and every other command should not pay.
"""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

from trunkline.cost import MODELS, CostReport
from trunkline.errors import UsageError
from trunkline.report import COLORS, atomic_write, money, suffix_format, twin_models

LINESTYLES = {"self-built": "-", "hosted": "-", "hybrid": (0, (6, 3))}  # hybrid dashed: it may lie on another curve
PLOT_FORMATS = ("png", "svg")


def short_money(value: float, _pos=None) -> str:
    """Axis ticks: 2,500,000 -> 2.5M."""
    a = abs(value)
    if a >= 1e6:
        return f"{value / 1e6:.1f}M".replace(".0M", "M")
    if a >= 1e3:
        return f"{value / 1e3:.0f}k"
    return f"{value:.0f}"


def cost_figure(rep: CostReport):
    """The cumulative cost curves with the break-evens marked (a matplotlib Figure, no pyplot)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    twins = twin_models(rep)
    fig = Figure(figsize=(9.6, 5.4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    months = list(range(rep.months + 1))
    for model in MODELS:
        m = rep.models[model]
        label = f"{model}: {money(m.initial)} once + {money(m.monthly)} a month"
        if model in twins:
            label = f"{model} (= {twins[model]}: {'no hosted or burst seats' if twins[model] == 'self-built' else 'every seat hosted'})"
        ax.plot(months, [float(v) for v in rep.series(model)], color=COLORS[model], linestyle=LINESTYLES[model],
                linewidth=2.6 if model != "hybrid" else 2.2, label=label, zorder=3 if model == "hybrid" else 2)

    # one marker per crossing point: pairs crossing at the same month cross at the same spot
    # (three lines; two pairs always share a line), e.g. when the hybrid is one of the others
    marks: dict = {}
    for be in rep.break_even:
        if be.month is not None:
            marks.setdefault(be.crossing, []).append(be)
    later = []
    for i, (t, group) in enumerate(sorted(marks.items()), start=1):
        firsts = [m for m in MODELS if m in {be.cheaper_first for be in group}]
        afters = [m for m in MODELS if m in {be.cheaper_after for be in group} and m not in firsts]
        what = f"{' and '.join(firsts)} total{'s' if len(firsts) > 1 else ''} reach{'' if len(firsts) > 1 else 'es'} {' and '.join(afters)}"
        if group[0].month > rep.months:
            later.append(f"{what} in month {group[0].month}")
            continue
        x = float(t)
        y = float(rep.models[firsts[0]].initial + rep.models[firsts[0]].monthly * Decimal(str(x)))
        ax.axvline(x, color="#555555", linestyle=":", linewidth=1.2, zorder=1)
        # numbered on the chart, explained in the legend: labels beside close crossings would collide
        ax.plot([x], [y], linestyle="none", marker="o", markersize=11, markerfacecolor="white", markeredgecolor="black",
                markeredgewidth=2, zorder=4, label=f"({i}) break-even in month {group[0].month}: {what}")
        ax.annotate(f"({i})", xy=(x, y), xytext=(-6, 9), textcoords="offset points", ha="right", fontsize=11,
                    fontweight="bold", zorder=5)
    if later:
        ax.text(0.99, 0.02, "after the months shown: " + "; ".join(later), transform=ax.transAxes, ha="right", va="bottom",
                fontsize=9, color="#444444")

    ax.set_title(f"{rep.center + ': ' if rep.center else ''}cumulative cost of ownership over {rep.months} months", fontsize=13, loc="left")
    ax.set_xlabel("month (0 = one-off costs)")
    ax.set_ylabel(f"cumulative cost ({rep.currency})")
    ax.set_xlim(0, rep.months)
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 3, 6, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(short_money))
    ax.grid(True, color="#e4e4e4", linewidth=0.8, zorder=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="upper left", fontsize=10, frameon=True, framealpha=0.95, numpoints=1)
    return fig


def cost_plot(rep: CostReport, fmt: str) -> bytes:
    """The plot as PNG or SVG bytes (SVG text stays text; ids are salted so bytes repeat)."""
    import matplotlib

    if fmt not in PLOT_FORMATS:
        raise UsageError(f"plot format {fmt!r}: use one of {', '.join(PLOT_FORMATS)}")
    fig = cost_figure(rep)
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "trunkline", "svg.fonttype": "none", "font.family": ["DejaVu Sans", "sans-serif"]}):
        if fmt == "svg":
            fig.savefig(buf, format="svg", metadata={"Date": None})
        else:
            fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def write_cost_plot(rep: CostReport, path: Path) -> Path:
    path = Path(path)
    atomic_write(path, cost_plot(rep, suffix_format(path, PLOT_FORMATS, "--plot")))
    return path
