"""What an apply reports: per host and in total."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class HostResult:
    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    changes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class ApplyReport:
    engine: str
    dry_run: bool
    seconds: float
    hosts: list[HostResult]
    render_dir: str
    inventory: str
    inventory_written: bool = False

    @property
    def changed(self) -> int:
        return sum(h.changed for h in self.hosts)

    @property
    def failed(self) -> int:
        return sum(h.failed for h in self.hosts)

    def as_dict(self) -> dict:
        return {"ok": self.failed == 0, "engine": self.engine, "dry_run": self.dry_run, "seconds": round(self.seconds, 2),
                "changed": self.changed, "failed": self.failed, "render_dir": self.render_dir, "inventory": self.inventory,
                "inventory_written": self.inventory_written, "hosts": [asdict(h) for h in self.hosts]}
