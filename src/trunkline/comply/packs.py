"""Rule packs: data files in packs/, one per pack, read into `Pack` and `Control` (findings.py).

A pack file holds the pack's id, title and source, an optional `retention_duty` (how long the
law behind the pack makes a center keep recordings; the GDPR conflict rule reads it), and its
controls. Each control names:

    id        <pack>/<slug>, unique over all packs; waivers and reports use it
    title     the duty, in one line
    severity  critical | high | medium | low
    citation  the clause it rests on
    applies   blueprint | files | hosts | cloud   (what is evaluated)
    kind      requirement (default) | conflict (two duties the blueprint cannot meet at once)
    check     the name of a check function of that scope, with `params` for it
    fix       what to change when it fails (a check may give a more precise one)

Loading validates every control against the check registry (registry.py, filled by the check
modules blueprint.py, files.py, hosts.py and cloud.py, which this module imports for that): a misspelt
check or parameter is an error here, not a control that silently never fails.
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from pathlib import Path

from ruamel.yaml import YAML

from trunkline.blueprint.models import parse_duration
from trunkline.comply import blueprint, cloud, files, hosts, registry  # noqa: F401  (the check modules fill the registry)
from trunkline.comply.findings import Control, Pack
from trunkline.errors import UsageError

PACKS_DIR = Path(__file__).parent / "packs"
ALWAYS_ON = "baseline"
SEVERITIES = ("critical", "high", "medium", "low")
KINDS = ("requirement", "conflict")
CONTROL_KEYS = {"id", "title", "severity", "citation", "applies", "kind", "check", "params", "fix", "why"}
PACK_KEYS = {"id", "title", "source", "retention_duty", "controls"}


class PackError(UsageError):
    """A pack file that cannot be used (a bug in the pack, reported with its file)."""


def _control(raw: dict, pack: str, where: str) -> Control:
    unknown = set(raw) - CONTROL_KEYS
    missing = {"id", "title", "severity", "citation", "applies", "check", "fix"} - set(raw)
    if unknown or missing:
        raise PackError(f"{where}: control {raw.get('id', '?')}: " + "; ".join(
            ([f"unknown keys {sorted(unknown)}"] if unknown else []) + ([f"missing {sorted(missing)}"] if missing else [])))
    cid = raw["id"]
    if not cid.startswith(pack + "/"):
        raise PackError(f"{where}: control id {cid!r} must start with '{pack}/'")
    for key, allowed in (("severity", SEVERITIES), ("applies", registry.SCOPES), ("kind", KINDS)):
        if key in raw and raw[key] not in allowed:
            raise PackError(f"{where}: {cid}: {key} {raw[key]!r} is not one of {', '.join(allowed)}")
    params = dict(raw.get("params") or {})
    checks = registry.checks(raw["applies"])
    fn = checks.get(raw["check"])
    if fn is None:
        raise PackError(f"{where}: {cid}: no {raw['applies']} check named {raw['check']!r}; known: {', '.join(sorted(checks))}")
    accepted = set(inspect.signature(fn).parameters)
    bad = set(params) - accepted
    if bad:
        raise PackError(f"{where}: {cid}: check {raw['check']} takes no parameter {sorted(bad)}")
    return Control(id=cid, pack=pack, title=raw["title"], severity=raw["severity"], citation=raw["citation"],
                   applies=raw["applies"], check=raw["check"], fix=raw["fix"], kind=raw.get("kind", "requirement"),
                   why=raw.get("why", ""), params=params)


def load_pack(path: Path) -> Pack:
    raw = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    where = str(path)
    if not isinstance(raw, dict) or not {"id", "title", "source", "controls"} <= set(raw):
        raise PackError(f"{where}: a pack needs id, title, source and controls")
    if set(raw) - PACK_KEYS:
        raise PackError(f"{where}: unknown keys {sorted(set(raw) - PACK_KEYS)}")
    if path.stem != raw["id"]:
        raise PackError(f"{where}: the file must be named after the pack id ({raw['id']}.yaml)")
    controls = tuple(_control(c, raw["id"], where) for c in raw["controls"])
    duty = parse_duration(raw["retention_duty"]) if raw.get("retention_duty") else 0
    return Pack(id=raw["id"], title=raw["title"], source=raw["source"], controls=controls, retention_duty=duty)


@lru_cache(maxsize=1)
def all_packs() -> dict[str, Pack]:
    """Every pack in packs/, by id, controls checked for unique ids."""
    packs = {p.id: p for p in (load_pack(f) for f in sorted(PACKS_DIR.glob("*.yaml")))}
    seen: set[str] = set()
    for pack in packs.values():
        for c in pack.controls:
            if c.id in seen:
                raise PackError(f"control id {c.id} is used twice")
            seen.add(c.id)
    return packs


def select_packs(declared: list[str], asked: list[str] | None = None) -> list[Pack]:
    """The packs to evaluate: those asked for on the command line, else the blueprint's; baseline always."""
    packs = all_packs()
    ids = list(asked) if asked else list(declared)
    unknown = [i for i in ids if i not in packs]
    if unknown:
        raise UsageError(f"--pack {', '.join(unknown)}: no such pack; packs are {', '.join(packs)}")
    ordered = [ALWAYS_ON] + [i for i in dict.fromkeys(ids) if i != ALWAYS_ON]
    return [packs[i] for i in ordered]


def control_by_id(control_id: str) -> Control | None:
    for pack in all_packs().values():
        for c in pack.controls:
            if c.id == control_id:
                return c
    return None
