"""Plan + cost -> pictures and one HTML page for buyers.

  * `cost_plot()`: the cumulative cost curves of the three models (matplotlib, Agg; PNG or
    SVG), with each break-even inside the horizon marked where the lines cross;
  * `topology_dot()` / `topology_svg()`: sites, hosts, proxy pairs with their VIPs, trunks,
    seat pools and recording storage as a Graphviz graph, rendered by `dot`;
  * `write_report()`: one self-contained page (both SVGs inline, no scripts, nothing fetched
    from the network) plus the two SVGs beside it for slides.

Everything is built in memory first; files are written only when all of it succeeded, each
through a temporary file and a rename, so a failed report leaves the folder as it was.
Output is deterministic: same plan and price book, same bytes.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import jinja2

from trunkline.cost import MODELS, CostReport
from trunkline.errors import RenderError, UsageError
from trunkline.plan.topology import Plan

TEMPLATE = "report/report.html.j2"
COLORS = {"self-built": "#1f5f99", "hosted": "#c8423b", "hybrid": "#2e8b57"}
LINESTYLES = {"self-built": "-", "hosted": "-", "hybrid": (0, (6, 3))}  # hybrid dashed: it may lie on another curve
PLOT_FORMATS = ("png", "svg")
DIAGRAM_FORMATS = ("svg", "png", "dot")
DOT_TIMEOUT_S = 60


# --- helpers ----------------------------------------------------------------------------------


def money(value: Decimal | float | int) -> str:
    """1500000 -> '1,500,000'; cents only when there are some."""
    v = Decimal(str(value)).quantize(Decimal("0.01"))
    return f"{v:,.0f}" if v == v.to_integral_value() else f"{v:,.2f}"


def short_money(value: float, _pos=None) -> str:
    """Axis ticks: 2,500,000 -> 2.5M."""
    a = abs(value)
    if a >= 1e6:
        return f"{value / 1e6:.1f}M".replace(".0M", "M")
    if a >= 1e3:
        return f"{value / 1e3:.0f}k"
    return f"{value:.0f}"


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _twins(rep: CostReport) -> dict[str, str]:
    """Models whose curve is exactly another's (e.g. a hybrid with no hosted seats): model -> twin."""
    out = {}
    for a, b in (("self-built", "hybrid"), ("hosted", "hybrid")):
        ma, mb = rep.models[a], rep.models[b]
        if (ma.initial, ma.monthly) == (mb.initial, mb.monthly):
            out[b] = a
    return out


def _atomic_write(path: Path, data: bytes) -> None:
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


def _suffix(path: Path, allowed: tuple[str, ...], option: str) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in allowed:
        raise UsageError(f"{option} {path}: the file name must end in {' or '.join('.' + a for a in allowed)}; the suffix picks the format")
    return fmt


# --- the cost plot --------------------------------------------------------------------------


def cost_figure(rep: CostReport):
    """The cumulative cost curves with the break-evens marked (a matplotlib Figure, no pyplot)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    twins = _twins(rep)
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
    _atomic_write(path, cost_plot(rep, _suffix(path, PLOT_FORMATS, "--plot")))
    return path


# --- the topology diagram -------------------------------------------------------------------


class Left(str):
    """A label whose lines are left-justified (DOT ends each with \\l instead of \\n)."""


def _q(text: str) -> str:
    """A DOT string: quoted, quotes and backslashes escaped, line breaks as DOT's \\n (or \\l)."""
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(text, Left):
        return '"' + escaped.replace("\n", "\\l") + '\\l"'
    return '"' + escaped.replace("\n", "\\n") + '"'


def _attrs(**kw) -> str:
    return "[" + ", ".join(f"{k}={_q(v)}" for k, v in kw.items()) + "]"


def topology_dot(plan: Plan) -> str:
    """Graphviz source: a cluster per site (proxy pair + VIP, rtpengines, media, recording,
    seat pools), the carriers' trunks on the left, recording storage and DR links."""
    lines: list[str] = []

    def node(name: str, **kw) -> None:
        lines.append(f"  {_q(name)} {_attrs(**kw)};")

    def edge(a: str, b: str, **kw) -> None:
        lines.append(f"  {_q(a)} -> {_q(b)} {_attrs(**kw)};")

    def cluster(name: str, **kw) -> None:
        lines.append(f"  subgraph {name} {{ " + " ".join(f"{k}={_q(v)};" for k, v in kw.items()))

    title = f"{plan.center} ({plan.customer}): sites, hosts, proxy pairs with their VIPs, trunks"
    lines.append(f"digraph {_q(plan.center)} {{")
    lines.append(f"  graph {_attrs(rankdir='LR', compound='true', fontname='DejaVu Sans', fontsize='14', labelloc='t', labeljust='l', nodesep='0.22', ranksep='0.55', newrank='true', bgcolor='white', pad='0.2', label=title)};")
    lines.append(f"  node {_attrs(fontname='DejaVu Sans', fontsize='10', shape='box', style='rounded,filled', fillcolor='white', color='#4d4d4d', penwidth='1.2')};")
    lines.append(f"  edge {_attrs(fontname='DejaVu Sans', fontsize='9', color='#4d4d4d', fontcolor='#333333', arrowsize='0.7')};")

    cluster("cluster_carriers", label="carriers (SIP trunks)", style="rounded,dashed", color="#999999")
    for t in plan.trunks:
        label = "\n".join([t.name, f"{t.transport}:{t.port} · {t.channels} channels", ", ".join(t.peers)])
        node("trunk:" + t.name, label=label, style="filled", fillcolor="#fff1c7")
    lines.append("  }")

    rec = plan.recording
    store = None
    if rec["mode"] != "none" and rec["storage"]["kind"] in ("s3", "oss"):
        st = rec["storage"]
        store = "store:recordings"
        flags = " · ".join(x for x in (st["encryption"], "WORM" if st["worm"] else "") if x)
        node(store, label="\n".join(["recordings", f"{st['kind']}://{st['bucket']}", flags]), shape="cylinder",
             style="filled", fillcolor="#efe6f7")

    for i, site in enumerate(plan.sites):
        where = site.kind + (f", {site.provider} {site.region or ''}".rstrip() if site.provider else "")
        label = Left("\n".join([f"{site.name} · {where} · {site.role}",
                                 f"{site.cidr} · {site.seats} seats · {site.concurrent_calls} calls"]))
        cluster(f"cluster_site_{i}", label=label, style="rounded,filled", fillcolor="#e9f3fb" if site.kind == "cloud" else "#eef0f3",
                color="#7a8a99", fontsize="12")
        vip = f"vip:{site.name}"
        proxies = [plan.host(n) for n in site.proxies]
        vrid = proxies[0].ha.vrid if proxies and proxies[0].ha else None
        node(vip, label="\n".join([f"VIP {site.vip}", f"VRRP vrid {vrid}" if vrid else "(single proxy)"]),
             shape="ellipse", fillcolor="#ffe08a", color="#b58900")
        cluster(f"cluster_pair_{i}", label="SIP proxy pair (Kamailio + keepalived)" if len(proxies) > 1 else "SIP proxy (Kamailio)",
                style="rounded,dashed", color="#7a8a99", fontsize="10")
        for h in proxies:
            node(h.name, label="\n".join([h.name, h.address] + ([f"{h.ha.state} · prio {h.ha.priority}"] if h.ha else [])))
        lines.append("  }")
        for name in site.rtpengines:
            h = plan.host(name)
            node(h.name, label="\n".join([h.name, h.address, "rtpengine"]), fillcolor="#f4f4f4")
        cluster(f"cluster_media_{i}", label=f"media (FreeSWITCH) · {site.media_nodes} x {site.calls_per_node} calls",
                style="rounded,dashed", color="#7a8a99", fontsize="10")
        for name in site.media:
            h = plan.host(name)
            node(h.name, label="\n".join([h.name, h.address]))
        lines.append("  }")
        for name in site.recording:
            h = plan.host(name)
            node(h.name, label="\n".join([h.name, h.address, f"recordings ({rec['storage']['kind']})"]), shape="cylinder",
                 fillcolor="#efe6f7")
        pools = [sp for sp in plan.seats if sp.site == site.name]
        for sp in pools:
            kind = "hosted (rented)" if sp.hosted else ("burst" if site.role == "burst" else "own seats")
            node("pool:" + sp.pool, label="\n".join([f"{sp.pool}: {sp.agents} agents", kind]), shape="tab",
                 fillcolor="#f6d5d3" if sp.hosted else "#d7e5f2", color="#c8423b" if sp.hosted else "#1f5f99")
        lines.append("  }")

        # inside the site: the VIP held by the pair, each proxy with its rtpengine, dispatcher to media
        for k, h in enumerate(proxies):
            edge(vip, h.name, style="solid" if k == 0 else "dashed", label="holds" if k == 0 else "takes over")
        if len(proxies) == 2:
            edge(proxies[0].name, proxies[1].name, dir="both", style="dotted", constraint="false", label="VRRP")
        # the plan gives each proxy its rtpengine, or none at all (media_relay: none)
        for p, r in zip(site.proxies, site.rtpengines, strict=bool(site.rtpengines)):
            edge(p, r, label="media relay")
        if site.media and proxies:
            local = ", ".join(str(d) for d in site.dispatcher_sets if d < 100)
            edge(proxies[0].name, site.media[0], ltail=f"cluster_pair_{i}", lhead=f"cluster_media_{i}", label=f"dispatcher set {local}")
            for m in site.media[1:]:
                edge(proxies[0].name, m, style="invis")  # keeps every media node in the column after the proxies
        for r in site.rtpengines[:1]:
            for target in [*site.recording, *([store] if store else [])]:
                edge(r, target, label="recordings", style="dashed")
        if site.media:
            for sp in pools:
                edge(site.media[0], "pool:" + sp.pool, ltail=f"cluster_media_{i}", label="queues")

    for t in plan.trunks:
        for s in t.sites:
            edge("trunk:" + t.name, "vip:" + s, penwidth="1.6")
    # disaster recovery: a primary's proxies may send calls to the standby's media
    index = {s.name: i for i, s in enumerate(plan.sites)}
    for d in plan.dispatcher_sets:
        if d.purpose.startswith("dr:"):
            src, dst = plan.site(d.site), plan.site(d.purpose.split(":", 1)[1])
            if src.proxies and dst.media:
                edge(src.proxies[0], dst.media[0], ltail=f"cluster_pair_{index[src.name]}", lhead=f"cluster_media_{index[dst.name]}",
                     style="dashed", color="#c8423b", fontcolor="#c8423b", label=f"DR: dispatcher set {d.id}", constraint="false")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_dot(source: str, fmt: str = "svg") -> bytes:
    """Run Graphviz `dot`; its absence or failure is a RenderError naming the fix."""
    if fmt == "dot":
        return source.encode()
    exe = shutil.which("dot")
    if not exe:
        raise RenderError("the topology diagram needs Graphviz's dot, which is not installed; apt-get install graphviz")
    try:
        proc = subprocess.run([exe, f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=DOT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise RenderError(f"dot took longer than {DOT_TIMEOUT_S} s on the topology diagram; try trunkline diagram -o FILE.dot and dot by hand") from None
    if proc.returncode != 0:
        raise RenderError(f"dot rejected the topology diagram: {proc.stderr.decode(errors='replace').strip()}; this is a trunkline bug, please report it with the blueprint")
    return proc.stdout


def topology_svg(plan: Plan) -> bytes:
    return render_dot(topology_dot(plan), "svg")


def write_diagram(plan: Plan, path: Path) -> Path:
    path = Path(path)
    _atomic_write(path, render_dot(topology_dot(plan), _suffix(path, DIAGRAM_FORMATS, "-o")))
    return path


# --- the HTML page --------------------------------------------------------------------------


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
    twins = _twins(rep)
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
    _atomic_write(files.plot, plot)
    _atomic_write(files.diagram, diagram)
    _atomic_write(files.html, page)
    return files


# --- the terminal view (trunkline cost) -----------------------------------------------------


def show_cost(rep: CostReport, console) -> None:
    """The cost report as rich tables: sizing, the three models, break-even, expansion."""
    from rich.table import Table

    b = rep.basis
    console.print(f"[bold]{rep.center}[/] ({rep.customer}) from {rep.source}: cost of ownership over {rep.months} months "
                  f"in {rep.currency}, prices from {rep.price_book_title or rep.price_book}", highlight=False)
    t = Table("figure", "value", title="what it rests on (from the plan)", show_header=False)
    t.add_row("seats (priced)", str(b.whole.seats))
    t.add_row("agents on the phones / to schedule", f"{b.agents} / {b.scheduled_agents}")
    t.add_row("trunk channels (priced)", str(b.whole.channels))
    t.add_row("bandwidth", f"{b.bandwidth_kbps / 1000:.1f} Mbit/s")
    t.add_row("recording storage", f"{human_bytes(b.storage_bytes)} over {b.retention_days} days")
    t.add_row("hybrid: self-built part", f"{b.hybrid_self_built.seats} seats, {b.hybrid_self_built.channels} channels ({', '.join(b.hybrid_self_built.pools) or 'none'})")
    t.add_row("hybrid: hosted part", f"{b.hybrid_hosted.seats} seats, {b.hybrid_hosted.channels} channels ({', '.join(b.hybrid_hosted.pools) or 'none'})")
    console.print(t)

    marks = sorted({12, 24, 36, rep.months} & set(range(1, rep.months + 1)))
    t = Table("model", "once", "a month", *[f"after {m} months" for m in marks], title=f"cost of ownership ({rep.currency})")
    for name in MODELS:
        m = rep.models[name]
        t.add_row(name, money(m.initial), money(m.monthly), *[money(m.total(k)) for k in marks])
    console.print(t)

    t = Table("models", "break-even month", "what happens", title="break-even")
    for be in rep.break_even:
        month = "never" if be.month is None else str(be.month) + ("" if be.month <= rep.months else f" (after month {rep.months})")
        t.add_row(" vs ".join(be.models), month, be.summary())
    console.print(t)

    t = Table("added seats", *[f"{m}" for m in MODELS], title=f"adding seats ({rep.currency}; a hybrid adds rented seats)")
    for e in rep.expansion:
        cells = []
        for m in MODELS:
            parts = [f"{money(e.once[m])} once" if e.once[m] else "", f"{money(e.yearly[m])} a year" if e.yearly[m] else ""]
            cells.append(" + ".join(p for p in parts if p) or "0")
        t.add_row(str(e.seats), *cells)
    console.print(t)
    for n in rep.notes:
        console.print(f"[dim]note:[/] {n}", highlight=False)
    for w in rep.plan_warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
