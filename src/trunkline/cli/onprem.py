"""Commands on the center's own servers: inventory (Ansible and pyinfra), apply, and drift."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from trunkline.cli.options import Blueprint, Force, Json, JsonSummary, Layers, Sets, load_center
from trunkline.cli.output import err, exit_with, fail, notes, out, print_json, table
from trunkline.errors import TrunklineError, UsageError

LIMIT_HELP = "hosts, sites or roles, comma-separated or repeated"
INVENTORY_HELP = "inventory folder (default inventories/<center>)"
TARGET_HELP = "onprem: the center's own servers (SSH), or Debian roots with --chroot"


def inventory(
    blueprint: Blueprint,
    output: Optional[Path] = typer.Option(None, "-o", "--output", help=INVENTORY_HELP),
    build: Optional[Path] = typer.Option(None, "--build", help="render tree the roles copy from (default build/<center>)"),
    layers: Layers = None,
    sets: Sets = None,
    force: Force = False,
    as_json: JsonSummary = False,
) -> None:
    """Write the on-prem inventory: Ansible hosts.yml, group_vars, host_vars, pyinfra inventory, ssh_config, pki/."""
    from trunkline.targets.inventory import write_inventory

    said: list[str] = []
    try:
        p = load_center(blueprint, layers, sets).plan
        target = output or Path("inventories") / p.center
        hosts = write_inventory(p, target, build or Path("build") / p.center, force=force, notes=said)
    except TrunklineError as exc:
        fail(exc, as_json)
    if as_json:
        print_json({"ok": True, "inventory": str(target), "hosts": hosts, "notes": said})
    else:
        notes(said)
        out.print(f"[green]wrote[/] {target}: {len(hosts)} on-prem hosts (hosts.yml, group_vars, host_vars, inventory.py, ssh_config, pki/, manifest.json)")


def apply(
    blueprint: Blueprint,
    target: str = typer.Option("onprem", "--target", help=TARGET_HELP),
    engine: str = typer.Option("pyinfra", "--engine", help="pyinfra (default, fast) or ansible (site.yml with roles/)"),
    limit: Optional[list[str]] = typer.Option(None, "--limit", help=LIMIT_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="show what would change and change nothing"),
    chroot: Optional[Path] = typer.Option(None, "--chroot", help="apply to the Debian roots DIR/<host> on this machine instead of over SSH"),
    inventory_dir: Optional[Path] = typer.Option(None, "--inventory", help=INVENTORY_HELP),
    build: Optional[Path] = typer.Option(None, "--build", help="render tree to ship (default build/<center>)"),
    layers: Layers = None,
    sets: Sets = None,
    as_json: JsonSummary = False,
) -> None:
    """Render the center and apply it to its on-prem hosts; secrets are resolved now and never logged."""
    from trunkline.targets import onprem
    seen: dict[str, str] = {}

    def progress(host: str, event: str, what: str) -> None:
        if as_json or seen.get(host) == what:
            return
        seen[host] = what
        style = {"changed": "yellow", "failed": "red", "done": "bold"}.get(event, "dim")
        out.print(f"[{style}]{host:<16} {event:<8} {what}[/]", markup=True, highlight=False, soft_wrap=True)

    try:
        if target != "onprem":
            raise UsageError(f"--target {target}: apply knows onprem here (the lab is brought up with trunkline up)")
        c = load_center(blueprint, layers, sets)
        report = onprem.apply(c, engine=engine, limit=limit, dry_run=dry_run, chroot=chroot, inventory=inventory_dir,
                              build=build, progress=progress)
    except TrunklineError as exc:
        fail(exc, as_json)
    if as_json:
        print_json(report.as_dict())
    else:
        verb = "would change" if dry_run else "changed"
        out.print(table("host", verb, "ok", "failed", title=f"{report.engine} on {len(report.hosts)} hosts in {report.seconds:.1f} s",
                        rows=((h.host, str(h.changed), str(h.ok), f"[red]{h.failed}[/]" if h.failed else "0") for h in report.hosts)))
        for h in report.hosts:
            for change in h.changes:
                out.print(f"  {h.host}: {verb} {change}", style="dim", markup=False, highlight=False)
            for e in h.errors:
                err.print(f"{h.host}: {e}", markup=False, highlight=False)
        if report.failed:
            out.print(f"[red]{report.failed} failed[/], {report.changed} {verb}")
        elif report.changed == 0:
            out.print(f"[green]0 changed[/]: every host already matches {c.plan.center} ({report.engine})")
        else:
            out.print(f"[yellow]{report.changed} {verb}[/] on {sum(1 for h in report.hosts if h.changed)} hosts ({report.engine})")
    exit_with(report.failed)


def drift(
    blueprint: Blueprint,
    target: str = typer.Option("onprem", "--target", help=TARGET_HELP),
    limit: Optional[list[str]] = typer.Option(None, "--limit", help=LIMIT_HELP),
    chroot: Optional[Path] = typer.Option(None, "--chroot", help="read the Debian roots DIR/<host> on this machine instead of over SSH"),
    inventory_dir: Optional[Path] = typer.Option(None, "--inventory", help=INVENTORY_HELP),
    layers: Layers = None,
    sets: Sets = None,
    as_json: Json = False,
) -> None:
    """List every managed file that differs on the hosts from what the blueprint gives (exit 1 if any)."""
    from trunkline.targets import onprem

    try:
        if target != "onprem":
            raise UsageError(f"--target {target}: drift knows onprem here")
        c = load_center(blueprint, layers, sets)
        found = onprem.drift(c, limit=limit, chroot=chroot, inventory=inventory_dir)
    except TrunklineError as exc:
        fail(exc, as_json)
    if as_json:
        print_json({"ok": not found, "drift": [d.__dict__ for d in found]})
    elif found:
        t = table("host", "file", "differs in", "expected", "found", title=f"drift of {c.plan.center}",
                  rows=((d.host, d.path, f"[red]{d.what}[/]", d.expected, d.found) for d in found))
        t.columns[1].overflow = "fold"
        out.print(t)
        out.print(f"[red]{len(found)} difference(s)[/] on {len({d.host for d in found})} host(s); trunkline apply puts them back")
    else:
        out.print(f"[green]no drift[/]: every managed file of {c.plan.center} is as rendered")
    exit_with(found)
