"""The lab's record and names: what a lab of one center is made of, and what each piece is called.

The state file (.trunkline/lab/<center>/state.json, or under $TRUNKLINE_STATE) lists every
namespace, mount and process the lab made and which media server runs; it is written before each
resource is made, so `down` cleans up after a crash. Beside it: the render, the placed tree (the
render with the lab's secret values, secrets.json, both readable by root only), PKI and logs. Names: tl-<center>-<host> for a host, -core, -carrier-<trunk>, -stranger.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from trunkline.errors import TrunklineError
from trunkline.plan.topology import Plan


STATE_ROOT = Path(os.environ.get("TRUNKLINE_STATE", ".trunkline")) / "lab"

RUN_ROOT = Path("/run/trunkline")

# the lab's state folder as each host sees it: its own /tmp and /run hide wherever the state lives
LAB_SRC = "/run/trunkline-lab"


class LabError(TrunklineError):
    exit_code = 1


@dataclass
class Proc:
    host: str
    name: str
    pid: int
    start: int  # /proc/<pid>/stat field 22: tells a recycled PID from ours
    argv: list[str]
    log: str


@dataclass
class LabState:
    center: str
    blueprint: str = ""
    namespaces: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)  # persistent mount-namespace files
    run_dir: str = ""
    processes: list[Proc] = field(default_factory=list)
    scaled: list[str] = field(default_factory=list)
    ready: bool = False
    media: str = "sipp"  # what answers on the media nodes: "freeswitch", or "sipp" (the stand-in)
    media_note: str = ""  # why the stand-in runs, when it does

    @property
    def dir(self) -> Path:
        return (STATE_ROOT / self.center).resolve()  # absolute: the hosts' mount namespaces read from it

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(self.dir / "state.json")

    @classmethod
    def load(cls, center: str) -> "LabState | None":
        path = STATE_ROOT / center / "state.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        data["processes"] = [Proc(**p) for p in data.get("processes", [])]
        return cls(**data)

    def plan(self) -> Plan:
        return Plan.model_validate_json((self.dir / "plan.json").read_text())

    def render_dir(self) -> Path:
        """The center's render, as apply ships it (secret references marked)."""
        return self.dir / "render"

    def placed_dir(self) -> Path:
        """The render with the lab's secret values filled in (manifest digests too): what the hosts hold."""
        return self.dir / "placed"

    def secrets(self) -> dict[str, str]:
        """The lab's value of each secret reference of the render (made once per lab, secrets.json)."""
        path = self.dir / "secrets.json"
        return json.loads(path.read_text()) if path.exists() else {}


def lab_centers() -> list[str]:
    return sorted(p.name for p in STATE_ROOT.glob("*") if (p / "state.json").exists())


def ns_name(center: str, host: str) -> str:
    return f"tl-{center}-{host}"


def core_ns(center: str) -> str:
    return f"tl-{center}-core"


def carrier_ns(center: str, trunk: str) -> str:
    return f"tl-{center}-carrier-{trunk}"


def stranger_ns(center: str) -> str:
    return f"tl-{center}-stranger"


def mount_file(center: str, host: str) -> Path:
    return RUN_ROOT / center / "mnt" / host


def host_run_dir(center: str, host: str) -> Path:
    return RUN_ROOT / center / "hosts" / host

