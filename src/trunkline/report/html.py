"""The report page: one self-contained HTML file (both SVGs inline, no scripts, nothing fetched from
the network) from templates/report/report.html.j2, plus the two SVGs beside it for slides."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from trunkline.cost import MODELS, CostReport
from trunkline.errors import RenderError, UsageError
from trunkline.plan.topology import Plan
from trunkline.report import COLORS, atomic_write, human_bytes, money, twin_models
from trunkline.report.dot import topology_svg
from trunkline.report.plot import cost_plot

TEMPLATE = "report/report.html.j2"


def inline_svg(data: bytes) -> str:
    """An SVG file's <svg> element for inlining in HTML: no XML prolog, doctype or comments
    before it, and sized by CSS (its viewBox keeps the proportions)."""
    text = data.decode()
    text = text[text.index("<svg"):]
    return re.sub(r'<svg([^>]*?)\swidth="[^"]*"\s+height="[^"]*"', r'<svg\1', text, count=1)


def _environment() -> jinja2.Environment:
    from trunkline.render import TEMPLATES

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.filters["bytes"] = human_bytes
    return env


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    plot: Path
    diagram: Path


def report_html(plan: Plan, rep: CostReport, plot_svg: bytes, diagram_svg: bytes) -> str:
    env = _environment()
    try:
        tpl = env.get_template(TEMPLATE)
    except jinja2.TemplateNotFound:
        raise RenderError(f"templates/{TEMPLATE} is missing; restore it from git") from None
    step = 6 if rep.months >= 12 else 1
    checkpoints = sorted({*range(0, rep.months + 1, step), rep.months})
    twins = twin_models(rep)
    try:
        return tpl.render(
            plan=plan, rep=rep, data=rep.as_dict(), models=MODELS, colors=COLORS, twins=twins,
            checkpoints=checkpoints, totals={m: {c: rep.models[m].total(c) for c in checkpoints} for m in MODELS},
            plot_svg=jinja2.utils.markupsafe.Markup(inline_svg(plot_svg)),
            diagram_svg=jinja2.utils.markupsafe.Markup(inline_svg(diagram_svg)),
        )
    except jinja2.TemplateError as exc:
        raise RenderError(f"templates/{TEMPLATE}:{getattr(exc, 'lineno', '?')}: {exc}; fix the template") from None


def write_report(plan: Plan, rep: CostReport, out: Path) -> ReportFiles:
    """OUT/index.html (self-contained) plus OUT/cost.svg and OUT/topology.svg beside it."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {out}: is a file; name a folder for the report")
    plot = cost_plot(rep, "svg")
    diagram = topology_svg(plan)
    page = report_html(plan, rep, plot, diagram).encode()
    files = ReportFiles(out / "index.html", out / "cost.svg", out / "topology.svg")
    atomic_write(files.plot, plot)
    atomic_write(files.diagram, diagram)
    atomic_write(files.html, page)
    return files
