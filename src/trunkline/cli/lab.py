"""Commands on the lab, the embedded default target (network namespaces on this machine): up, down,
status, call, load; and verify, which runs the testinfra suite against the lab or on-prem hosts."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from trunkline.cli.options import Blueprint, Json, Layers, Sets, load_center
from trunkline.cli.output import err, exit_with, fail, figures, out, print_json, table
from trunkline.errors import TrunklineError, UsageError

BlueprintOrCenter = Annotated[Optional[Path], typer.Argument(help="blueprint file (or --center)")]


def _lab_center(blueprint: Optional[Path], name: Optional[str]) -> str:
    """The center a lab command is about: --center, else the BLUEPRINT's, else the one lab that is up."""
    from trunkline.targets import lab

    if name:
        return name
    if blueprint:
        from trunkline.blueprint.load import load_blueprint

        return load_blueprint([blueprint]).metadata.name
    running = lab.lab_centers()
    if len(running) == 1:
        return running[0]
    raise UsageError("name the center: a BLUEPRINT or --center NAME" + (f" (labs up: {', '.join(running)})" if running else " (no lab is up)"))


def _running_lab(blueprint: Path):
    """The LabState of the BLUEPRINT's center, which must be up."""
    from trunkline.targets import lab

    name = _lab_center(blueprint, None)
    state = lab.LabState.load(name)
    if not state or not state.ready:
        raise UsageError(f"the lab of {name} is not up; run trunkline up {blueprint} first")
    return state


def lab_center(blueprint: Path, layers, sets) -> tuple:
    """The center as the lab runs it (Center, the scale-down's sentences): a plan too large for one
    machine gets the lab's --set overrides (lab.lab_overrides)."""
    from trunkline.targets import lab

    c = load_center(blueprint, layers, sets)
    extra, said = lab.lab_overrides(c.plan)
    if extra:
        c = load_center(blueprint, layers, [*(sets or []), *extra])
    return c, said


def _target(target: str) -> None:
    if target != "lab":
        raise UsageError(f"--target {target}: this command supports the lab here; on-prem hosts are reached with trunkline apply/verify --target onprem")


def up(
    blueprint: Blueprint,
    target: str = typer.Option("lab", "--target", help="lab: network namespaces on this machine"),
    layers: Layers = None,
    sets: Sets = None,
    media: str = typer.Option("auto", "--media", help="what answers on the media nodes: auto (FreeSWITCH when "
                              "installed, else a SIPp stand-in; never the stand-in in CI), freeswitch, or sipp (the "
                              "stand-in on purpose, to measure the edge alone)"),
    as_json: Json = False,
) -> None:
    """Bring the center up: every host a network namespace running the real programs."""
    from trunkline.targets import lab

    try:
        _target(target)
        lab.require_privileges()
        c, said = lab_center(blueprint, layers, sets)
        p = c.plan
        for line in said:
            err.print(f"[yellow]lab scale-down:[/] {line}", highlight=False)
        progress = (lambda m: None) if as_json else (lambda m: err.print(f"[dim]up:[/] {m}", highlight=False))
        state = lab.up(c, said, progress, media=media)
        info = lab.status(state.center)
    except TrunklineError as exc:
        fail(exc, as_json)
    if as_json:
        print_json(info)
        return
    _show_status(info)
    out.print(f"\nThe lab stays up. Look at it: [bold]trunkline status --center {p.center}[/]; "
              f"call through it: [bold]trunkline call {blueprint} --rate 10 --calls 50[/]; "
              f"verify it: [bold]trunkline verify {blueprint}[/]; take it down: [bold]trunkline down --center {p.center}[/]")


def down(
    blueprint: BlueprintOrCenter = None,
    center: Optional[str] = typer.Option(None, "--center", help="center name, e.g. after the blueprint changed"),
    as_json: Json = False,
) -> None:
    """Remove every namespace, process and file the lab made for a center; harmless when nothing is up."""
    from trunkline.targets import lab

    try:
        name = _lab_center(blueprint, center)
        done = lab.down(name)
    except TrunklineError as exc:
        fail(exc, as_json)
    if as_json:
        print_json({"ok": True, "center": name, "removed": done})
    else:
        for line in done:
            out.print(f"[dim]down:[/] {line}", highlight=False)
        out.print(f"lab of {name} is down" + ("" if done else " (nothing was up)"))


def verify(
    blueprint: Optional[Path] = typer.Argument(None, help="blueprint file (or --center for a lab)"),
    target: str = typer.Option("lab", "--target", help="lab, or onprem (SSH, from inventories/<center>/)"),
    center: Optional[str] = typer.Option(None, "--center", help="center name of a running lab"),
    junit: Optional[Path] = typer.Option(None, "--junit", help="write a JUnit XML report here"),
    as_json: Json = False,
) -> None:
    """Generate and run the pytest-testinfra suite against every host of the target."""
    from trunkline.verify import verify_lab, verify_onprem

    try:
        if target == "lab":
            result = verify_lab(_lab_center(blueprint, center), junit, echo=not as_json)
        elif target == "onprem":
            if not blueprint:
                raise UsageError("verify --target onprem needs the BLUEPRINT")
            result = verify_onprem(load_center(blueprint, None, None), junit, echo=not as_json)
        else:
            raise UsageError(f"--target {target}: use lab or onprem")
    except TrunklineError as exc:
        fail(exc, as_json)
    summary = result.output.strip().splitlines()[-1] if result.output.strip() else ""
    if as_json:
        print_json({"ok": result.ok, "summary": summary, "suite": result.suite, "junit": result.junit})
    else:
        out.print(f"{'[green]verified[/]' if result.ok else '[red]verification failed[/]'}: {summary} (suite: {result.suite})", highlight=False)
    exit_with(not result.ok)


def _show_status(info: dict) -> None:
    def processes(h: dict) -> str:
        return ", ".join(f"{p['name']} {p['pid']}" + ("" if p["alive"] else " [red](dead)[/]") for p in h["processes"])

    out.print(table("host", "site", "role", "address", "processes", "VIP", title=f"lab of {info['center']}",
                    rows=((h["name"], h["site"], h["role"], ", ".join(h["addresses"]), processes(h),
                           "[green]holds VIP[/]" if h["holds_vip"] else "") for h in info["hosts"])))
    for s in info["sites"]:
        out.print(f"site {s['name']}: VIP {s['vip']} held by {', '.join(s['vip_holders']) or '[red]nobody[/]'}", highlight=False)
    for c in info["carriers"]:
        out.print(f"carrier of trunk {c['trunk']}: namespace {c['namespace']}, peers {', '.join(c['peers'])}", highlight=False)
    for line in info.get("scaled", []):
        out.print(f"scaled down: {line}", highlight=False)
    out.print(f"media nodes: {info['media']['summary']}", highlight=False)


def status(
    blueprint: BlueprintOrCenter = None,
    center: Optional[str] = typer.Option(None, "--center", help="center name"),
    as_json: Json = False,
) -> None:
    """Show each lab host, its processes and addresses, and who holds each VIP."""
    from trunkline.targets import lab

    try:
        info = lab.status(_lab_center(blueprint, center))
    except TrunklineError as exc:
        fail(exc, as_json)
    if as_json:
        print_json(info)
    else:
        _show_status(info)


@contextlib.contextmanager
def _call_progress(asked: int, every_s: float = 5.0):
    """Progress of a call run on stderr (stdout stays for the result and --json): a bar on a
    terminal, otherwise a plain line every few seconds."""
    if err.is_terminal:
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


def call(
    blueprint: Path = typer.Argument(..., help="blueprint file of a center that is up"),
    rate: float = typer.Option(10, "--rate", help="calls per second"),
    calls: int = typer.Option(50, "--calls", help="number of calls (bounded)"),
    trunk: Optional[str] = typer.Option(None, "--trunk", help="trunk to call from (default the first)"),
    transport: Optional[str] = typer.Option(None, "--transport", help="udp, tcp or tls (default the trunk's)"),
    hold_ms: int = typer.Option(1000, "--hold-ms", help="how long each call stays up"),
    as_json: Json = False,
) -> None:
    """Place N calls at R per second from the carrier through the VIP to the media nodes."""
    from trunkline.targets.calls import place_calls

    try:
        state = _running_lab(blueprint)
        if transport not in (None, "udp", "tcp", "tls"):
            raise UsageError(f"--transport {transport}: use udp, tcp or tls")
        with _call_progress(calls) as progress:
            report = place_calls(state, state.plan(), rate, calls, trunk, transport, hold_ms, progress=progress)
    except TrunklineError as exc:
        fail(exc, as_json)
    if as_json:
        print_json(report.as_dict())
    else:
        r = report.response_ms
        out.print(figures(f"calls via {report.trunk} to {report.target} ({report.transport})", (
            ("attempted", report.attempted), ("succeeded", report.succeeded), ("failed", report.failed),
            ("retransmissions", report.retransmissions), ("rate asked", f"{report.rate}/s"), ("took", f"{report.seconds} s"),
            ("INVITE to 200 OK", f"p50 {r['p50']} ms, p90 {r['p90']} ms, p99 {r['p99']} ms, max {r['max']} ms"))))
        for reason, n in report.failures.items():
            err.print(f"failed: {reason}: {n}", highlight=False)
        if report.note:
            out.print(f"note: {report.note}", highlight=False)
        out.print(f"SIPp's traces: {report.log_dir}", highlight=False)
    exit_with(not report.ok)


def load(
    blueprint: Path = typer.Argument(..., help="blueprint file of a center that is up in the lab"),
    rate: Optional[float] = typer.Option(None, "--rate", help="new calls per second (default: from the plan, see below)"),
    hold: Optional[float] = typer.Option(None, "--hold", help="seconds each call stays up with audio (default 30)"),
    seconds: Optional[float] = typer.Option(None, "--seconds", help="seconds during which new calls start (default twice the hold)"),
    trunk: Optional[str] = typer.Option(None, "--trunk", help="trunk whose carrier calls (default the first)"),
    as_json: Json = False,
) -> None:
    """Hold a steady load with audio through the lab: R new calls a second, each held H seconds, SRTP and
    recording as the blueprint says. Reports each second and in total: failed calls (never established),
    dropped calls (established, then ended abnormally) and RTP loss and jitter. Default: a rate that keeps
    the site's busy-hour calls up."""
    from trunkline.targets.lab.load import Load, default_load

    try:
        state = _running_lab(blueprint)
        plan = state.plan()
        planned_rate, planned_hold, planned_seconds, why = default_load(plan, trunk, hold)
        chosen = why if rate is None else "asked (--rate)"
        run = Load(state, plan, rate or planned_rate, hold or planned_hold, seconds or planned_seconds,
                   trunk, chosen)
        r = run.report
        if not as_json:
            err.print(f"load: {r.rate:g} new calls/s for {r.seconds:g} s, each held {r.hold_s:g} s, to {r.target}; "
                      f"{chosen}", highlight=False, markup=False)
            err.print(f"caller: {r.caller}", highlight=False, markup=False)
        progress = None if as_json else (lambda s: err.print(
            f"t={s['t']:>5.0f} s  up {s['up']:>4}  ended {s['ended']:>5}  ok {s['ok']:>5}  failed {s['failed']:>4}  "
            f"dropped {s['dropped']:>4}", highlight=False, markup=False))
        report = run.run(progress, every_s=5.0)
    except TrunklineError as exc:
        fail(exc, as_json)
    if as_json:
        print_json(report.as_dict())
    else:
        show_load(report)
    exit_with(not report.ok)


def show_load(report) -> None:
    """A load report as tables: each second, then the totals."""
    out.print(table("s", "started", "established", "ok", "failed", "dropped", "up", "RTP packets", "lost",
                    title=f"load through {report.center}, each second",
                    rows=((str(s.t), str(s.started), str(s.established), str(s.ok), str(s.failed), str(s.dropped),
                           str(s.up), str(s.rtp_packets), str(s.rtp_lost)) for s in report.timeline)))
    rtp = report.rtp
    loss = "n/a" if rtp.get("loss") is None else f"{100 * rtp['loss']:.3f} %"
    jitter = "n/a" if rtp.get("jitter_ms_max") is None else f"mean {rtp['jitter_ms_mean']} ms, max {rtp['jitter_ms_max']} ms"
    out.print(figures(f"load through {report.center} (site {report.site}, trunk {report.trunk})", (
        ("caller", report.caller), ("load", f"{report.rate:g}/s for {report.seconds:g} s, held {report.hold_s:g} s"),
        ("calls", report.attempted), ("established", report.established), ("completed", report.completed),
        ("failed (never established)", report.failed), ("dropped (established, ended abnormally)", report.dropped),
        ("most calls up at once", report.max_up), ("RTP packets received", rtp.get("packets")),
        ("RTP lost", f"{rtp.get('lost')} ({loss})"), ("jitter (interarrival std. deviation)", jitter),
        ("calls without audio", rtp.get("calls_without_audio")), ("took", f"{report.took_s} s"))))
    for reason, n in report.failures.items():
        err.print(f"failed: {reason}: {n}", highlight=False, markup=False)
    for reason, n in report.drops.items():
        err.print(f"dropped: {reason}: {n}", highlight=False, markup=False)
    if report.stopped:
        err.print(f"new calls stopped before {report.seconds:g} s ({report.stopped}); those up ended at their hold",
                  highlight=False, markup=False)

