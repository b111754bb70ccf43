"""A plan, and the pre-sales sizing figures, as tables for people (the JSON forms are Plan.to_json and
sizing.presales's dict)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # only a type here; importing it pulls the blueprint models, which `trunkline size` does not need
    from trunkline.plan.topology import Plan

SIZING_LABELS = {
    "traffic_erlangs": "traffic (Erlangs)", "agents": "agents on the phones (Erlang C)",
    "scheduled_agents": "agents to schedule (with shrinkage)", "service_level": "service level reached",
    "occupancy": "occupancy", "asa_s": "average speed of answer (s)",
    "trunk_holding_s": "a call holds a trunk (s): IVR + wait + handle time - after-call work",
    "trunk_traffic_erlangs": "trunk traffic (Erlangs)", "channels": "trunk channels (Erlang B)",
    "grade_of_service": "grade of service asked", "blocking": "blocking reached", "codec": "codec",
    "bandwidth_per_call_kbps": "per call, one way, Ethernet (kbit/s)", "bandwidth_kbps": "trunk bandwidth with 20 % headroom (kbit/s)",
}
SIZING_SHARES = ("service_level", "occupancy", "blocking", "grade_of_service")  # shown as percentages


def human_bytes(n: int) -> str:
    """1234567 -> '1.2 MB' (decimal units)."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1000
    return str(n)


def show_plan(plan: Plan, console: Console) -> None:
    s = plan.sizing
    console.print(f"[bold]{plan.center}[/] ({plan.customer}, {plan.industry}) from {plan.source}")
    t = Table("figure", "value", title="sizing", show_header=False)
    rows = [
        ("busy-hour traffic", f"{s.traffic_erlangs} E"),
        ("agents on the phones (Erlang C)", str(s.agents)),
        ("agents to schedule (shrinkage)", str(s.scheduled_agents)),
        ("seats in the pools", str(s.seats_total)),
        ("service level", f"{s.service_level:.1%} within {s.answer_within_s} s (target {s.service_level_target:.0%})"),
        ("occupancy / average speed of answer", f"{s.occupancy:.1%} / {s.asa_s} s"),
        ("a call holds a trunk", f"{s.trunk_holding_s} s: IVR {s.ivr_time_s} s + wait in queue {s.queue_wait_s} s + "
         f"talk {s.talk_s} s (handle time less after-call work)"),
        ("trunk channels (Erlang B)", f"{s.channels} for {s.trunk_traffic_erlangs} E (calls x the time each holds a channel)"),
        ("bandwidth", f"{s.bandwidth_kbps / 1000:.1f} Mbit/s ({s.codec}, {s.bandwidth_per_call_kbps} kbit/s a call, +20 %)"),
        ("recordings", f"{human_bytes(s.storage_bytes)} over {s.retention_days} days ({s.recording_format}, {s.recorded_share:.0%} of {s.daily_calls} calls a day)"
         if s.recorded_share else "none (recording.mode: none)"),
    ]
    for r in rows:
        t.add_row(*r)
    console.print(t)

    t = Table("pool", "site", "count", "agents", "skills", title="seat pools",
              caption="auto pools share evenly what the Erlang C result leaves after the fixed pools")
    for p in plan.seats:
        t.add_row(p.pool, p.site, ("auto" if p.auto else "fixed") + (", hosted" if p.hosted else ""), str(p.agents), ", ".join(p.skills))
    console.print(t)

    t = Table("site", "kind", "role", "network", "VIP", "seats", "calls", "media", "bandwidth", "edge calls/s", title="sites")
    for site in plan.sites:
        t.add_row(site.name, site.kind + (f" ({site.provider})" if site.provider else ""), site.role + (f" for {', '.join(site.covers)}" if site.covers else ""), site.cidr, site.vip,
                  str(site.seats), str(site.concurrent_calls), f"{site.media_nodes} x {site.calls_per_node}",
                  f"{site.bandwidth_kbps / 1000:.1f} Mbit/s",
                  f"{site.edge_cps} (-m {site.kamailio_shm_mb})")
    console.print(t)

    t = Table("host", "site", "role", "address", "HA", title="hosts")
    for h in plan.hosts:
        ha = f"{h.ha.state} prio {h.ha.priority} vrid {h.ha.vrid}" if h.ha else ""
        t.add_row(h.name, h.site, h.role, f"{h.address}/{h.prefix}", ha)
    console.print(t)

    t = Table("trunk", "transport", "peers", "sites", "weight", "traffic", "channels", "blocking", "bandwidth", "secret",
              title="trunks", caption="a site's calls come in over the trunks that end there, split by weight")
    for tr in plan.trunks:
        t.add_row(tr.name, f"{tr.transport}:{tr.port}", ", ".join(tr.peers), ", ".join(tr.sites), f"{tr.weight:g}",
                  f"{tr.traffic_erlangs:.1f} E",
                  f"{tr.channels}{' (auto)' if tr.auto else ''}", f"{tr.blocking:.2%}", f"{tr.bandwidth_kbps / 1000:.1f} Mbit/s",
                  tr.secret_ref or "")
    console.print(t)

    t = Table("set", "site", "purpose", "destinations", title="dispatcher sets")
    for d in plan.dispatcher_sets:
        t.add_row(str(d.id), d.site, d.purpose, ", ".join(f"{x.uri} w{x.weight}" for x in d.destinations))
    console.print(t)

    t = Table("pool", "site", "agents", "skills", "hosted", title="seats")
    for sp in plan.seats:
        t.add_row(sp.pool, sp.site, f"{sp.agents}{' (auto)' if sp.auto else ''}", ", ".join(sp.skills), "yes" if sp.hosted else "")
    console.print(t)
    for w in plan.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)


def show_sizing(result: dict, console: Console) -> None:
    """The figures of sizing.presales as one table, in a fixed order, shares as percentages."""
    t = Table("figure", "value", title="sizing", show_header=False)
    for key, label in SIZING_LABELS.items():
        if key in result:
            value = result[key]
            if key in SIZING_SHARES and isinstance(value, float) and not math.isnan(value):
                value = f"{value:.2%}"
            t.add_row(label, str(value))
    console.print(t)
