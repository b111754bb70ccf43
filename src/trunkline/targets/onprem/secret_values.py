"""Secret references -> values for an apply (env:, file:; vault: refused with the fix), kept in memory only."""

from __future__ import annotations

import os
from pathlib import Path

from trunkline.errors import TrunklineError


class SecretError(TrunklineError):
    exit_code = 2


def resolve_secret(ref: str, base: Path | None = None) -> str:
    """env:NAME -> $NAME; file:PATH -> the file's text (~ expanded; relative to `base` if given)."""
    scheme, _, rest = ref.partition(":")
    if scheme == "env":
        if rest not in os.environ:
            raise SecretError(f"{ref}: the environment variable {rest} is not set; export it before the apply")
        return os.environ[rest]
    if scheme == "file":
        path = Path(rest).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        try:
            return path.read_text()
        except OSError as exc:
            raise SecretError(f"{ref}: cannot read {path} ({exc.strerror}); create it or point the reference elsewhere") from None
    if scheme == "vault":
        raise SecretError(f"{ref}: vault: references are not supported by this version of trunkline (it has no Vault client); "
                          "for the apply, point the field at env:NAME or file:PATH, e.g. with --set FIELD=env:NAME")
    raise SecretError(f"{ref}: not a secret reference; write env:NAME, file:PATH or vault:PATH#KEY")


def resolve_secrets(needed: dict[str, tuple[list[str], Path | None]]) -> dict[str, str]:
    """Every reference at once, so one run names every missing secret (and where it is used)."""
    values, problems = {}, []
    for ref, (users, base) in sorted(needed.items()):
        try:
            values[ref] = resolve_secret(ref, base)
        except SecretError as exc:
            problems.append(f"{exc} (needed by {', '.join(sorted(set(users)))})")
    if problems:
        raise SecretError("secrets could not be resolved; nothing was changed:\n  " + "\n  ".join(problems))
    return values


def needed_secrets(jobs: list, inventory: Path | None = None) -> dict[str, tuple[list[str], Path | None]]:
    """Reference -> (where it is used, base of a relative file: path).

    The markers in the host's files come from the blueprint (relative to the working directory);
    the *_ref variables come from the inventory (relative to it).
    """
    needed: dict[str, tuple[list[str], Path | None]] = {}
    for job in jobs:
        for e in job.entries:
            for ref in e.get("secrets") or []:
                needed.setdefault(ref, ([], None))[0].append(f"{job.name}:{e['path']}")
        for key, value in job.vars.items():
            if key.endswith("_ref") and isinstance(value, str) and value and _wanted(key, job.vars):
                needed.setdefault(value, ([], inventory))[0].append(f"{job.name} {key}")
            elif key.endswith("_refs") and isinstance(value, list):  # e.g. tls_carrier_ca_refs
                for ref in value:
                    needed.setdefault(str(ref), ([], inventory))[0].append(f"{job.name} {key}")
    return needed


def _wanted(key: str, v: dict) -> bool:
    if key == "freeswitch_signalwire_token_ref":
        return v.get("freeswitch_package_source") == "signalwire"
    return True
