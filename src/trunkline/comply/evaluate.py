"""Blueprint -> compliance report: every control of the packs in effect, evaluated in its scope.

    center = trunkline.center.load(paths, sets)   blueprint, positions, plan, rendered files (in memory)
    report = compliance_report(center, ...)       one ControlResult per control, waivers applied

Scopes: blueprint and files controls always run; hosts controls run when a `connect` is given
(--live), else they are skipped with the reason; cloud controls read the AWS stack's resources
from its offline preview (comply/cloud.py), skipped when the blueprint has no AWS site.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

from trunkline.center import Center, load
from trunkline.cloud import aws_sites
from trunkline.comply import blueprint as bp_checks
from trunkline.comply import cloud as cloud_checks
from trunkline.comply import files as file_checks
from trunkline.comply import hosts as host_checks
from trunkline.comply import registry
from trunkline.comply.findings import Control, ControlResult, Fail, NotApplicable, NotEvaluated, Pack, Report, Waiver
from trunkline.comply.packs import all_packs, select_packs


def _cloud_context(subject: Center) -> cloud_checks.CloudContext | tuple[str, str]:
    """The AWS stack's resources (the offline preview), or the status every cloud control gets
    without them: skip when the blueprint has no AWS site, not-evaluated when pulumi-aws is missing."""
    if not aws_sites(subject.plan):
        return "skip", "the blueprint has no AWS site: no cloud resources to check"
    from trunkline.cloud import CloudToolMissing
    from trunkline.cloud.mocks import preview

    try:
        return cloud_checks.CloudContext(subject.plan, preview(subject))
    except CloudToolMissing as exc:
        return "not-evaluated", f"the AWS stack could not be read: {exc}"


def _evaluate(control: Control, subject: Center, packs: list[Pack], connect, cloud) -> ControlResult:
    if control.applies == "cloud":
        ctx = cloud()
        if isinstance(ctx, tuple):
            return ControlResult(control, ctx[0], reason=ctx[1])
    if control.applies == "hosts":
        if connect is None:
            return ControlResult(control, "skip", reason="live host check: run with --live lab or --live onprem")
        fn = registry.lookup("hosts", control.check)
        failures, errors, applied, skipped = host_checks.evaluate_hosts(fn, control.params, subject.plan, connect)
        if errors:
            return ControlResult(control, "error", failures, reason="; ".join(errors))
        if not applied:
            return ControlResult(control, "skip", reason="; ".join(skipped) or "no host of the plan has what this control checks")
        return ControlResult(control, "fail" if failures else "pass", failures)
    try:
        if control.applies == "blueprint":
            ctx = bp_checks.BlueprintContext(subject.blueprint, subject.data, subject.positions, subject.source, subject.plan,
                                             packs, all_packs())
        elif control.applies == "files":
            ctx = file_checks.FilesContext(subject.plan, subject.files)
        result = registry.lookup(control.applies, control.check)(ctx, **control.params)
    except Exception as exc:  # a check that breaks on an unforeseen shape must fail the run, and say where
        return ControlResult(control, "error", reason=f"check {control.check} could not run: {type(exc).__name__}: {exc}")
    if isinstance(result, NotApplicable):
        return ControlResult(control, "skip", reason=result.reason)
    if isinstance(result, NotEvaluated):
        return ControlResult(control, "not-evaluated", reason=result.reason)
    return ControlResult(control, "fail" if result else "pass", list(result))


def _apply_waiver(result: ControlResult, waiver: Waiver | None, today: dt.date) -> ControlResult:
    if waiver is None or result.status != "fail":
        return result
    result.waiver = waiver
    if waiver.expired(today):
        result.waiver_expired = True
        result.reason = f"waiver expired on {waiver.expiration_date.isoformat()} and no longer hides this failure (it said: {waiver.justification})"
    else:
        result.status = "waived"
        result.reason = f"waived until {waiver.expiration_date.isoformat()}: {waiver.justification}"
    return result


def compliance_report(subject: Center, pack_ids: list[str] | None = None, waivers: dict[str, Waiver] | None = None,
                      connect=None, live: str | None = None, today: dt.date | None = None, strict: bool = False) -> Report:
    """Evaluate the packs the blueprint declares (or pack_ids), baseline always among them."""
    today = today or dt.date.today()
    packs = select_packs(list(subject.blueprint.spec.compliance), pack_ids)
    waivers = waivers or {}
    cloud = functools.cache(lambda: _cloud_context(subject))  # the stack program runs once, if a cloud control asks
    results = [_apply_waiver(_evaluate(c, subject, packs, connect, cloud), waivers.get(c.id), today)
               for pack in packs for c in pack.controls]
    return Report(center=subject.blueprint.metadata.name, blueprint=subject.source, packs=[p.id for p in packs],
                  results=results, live=live, today=today, strict=strict)


def comply(subject: Center | list[Path] | Path | str, sets: list[str] = (), pack_ids: list[str] | None = None,
           waivers_file: Path | str | None = None, live: str | None = None, connect=None, today: dt.date | None = None,
           strict: bool = False) -> Report:
    """What `trunkline comply` runs. With live and no connect, the target's connection is looked up
    (host_checks.live_connection), which raises UsageError while the target cannot be reached."""
    from trunkline.comply.waivers import load_waivers

    waivers = load_waivers(waivers_file) if waivers_file else {}
    subject = subject if isinstance(subject, Center) else load(subject, sets)
    if live and connect is None:
        connect = host_checks.live_connection(live, subject.plan)
    return compliance_report(subject, pack_ids, waivers, connect=connect, live=live, today=today, strict=strict)


__all__ = ["compliance_report", "comply", "Fail"]
