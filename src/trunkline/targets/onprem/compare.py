"""drift(): each host's files against what the plan gives now, read through its connection (no secret values needed)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from trunkline import secrets as secret_marker
from trunkline.center import Center
from trunkline.targets.connection import Unreachable, connect
from trunkline.targets.onprem.common import expected_files, select_hosts


@dataclass(frozen=True)
class Drift:
    host: str
    path: str
    what: str  # missing | content | mode | owner | group | unreachable
    expected: str = ""
    found: str = ""


def matches_around_markers(rendered: str, found: str) -> bool:
    """A file with @@secret:REF@@ markers matches when everything but the secret values is equal."""
    parts = secret_marker.split(rendered)
    return re.fullmatch("[^\n]*?".join(re.escape(p) for p in parts), found, re.S) is not None


def drift(center: Center, *, limit: list[str] | None = None, chroot: Path | None = None,
          inventory: Path | None = None) -> list[Drift]:
    """What differs between each host and the plan's files; [] when nothing does. Each host is read
    through its connection: one command for every file's mode, owner, group and checksum, and the
    files with secrets themselves (compared around the markers)."""
    plan = center.plan
    hosts = select_hosts(plan, limit)
    expected = expected_files(plan, hosts)
    reach = connect(plan, "onprem", chroot=chroot, inventory=inventory, hosts=[h.name for h in hosts])
    out: list[Drift] = []
    for h in hosts:
        try:
            if h.name not in reach:
                raise Unreachable(f"{h.name} is not in the inventory")
            found = reach[h.name].stat([f.path for f in expected[h.name]])
        except Unreachable as exc:
            out.append(Drift(h.name, "", "unreachable", "", str(exc)))
            continue
        for f in expected[h.name]:
            info = found.get(f.path)
            if info is None:
                out.append(Drift(h.name, f.path, "missing", f.sha256[:12], ""))
                continue
            same = (matches_around_markers(f.content.decode(), reach[h.name].get(f.path).decode(errors="replace")) if f.secrets
                    else info.sha256 == f.sha256)
            if not same:
                out.append(Drift(h.name, f.path, "content", f.sha256[:12], info.sha256[:12]))
            if int(info.mode, 8) != int(f.mode, 8):  # stat gives 640 for 0640
                out.append(Drift(h.name, f.path, "mode", f.mode, f"0{info.mode}"))
            if info.owner != f.owner:
                out.append(Drift(h.name, f.path, "owner", f.owner, info.owner))
            if info.group != f.group:
                out.append(Drift(h.name, f.path, "group", f.group, info.group))
    return out
