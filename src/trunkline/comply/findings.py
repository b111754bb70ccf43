"""The data of compliance: the controls packs hold (`Control`, `Pack`, read by packs.py) and
what a run produces: places, failures, per-control results and the report.

A check returns a list of `Fail` (empty: the control passes) or `NotApplicable`. The evaluator
turns that into one `ControlResult` per control, with a status:

    pass      the check ran and found nothing wrong
    fail      at least one failure, not waived (or waived by a waiver that has expired)
    waived    failures hidden by a waiver that is still valid; they stay in the report
    skip      the control does not apply here, or its scope was not evaluated (hosts without --live)
    not-evaluated  the control applies, but nothing trunkline can see shows whether it holds (e.g.
              encryption at rest the blueprint asks for and no rendered file carries out): neither a
              pass nor a failure, always with the reason; `--strict` makes it fail the run
    error     the check could not run (a host did not answer, a program is missing); counts as failing

Every failure names its place (`Place`) and what to change (`fix`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

STATUSES = ("pass", "fail", "waived", "skip", "not-evaluated", "error")
FAILING = ("fail", "error")


@dataclass(frozen=True)
class Control:
    id: str
    pack: str
    title: str
    severity: str
    citation: str
    applies: str
    check: str
    fix: str
    kind: str = "requirement"
    why: str = ""
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Pack:
    id: str
    title: str
    source: str
    controls: tuple[Control, ...]
    retention_duty: int = 0  # seconds; 0 when the pack sets no recording retention


@dataclass(frozen=True)
class Place:
    """Where a failure is: a blueprint field, a line of a rendered file, a command on a host, or a
    cloud resource of the stack (host: its logical name, file: its type)."""

    kind: str  # blueprint | file | host | cloud
    file: str = ""  # blueprint file, or the rendered file's path on its host
    line: int = 0  # 1-based; 0 when unknown (a --set value, a whole file)
    column: int = 0
    path: str = ""  # blueprint: dotted field path (spec.recording.retention)
    host: str = ""
    command: str = ""

    def __str__(self) -> str:
        if self.kind == "blueprint":
            where = f"{self.file}:{self.line}" if self.line else self.file
            return f"{where} {self.path}" if self.path else where
        if self.kind == "file":
            return f"{self.host}:{self.file}" + (f":{self.line}" if self.line else "")
        if self.kind == "cloud":
            return f"{self.host} ({self.file})"
        return f"{self.host}: {self.command}" if self.command else self.host

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in ("", 0)} | {"kind": self.kind, "text": str(self)}


@dataclass(frozen=True)
class Fail:
    """One thing wrong: where, what, and what to change (empty fix: the control's own fix text)."""

    place: Place
    message: str
    fix: str = ""


@dataclass(frozen=True)
class NotApplicable:
    reason: str


@dataclass(frozen=True)
class NotEvaluated:
    """The control applies but its check cannot see what it claims; it must not pass."""

    reason: str


@dataclass(frozen=True)
class Waiver:
    """InSpec style: a control id, why it is accepted, and until when (inclusive)."""

    control: str
    justification: str
    expiration_date: date

    def expired(self, today: date) -> bool:
        return today > self.expiration_date


@dataclass
class ControlResult:
    control: Control
    status: str
    failures: list[Fail] = field(default_factory=list)
    reason: str = ""  # why skipped, why errored, or the waiver's word
    waiver: Waiver | None = None
    waiver_expired: bool = False

    def fix_for(self, fail: Fail) -> str:
        return fail.fix or self.control.fix

    def as_dict(self) -> dict:
        c = self.control
        body = {
            "control": c.id, "pack": c.pack, "title": c.title, "severity": c.severity, "citation": c.citation,
            "applies": c.applies, "kind": c.kind, "status": self.status,
            "findings": [{"place": f.place.as_dict(), "where": str(f.place), "message": f.message, "fix": self.fix_for(f)}
                         for f in self.failures],
        }
        # every result has the same keys, so a script can read them without checking first
        body["reason"] = self.reason or ""
        body["waiver"] = None
        if self.waiver:
            body["waiver"] = {"justification": self.waiver.justification,
                              "expiration_date": self.waiver.expiration_date.isoformat(), "expired": self.waiver_expired}
        return body


@dataclass
class Report:
    center: str
    blueprint: str
    packs: list[str]
    results: list[ControlResult]
    live: str | None = None
    today: date = field(default_factory=date.today)
    strict: bool = False  # not-evaluated counts as failing

    @property
    def failed(self) -> bool:
        failing = FAILING + (("not-evaluated",) if self.strict else ())
        return any(r.status in failing for r in self.results)

    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self.results) for s in STATUSES}

    def result(self, control_id: str) -> ControlResult:
        return next(r for r in self.results if r.control.id == control_id)

    def as_dict(self) -> dict:
        return {
            "ok": not self.failed, "center": self.center, "blueprint": self.blueprint, "packs": self.packs,
            "live": self.live, "date": self.today.isoformat(), "summary": self.counts(),
            "results": [r.as_dict() for r in self.results],
        }
