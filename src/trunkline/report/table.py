"""The cost report in the terminal (trunkline cost): rich tables of what it rests on, the three
models, the break-evens and the cost of more seats."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from trunkline.cost import MODELS, CostReport
from trunkline.report import human_bytes, money


def show_cost(rep: CostReport, console: Console) -> None:
    """The cost report as rich tables: sizing, the three models, break-even, expansion."""
    b = rep.basis
    console.print(f"[bold]{rep.center}[/] ({rep.customer}) from {rep.source}: cost of ownership over {rep.months} months "
                  f"in {rep.currency}, prices from {rep.price_book_title or rep.price_book}", highlight=False)
    t = Table("figure", "value", title="what it rests on (from the plan)", show_header=False)
    t.add_row("seats (priced)", str(b.whole.seats))
    t.add_row("agents on the phones / to schedule", f"{b.agents} / {b.scheduled_agents}")
    t.add_row("trunk channels (priced)", str(b.whole.channels))
    t.add_row("bandwidth", f"{b.bandwidth_kbps / 1000:.1f} Mbit/s")
    t.add_row("recording storage", f"{human_bytes(b.storage_bytes)} over {b.retention_days} days")
    t.add_row("hybrid: self-built part", f"{b.hybrid_self_built.seats} seats, {b.hybrid_self_built.channels} channels ({', '.join(b.hybrid_self_built.pools) or 'none'})")
    t.add_row("hybrid: hosted part", f"{b.hybrid_hosted.seats} seats, {b.hybrid_hosted.channels} channels ({', '.join(b.hybrid_hosted.pools) or 'none'})")
    if b.hybrid_cloud.seats or rep.cloud_bill:
        t.add_row("hybrid: cloud part (AWS sites)", f"{b.hybrid_cloud.seats} seats, {b.hybrid_cloud.channels} channels ({', '.join(b.hybrid_cloud.pools) or 'none'})")
    console.print(t)
    if bill := rep.cloud_bill:
        t = Table("item", "a month", f"price ({bill.currency})", f"{rep.currency} a month",
                  title=f"the hybrid's {bill.provider.upper()} bill ({bill.region} list prices, 1 {bill.currency} = {bill.rate} {rep.currency})")
        for x in bill.lines:
            t.add_row(x.item, f"{x.quantity:,.1f} {x.unit}", f"{x.price}", money(x.monthly))
        t.add_row("total", "", "", money(bill.monthly))
        console.print(t)

    marks = sorted({12, 24, 36, rep.months} & set(range(1, rep.months + 1)))
    t = Table("model", "once", "a month", *[f"after {m} months" for m in marks], title=f"cost of ownership ({rep.currency})")
    for name in MODELS:
        m = rep.models[name]
        t.add_row(name, money(m.initial), money(m.monthly), *[money(m.total(k)) for k in marks])
    console.print(t)

    t = Table("models", "break-even month", "what happens", title="break-even")
    for be in rep.break_even:
        month = "never" if be.month is None else str(be.month) + ("" if be.month <= rep.months else f" (after month {rep.months})")
        t.add_row(" vs ".join(be.models), month, be.summary())
    console.print(t)

    t = Table("added seats", *[f"{m}" for m in MODELS], title=f"adding seats ({rep.currency}; a hybrid adds {'seats at its AWS sites' if rep.expansion[0].placed_as['hybrid'] == 'self-built' else 'rented seats'})")
    for e in rep.expansion:
        cells = []
        for m in MODELS:
            parts = [f"{money(e.once[m])} once" if e.once[m] else "", f"{money(e.yearly[m])} a year" if e.yearly[m] else ""]
            cells.append(" + ".join(p for p in parts if p) or "0")
        t.add_row(str(e.seats), *cells)
    console.print(t)
    for n in rep.notes:
        console.print(f"[dim]note:[/] {n}", highlight=False)
    for w in rep.plan_warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
