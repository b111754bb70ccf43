"""Plan -> cost of ownership: self-built vs hosted vs hybrid, month by month.

The model (docs/cost.md tells it for buyers):

  * a price book (YAML, `pricebook.yaml` beside this file by default) prices seven items for
    each of the two ways to run a center, self-built and hosted: initial build, seat licence or
    rental, trunks, maintenance, outbound calls, network to the host (each once and monthly),
    and expansion per added seat (once and yearly). Each figure is per seat, channel, Mbit/s or
    center; the quantities come from the plan, never from the blueprint. Fixed (per center)
    costs are what make size matter: the default self-built platform is shared by its seats.
  * self-built and hosted price the whole center one way. Hybrid is the blueprint as drawn
    (hybrid_part): seats in pools with `hosted: true`, or at a burst site of a provider with no
    stack, are priced as hosted; seats at AWS sites are the cloud part, the self-built items
    but the platform build, plus the AWS bill (trunkline.cloud.bill) every month; the rest as
    self-built. Channels and bandwidth follow the seats (the hosted part gets
    ceil(channels x hosted seats / seats), the cloud part likewise); a part with no seats costs
    nothing, so a blueprint without hosted, burst or AWS seats has a hybrid equal to its
    self-built center.
  * month 0 holds the one-off costs; month m adds m monthly bills. All three curves are
    straight lines, so the break-even of two models is exact: the month in which the total of
    the model that was cheaper at first reaches the other's, ceil((I_a - I_b) / (M_b - M_a)).
    The articles' 100-seat case: (150 - 10) / (15 - 5) = 14 (in 10,000 CNY).
  * expansion: 1, 50, 100, 200, 500 added seats at the book's expansion prices; a hybrid grows
    in the cloud: as rented burst seats (the hosted prices), or at its AWS sites (self-built's).

Money is Decimal and the break-even a Fraction, so the articles' figures come out exactly.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from trunkline.blueprint.load import Positions, plain_data, problems_from
from trunkline.blueprint.models import show
from trunkline.errors import BlueprintError, Problem, UsageError
from trunkline.plan.topology import Plan

PRICE_BOOK = Path(__file__).with_name("pricebook.yaml")
MODELS = ("self-built", "hosted", "hybrid")
PAIRS = (("self-built", "hosted"), ("self-built", "hybrid"), ("hosted", "hybrid"))
EXPANSION_SEATS = (1, 50, 100, 200, 500)
DEFAULT_MONTHS = 36  # seeds/000 and /002 weigh the choice over three years
MAX_MONTHS = 600
UNITS = ("seat", "channel", "mbps", "center")


class PriceBookError(BlueprintError):
    """The price book is invalid: .problems, each FILE:LINE:COL path: what; fix (exit 2)."""


# --- the price book -------------------------------------------------------------------------


def _money(value: Any) -> Decimal:
    if value is None:
        raise ValueError("has no value; write an amount, 0 if the item costs nothing")
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError(f"{value!r} is not a number; write a plain amount such as 1500 (no currency sign, no separators)")
    amount = Decimal(str(value))  # str() keeps 0.1 as written, not as the nearest binary float
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not a finite number; write a plain amount such as 1500")
    if amount < 0:
        raise ValueError(f"{value} is negative; a cost is 0 or more (write 0 if the item costs nothing)")
    return amount


Money = Annotated[Decimal, BeforeValidator(_money)]
Unit = Literal["seat", "channel", "mbps", "center"]


class _Book(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Item(_Book):
    """One cost: paid once and every month, for each `per` unit of the part priced."""

    once: Money
    monthly: Money
    per: Unit
    source: str = ""


class Expansion(_Book):
    """Per added seat: paid once, and every year after (rental)."""

    once: Money
    yearly: Money
    source: str = ""


class ModelPrices(_Book):
    initial_build: Item
    seat_licence: Item
    trunks: Item
    maintenance: Item
    outbound_calls: Item
    network: Item
    expansion: Expansion


class Models(_Book):
    self_built: ModelPrices = Field(alias="self-built")
    hosted: ModelPrices

    def of(self, model: str) -> ModelPrices:
        return self.self_built if model == "self-built" else self.hosted


class Rate(_Book):
    """One cloud unit price, in the cloud section's currency."""

    price: Money
    source: str = ""


class Rates(_Book):
    """Unit prices by kind (instance type, S3 storage class), in the cloud section's currency."""

    rates: dict[str, Money]
    source: str = ""


class AwsPrices(_Book):
    """List prices of what the AWS stack makes and uses (trunkline.cloud.bill prices it).

    `rate` converts them to the book's currency: book currency per unit of `currency`."""

    currency: str = Field(pattern=r"^[A-Z]{3}$")
    rate: Money
    rate_source: str = ""
    region: str  # the region these prices are for; a site elsewhere gets a note
    instance_hour: Rates  # by EC2 instance type
    volume_gb_month: Rates  # by EBS volume type
    public_ipv4_hour: Rate
    load_balancer_hour: Rate
    load_balancer_capacity_unit_hour: Rate
    nat_gateway_hour: Rate
    nat_gateway_gb: Rate  # for a layout whose hosts reach out through one: the stack's have public addresses
    vpn_connection_hour: Rate
    transfer_out_gb: Rate
    transfer_inter_region_gb: Rate
    s3_gb_month: Rates  # by storage class
    s3_put_1000: Rate
    s3_transition_1000: Rates  # by the class objects move to
    s3_replication_time_control_gb: Rate
    kms_key_month: Rate
    route53_zone_month: Rate
    route53_health_check_month: Rate
    route53_fast_interval_month: Rate
    logs_ingest_gb: Rate
    logs_storage_gb_month: Rate
    secret_month: Rate
    log_bytes_per_call: Rate  # not a price: the logs a call leaves, an estimate to set from your own


class CloudPrices(_Book):
    aws: AwsPrices | None = None


class PriceBook(_Book):
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    title: str = ""
    models: Models
    cloud: CloudPrices | None = None  # without it, a cloud site's resources are not priced (a note says so)
    path: str = Field("", exclude=True)  # where it was read from, for messages and reports


ITEMS = ("initial_build", "seat_licence", "trunks", "maintenance", "outbound_calls", "network", "expansion")
_ITEM_SHAPE = {
    **{k: "{once: AMOUNT, monthly: AMOUNT, per: seat, source: TEXT}" for k in ITEMS[:-1]},
    "expansion": "{once: AMOUNT, yearly: AMOUNT, source: TEXT}",
}
_FIELD_FIX = {
    "once": "add once: AMOUNT (paid once; 0 if nothing)",
    "monthly": "add monthly: AMOUNT (paid every month; 0 if nothing)",
    "yearly": "add yearly: AMOUNT (paid every year per added seat; 0 if nothing)",
    "per": f"add per: {', '.join(UNITS)}",
    "currency": "add currency: CNY (a three-letter ISO 4217 code)",
    "models": "add models: with self-built: and hosted: under it",
    "self-built": "add self-built: with the seven items " + ", ".join(ITEMS),
    "hosted": "add hosted: with the seven items " + ", ".join(ITEMS),
}


def _price_book_problem(err: dict, loc: tuple) -> tuple[str, str] | None:
    """The price book's own (message, fix) where it knows better than the common wording of
    blueprint.load.problems_from (which gives paths, unknown keys and validator messages)."""
    kind, given = err["type"], err.get("input")
    last = str(loc[-1]) if loc else ""
    if kind == "missing" and (last in _ITEM_SHAPE or last in _FIELD_FIX):
        return "is required", f"add {last}: {_ITEM_SHAPE[last]}" if last in _ITEM_SHAPE else _FIELD_FIX[last]
    if kind == "literal_error":
        return f"{show(given)} is not one of {', '.join(UNITS)}", "seat, channel and mbps scale with the plan; center is a fixed fee"
    if kind == "string_pattern_mismatch":
        return f"{show(given)} is not a currency code", "write a three-letter ISO 4217 code in capitals, e.g. CNY, USD, EUR"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return (f"expected a mapping of keys, got {type(given).__name__}",
                f"write it as {_ITEM_SHAPE[last]}" if last in _ITEM_SHAPE else "write key: value pairs under it")
    if kind == "string_type":
        return f"{show(given)} is not text", "quote it"
    return None


def load_price_book(path: Path | str | None = None) -> PriceBook:
    """Read and check a price book; every problem at once, each with file, line, field and fix."""
    path = Path(path) if path else PRICE_BOOK
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{file}: no such price book; check the path (the default is {PRICE_BOOK})") from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise PriceBookError([Problem(file, 1, 1, "", f"not a readable UTF-8 text file ({exc})", "name a YAML file saved as UTF-8")]) from None
    try:
        data = YAML(typ="rt").load(io.StringIO(text))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PriceBookError([Problem(file, line, col, "", f"YAML syntax: {what}", "fix the indentation or quoting at this spot")]) from None
    if not isinstance(data, CommentedMap):
        raise PriceBookError([Problem(file, 1, 1, "", "the document is not a mapping", "start with currency: CNY and models:")])
    pos = Positions()
    pos.record(data, file)
    try:
        return PriceBook.model_validate({**plain_data(data), "path": file})
    except ValidationError as exc:
        raise PriceBookError(problems_from(exc, pos, file, PriceBook, _price_book_problem)) from None


# --- what the cost rests on -----------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """A share of the center run one way: the quantities the price book multiplies."""

    seats: int
    channels: int
    mbps: Decimal
    pools: tuple[str, ...] = ()

    def quantity(self, unit: str) -> Decimal:
        return {"seat": Decimal(self.seats), "channel": Decimal(self.channels), "mbps": self.mbps,
                "center": Decimal(1 if self.seats else 0)}[unit]


@dataclass(frozen=True)
class CostBasis:
    """The plan's figures the cost rests on, and the hybrid split."""

    whole: Part
    hybrid_self_built: Part
    hybrid_hosted: Part
    hybrid_cloud: Part = Part(0, 0, Decimal(0))  # seats at AWS sites: self-built software on rented resources
    agents: int = 0
    scheduled_agents: int = 0
    traffic_erlangs: float = 0.0
    bandwidth_kbps: float = 0.0
    storage_bytes: int = 0
    retention_days: int = 0

    @classmethod
    def of_seats(cls, seats: int, channels: int, hosted_seats: int = 0, mbps: Decimal = Decimal(0),
                 cloud_seats: int = 0) -> CostBasis:
        """A center given by its figures alone (e.g. the articles' 100 seats on 150 channels)."""
        def share(n: int, left: int) -> tuple[int, Decimal]:
            ch = min(left, math.ceil(Fraction(channels * n, seats))) if seats else 0
            return ch, mbps * ch / channels if channels else Decimal(0)

        hosted_channels, hosted_mbps = share(hosted_seats, channels)
        cloud_channels, cloud_mbps = share(cloud_seats, channels - hosted_channels)
        return cls(
            whole=Part(seats, channels, mbps),
            hybrid_self_built=Part(seats - hosted_seats - cloud_seats, channels - hosted_channels - cloud_channels,
                                   mbps - hosted_mbps - cloud_mbps),
            hybrid_hosted=Part(hosted_seats, hosted_channels, hosted_mbps),
            hybrid_cloud=Part(cloud_seats, cloud_channels, cloud_mbps),
        )


def hybrid_part(plan: Plan, pool) -> str:
    """The hybrid rule: a rented pool is hosted; a pool at an AWS site is cloud (trunkline's stack on
    rented resources, priced by trunkline.cloud.bill); one at another provider's burst site is hosted
    (its resources cannot be priced, so it is taken as rented); every other pool is self-built."""
    site = plan.site(pool.site)
    if pool.hosted:
        return "hosted"
    if site.kind == "cloud" and site.provider == "aws":
        return "cloud"
    return "hosted" if site.kind == "cloud" and site.role == "burst" else "self-built"


def cost_basis(plan: Plan) -> CostBasis:
    s = plan.sizing
    seats = sum(p.agents for p in plan.seats)
    parts = {name: [p for p in plan.seats if hybrid_part(plan, p) == name] for name in ("self-built", "hosted", "cloud")}
    base = CostBasis.of_seats(seats, s.channels, sum(p.agents for p in parts["hosted"]), Decimal(str(s.bandwidth_kbps)) / 1000,
                              sum(p.agents for p in parts["cloud"]))

    def named(part: Part, pools: list) -> Part:
        return Part(part.seats, part.channels, part.mbps, tuple(p.pool for p in pools))

    return CostBasis(
        whole=Part(base.whole.seats, base.whole.channels, base.whole.mbps, tuple(p.pool for p in plan.seats)),
        hybrid_self_built=named(base.hybrid_self_built, parts["self-built"]),
        hybrid_hosted=named(base.hybrid_hosted, parts["hosted"]),
        hybrid_cloud=named(base.hybrid_cloud, parts["cloud"]),
        agents=s.agents, scheduled_agents=s.scheduled_agents, traffic_erlangs=s.traffic_erlangs,
        bandwidth_kbps=s.bandwidth_kbps, storage_bytes=s.storage_bytes, retention_days=s.retention_days,
    )


# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemCost:
    part: str  # self-built or hosted: whose prices
    item: str
    per: str
    quantity: Decimal
    once: Decimal
    monthly: Decimal
    source: str


@dataclass(frozen=True)
class ModelCost:
    model: str
    initial: Decimal
    monthly: Decimal
    items: tuple[ItemCost, ...]

    def total(self, month: int) -> Decimal:
        """Cumulative cost at the end of a month (month 0: the one-off costs alone)."""
        return self.initial + self.monthly * month


@dataclass(frozen=True)
class BreakEven:
    models: tuple[str, str]
    month: int | None  # the month in which the first-cheaper model's total reaches the other's
    crossing: Fraction | None  # exact month (fractional) where the totals are equal
    cheaper_first: str | None
    cheaper_after: str | None

    @property
    def key(self) -> str:
        return "/".join(self.models)

    def summary(self) -> str:
        a, b = self.models
        if self.month is not None:
            return (f"{self.cheaper_first} is cheaper at first; its total reaches {self.cheaper_after}'s in month "
                    f"{self.month}, and {self.cheaper_after} costs less from then on")
        if self.cheaper_first is None:
            return f"{a} and {b} cost the same in every month"
        return f"{self.cheaper_first} costs less than {self.cheaper_after} in every month: they never break even"


@dataclass(frozen=True)
class ExpansionCost:
    seats: int
    placed_as: dict[str, str]  # model -> whose expansion prices
    once: dict[str, Decimal]
    yearly: dict[str, Decimal]


@dataclass(frozen=True)
class CostReport:
    center: str
    customer: str
    source: str
    currency: str
    price_book: str
    price_book_title: str
    months: int
    basis: CostBasis
    models: dict[str, ModelCost]
    break_even: tuple[BreakEven, ...]
    expansion: tuple[ExpansionCost, ...]
    notes: tuple[str, ...] = ()
    plan_warnings: tuple[str, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)  # "self-built.trunks" -> source
    cloud_bill: Any = None  # trunkline.cloud.bill.CloudBill: the hybrid's AWS resources and usage, a month

    def series(self, model: str) -> list[Decimal]:
        """Cumulative cost at the end of months 0..months (month 0: the one-off costs)."""
        m = self.models[model]
        return [m.total(i) for i in range(self.months + 1)]

    def as_dict(self) -> dict:
        b = self.basis
        return {
            "ok": True,
            "center": self.center,
            "customer": self.customer,
            "blueprint": self.source,
            "currency": self.currency,
            "price_book": self.price_book,
            "months": self.months,
            "sizing": {
                "seats": b.whole.seats, "agents": b.agents, "scheduled_agents": b.scheduled_agents,
                "traffic_erlangs": b.traffic_erlangs, "channels": b.whole.channels,
                "bandwidth_kbps": b.bandwidth_kbps, "storage_bytes": b.storage_bytes, "retention_days": b.retention_days,
            },
            "hybrid_split": {
                part: {"seats": p.seats, "channels": p.channels, "mbps": _num(p.mbps), "pools": list(p.pools)}
                for part, p in (("self-built", b.hybrid_self_built), ("hosted", b.hybrid_hosted), ("cloud", b.hybrid_cloud))
            },
            "models": {
                name: {
                    "initial": _num(m.initial), "monthly": _num(m.monthly), f"total_after_{self.months}_months": _num(m.total(self.months)),
                    "items": [{"part": i.part, "item": i.item, "per": i.per, "quantity": _num(i.quantity), "once": _num(i.once),
                               "monthly": _num(i.monthly), "source": i.source} for i in m.items],
                }
                for name, m in self.models.items()
            },
            "series": {name: [_num(v) for v in self.series(name)] for name in self.models},
            "break_even_month": {be.key: be.month for be in self.break_even},
            "break_even": [
                {"models": list(be.models), "month": be.month,
                 "crossing": None if be.crossing is None else round(float(be.crossing), 4),
                 "within_months": be.month is not None and be.month <= self.months,
                 "cheaper_first": be.cheaper_first, "cheaper_after": be.cheaper_after, "summary": be.summary()}
                for be in self.break_even
            ],
            "expansion": [
                {"seats": e.seats, **{m: {"once": _num(e.once[m]), "yearly": _num(e.yearly[m]), "priced_as": e.placed_as[m],
                                         f"over_{self.months}_months": _num(e.once[m] + e.yearly[m] * self.months / 12)}
                                      for m in MODELS}}
                for e in self.expansion
            ],
            "cloud_bill": self.cloud_bill.as_dict(_num) if self.cloud_bill else None,
            "notes": list(self.notes),
            "plan_warnings": list(self.plan_warnings),
        }


def _num(value: Decimal) -> int | float:
    """JSON number: whole amounts stay integers, others keep cents."""
    q = value.quantize(Decimal("0.01"))
    return int(q) if q == q.to_integral_value() else float(q)


def _part_items(prices: ModelPrices, part: Part, whose: str, items: tuple[str, ...] = ITEMS[:-1]) -> list[ItemCost]:
    if part.seats == 0:
        return []  # no seats run this way: no build, no bills
    out = []
    for name in items:
        item = getattr(prices, name)
        qty = part.quantity(item.per)
        out.append(ItemCost(whose, name, item.per, qty, item.once * qty, item.monthly * qty, item.source))
    return out


def _cloud_items(prices: ModelPrices, part: Part, bill) -> list[ItemCost]:
    """The hybrid's cloud part: the self-built per-seat, channel and bandwidth items (licences, trunks,
    maintenance, calls; no platform build: the platform is rented) and the cloud bill's lines."""
    items = _part_items(prices, part, "cloud", tuple(i for i in ITEMS[:-1] if i != "initial_build"))
    if bill is not None and not isinstance(bill, str):
        items += [ItemCost("cloud", f"{bill.provider}: {x.item}", x.unit, x.quantity, Decimal(0), x.monthly, x.source)
                  for x in bill.lines]
    return items


def _model_cost(model: str, items: list[ItemCost]) -> ModelCost:
    return ModelCost(model, sum((i.once for i in items), Decimal(0)), sum((i.monthly for i in items), Decimal(0)), tuple(items))


def break_even(a: ModelCost, b: ModelCost) -> BreakEven:
    """Where the straight lines a(t) = I_a + M_a t and b(t) cross, as the month it happens in."""
    models = (a.model, b.model)
    d_initial, d_monthly = Fraction(a.initial - b.initial), Fraction(b.monthly - a.monthly)
    if d_monthly == 0:
        if d_initial == 0:
            return BreakEven(models, None, None, None, None)
        cheap, dear = (b, a) if d_initial > 0 else (a, b)
        return BreakEven(models, None, None, cheap.model, dear.model)
    t = d_initial / d_monthly
    if t <= 0:  # crossed at or before the start: the lower monthly bill wins every month
        cheap, dear = (a, b) if a.monthly < b.monthly else (b, a)
        return BreakEven(models, None, None, cheap.model, dear.model)
    first, after = (b, a) if a.initial > b.initial else (a, b)
    return BreakEven(models, math.ceil(t), t, first.model, after.model)


def cost_of_ownership(basis: CostBasis, book: PriceBook, months: int = DEFAULT_MONTHS, bill=None) -> CostReport:
    """The three models priced from a basis; see the module docstring for the rules."""
    return _report(basis, book, months, center="", customer="", source="", bill=bill)


def _report(basis: CostBasis, book: PriceBook, months: int, *, center: str, customer: str, source: str,
            warnings: tuple[str, ...] = (), bill=None) -> CostReport:
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
        raise UsageError(f"--months {months}: give a whole number of months from 1 to {MAX_MONTHS}")
    sb, ho = book.models.self_built, book.models.hosted
    models = {
        "self-built": _model_cost("self-built", _part_items(sb, basis.whole, "self-built")),
        "hosted": _model_cost("hosted", _part_items(ho, basis.whole, "hosted")),
        "hybrid": _model_cost("hybrid", _part_items(sb, basis.hybrid_self_built, "self-built")
                              + _part_items(ho, basis.hybrid_hosted, "hosted") + _cloud_items(sb, basis.hybrid_cloud, bill)),
    }
    # a hybrid grows in the cloud: at its AWS sites (licences bought, resources rented) or as rented seats
    grows = "self-built" if basis.hybrid_cloud.seats else "hosted"
    expansion = tuple(
        ExpansionCost(
            seats=n,
            placed_as={"self-built": "self-built", "hosted": "hosted", "hybrid": grows},
            once={"self-built": sb.expansion.once * n, "hosted": ho.expansion.once * n,
                  "hybrid": book.models.of(grows).expansion.once * n},
            yearly={"self-built": sb.expansion.yearly * n, "hosted": ho.expansion.yearly * n,
                    "hybrid": book.models.of(grows).expansion.yearly * n},
        )
        for n in EXPANSION_SEATS
    )
    b = basis
    notes = []
    if b.whole.seats and not b.hybrid_hosted.seats and not b.hybrid_cloud.seats and bill is None:
        notes.append("no seat pool is hosted and no site is a cloud burst or AWS site, so the hybrid is the self-built center; "
                     "set hosted: true on a pool or add a cloud site to price a hybrid")
    if b.whole.seats and b.whole.seats == b.hybrid_hosted.seats:
        notes.append("every seat is hosted or at a cloud burst site, so the hybrid is the hosted center")
    if b.hybrid_cloud.seats or bill is not None:
        notes.append("the hybrid's cloud part is its AWS sites: the self-built per-seat, channel and bandwidth items "
                     "(no platform build: it is rented) and the AWS bill's lines, every month")
    if isinstance(bill, str):
        notes.append(f"the AWS sites' resources are not priced: {bill}")
    elif bill is not None:
        notes += [f"AWS bill: {n}" for n in bill.notes]
    if grows == "self-built":
        notes.append("a hybrid grows at its AWS sites: its added seats are priced at the self-built expansion price "
                     "(licences); the resources they add (a media node per calls_per_node calls) are not")
    else:
        notes.append("a hybrid grows in the cloud: its added seats are priced as rented (hosted) seats")
    sources = {f"{m}.{name}": getattr(book.models.of(m), name).source for m in ("self-built", "hosted") for name in ITEMS}
    return CostReport(
        center=center, customer=customer, source=source, currency=book.currency, price_book=book.path,
        price_book_title=book.title, months=months, basis=basis, models=models,
        break_even=tuple(break_even(models[a], models[b]) for a, b in PAIRS),
        expansion=expansion, notes=tuple(notes), plan_warnings=warnings, sources=sources,
        cloud_bill=None if isinstance(bill, str) else bill,
    )


def cost_report(plan: Plan, book: PriceBook | None = None, months: int = DEFAULT_MONTHS, bill=None) -> CostReport:
    """The cost of a planned center under each model, with the sizing it rests on; `bill` is the
    center's cloud bill (trunkline.cloud.bill.bill_for), or the reason it could not be priced."""
    book = book or load_price_book()
    return _report(cost_basis(plan), book, months, center=plan.center, customer=plan.customer, source=plan.source,
                   warnings=tuple(plan.warnings), bill=bill)
