"""The rollout page: one self-contained HTML file (the plot inline as SVG, no scripts, nothing fetched)
from templates/report/rollout.html.j2: the outcome, the calls per second of the load that ran
through the rollout (completed, failed, dropped) with each host's steps marked, the timeline with the
load's figures around each step, and the hosts with the files that changed.

It reads the rollout's --json body (RolloutRun.as_dict() with "load": LoadReport.as_dict() or None),
so a page can be made again from a saved run.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

from trunkline.errors import RenderError
from trunkline.report import atomic_write

TEMPLATE = "report/rollout.html.j2"
AROUND_S = 5  # the load's figures in the seconds before and after each step
COLORS = {"ok": "#2e8b57", "failed": "#c8423b", "dropped": "#e08a00", "step": "#5b6773"}


def calls_figure(load: dict | None, t0: float, marks: list[tuple[float, str, str]], title: str, xlabel: str):
    """Calls per second (completed, failed, dropped, by the second they ended) and calls up against
    seconds since t0 (epoch), with vertical marks (epoch, label, "step" | "bad"): a matplotlib Figure.
    The rollout marks each host's first step, a drill its fault, detection and restoration."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.5, 4.6), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    up = ax.twinx()
    if load and load["timeline"]:
        xs = [load["started_at"] + s["t"] - t0 for s in load["timeline"]]
        for key, label in (("ok", "completed"), ("failed", "failed"), ("dropped", "dropped")):
            ax.plot(xs, [s[key] for s in load["timeline"]], color=COLORS[key], linewidth=1.6 if key == "ok" else 2.2,
                    label=f"{label} per second")
        up.plot(xs, [s["up"] for s in load["timeline"]], color="#1f5f99", linewidth=1, linestyle=(0, (4, 3)), label="calls up")
    for at, label, kind in marks:
        x = at - t0
        color = COLORS["failed"] if kind == "bad" else COLORS["step"]
        ax.axvline(x, color=color, linestyle="-" if kind == "bad" else ":", linewidth=2 if kind == "bad" else 1)
        ax.annotate(label, xy=(x, 1), xycoords=("data", "axes fraction"), rotation=90, fontsize=8, ha="right", va="top", color=color)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("calls ended per second")
    up.set_ylabel("calls up")
    ax.set_ylim(bottom=0)
    up.set_ylim(bottom=0)
    ax.set_title(title + ("" if load else " (no load ran)"), loc="left", fontsize=13)
    ax.grid(True, color="#e4e4e4", linewidth=0.8)
    lines = ax.get_legend_handles_labels()
    more = up.get_legend_handles_labels()
    if lines[0] or more[0]:
        ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=5,
                  fontsize=9, frameon=False)
    return fig


def rollout_marks(run: dict) -> list[tuple[float, str, str]]:
    """Each host's first step, and a rollback."""
    marks, seen = [], set()
    for e in run["events"]:
        if e["host"] not in seen:
            seen.add(e["host"])
            marks.append((e["at"], e["host"], "step"))
        if e["what"] == "rollback":
            marks.append((e["at"], "rollback", "bad"))
    return marks


def figure_svg(fig) -> bytes:
    """A Figure as SVG, the same bytes for the same figure (no date, a fixed hash salt, text as text)."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "trunkline", "svg.fonttype": "none", "font.family": ["DejaVu Sans", "sans-serif"]}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def calls_svg(run: dict) -> bytes:
    return figure_svg(calls_figure(run["load"], run["started_at"], rollout_marks(run), f"{run['center']}: rollout {run['outcome']}",
                                   "seconds since the rollout started"))


def around(run: dict, at: float, seconds: float = AROUND_S) -> dict:
    """The load's completed, failed and dropped calls that ended within `seconds` of `at` (epoch)."""
    load = run.get("load")
    out = {"ok": 0, "failed": 0, "dropped": 0}
    if not load:
        return out
    for s in load["timeline"]:
        if abs(load["started_at"] + s["t"] + 0.5 - at) <= seconds:
            for k in out:
                out[k] += s[k]
    return out


def rollout_html(run: dict) -> str:
    from trunkline.report.html import _environment, inline_svg

    env = _environment()
    try:
        tpl = env.get_template(TEMPLATE)
    except Exception as exc:  # jinja2.TemplateNotFound and friends: a broken install
        raise RenderError(f"templates/{TEMPLATE} cannot be read ({exc}); restore it from git") from None
    t0 = run["started_at"]
    events = [dict(e, offset=e["at"] - t0, clock=time.strftime("%H:%M:%S", time.localtime(e["at"])),
                   load=around(run, e["at"])) for e in run["events"]]
    return tpl.render(run=run, events=events, plot=inline_svg(calls_svg(run)), around_s=AROUND_S, colors=COLORS)


def write_rollout_page(run: dict, path: Path) -> Path:
    path = Path(path)
    atomic_write(path, rollout_html(run).encode())
    return path
