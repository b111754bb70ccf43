"""trunkline's command line: the only place that prints errors and chooses exit codes.

Exit codes: 0 ok, 1 a check or a program failed, 2 bad input (blueprint, arguments).
Every command has --json for machines; tables (rich) are for people.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from trunkline.errors import BlueprintError, TrunklineError, UsageError

app = typer.Typer(
    name="trunkline",
    help="Infrastructure as code for contact centers: blueprint -> sized plan -> rendered configs -> targets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True, soft_wrap=True)  # error lines stay whole: FILE:LINE:COL is grep-able

LAYER_HELP = "extra blueprint layer merged on top (repeatable; after BLUEPRINT.local.yaml)"
SET_HELP = "override one field: PATH=VALUE, e.g. spec.forecast.shrinkage=0.3 (repeatable, applied last)"


def _fail(exc: TrunklineError, as_json: bool) -> None:
    if as_json:
        body: dict = {"ok": False, "error": type(exc).__name__}
        if isinstance(exc, BlueprintError):
            body["problems"] = [p.as_dict() for p in exc.problems]
        else:
            body["message"] = str(exc)
        print(json.dumps(body, indent=2))
    elif isinstance(exc, BlueprintError):
        for p in exc.problems:
            err.print(str(p), markup=False, highlight=False)
        err.print(f"{len(exc.problems)} problem(s); nothing was written", style="red")
    else:
        err.print(f"error: {exc}", markup=False, highlight=False, style="red")
    raise typer.Exit(exc.exit_code)


def _layers(blueprint: Path, layers: list[Path] | None) -> list[Path]:
    return [blueprint, *(layers or [])]


def _plan(blueprint: Path, layers, sets):
    from trunkline.plan.topology import plan_from_file

    return plan_from_file(_layers(blueprint, layers), sets or [])


@app.command()
def validate(
    paths: list[Path] = typer.Argument(..., help="blueprint files; each is validated on its own"),
    sets: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    as_json: bool = typer.Option(False, "--json", help="machine-readable result"),
) -> None:
    """Check blueprints and report every problem at once (FILE:LINE:COL field: what; fix)."""
    from trunkline.blueprint.load import load_blueprint

    problems, centers = [], []
    for path in paths:
        try:
            centers.append(load_blueprint([path], sets or []).metadata.name)
        except BlueprintError as exc:
            problems.extend(exc.problems)
        except TrunklineError as exc:
            _fail(exc, as_json)
    if problems:
        _fail(BlueprintError(problems), as_json)
    if as_json:
        print(json.dumps({"ok": True, "centers": centers}, indent=2))
    else:
        for path, name in zip(paths, centers):
            out.print(f"[green]ok[/] {path} ({name})")


@app.command()
def schema(output: Optional[Path] = typer.Option(None, "-o", "--output", help="write to this file instead of stdout")) -> None:
    """Print the blueprint's JSON Schema (for editors: see the modeline in blueprints/)."""
    from trunkline.blueprint.schema import schema_json

    text = schema_json()
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)


@app.command()
def plan(
    blueprint: Path = typer.Argument(..., help="blueprint file"),
    layers: Optional[list[Path]] = typer.Option(None, "--layer", "-l", help=LAYER_HELP),
    sets: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    as_json: bool = typer.Option(False, "--json", help="the plan as JSON (deterministic bytes)"),
) -> None:
    """Size the center and lay out its sites, hosts, addresses, HA pairs and dispatcher sets."""
    try:
        p = _plan(blueprint, layers, sets)
    except TrunklineError as exc:
        _fail(exc, as_json)
    if as_json:
        sys.stdout.write(p.to_json())
        return
    from trunkline.plan.show import show_plan

    show_plan(p, out)


@app.command()
def render(
    blueprint: Path = typer.Argument(..., help="blueprint file"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="output folder (default build/<center>)"),
    layers: Optional[list[Path]] = typer.Option(None, "--layer", "-l", help=LAYER_HELP),
    sets: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    hosts: Optional[list[str]] = typer.Option(None, "--host", help="render only these hosts"),
    check: bool = typer.Option(True, "--check/--no-check", help="have the real programs accept the files before they replace the output"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable summary"),
) -> None:
    """Render every host's configuration to OUTPUT/<host>/<path> plus OUTPUT/manifest.json, atomically."""
    from trunkline.render import render_site

    try:
        p = _plan(blueprint, layers, sets)
        if hosts:
            unknown = sorted(set(hosts) - {h.name for h in p.hosts})
            if unknown:
                raise UsageError(f"--host {', '.join(unknown)}: not in the plan; hosts are {', '.join(h.name for h in p.hosts)}")
        target = output or Path("build") / p.center
        files = render_site(p, target, hosts, check=check)
    except TrunklineError as exc:
        _fail(exc, as_json)
    if as_json:
        print(json.dumps({"ok": True, "output": str(target), "files": len(files), "hosts": len({f.host for f in files}),
                          "checked": check}, indent=2))
    else:
        out.print(f"[green]rendered[/] {len(files)} files for {len({f.host for f in files})} hosts into {target}"
                  + (" (accepted by kamailio -c, keepalived -t and the parsers)" if check else " (not checked)"))


@app.command("check")
def check_cmd(
    tree: Path = typer.Argument(..., help="a render output folder (with manifest.json)"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable result"),
) -> None:
    """Run the real programs (kamailio -c, keepalived -t, parsers) on a rendered tree."""
    from trunkline.render import MANIFEST
    from trunkline.render.check import check_tree, failed

    if not (tree / MANIFEST).exists():
        _fail(UsageError(f"{tree}: no {MANIFEST}; render into it first (trunkline render BLUEPRINT -o {tree})"), as_json)
    results = check_tree(tree)
    bad = failed(results)
    if as_json:
        print(json.dumps({"ok": not bad, "results": [r.as_dict() for r in results]}, indent=2))
    else:
        table = Table("host", "file", "checker", "result", title=f"checks of {tree}")
        for r in results:
            style = {"passed": "green", "failed": "red", "skipped": "yellow"}[r.status]
            table.add_row(r.host, r.path, r.checker, f"[{style}]{r.status}[/]")
        out.print(table)
        for r in bad:
            err.print(f"{r.host}:{r.path}: {r.checker}:\n{r.detail}", markup=False)
        counts = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "skipped")}
        out.print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    raise typer.Exit(1 if bad else 0)


@app.command()
def size(
    calls_per_hour: Optional[float] = typer.Option(None, "--calls-per-hour", help="busy-hour offered calls"),
    aht: Optional[float] = typer.Option(None, "--aht", help="average handle time, seconds"),
    answer_within: float = typer.Option(20, "--answer-within", help="service-level time, seconds"),
    service_level: float = typer.Option(0.8, "--service-level", help="share answered within the time, 0-1"),
    erlangs: Optional[float] = typer.Option(None, "--erlangs", help="traffic in Erlangs (channels only)"),
    grade_of_service: float = typer.Option(0.01, "--grade-of-service", help="blocking allowed on the trunks, 0-1"),
    codec: str = typer.Option("PCMA", "--codec", help="codec for bandwidth: PCMA, PCMU, G722, G729, OPUS"),
    shrinkage: float = typer.Option(0.0, "--shrinkage", help="share of paid time off the phones, 0-1"),
    max_occupancy: float = typer.Option(1.0, "--max-occupancy", help="cap on agent occupancy, 0-1"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable result"),
) -> None:
    """Pre-sales calculator: agents (Erlang C), trunk channels (Erlang B), bandwidth."""
    from trunkline.plan import sizing

    try:
        result: dict = {}
        if calls_per_hour is not None:
            if aht is None:
                raise UsageError("--calls-per-hour needs --aht SECONDS")
            a = sizing.erlang_c_agents(calls_per_hour, aht, answer_within, service_level, shrinkage, max_occupancy)
            traffic = a.traffic_erlangs
            result.update(traffic_erlangs=round(traffic, 4), agents=a.agents, scheduled_agents=a.scheduled,
                          service_level=round(a.service_level, 4), occupancy=round(a.occupancy, 4), asa_s=round(a.asa_s, 2))
        elif erlangs is not None:
            traffic = erlangs
            result["traffic_erlangs"] = traffic
        else:
            raise UsageError("give either --calls-per-hour N --aht SECONDS (agents and channels) or --erlangs A (channels)")
        channels = sizing.erlang_b_channels(traffic, grade_of_service) if traffic > 0 else 0
        blocking = sizing.erlang_b(traffic, channels) if traffic > 0 else 0.0
        result.update(channels=channels, grade_of_service=grade_of_service, blocking=round(blocking, 6), codec=codec.upper(),
                      bandwidth_per_call_kbps=round(sizing.call_bandwidth_kbps(codec), 1),
                      bandwidth_kbps=round(sizing.trunk_bandwidth_kbps(channels, codec), 1))
        if "agents" not in result:
            # for a trunk group: the share of calls carried, and how busy each channel is
            result["service_level"] = round(1 - blocking, 6)
            result["occupancy"] = round(traffic * (1 - blocking) / channels, 4) if channels else 0.0
    except ValueError as exc:
        _fail(UsageError(str(exc)), as_json)
    except TrunklineError as exc:
        _fail(exc, as_json)
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return
    table = Table("figure", "value", title="sizing", show_header=False)
    labels = {
        "traffic_erlangs": "traffic (Erlangs)", "agents": "agents on the phones (Erlang C)",
        "scheduled_agents": "agents to schedule (with shrinkage)", "service_level": "service level reached",
        "occupancy": "occupancy", "asa_s": "average speed of answer (s)", "channels": "trunk channels (Erlang B)",
        "grade_of_service": "grade of service asked", "blocking": "blocking reached", "codec": "codec",
        "bandwidth_per_call_kbps": "per call, one way, Ethernet (kbit/s)", "bandwidth_kbps": "trunk bandwidth with 20 % headroom (kbit/s)",
    }
    for key, label in labels.items():
        if key in result:
            value = result[key]
            if key in ("service_level", "occupancy", "blocking", "grade_of_service") and isinstance(value, float) and not math.isnan(value):
                value = f"{value:.2%}"
            table.add_row(label, str(value))
    out.print(table)


# --- commands of further features go above this line (one function each; keep them thin) ---


def main() -> None:  # pragma: no cover - console script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
