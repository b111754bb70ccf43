"""trunkline's command line: the only place that prints errors and chooses exit codes.

Exit codes: 0 ok, 1 a check or a program failed, 2 bad input (blueprint, arguments).
Every command has --json for machines; tables (rich) are for people.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
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
# Off a terminal (CI logs, `make demo > file`) rich would cut tables to 80 columns: site and trunk names
# came out as "sh-d…". Use a wide page there; COLUMNS still wins where it is set.
WIDE = 200
out = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else WIDE)
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


FORCE_HELP = ("replace an output folder that is not trunkline's own: it is moved aside to OUTPUT.bak-<time>, "
              "never deleted")


def _notes(notes: list[str]) -> None:
    """What a command did besides its output (a folder moved aside, files carried over)."""
    for note in notes:
        err.print(f"note: {note}", markup=False, highlight=False, style="yellow")


def _layers(blueprint: Path, layers: list[Path] | None) -> list[Path]:
    return [blueprint, *(layers or [])]


def _center(blueprint: Path, layers, sets):
    """The pipeline object every command works on (trunkline.center)."""
    from trunkline.center import load

    return load(_layers(blueprint, layers), sets or [])


def _plan(blueprint: Path, layers, sets):
    return _center(blueprint, layers, sets).plan


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
def init(
    folder: Path = typer.Argument(Path("."), help="folder for the new center (made if missing)"),
    name: str = typer.Option(..., "--name", prompt="center id (lower-case letters, digits, '-')", help="center id, e.g. acme-support"),
    customer: str = typer.Option("", "--customer", help="customer's name (default: the center id)"),
    industry: str = typer.Option("other", "--industry", help="finance, health, retail, ecommerce, government, telecom, logistics, other"),
    calls_per_hour: int = typer.Option(600, "--calls-per-hour", help="offered calls in the busiest hour"),
    aht: int = typer.Option(240, "--aht", help="average handle time in seconds (talk + hold + wrap-up)"),
    seats: Optional[int] = typer.Option(None, "--seats", help="fixed seats, split over the queues (default: auto from Erlang C)"),
    queues: Optional[list[str]] = typer.Option(None, "--queue", help="a queue and its skill (repeatable; default general)"),
    sites: int = typer.Option(1, "--sites", help="sites: 1 to 4, a primary first, then standbys and primaries in turn"),
    carriers: Optional[list[str]] = typer.Option(None, "--carrier", help="a carrier trunk's name (repeatable; default carrier-a)"),
    compliance: Optional[list[str]] = typer.Option(None, "--compliance", help="a rule pack (repeatable): baseline, pci-dss-4, hipaa, mifid-2, mlps-3, gdpr, finance-retention"),
    target: str = typer.Option("lab", "--target", help="where the sites run: lab or onprem (on-prem servers), or cloud"),
    timezone: str = typer.Option("UTC", "--timezone", help="IANA time zone of the center, e.g. Asia/Shanghai"),
    languages: Optional[list[str]] = typer.Option(None, "--language", help="a language callers speak (repeatable; default en-US)"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable result"),
) -> None:
    """Start a new center: a commented blueprint that validates and renders as written, with its schema beside it."""
    from trunkline.starter import Answers, write_starter

    answers = Answers(name=name, customer=customer, industry=industry, calls_per_hour=calls_per_hour, aht=aht, seats=seats,
                      queues=queues or ["general"], sites=sites, carriers=carriers or ["carrier-a"],
                      compliance=compliance or ["baseline"], target=target, timezone=timezone, languages=languages or ["en-US"])
    try:
        written = write_starter(answers, folder)
    except TrunklineError as exc:
        _fail(exc, as_json)
    if as_json:
        print(json.dumps({"ok": True, "files": [str(p) for p in written]}, indent=2))
        return
    for p in written:
        out.print(f"[green]wrote[/] {p}")
    out.print(f"next: trunkline validate {written[0]}   then: trunkline plan {written[0]}")


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
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    as_json: bool = typer.Option(False, "--json", help="machine-readable summary"),
) -> None:
    """Render every host's configuration to OUTPUT/<host>/<path> plus OUTPUT/manifest.json, atomically."""
    notes: list[str] = []

    try:
        c = _center(blueprint, layers, sets)
        p = c.plan
        if hosts:
            unknown = sorted(set(hosts) - {h.name for h in p.hosts})
            if unknown:
                raise UsageError(f"--host {', '.join(unknown)}: not in the plan; hosts are {', '.join(h.name for h in p.hosts)}")
        target = output or Path("build") / p.center
        files = c.render(target, hosts, check=check, force=force, notes=notes)
    except TrunklineError as exc:
        _fail(exc, as_json)
    if as_json:
        print(json.dumps({"ok": True, "output": str(target), "files": len(files), "hosts": len({f.host for f in files}),
                          "checked": check, "notes": notes}, indent=2))
    else:
        _notes(notes)
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


# --- lab: the embedded default target ---------------------------------------------------------


def _lab_center(blueprint: Optional[Path], center: Optional[str]) -> str:
    from trunkline.targets import lab

    if center:
        return center
    if blueprint:
        from trunkline.blueprint.load import load_blueprint

        return load_blueprint([blueprint]).metadata.name
    running = lab.lab_centers()
    if len(running) == 1:
        return running[0]
    raise UsageError("name the center: a BLUEPRINT or --center NAME" + (f" (labs up: {', '.join(running)})" if running else " (no lab is up)"))


def _target(target: str) -> None:
    if target != "lab":
        raise UsageError(f"--target {target}: this command supports the lab here; on-prem hosts are reached with trunkline apply/verify --target onprem")


@app.command()
def up(
    blueprint: Path = typer.Argument(..., help="blueprint file"),
    target: str = typer.Option("lab", "--target", help="lab: network namespaces on this machine"),
    layers: Optional[list[Path]] = typer.Option(None, "--layer", "-l", help=LAYER_HELP),
    sets: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    as_json: bool = typer.Option(False, "--json", help="machine-readable result"),
) -> None:
    """Bring the center up: every host a network namespace running the real programs."""
    from trunkline.targets import lab

    try:
        _target(target)
        lab.require_privileges()
        c = _center(blueprint, layers, sets)
        extra, said = lab.lab_overrides(c.plan)
        if extra:
            c = _center(blueprint, layers, [*(sets or []), *extra])
        p = c.plan
        for line in said:
            err.print(f"[yellow]lab scale-down:[/] {line}", highlight=False)
        progress = (lambda m: None) if as_json else (lambda m: err.print(f"[dim]up:[/] {m}", highlight=False))
        state = lab.up(c, said, progress)
        info = lab.status(state.center)
    except TrunklineError as exc:
        _fail(exc, as_json)
    if as_json:
        print(json.dumps(info, indent=2))
        return
    _show_status(info)
    out.print(f"\nThe lab stays up. Look at it: [bold]trunkline status --center {p.center}[/]; "
              f"call through it: [bold]trunkline call {blueprint} --rate 10 --calls 50[/]; "
              f"verify it: [bold]trunkline verify {blueprint}[/]; take it down: [bold]trunkline down --center {p.center}[/]")


@app.command()
def down(
    blueprint: Optional[Path] = typer.Argument(None, help="blueprint file (or --center)"),
    center: Optional[str] = typer.Option(None, "--center", help="center name, e.g. after the blueprint changed"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable result"),
) -> None:
    """Remove every namespace, process and file the lab made for a center; harmless when nothing is up."""
    from trunkline.targets import lab

    try:
        name = _lab_center(blueprint, center)
        done = lab.down(name)
    except TrunklineError as exc:
        _fail(exc, as_json)
    if as_json:
        print(json.dumps({"ok": True, "center": name, "removed": done}, indent=2))
    else:
        for line in done:
            out.print(f"[dim]down:[/] {line}", highlight=False)
        out.print(f"lab of {name} is down" + ("" if done else " (nothing was up)"))


@app.command()
def verify(
    blueprint: Optional[Path] = typer.Argument(None, help="blueprint file (or --center for a lab)"),
    target: str = typer.Option("lab", "--target", help="lab, or onprem (SSH, from inventories/<center>/)"),
    center: Optional[str] = typer.Option(None, "--center", help="center name of a running lab"),
    junit: Optional[Path] = typer.Option(None, "--junit", help="write a JUnit XML report here"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable result"),
) -> None:
    """Generate and run the pytest-testinfra suite against every host of the target."""
    from trunkline.verify import verify_lab, verify_onprem

    try:
        if target == "lab":
            result = verify_lab(_lab_center(blueprint, center), junit, echo=not as_json)
        elif target == "onprem":
            if not blueprint:
                raise UsageError("verify --target onprem needs the BLUEPRINT")
            result = verify_onprem(_center(blueprint, None, None), junit, echo=not as_json)
        else:
            raise UsageError(f"--target {target}: use lab or onprem")
    except TrunklineError as exc:
        _fail(exc, as_json)
    summary = result.output.strip().splitlines()[-1] if result.output.strip() else ""
    if as_json:
        print(json.dumps({"ok": result.ok, "summary": summary, "suite": result.suite, "junit": result.junit}, indent=2))
    else:
        out.print(f"{'[green]verified[/]' if result.ok else '[red]verification failed[/]'}: {summary} (suite: {result.suite})", highlight=False)
    raise typer.Exit(0 if result.ok else 1)


def _show_status(info: dict) -> None:
    table = Table("host", "site", "role", "address", "processes", "VIP", title=f"lab of {info['center']}")
    for h in info["hosts"]:
        procs = ", ".join(f"{p['name']} {p['pid']}" + ("" if p["alive"] else " [red](dead)[/]") for p in h["processes"])
        table.add_row(h["name"], h["site"], h["role"], ", ".join(h["addresses"]), procs, "[green]holds VIP[/]" if h["holds_vip"] else "")
    out.print(table)
    for s in info["sites"]:
        out.print(f"site {s['name']}: VIP {s['vip']} held by {', '.join(s['vip_holders']) or '[red]nobody[/]'}", highlight=False)
    for c in info["carriers"]:
        out.print(f"carrier of trunk {c['trunk']}: namespace {c['namespace']}, peers {', '.join(c['peers'])}", highlight=False)
    for line in info.get("scaled", []):
        out.print(f"scaled down: {line}", highlight=False)
    out.print(f"media nodes: {info['media_stand_in']}", highlight=False)


@app.command()
def status(
    blueprint: Optional[Path] = typer.Argument(None, help="blueprint file (or --center)"),
    center: Optional[str] = typer.Option(None, "--center", help="center name"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable result"),
) -> None:
    """Show each lab host, its processes and addresses, and who holds each VIP."""
    from trunkline.targets import lab

    try:
        info = lab.status(_lab_center(blueprint, center))
    except TrunklineError as exc:
        _fail(exc, as_json)
    if as_json:
        print(json.dumps(info, indent=2))
    else:
        _show_status(info)


@contextlib.contextmanager
def _call_progress(asked: int, every_s: float = 5.0):
    """Progress of a call run on stderr (stdout stays for the result and --json): a bar on a
    terminal, otherwise a plain line every few seconds."""
    if err.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("calls"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task("", total=asked)
            yield lambda c: bar.update(task, completed=c["succeeded"] + c["failed"],
                                       description=f"{c['created']} placed, {c['succeeded']} ok, {c['failed']} failed")
        return
    last = [0.0]

    def line(c: dict) -> None:
        now = time.monotonic()
        if now - last[0] >= every_s:
            last[0] = now
            err.print(f"calls: {c['created']} of {c['asked']} placed, {c['succeeded']} succeeded, {c['failed']} failed",
                      markup=False, highlight=False)

    yield line


@app.command()
def call(
    blueprint: Path = typer.Argument(..., help="blueprint file of a center that is up"),
    rate: float = typer.Option(10, "--rate", help="calls per second"),
    calls: int = typer.Option(50, "--calls", help="number of calls (bounded)"),
    trunk: Optional[str] = typer.Option(None, "--trunk", help="trunk to call from (default the first)"),
    transport: Optional[str] = typer.Option(None, "--transport", help="udp, tcp or tls (default the trunk's)"),
    hold_ms: int = typer.Option(1000, "--hold-ms", help="how long each call stays up"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable result"),
) -> None:
    """Place N calls at R per second from the carrier through the VIP to the media nodes."""
    from trunkline.targets import lab
    from trunkline.targets.calls import place_calls

    try:
        name = _lab_center(blueprint, None)
        state = lab.LabState.load(name)
        if not state or not state.ready:
            raise UsageError(f"the lab of {name} is not up; run trunkline up {blueprint} first")
        if transport not in (None, "udp", "tcp", "tls"):
            raise UsageError(f"--transport {transport}: use udp, tcp or tls")
        with _call_progress(calls) as progress:
            report = place_calls(state, state.plan(), rate, calls, trunk, transport, hold_ms, progress=progress)
    except TrunklineError as exc:
        _fail(exc, as_json)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        r = report.response_ms
        table = Table("figure", "value", title=f"calls via {report.trunk} to {report.target} ({report.transport})", show_header=False)
        for label, value in (("attempted", report.attempted), ("succeeded", report.succeeded), ("failed", report.failed),
                             ("retransmissions", report.retransmissions), ("rate asked", f"{report.rate}/s"), ("took", f"{report.seconds} s"),
                             ("INVITE to 200 OK", f"p50 {r['p50']} ms, p90 {r['p90']} ms, p99 {r['p99']} ms, max {r['max']} ms")):
            table.add_row(label, str(value))
        out.print(table)
        for reason, n in report.failures.items():
            err.print(f"failed: {reason}: {n}", highlight=False)
        if report.note:
            out.print(f"note: {report.note}", highlight=False)
        out.print(f"SIPp's traces: {report.log_dir}", highlight=False)
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def cost(
    blueprint: Path = typer.Argument(..., help="blueprint file"),
    months: int = typer.Option(36, "--months", help="how many months to total (1-600)"),
    price_book: Optional[Path] = typer.Option(None, "--price-book", help="your price book (YAML; default: the articles' figures in CNY)"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="write the cumulative cost curves here (.png or .svg)"),
    layers: Optional[list[Path]] = typer.Option(None, "--layer", "-l", help=LAYER_HELP),
    sets: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    as_json: bool = typer.Option(False, "--json", help="machine-readable result: series, break_even_month, expansion"),
) -> None:
    """Cost of ownership month by month: self-built vs hosted vs hybrid, break-even, cost of more seats."""
    from trunkline.cost import cost_report, load_price_book
    from trunkline.report import show_cost, write_cost_plot

    try:
        book = load_price_book(price_book)
        rep = cost_report(_plan(blueprint, layers, sets), book, months)
        if plot:
            write_cost_plot(rep, plot)
    except TrunklineError as exc:
        _fail(exc, as_json)
    if as_json:
        print(json.dumps(rep.as_dict() | {"plot": str(plot) if plot else None}, indent=2, ensure_ascii=False))
        return
    show_cost(rep, out)
    if plot:
        out.print(f"[green]wrote[/] {plot}", highlight=False)


@app.command()
def report(
    blueprint: Path = typer.Argument(..., help="blueprint file"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="report folder (default build/<center>-report)"),
    months: int = typer.Option(36, "--months", help="how many months to total (1-600)"),
    price_book: Optional[Path] = typer.Option(None, "--price-book", help="your price book (YAML; default: the articles' figures in CNY)"),
    layers: Optional[list[Path]] = typer.Option(None, "--layer", "-l", help=LAYER_HELP),
    sets: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    as_json: bool = typer.Option(False, "--json", help="machine-readable summary"),
) -> None:
    """One HTML page for buyers: the decision, cost curves and tables, sizing, topology diagram, plan."""
    from trunkline.cost import cost_report, load_price_book
    from trunkline.report import write_report

    try:
        book = load_price_book(price_book)
        p = _plan(blueprint, layers, sets)
        rep = cost_report(p, book, months)
        files = write_report(p, rep, output or Path("build") / f"{p.center}-report")
    except TrunklineError as exc:
        _fail(exc, as_json)
    if as_json:
        print(json.dumps({"ok": True, "html": str(files.html), "plot": str(files.plot), "diagram": str(files.diagram),
                          "break_even_month": rep.as_dict()["break_even_month"]}, indent=2))
    else:
        out.print(f"[green]wrote[/] {files.html} (with {files.plot.name} and {files.diagram.name} beside it)", highlight=False)


@app.command()
def diagram(
    blueprint: Path = typer.Argument(..., help="blueprint file"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="write here (.svg, .png, or .dot for the Graphviz source); default: SVG to stdout"),
    layers: Optional[list[Path]] = typer.Option(None, "--layer", "-l", help=LAYER_HELP),
    sets: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    as_json: bool = typer.Option(False, "--json", help="machine-readable summary (needs -o)"),
) -> None:
    """The topology diagram alone: sites, hosts, proxy pairs with their VIPs, trunks (Graphviz)."""
    from trunkline.report import topology_svg, write_diagram

    try:
        if as_json and not output:
            raise UsageError("--json needs -o FILE: the diagram goes to the file, the summary to stdout")
        p = _plan(blueprint, layers, sets)
        if output:
            write_diagram(p, output)
        else:
            sys.stdout.buffer.write(topology_svg(p))
    except TrunklineError as exc:
        _fail(exc, as_json)
    if as_json:
        print(json.dumps({"ok": True, "output": str(output), "hosts": len(p.hosts), "sites": len(p.sites)}, indent=2))
    elif output:
        out.print(f"[green]wrote[/] {output}", highlight=False)


@app.command("comply")
def comply_cmd(
    blueprint: Path = typer.Argument(..., help="blueprint file"),
    live: Optional[str] = typer.Option(None, "--live", help="also check the running hosts of a target: lab or onprem"),
    packs: Optional[list[str]] = typer.Option(None, "--pack", help="evaluate this pack instead of the blueprint's spec.compliance (repeatable; baseline is always on)"),
    waivers: Optional[Path] = typer.Option(None, "--waivers", help="YAML file: control id -> {justification, expiration_date}"),
    fmt: str = typer.Option("table", "--format", help="table, json, junit or sarif"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="write the report to this file (a summary line goes to stdout)"),
    layers: Optional[list[Path]] = typer.Option(None, "--layer", "-l", help=LAYER_HELP),
    sets: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    as_json: bool = typer.Option(False, "--json", help="same as --format json"),
    strict: bool = typer.Option(False, "--strict", help="a control that could not be evaluated fails the run too"),
) -> None:
    """Evaluate the compliance packs on the blueprint, its rendered files and (--live) its hosts. Exit 1 when a control fails."""
    from trunkline.comply.evaluate import comply
    from trunkline.comply.output import FORMATS, print_table, render_report, summary_line

    fmt = "json" if as_json else fmt
    try:
        if fmt not in FORMATS:
            raise UsageError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
        if live is not None and live not in ("lab", "onprem"):
            raise UsageError(f"--live {live}: use lab or onprem")
        report = comply(_center(blueprint, layers, sets), [], packs, waivers, live, strict=strict)
        if output:
            try:
                output.write_text(render_report(report, fmt), encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"-o {output}: cannot write the report ({exc.strerror})") from None
    except TrunklineError as exc:
        _fail(exc, fmt == "json")
    if output:
        out.print(f"{'[red]FAILED[/]' if report.failed else '[green]ok[/]'} {summary_line(report)}; report in {output}", highlight=False)
    elif fmt == "table":
        print_table(report, out)
    else:
        sys.stdout.write(render_report(report, fmt))
    raise typer.Exit(1 if report.failed else 0)


@app.command()
def inventory(
    blueprint: Path = typer.Argument(..., help="blueprint file"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="inventory folder (default inventories/<center>)"),
    build: Optional[Path] = typer.Option(None, "--build", help="render tree the roles copy from (default build/<center>)"),
    layers: Optional[list[Path]] = typer.Option(None, "--layer", "-l", help=LAYER_HELP),
    sets: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    as_json: bool = typer.Option(False, "--json", help="machine-readable summary"),
) -> None:
    """Write the on-prem inventory: Ansible hosts.yml, group_vars, host_vars, pyinfra inventory, ssh_config, plan-made files."""
    from trunkline.targets.inventory import write_inventory

    notes: list[str] = []
    try:
        p = _plan(blueprint, layers, sets)
        target = output or Path("inventories") / p.center
        hosts = write_inventory(p, target, build or Path("build") / p.center, force=force, notes=notes)
    except TrunklineError as exc:
        _fail(exc, as_json)
    if as_json:
        print(json.dumps({"ok": True, "inventory": str(target), "hosts": hosts, "notes": notes}, indent=2))
    else:
        _notes(notes)
        out.print(f"[green]wrote[/] {target}: {len(hosts)} on-prem hosts (hosts.yml, group_vars, host_vars, inventory.py, ssh_config, files/)")


@app.command()
def apply(
    blueprint: Path = typer.Argument(..., help="blueprint file"),
    target: str = typer.Option("onprem", "--target", help="onprem: the center's own servers (SSH), or Debian roots with --chroot"),
    engine: str = typer.Option("pyinfra", "--engine", help="pyinfra (default, fast) or ansible (site.yml with roles/)"),
    limit: Optional[list[str]] = typer.Option(None, "--limit", help="hosts, sites or roles, comma-separated or repeated"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show what would change and change nothing"),
    chroot: Optional[Path] = typer.Option(None, "--chroot", help="apply to the Debian roots DIR/<host> on this machine instead of over SSH"),
    inventory_dir: Optional[Path] = typer.Option(None, "--inventory", help="inventory folder (default inventories/<center>)"),
    build: Optional[Path] = typer.Option(None, "--build", help="render tree to ship (default build/<center>)"),
    layers: Optional[list[Path]] = typer.Option(None, "--layer", "-l", help=LAYER_HELP),
    sets: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    as_json: bool = typer.Option(False, "--json", help="machine-readable summary"),
) -> None:
    """Render the center and apply it to its on-prem hosts; secrets are resolved now and never logged."""
    from trunkline.targets import onprem
    seen: dict[str, str] = {}

    def progress(host: str, event: str, what: str) -> None:
        if as_json or seen.get(host) == what:
            return
        seen[host] = what
        style = {"changed": "yellow", "failed": "red", "done": "bold"}.get(event, "dim")
        out.print(f"[{style}]{host:<16} {event:<8} {what}[/]", markup=True, highlight=False, soft_wrap=True)

    try:
        if target != "onprem":
            raise UsageError(f"--target {target}: apply knows onprem here (the lab is brought up with trunkline up)")
        c = _center(blueprint, layers, sets)
        p = c.plan
        report = onprem.apply(c, engine=engine, limit=limit, dry_run=dry_run, chroot=chroot, inventory=inventory_dir,
                              build=build, progress=progress)
    except TrunklineError as exc:
        _fail(exc, as_json)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        verb = "would change" if dry_run else "changed"
        table = Table("host", verb, "ok", "failed", title=f"{report.engine} on {len(report.hosts)} hosts in {report.seconds:.1f} s")
        for h in report.hosts:
            table.add_row(h.host, str(h.changed), str(h.ok), f"[red]{h.failed}[/]" if h.failed else "0")
        out.print(table)
        for h in report.hosts:
            for change in h.changes:
                out.print(f"  {h.host}: {verb} {change}", style="dim", markup=False, highlight=False)
            for e in h.errors:
                err.print(f"{h.host}: {e}", markup=False, highlight=False)
        if report.failed:
            out.print(f"[red]{report.failed} failed[/], {report.changed} {verb}")
        elif report.changed == 0:
            out.print(f"[green]0 changed[/]: every host already matches {p.center} ({report.engine})")
        else:
            out.print(f"[yellow]{report.changed} {verb}[/] on {sum(1 for h in report.hosts if h.changed)} hosts ({report.engine})")
    raise typer.Exit(1 if report.failed else 0)


@app.command()
def drift(
    blueprint: Path = typer.Argument(..., help="blueprint file"),
    target: str = typer.Option("onprem", "--target", help="onprem: the center's own servers (SSH), or Debian roots with --chroot"),
    limit: Optional[list[str]] = typer.Option(None, "--limit", help="hosts, sites or roles, comma-separated or repeated"),
    chroot: Optional[Path] = typer.Option(None, "--chroot", help="read the Debian roots DIR/<host> on this machine instead of over SSH"),
    inventory_dir: Optional[Path] = typer.Option(None, "--inventory", help="inventory folder (default inventories/<center>)"),
    layers: Optional[list[Path]] = typer.Option(None, "--layer", "-l", help=LAYER_HELP),
    sets: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    as_json: bool = typer.Option(False, "--json", help="machine-readable result"),
) -> None:
    """List every managed file that differs on the hosts from what the blueprint gives (exit 1 if any)."""
    from trunkline.targets import onprem
    try:
        if target != "onprem":
            raise UsageError(f"--target {target}: drift knows onprem here")
        c = _center(blueprint, layers, sets)
        p = c.plan
        found = onprem.drift(c, limit=limit, chroot=chroot, inventory=inventory_dir)
    except TrunklineError as exc:
        _fail(exc, as_json)
    if as_json:
        print(json.dumps({"ok": not found, "drift": [d.__dict__ for d in found]}, indent=2))
    elif found:
        table = Table("host", "file", "differs in", "expected", "found", title=f"drift of {p.center}")
        table.columns[1].overflow = "fold"
        for d in found:
            table.add_row(d.host, d.path, f"[red]{d.what}[/]", d.expected, d.found)
        out.print(table)
        out.print(f"[red]{len(found)} difference(s)[/] on {len({d.host for d in found})} host(s); trunkline apply puts them back")
    else:
        out.print(f"[green]no drift[/]: every managed file of {p.center} is as rendered")
    raise typer.Exit(1 if found else 0)


# --- commands of further features go above this line (one function each; keep them thin) ---


def main() -> None:  # pragma: no cover - console script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
