"""trunkline rollout: change a running center host by host without dropping its calls.

The lab runs the whole rollout (targets/lab/rollout.py). On-prem, --dry-run reads each host's files
through its connection (what `trunkline drift` compares) and prints the same ordered steps; a live
on-prem rollout is not in this version (hosts keep no deployed manifest to roll back to yet).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from trunkline.cli.lab import _running_lab, lab_center, show_load
from trunkline.cli.onprem import INVENTORY_HELP, LIMIT_HELP
from trunkline.cli.options import Blueprint, Json, Layers, Sets, load_center
from trunkline.cli.output import err, exit_with, fail, out, print_json, table
from trunkline.errors import TrunklineError, UsageError


def rollout(
    blueprint: Blueprint,
    layers: Layers = None,
    sets: Sets = None,
    target: str = typer.Option("lab", "--target", help="lab, or onprem (with --dry-run: the hosts over SSH, or Debian roots with --chroot)"),
    canary: Optional[str] = typer.Option(None, "--canary", help="share of each site's media nodes changed and soaked first "
                                         "(default: the blueprint's upgrades.canary_percent)"),
    soak: str = typer.Option("60s", "--soak", help="how long a canary runs before the others follow"),
    max_failed: str = typer.Option("0.1%", "--max-failed", help="a canary that fails more of its calls is rolled back"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the ordered steps and the files that change per host; touch nothing"),
    with_load: bool = typer.Option(False, "--load", help="lab: run trunkline load's default load (the busy hour) during the rollout"),
    load_rate: Optional[float] = typer.Option(None, "--load-rate", help="with --load: new calls per second"),
    load_hold: Optional[float] = typer.Option(None, "--load-hold", help="with --load: seconds each call is held"),
    html: Optional[Path] = typer.Option(None, "--html", help="also write the rollout's page here: calls per second "
                                        "with the steps marked, the timeline, the hosts (one self-contained file)"),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="lab: run verify on the changed hosts at the end; "
                                "a failure rolls them all back"),
    limit: Optional[list[str]] = typer.Option(None, "--limit", help="onprem: " + LIMIT_HELP),
    chroot: Optional[Path] = typer.Option(None, "--chroot", help="onprem: read the Debian roots DIR/<host> on this machine instead of over SSH"),
    inventory_dir: Optional[Path] = typer.Option(None, "--inventory", help="onprem: " + INVENTORY_HELP),
    as_json: Json = False,
) -> None:
    """Change a running center host by host without dropping its calls: media nodes (canary first, drained,
    placed, restarted, probed, back, soaked), media relays, then each proxy pair (BACKUP first, then the
    VIP handed over). Rolls every changed host back when a probe or the canary fails. Exit 0 completed
    (or nothing to change, or a dry run), 1 rolled back, 2 bad input."""
    from trunkline.durations import BLUEPRINT, parse_span
    from trunkline.targets.rollout import parse_canary, parse_share

    try:
        if target not in ("lab", "onprem"):
            raise UsageError(f"--target {target}: use lab or onprem")
        try:
            soak_s = parse_span(soak, BLUEPRINT)
        except ValueError as exc:
            raise UsageError(f"--soak {soak}: {exc}") from None
        share = parse_share(max_failed, "--max-failed")
        c = load_center(blueprint, layers, sets)
        upgrades = c.plan.upgrades
        if upgrades["strategy"] == "manual":
            raise UsageError(f"{blueprint}: upgrades.strategy is manual, which forbids automated rollouts; "
                             "apply changes by hand, or set upgrades.strategy to blue-green or rolling")
        percent = parse_canary(canary, upgrades["canary_percent"])
        if target == "onprem":
            run = _onprem_dry_run(c, dry_run, percent, soak_s, share, upgrades["drain_timeout"], limit, chroot, inventory_dir)
        else:
            state, c, run = _lab_prepare(blueprint, layers, sets, percent, soak_s, share, upgrades["drain_timeout"])
    except TrunklineError as exc:
        fail(exc, as_json)
    if dry_run or not run.hosts:
        run.outcome = "dry run" if dry_run else "nothing to change"
        if as_json:
            print_json(run.as_dict())
        else:
            show_rollout(run)
        raise typer.Exit(0)
    result, load_report = _lab_run(state, c, run, with_load, load_rate, load_hold, verify, as_json)
    body = result.as_dict() | {"load": load_report.as_dict() if load_report else None}
    if html:
        from trunkline.report.rollout import write_rollout_page

        write_rollout_page(body, html)
        if not as_json:
            err.print(f"page: {html}", highlight=False, markup=False)
    if as_json:
        print_json(body)
    else:
        show_rollout(result)
        if load_report:
            show_load(load_report)
    exit_with(result.outcome != "completed")


def _onprem_dry_run(c, dry_run: bool, percent: int, soak_s: float, share: float, drain_s: float,
                    limit, chroot, inventory):
    """The ordered steps for the center's servers: each host's files as its connection reads them
    (trunkline drift) against the render of the blueprint now."""
    from trunkline.targets.onprem import drift
    from trunkline.targets.rollout import FileChange, RolloutRun, order

    if not dry_run:
        raise UsageError("--target onprem: only --dry-run here; a live on-prem rollout needs each host's deployed manifest "
                         "(the previous files to roll back to), which apply does not record yet")
    found = drift(c, limit=limit, chroot=chroot, inventory=inventory)
    unreachable = [d for d in found if d.what == "unreachable"]
    if unreachable:
        raise UsageError("cannot read every host, so the order would be a guess: "
                         + "; ".join(f"{d.host}: {d.found}" for d in unreachable) + " (--limit names the hosts to read)")
    changed: dict[str, list[FileChange]] = {}
    for d in found:
        what = "added" if d.what == "missing" else d.what
        changed.setdefault(d.host, []).append(FileChange(d.path, what, d.found, d.expected))
    return RolloutRun(center=c.plan.center, folder="", canary_percent=percent, soak_s=soak_s, max_failed=share,
                      drain_timeout_s=drain_s, hosts=order(c.plan, changed, percent))


def _lab_prepare(blueprint, layers, sets, percent, soak_s, share, drain_s):
    from trunkline.targets.lab.rollout import prepare

    state = _running_lab(blueprint)
    c, _ = lab_center(blueprint, layers, sets)  # the same scale-down as the lab's up
    return state, c, prepare(state, c, percent, soak_s, share, drain_s)


def _lab_run(state, c, run, with_load: bool, load_rate, load_hold, verify: bool, as_json: bool):
    from trunkline.targets.lab.load import Load, default_load, longest_seconds
    from trunkline.targets.lab.rollout import LabRollout

    say = (lambda e: None) if as_json else (lambda e: err.print(
        f"{time.strftime('%H:%M:%S', time.localtime(e.at))} {e.host}: {e.what}" + (f" ({e.detail})" if e.detail else ""),
        highlight=False, markup=False))
    running = None
    try:
        if with_load:
            plan = state.plan()
            rate, hold, _, why = default_load(plan, None, load_hold)  # hold: --load-hold, else the default
            running = Load(state, plan, load_rate or rate, hold, longest_seconds(hold), None,  # stopped when the rollout ends
                           why if load_rate is None else "asked (--load-rate)").start()
            time.sleep(min(30.0, hold))  # the load is up before the first host changes
        result = LabRollout(state, c.plan, run, say, verify=_verify_hosts(state.center) if verify else None).run()
    except TrunklineError as exc:
        fail(exc, as_json)
    finally:
        if running:
            running.stop("the rollout ended")
    return result, running.join() if running else None


def _verify_hosts(center: str):
    """verify_lab on some hosts of the lab (the suite's tests are named by host): (ok, summary line)."""
    from trunkline.verify import verify_lab

    def run(hosts: list[str]) -> tuple[bool, str]:
        result = verify_lab(center, None, echo=False, extra=["-k", " or ".join(hosts)])
        lines = result.output.strip().splitlines()
        return result.ok, (lines[-1] if lines else "") + f" (suite: {result.suite})"
    return run


def show_rollout(run) -> None:
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
