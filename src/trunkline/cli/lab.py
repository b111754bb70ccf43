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
        c = load_center(blueprint, layers, sets)
        extra, said = lab.lab_overrides(c.plan)
        if extra:
            c = load_center(blueprint, layers, [*(sets or []), *extra])
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
    from trunkline.targets import lab
    from trunkline.targets.lab.load import Load, default_load

    try:
        name = _lab_center(blueprint, None)
        state = lab.LabState.load(name)
        if not state or not state.ready:
            raise UsageError(f"the lab of {name} is not up; run trunkline up {blueprint} first")
        plan = state.plan()
        planned_rate, planned_hold, planned_seconds, why = default_load(plan, trunk, hold)
        chosen = why if rate is None else "asked (--rate)"
        run = Load(state, plan, rate or planned_rate, hold or planned_hold, seconds or (2 * hold if hold else planned_seconds),
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


def rollout(
    blueprint: Path = typer.Argument(..., help="the blueprint as it should run now"),
    target: str = typer.Option("lab", "--target", help="lab (on-prem: --dry-run is not there yet, see the README)"),
    canary: Optional[str] = typer.Option(None, "--canary", help="share of each site's media nodes changed and soaked first "
                                         "(default: the blueprint's upgrades.canary_percent)"),
    soak: str = typer.Option("60s", "--soak", help="how long a canary runs before the others follow"),
    max_failed: str = typer.Option("0.1%", "--max-failed", help="a canary that fails more of its calls is rolled back"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the ordered steps and the files that change per host; touch nothing"),
    with_load: bool = typer.Option(False, "--load", help="run trunkline load's default load (the busy hour) during the rollout"),
    load_rate: Optional[float] = typer.Option(None, "--load-rate", help="with --load: new calls per second"),
    load_hold: Optional[float] = typer.Option(None, "--load-hold", help="with --load: seconds each call is held"),
    html: Optional[Path] = typer.Option(None, "--html", help="also write the rollout's page here: calls per second "
                                        "with the steps marked, the timeline, the hosts (one self-contained file)"),
    as_json: Json = False,
) -> None:
    """Change a running center host by host without dropping its calls: media nodes (canary first, drained,
    placed, restarted, probed, back, soaked), media relays, then each proxy pair (BACKUP first, then the
    VIP handed over). Rolls every changed host back when a probe or the canary fails. Exit 0 completed,
    1 rolled back, 2 bad input."""
    from trunkline.durations import BLUEPRINT, parse_span
    from trunkline.targets import lab
    from trunkline.targets.lab.load import Load, default_load
    from trunkline.targets.lab.rollout import LabRollout, prepare
    from trunkline.targets.rollout import parse_canary, parse_share

    try:
        if target != "lab":
            raise UsageError(f"--target {target}: rollouts run on the lab in this version; on-prem hosts hold no "
                             "deployed manifest yet (trunkline drift shows what differs from the blueprint)")
        try:
            soak_s = parse_span(soak, BLUEPRINT)
        except ValueError as exc:
            raise UsageError(f"--soak {soak}: {exc}") from None
        share = parse_share(max_failed, "--max-failed")
        name = _lab_center(blueprint, None)
        state = lab.LabState.load(name)
        if not state or not state.ready:
            raise UsageError(f"the lab of {name} is not up; run trunkline up {blueprint} first")
        c = load_center(blueprint, None, None)
        extra, _ = lab.lab_overrides(c.plan)  # the same scale-down as the lab's up
        if extra:
            c = load_center(blueprint, None, extra)
        upgrades = c.plan.upgrades
        if upgrades["strategy"] == "manual":
            raise UsageError(f"{blueprint}: upgrades.strategy is manual, which forbids automated rollouts; "
                             "apply changes by hand, or set upgrades.strategy to blue-green or rolling")
        run = prepare(state, c, parse_canary(canary, upgrades["canary_percent"]), soak_s, share, upgrades["drain_timeout"])
    except TrunklineError as exc:
        fail(exc, as_json)
    if dry_run or not run.hosts:
        run.outcome = "dry run" if dry_run else "nothing to change"
        if as_json:
            print_json(run.as_dict())
        else:
            _show_rollout(run)
        raise typer.Exit(0)
    say = (lambda e: None) if as_json else (lambda e: err.print(
        f"{time.strftime('%H:%M:%S', time.localtime(e.at))} {e.host}: {e.what}" + (f" ({e.detail})" if e.detail else ""),
        highlight=False, markup=False))
    running = None
    try:
        if with_load:
            plan = state.plan()
            rate, hold, _, why = default_load(plan, None, load_hold)
            running = Load(state, plan, load_rate or rate, load_hold or hold, 800 - (load_hold or hold), None,
                           why if load_rate is None else "asked (--load-rate)").start()
            time.sleep(min(30.0, load_hold or hold))  # the load is up before the first host changes
        result = LabRollout(state, c.plan, run, say).run()
    except TrunklineError as exc:
        fail(exc, as_json)
    finally:
        if running:
            running.stop("the rollout ended")
    load_report = running.join() if running else None
    body = result.as_dict() | {"load": load_report.as_dict() if load_report else None}
    if html:
        from trunkline.report.rollout import write_rollout_page

        write_rollout_page(body, html)
        if not as_json:
            err.print(f"page: {html}", highlight=False, markup=False)
    if as_json:
        print_json(body)
    else:
        _show_rollout(result)
        if load_report:
            show_load(load_report)
    exit_with(result.outcome != "completed")


def _show_rollout(run) -> None:
    out.print(table("#", "host", "site", "role", "canary", "VIP", "files that change", "steps", title=f"rollout of {run.center}: {run.outcome}",
                    rows=((str(i), h.host, h.site, h.role, "yes" if h.canary else "", h.vip,
                           "\n".join(f"{f.path} ({f.what})" for f in h.files), ", ".join(h.steps))
                          for i, h in enumerate(run.hosts, 1))))
    if not run.hosts:
        out.print("every host already runs what the blueprint renders now", highlight=False)
    if run.events:
        t0 = run.started_at
        out.print(table("at", "host", "step", "detail", title="timeline",
                        rows=((f"+{e.at - t0:.1f} s", e.host, e.what, e.detail) for e in run.events)))
        out.print(f"took {run.took_s} s; waited for calls to end: " +
                  (", ".join(f"{h} {s} s" for h, s in run.waits.items()) or "nowhere"), highlight=False)
    if run.reason:
        err.print(f"rolled back: {run.reason}", highlight=False, markup=False)
