"""Commands that make and check the files hosts run: render, check."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from trunkline.cli.options import Blueprint, Force, Json, JsonSummary, Layers, Sets, load_center
from trunkline.cli.output import err, exit_with, fail, notes, out, print_json, table
from trunkline.errors import TrunklineError, UsageError


def render(
    blueprint: Blueprint,
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="output folder (default build/<center>)"),
    layers: Layers = None,
    sets: Sets = None,
    hosts: Optional[list[str]] = typer.Option(None, "--host", help="render only these hosts"),
    check: bool = typer.Option(True, "--check/--no-check", help="have the real programs accept the files before they replace the output"),
    force: Force = False,
    as_json: JsonSummary = False,
) -> None:
    """Render every host's configuration to OUTPUT/<host>/<path> plus OUTPUT/manifest.json, atomically."""
    said: list[str] = []
    try:
        c = load_center(blueprint, layers, sets)
        p = c.plan
        if hosts:
            unknown = sorted(set(hosts) - {h.name for h in p.hosts})
            if unknown:
                raise UsageError(f"--host {', '.join(unknown)}: not in the plan; hosts are {', '.join(h.name for h in p.hosts)}")
        target = output or Path("build") / p.center
        files = c.render(target, hosts, check=check, force=force, notes=said)
    except TrunklineError as exc:
        fail(exc, as_json)
    if as_json:
        print_json({"ok": True, "output": str(target), "files": len(files), "hosts": len({f.host for f in files}),
                    "checked": check, "notes": said})
    else:
        notes(said)
        out.print(f"[green]rendered[/] {len(files)} files for {len({f.host for f in files})} hosts into {target}"
                  + (" (accepted by kamailio -c, keepalived -t and the parsers)" if check else " (not checked)"))


def check(
    tree: Path = typer.Argument(..., help="a render output folder (with manifest.json)"),
    as_json: Json = False,
) -> None:
    """Run the real programs (kamailio -c, keepalived -t, parsers) on a rendered tree."""
    from trunkline.render import MANIFEST
    from trunkline.render.check import check_tree, failed

    if not (tree / MANIFEST).exists():
        fail(UsageError(f"{tree}: no {MANIFEST}; render into it first (trunkline render BLUEPRINT -o {tree})"), as_json)
    results = check_tree(tree)
    bad = failed(results)
    if as_json:
        print_json({"ok": not bad, "results": [r.as_dict() for r in results]})
    else:
        style = {"passed": "green", "failed": "red", "skipped": "yellow"}
        out.print(table("host", "file", "checker", "result", title=f"checks of {tree}",
                        rows=((r.host, r.path, r.checker, f"[{style[r.status]}]{r.status}[/]") for r in results)))
        for r in bad:
            err.print(f"{r.host}:{r.path}: {r.checker}:\n{r.detail}", markup=False)
        counts = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "skipped")}
        out.print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    exit_with(bad)
