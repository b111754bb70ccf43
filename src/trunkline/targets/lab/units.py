"""A small systemd unit reader: the command line, user and umask systemd would give a service,
read from the packaged unit and the rendered drop-ins as a lab host has them."""

from __future__ import annotations

import re
import shlex

from trunkline.targets.lab.shell import in_host, run
from trunkline.targets.lab.state import LabError


def parse_unit(text: str) -> list[tuple[str, str]]:
    """KEY=VALUE lines of a unit file (or an environment file), comments left out."""
    return [(k.strip(), v.strip()) for k, sep, v in (line.partition("=") for line in text.splitlines())
            if sep and k.strip() and not k.lstrip().startswith(("#", ";"))]


def unit_lines(center: str, host: str, *paths: str) -> list[tuple[str, str]]:
    """KEY=VALUE lines of a unit file and its drop-ins (or of an environment file) as the host has
    them, in the order given."""
    out = []
    for path in paths:  # one read each: a file without a final newline must not run into the next
        out += parse_unit(run(in_host(center, host, ["cat", path]), check=False).stdout)
    return out


def unit_umask(center: str, host: str, dropin: str) -> str:
    values = [v for k, v in unit_lines(center, host, dropin) if k == "UMask"]
    return values[-1] if values else "0022"


def unit_command(center: str, host: str, unit: str, dropin: str) -> tuple[list[str], dict[str, str]]:
    """The ExecStart systemd would run for `unit` (the packaged unit, then the rendered drop-in),
    its variables expanded from Environment= and EnvironmentFile= as systemd does: "$VAR" alone
    becomes its words, "${VAR}" one word. Also the unit's User/Group."""
    lines = unit_lines(center, host, f"/lib/systemd/system/{unit}", dropin)
    env: dict[str, str] = {}
    for k, v in lines:
        if k == "Environment":
            env.update(a.split("=", 1) for a in shlex.split(v) if "=" in a)
    for k, v in lines:  # EnvironmentFile= wins over Environment=, whatever the order
        if k == "EnvironmentFile" and not any(c in v for c in "*?["):  # no globbed folders rendered
            env.update((a, b.strip("\"'")) for a, b in unit_lines(center, host, v.lstrip("-")))
    exec_start = ""
    for k, v in lines:
        if k == "ExecStart":
            exec_start = v  # an empty ExecStart= in a drop-in resets the packaged one
    if not exec_start:
        raise LabError(f"{host}: no ExecStart for {unit} in its unit or {dropin}")
    argv: list[str] = []
    for word in shlex.split(exec_start):
        if m := re.fullmatch(r"\$(\w+)", word):
            argv += env.get(m[1], "").split()
        else:
            argv.append(re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m[1] or m[2], ""), word))
    user = dict(lines)
    return argv, {k: user[k] for k in ("User", "Group") if k in user}

