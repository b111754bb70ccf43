"""Helpers of the on-prem tests (the fixtures are in conftest.py beside this file)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from trunkline.cli import app

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("TRUNKLINE_ROOT_CACHE", "/var/cache/trunkline"))
BLUEPRINT = ROOT / "blueprints" / "acme-bank.yaml"
SETS = ["spec.recording.storage.kind=nfs", "spec.recording.storage.worm=false",
        "spec.trunks[1].credentials.secret=env:CARRIER_B_PASSWORD"]
HOSTS = ["sh-dc1-sip1", "sh-dc1-rtp1", "sh-dc1-media1", "sh-dc1-rec1"]
# XML-special characters on purpose: the media node's external.xml must get them escaped
SECRETS = {"CARRIER_A_PASSWORD": 'a-Pw&<"7731">', "CARRIER_B_PASSWORD": "b-Pw-5519-quartz",
           "TRUNKLINE_EVENT_SOCKET_PASSWORD": "es-Pw-'2207'&", "TRUNKLINE_AGENT_SIP_PASSWORD": "agent-Pw-<4418>"}

runner = CliRunner()


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def sets_args() -> list[str]:
    return [a for s in SETS for a in ("--set", s)]


def in_root(root: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["chroot", str(root), *argv], capture_output=True, text=True, timeout=120)


_MOUNTED: list[Path] = []


def fresh_roots(pristine: Path, where: Path, hosts: list[str] = HOSTS) -> Path:
    """One root per host, where/<host>: an overlay on the pristine root (read-only below), so a
    host starts as a clean server without copying its 0.5 GB; what an apply writes lands in
    where/.<host>/upper. unmount_roots() takes them down."""
    where.mkdir(parents=True)
    for h in hosts:
        layer, root = where / f".{h}", where / h
        for d in (layer / "upper", layer / "work", root):
            d.mkdir(parents=True)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={pristine},upperdir={layer / 'upper'},workdir={layer / 'work'}", str(root)],
                       check=True, timeout=30)
        _MOUNTED.append(root)
    return where


def unmount_roots() -> None:
    """Unmount every root fresh_roots made (and whatever an apply left mounted inside it)."""
    while _MOUNTED:
        root = _MOUNTED.pop()
        inner = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True).stdout.split()
        for target in sorted((m for m in inner if m == str(root) or m.startswith(f"{root}/")), key=len, reverse=True):
            if subprocess.run(["umount", target], capture_output=True).returncode:
                subprocess.run(["umount", "-l", target], capture_output=True)


def apply_cli(workdir: Path, roots: Path, engine: str, *extra: str, hosts: list[str] = HOSTS):
    return cli("apply", BLUEPRINT, *sets_args(), "--engine", engine, "--chroot", roots, "--limit", ",".join(hosts),
               "--inventory", workdir / "inventory", "--build", workdir / "build", *extra)


def manifest_entries(workdir: Path, hosts: list[str] = HOSTS) -> list[dict]:
    """Every file of the hosts (the firewall and the time zone included), as the render manifest lists them."""
    rendered = json.loads((workdir / "build" / "manifest.json").read_text())["files"]
    return [e for e in rendered if e["host"] in hosts]


def processes_in(roots: Path) -> list[str]:
    """Processes whose root directory is inside `roots` (daemons an apply must not have started)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            root = os.readlink(proc / "root")
            name = (proc / "comm").read_text().strip()
        except OSError:
            continue
        if root.startswith(str(roots)):
            found.append(f"{proc.name} {name} in {root}")
    return found
