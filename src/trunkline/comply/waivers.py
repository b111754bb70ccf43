"""Waivers, in the style of InSpec's waiver files: a YAML mapping of control id to why and until when.

    pci-dss-4/live-log-retention:
      justification: "central SIEM keeps 13 months; host logs are shipped nightly (ticket SEC-142)"
      expiration_date: 2026-06-30

A waiver hides a failing control until the end of its expiration date; after that the failure is
reported again, with a word that its waiver expired. Waivers never turn an error into a pass.
Every waiver must name a known control, give a justification and an expiration date.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from trunkline.comply.findings import Waiver
from trunkline.comply.packs import control_by_id
from trunkline.errors import UsageError

KEYS = {"justification", "expiration_date", "run"}  # run: InSpec's flag; accepted, controls always run here


def load_waivers(path: Path | str) -> dict[str, Waiver]:
    path = Path(path)
    try:
        raw = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such waivers file") from None
    except YAMLError as exc:
        raise UsageError(f"{path}: not readable as YAML: {str(exc).splitlines()[0]}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: write a mapping of control id to {{justification, expiration_date}}")
    out: dict[str, Waiver] = {}
    for cid, body in raw.items():
        where = f"{path}: {cid}"
        if control_by_id(str(cid)) is None:
            raise UsageError(f"{where}: no such control; `trunkline comply --format json` lists the control ids")
        if not isinstance(body, dict):
            raise UsageError(f"{where}: give justification: and expiration_date: under it")
        unknown = set(body) - KEYS
        if unknown:
            raise UsageError(f"{where}: unknown keys {', '.join(sorted(map(str, unknown)))}; a waiver has justification and expiration_date")
        why = str(body.get("justification") or "").strip()
        if not why:
            raise UsageError(f"{where}: justification is required: say why the failure is accepted and who accepted it")
        when = body.get("expiration_date")
        if isinstance(when, str):
            try:
                when = dt.date.fromisoformat(when)
            except ValueError:
                raise UsageError(f"{where}: expiration_date {when!r} is not a date; write YYYY-MM-DD") from None
        if isinstance(when, dt.datetime):
            when = when.date()
        if not isinstance(when, dt.date):
            raise UsageError(f"{where}: expiration_date is required (YYYY-MM-DD): a waiver that never expires hides a failure for good")
        out[str(cid)] = Waiver(control=str(cid), justification=why, expiration_date=when)
    return out
