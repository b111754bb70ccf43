"""What an on-prem run applies where: the engines, the errors, the hosts a --limit picks, the files each host gets, and the inventory check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from trunkline.errors import TrunklineError, UsageError
from trunkline.plan.topology import Host, Plan
from trunkline.targets import inventory as inv

ENGINES = ("pyinfra", "ansible")

Progress = Callable[[str, str, str], None]  # (host, event: start|ok|changed|failed, what)


class OnpremError(TrunklineError):
    exit_code = 1


def select_hosts(plan: Plan, limit: list[str] | None) -> list[Host]:
    """--limit: host names, site names or roles (sip-proxy...), comma-separated or repeated."""
    hosts = inv.onprem_hosts(plan)
    if not limit:
        return hosts
    words = [w.strip() for item in limit for w in item.split(",") if w.strip()]
    known = {h.name for h in hosts} | {h.site for h in hosts} | {h.role for h in hosts} | {inv.group_of_role(h.role) for h in hosts}
    unknown = [w for w in words if w not in known]
    if unknown:
        raise UsageError(f"--limit {', '.join(unknown)}: not an on-prem host, site or role of {plan.center}; "
                         f"hosts are {', '.join(h.name for h in hosts)}")
    return [h for h in hosts if {h.name, h.site, h.role, inv.group_of_role(h.role)} & set(words)]


def expected_files(plan: Plan, hosts: list[Host]) -> dict[str, list]:
    """Host -> the RenderedFile list render/ gives it (in memory)."""
    from trunkline.render import render_plan

    out: dict[str, list] = {h.name: [] for h in hosts}
    for f in render_plan(plan, [h.name for h in hosts]):
        out[f.host].append(f)
    return out


def check_inventory(plan: Plan, inventory: Path) -> inv.Inventory:
    """The inventory must be the plan's: the same hosts."""
    loaded = inv.load_inventory(inventory)
    hosts = inv.onprem_hosts(plan)
    fix = f"regenerate it: trunkline inventory {plan.source} -o {inventory}"
    if set(loaded.hosts) != {h.name for h in hosts}:
        raise OnpremError(f"{inventory} lists hosts {', '.join(sorted(loaded.hosts))} but the plan has "
                          f"{', '.join(h.name for h in hosts)}; {fix}")
    return loaded


def host_entries(render_dir: Path, hosts: list[str]) -> dict[str, list[dict]]:
    """Host -> its entries of the render manifest (every file a host gets)."""
    out: dict[str, list[dict]] = {h: [] for h in hosts}
    for e in json.loads((render_dir / "manifest.json").read_text())["files"]:
        if e["host"] in out:
            out[e["host"]].append(e)
    return out
