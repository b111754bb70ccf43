"""`trunkline init`: a new center's folder with a commented starter blueprint and its schema.

The blueprint is written from templates/starter/center.yaml.j2 with what the operator answered
(name, customer, forecast or seats, sites, carriers, compliance packs, target), then loaded by
the same loader as any blueprint: what init writes validates and renders as written, or init
writes nothing. The JSON Schema goes beside it, so the modeline works wherever the folder lives.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from trunkline.errors import BlueprintError, UsageError
from trunkline.render import TEMPLATES

SCHEMA_FILE = "trunkline-center.schema.json"
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
TARGETS = {"lab": "onprem", "onprem": "onprem", "cloud": "cloud"}
# years recordings are kept, the longest the declared packs ask for (finance: 3+ years, HIPAA: 6)
RETENTION = {"finance-retention": "5y", "mifid-2": "5y", "hipaa": "6y"}
# blueprint field -> the flag that set it, so a refused answer names what the operator typed
FLAGS = {"metadata.customer": "--customer", "metadata.industry": "--industry", "spec.timezone": "--timezone",
         "spec.languages": "--language", "spec.forecast.peak_calls_per_hour": "--calls-per-hour",
         "spec.forecast.average_handle_time": "--aht", "spec.compliance": "--compliance", "spec.seats": "--seats"}


@dataclass
class Answers:
    name: str
    customer: str = ""
    industry: str = "other"
    calls_per_hour: int = 600
    aht: int = 240
    seats: int | None = None  # None: count: auto (Erlang C)
    queues: list[str] = field(default_factory=lambda: ["general"])
    sites: int = 1
    carriers: list[str] = field(default_factory=lambda: ["carrier-a"])
    compliance: list[str] = field(default_factory=lambda: ["baseline"])
    target: str = "lab"
    timezone: str = "UTC"
    languages: list[str] = field(default_factory=lambda: ["en-US"])


def _names(values: list[str], what: str, flag: str) -> list[str]:
    bad = [v for v in values if not NAME.match(v)]
    if bad:
        raise UsageError(f"{flag}: {bad[0]!r} is not a {what} name; use lower-case letters, digits and '-' (e.g. carrier-a)")
    if len(set(values)) != len(values):
        raise UsageError(f"{flag}: each {what} needs its own name")
    return values


def context(a: Answers, file: str) -> dict:
    """Template variables for the answers; names are checked here, everything else by the loader."""
    _names([a.name], "center", "--name")
    queues = _names(a.queues, "queue", "--queue")
    carriers = _names(a.carriers, "carrier", "--carrier")
    if a.target not in TARGETS:
        raise UsageError(f"--target: {a.target!r} is not one of {', '.join(TARGETS)}")
    if len(carriers) > 8:
        raise UsageError("--carrier: at most 8 carriers in a starter; add more by hand")
    if not 1 <= a.sites <= 4:
        raise UsageError("--sites: 1 to 4 (a primary, then standbys and primaries in turn); add more by hand")
    kind = TARGETS[a.target]
    sites = []
    for i in range(a.sites):
        role = "primary" if i % 2 == 0 else "standby"
        sites.append({"name": f"{'dc' if kind == 'onprem' else 'cloud'}{i + 1}", "kind": kind, "role": role,
                      "provider": "aws" if kind == "cloud" else None, "cidr": f"10.{20 + i}.0.0/24"})
    # which primaries each standby takes over: one standby all of them, else the primary before it
    standbys = [s for s in sites if s["role"] == "standby"]
    for i, s in enumerate(sites):
        if s["role"] == "standby":
            s["standby_for"] = ([p["name"] for p in sites if p["role"] == "primary"] if len(standbys) == 1
                                else [sites[i - 1]["name"]])
    if a.seats is None:
        per_pool = ["auto"] * len(queues)
    else:
        if a.seats < len(queues):
            raise UsageError(f"--seats: {a.seats} seats cannot staff {len(queues)} queues; give at least one seat a queue")
        per_pool = [a.seats // len(queues) + (1 if i < a.seats % len(queues) else 0) for i in range(len(queues))]
    retention = max((RETENTION.get(p, "1y") for p in a.compliance), key=lambda r: int(r[:-1]), default="1y")
    return {
        "file": file, "name": a.name, "customer": a.customer or a.name, "industry": a.industry,
        "timezone": a.timezone, "languages": a.languages, "calls_per_hour": a.calls_per_hour, "aht": a.aht,
        "queues": queues, "seats_per_pool": per_pool, "sites": sites, "compliance": a.compliance,
        "retention": retention,
        # each carrier its own pair of documentation addresses (203.0.113.0/24), to be replaced by the real ones
        "carriers": [{"name": c, "peers": [f"203.0.113.{10 + 2 * i}", f"203.0.113.{11 + 2 * i}"],
                      "secret_var": c.upper().replace("-", "_") + "_PASSWORD"} for i, c in enumerate(carriers)],
    }


def starter_text(a: Answers, file: str) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters["yaml_str"] = lambda v: json.dumps(str(v), ensure_ascii=False)  # a JSON string is a YAML scalar
    return env.get_template("starter/center.yaml.j2").render(**context(a, file))


def write_starter(a: Answers, folder: Path) -> list[Path]:
    """folder/<name>.yaml and folder/trunkline-center.schema.json; refuses to replace a file.

    Written into a temporary folder first and loaded there, so a blueprint that would not
    validate is never left behind."""
    from trunkline.blueprint.load import load_blueprint
    from trunkline.blueprint.schema import schema_json

    folder = Path(folder)
    names = [f"{a.name}.yaml", SCHEMA_FILE]
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file; name a folder for the new center (it is made if missing)")
    there = [folder / n for n in names if (folder / n).exists()]
    if there:
        raise UsageError(f"{there[0]} exists; init never replaces a file: choose another folder or --name")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".trunkline-init.", dir=folder))
    try:
        (tmp / names[0]).write_text(starter_text(a, str(folder / names[0])))
        (tmp / names[1]).write_text(schema_json())
        try:
            load_blueprint([tmp / names[0]])
        except BlueprintError as exc:
            p = exc.problems[0]
            flag = next((f for path, f in FLAGS.items() if p.path.startswith(path)), None)
            raise UsageError(f"{flag or p.path}: {p.message}" + (f"; {p.fix}" if p.fix else "") + "; nothing was written") from None
        for n in names:
            (tmp / n).rename(folder / n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [folder / n for n in names]
