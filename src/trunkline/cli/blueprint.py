"""Commands on the blueprint and its plan: validate, init, schema, plan, and the pre-sales calculator size."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from trunkline.cli.options import Blueprint, Json, Layers, Sets, load_center
from trunkline.cli.output import fail, out, print_json
from trunkline.errors import BlueprintError, TrunklineError, UsageError
from trunkline.plan import sizing
from trunkline.plan.show import show_plan, show_sizing


def validate(
    paths: list[Path] = typer.Argument(..., help="blueprint files; each is validated on its own"),
    sets: Sets = None,
    as_json: Json = False,
) -> None:
    """Check blueprints and report every problem at once (FILE:LINE:COL field: what; fix)."""
    from trunkline.blueprint.load import load_blueprint

    problems, centers = [], []
    for path in paths:
        try:
            centers.append(load_blueprint([path], sets or []).metadata.name)
        except BlueprintError as exc:
            problems.extend(exc.problems)
        except TrunklineError as exc:
            fail(exc, as_json)
    if problems:
        fail(BlueprintError(problems), as_json)
    if as_json:
        print_json({"ok": True, "centers": centers})
    else:
        for path, name in zip(paths, centers):
            out.print(f"[green]ok[/] {path} ({name})")


def init(
    folder: Path = typer.Argument(Path("."), help="folder for the new center (made if missing)"),
    name: str = typer.Option(..., "--name", prompt="center id (lower-case letters, digits, '-')", help="center id, e.g. acme-support"),
    customer: str = typer.Option("", "--customer", help="customer's name (default: the center id)"),
    industry: str = typer.Option("other", "--industry", help="finance, health, retail, ecommerce, government, telecom, logistics, other"),
    calls_per_hour: int = typer.Option(600, "--calls-per-hour", help="offered calls in the busiest hour"),
    aht: int = typer.Option(240, "--aht", help="average handle time in seconds (talk + hold + wrap-up)"),
    seats: Optional[int] = typer.Option(None, "--seats", help="fixed seats, split over the queues (default: auto from Erlang C)"),
    queues: Optional[list[str]] = typer.Option(None, "--queue", help="a queue and its skill (repeatable; default general)"),
    sites: int = typer.Option(1, "--sites", help="sites: 1 to 4, a primary first, then standbys and primaries in turn"),
    carriers: Optional[list[str]] = typer.Option(None, "--carrier", help="a carrier trunk's name (repeatable; default carrier-a)"),
    compliance: Optional[list[str]] = typer.Option(None, "--compliance", help="a rule pack (repeatable): baseline, pci-dss-4, hipaa, mifid-2, mlps-3, gdpr, finance-retention"),
    target: str = typer.Option("lab", "--target", help="where the sites run: lab or onprem (on-prem servers), or cloud"),
    timezone: str = typer.Option("UTC", "--timezone", help="IANA time zone of the center, e.g. Asia/Shanghai"),
    languages: Optional[list[str]] = typer.Option(None, "--language", help="a language callers speak (repeatable; default en-US)"),
    as_json: Json = False,
) -> None:
    """Start a new center: a commented blueprint that validates and renders as written, with its schema beside it."""
    from trunkline.starter import Answers, write_starter

    answers = Answers(name=name, customer=customer, industry=industry, calls_per_hour=calls_per_hour, aht=aht, seats=seats,
                      queues=queues or ["general"], sites=sites, carriers=carriers or ["carrier-a"],
                      compliance=compliance or ["baseline"], target=target, timezone=timezone, languages=languages or ["en-US"])
    try:
        written = write_starter(answers, folder)
    except TrunklineError as exc:
        fail(exc, as_json)
    if as_json:
        print_json({"ok": True, "files": [str(p) for p in written]})
        return
    for p in written:
        out.print(f"[green]wrote[/] {p}")
    out.print(f"next: trunkline validate {written[0]}   then: trunkline plan {written[0]}")


def schema(output: Optional[Path] = typer.Option(None, "-o", "--output", help="write to this file instead of stdout")) -> None:
    """Print the blueprint's JSON Schema (for editors: see the modeline in blueprints/)."""
    from trunkline.blueprint.schema import schema_json

    text = schema_json()
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)


def plan(
    blueprint: Blueprint,
    layers: Layers = None,
    sets: Sets = None,
    as_json: bool = typer.Option(False, "--json", help="the plan as JSON (deterministic bytes)"),
) -> None:
    """Size the center and lay out its sites, hosts, addresses, HA pairs and dispatcher sets."""
    try:
        p = load_center(blueprint, layers, sets).plan
    except TrunklineError as exc:
        fail(exc, as_json)
    if as_json:
        sys.stdout.write(p.to_json())
        return
    show_plan(p, out)


def size(
    calls_per_hour: Optional[float] = typer.Option(None, "--calls-per-hour", help="busy-hour offered calls"),
    aht: Optional[float] = typer.Option(None, "--aht", help="average handle time, seconds"),
    answer_within: float = typer.Option(20, "--answer-within", help="service-level time, seconds"),
    service_level: float = typer.Option(0.8, "--service-level", help="share answered within the time, 0-1"),
    erlangs: Optional[float] = typer.Option(None, "--erlangs", help="traffic in Erlangs (channels only)"),
    grade_of_service: float = typer.Option(0.01, "--grade-of-service", help="blocking allowed on the trunks, 0-1"),
    codec: str = typer.Option("PCMA", "--codec", help="codec for bandwidth: PCMA, PCMU, G722, G729, OPUS"),
    shrinkage: float = typer.Option(0.0, "--shrinkage", help="share of paid time off the phones, 0-1"),
    max_occupancy: float = typer.Option(1.0, "--max-occupancy", help="cap on agent occupancy, 0-1"),
    ivr_time: float = typer.Option(0.0, "--ivr-time", help="seconds a caller spends in the IVR (holds a channel)"),
    after_call_work: float = typer.Option(0.0, "--after-call-work", help="seconds of the AHT after the caller hung up (frees the channel)"),
    as_json: Json = False,
) -> None:
    """Pre-sales calculator: agents (Erlang C), trunk channels (Erlang B) on the time a call holds a
    channel (IVR, wait in queue, handle time), bandwidth."""
    try:
        if calls_per_hour is None and erlangs is None:
            raise UsageError("give either --calls-per-hour N --aht SECONDS (agents and channels) or --erlangs A (channels)")
        if calls_per_hour is not None and aht is None:
            raise UsageError("--calls-per-hour needs --aht SECONDS")
        result = sizing.presales(calls_per_hour=calls_per_hour, aht_s=aht, erlangs=erlangs, answer_within_s=answer_within,
                                 target=service_level, grade_of_service=grade_of_service, codec=codec,
                                 shrinkage=shrinkage, max_occupancy=max_occupancy, ivr_s=ivr_time,
                                 after_call_work_s=after_call_work)
    except ValueError as exc:
        fail(UsageError(str(exc)), as_json)
    except TrunklineError as exc:
        fail(exc, as_json)
    if as_json:
        print_json(result, sort_keys=True)
        return
    show_sizing(result, out)
