"""What the commands print, in one place: tables (rich), --json bodies, notes, errors and exit codes.

Exit codes: 0 ok, 1 a check or a program failed, 2 bad input (blueprint, arguments); an error's code is
its exception's `exit_code` (trunkline.errors). stdout carries a command's result (a table or its JSON),
stderr carries errors, notes and progress, so `--json` output always parses.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Iterable, NoReturn, Sequence

import typer
from rich.console import Console
from rich.table import Table

from trunkline.errors import BlueprintError, TrunklineError

# Off a terminal (CI logs, `make demo > file`) rich would cut tables to 80 columns: site and trunk names
# came out as "sh-d…". Use a wide page there; COLUMNS still wins where it is set.
WIDE = 200
out = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else WIDE)
err = Console(stderr=True, soft_wrap=True)  # error lines stay whole: FILE:LINE:COL is grep-able


def table(*columns: str, title: str, rows: Iterable[Sequence[str]] = (), **options) -> Table:
    """A rich table of `columns` holding `rows` (cells may carry rich markup); print it with out.print."""
    t = Table(*columns, title=title, **options)
    for row in rows:
        t.add_row(*row)
    return t


def figures(title: str, rows: Iterable[tuple[str, object]]) -> Table:
    """A two-column table of labelled figures, without a header row."""
    return table("figure", "value", title=title, rows=((label, str(value)) for label, value in rows), show_header=False)


def print_json(body, **options) -> None:
    """A command's --json result on stdout (indented; json.dumps options such as sort_keys pass through)."""
    print(json.dumps(body, indent=2, **options))


def exit_with(failed) -> NoReturn:
    """End a command that checked something: exit 1 when anything failed, else 0."""
    raise typer.Exit(1 if failed else 0)


def fail(exc: TrunklineError, as_json: bool) -> NoReturn:
    """Report an error (as JSON on stdout with --json, else on stderr) and exit with its code."""
    if as_json:
        body: dict = {"ok": False, "error": type(exc).__name__}
        if isinstance(exc, BlueprintError):
            body["problems"] = [p.as_dict() for p in exc.problems]
        else:
            body["message"] = str(exc)
        print_json(body)
    elif isinstance(exc, BlueprintError):
        for p in exc.problems:
            err.print(str(p), markup=False, highlight=False)
        err.print(f"{len(exc.problems)} problem(s); nothing was written", style="red")
    else:
        err.print(f"error: {exc}", markup=False, highlight=False, style="red")
    raise typer.Exit(exc.exit_code)


def notes(lines: list[str]) -> None:
    """What a command did besides its output (a folder moved aside, files carried over)."""
    for note in lines:
        err.print(f"note: {note}", markup=False, highlight=False, style="yellow")
