"""Paths and example lists the test modules share (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "blueprints").glob("*.yaml"))
BASE = ROOT / "tests" / "blueprint" / "base.yaml"


def example_ids() -> list[str]:
    return [p.stem for p in EXAMPLES]


def field_paths(node, prefix=()):
    """Every place in plain blueprint data, as a tuple of keys and indexes (the root is ())."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from field_paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from field_paths(v, prefix + (i,))


def cannot_run(message: str) -> None:
    """Skip on a developer's machine; in CI (which installs FreeSWITCH and runs as root) fail."""
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run this test (.ci/run installs FreeSWITCH from FREESWITCH_TARBALL)")
    pytest.skip(message)


def needs_freeswitch() -> Path:
    """FreeSWITCH's launcher; skips (fails in CI) where trunkline's build is not installed."""
    from trunkline import freeswitch

    exe = freeswitch.launcher()
    if exe is None:
        cannot_run(f"FreeSWITCH is not installed under {freeswitch.PREFIX}: {freeswitch.INSTALL_HINT}")
    return exe


AGENT_TROUBLE = ("Cannot create outgoing channel", "NORMAL_TEMPORARY_FAILURE", "USER_NOT_REGISTERED", "nta:", "tport",
                 "agent_tp_error", "Agent ", "Offering call", "sending invite")


def fs_rows(state, node: str, cmd: str) -> list[dict]:
    """The rows of a FreeSWITCH API table answer (`callcenter_config ... list`: a header line, then
    one '|'-separated line a row) as dicts by the header's names."""
    from trunkline.targets.lab.media import fs_api

    out = [line.split("|") for line in fs_api(state, node, cmd).splitlines() if "|" in line]
    return [dict(zip(out[0], r)) for r in out[1:]] if out else []


def why_no_agent(state, node: str, queue: str, domain: str) -> str:
    """One paragraph on why a node's queue rang no agent: each logged-in agent's row and tier (status, state,
    ready time, no-answer count) and the log lines of offers, failed originates and sofia's transport
    errors. Short enough for an assertion message, which CI's log keeps when it cuts the rest."""
    from trunkline.targets.lab.media import log

    logged = [a for a in fs_rows(state, node, "callcenter_config agent list") if a["status"] != "Logged Out"]
    agents = "; ".join(f"{a['name']} {a['status']}/{a['state']} ready {a['ready_time']} no-answer {a['no_answer_count']}"
                       for a in logged)
    tiers = "; ".join(f"{t['agent']} {t['state']}" for t in fs_rows(state, node, f"callcenter_config tier list {queue}@{domain}")
                      if t["agent"] in {a["name"] for a in logged})
    lines = [line.split(" ", 3)[-1][:160] for line in log(state, node).splitlines()
             if any(k in line for k in AGENT_TROUBLE)][-12:]
    return f"{node}: agents [{agents}] tiers [{tiers}] log: " + " | ".join(lines)
