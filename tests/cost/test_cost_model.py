"""The cost model: the articles' 100-seat case comes out exactly; break-even, hybrid and expansion rules.

Figures from ../shared/seeds/001_30e50b172465a35c.txt, section 四 成本比较 (DESIGN.md, "Figures from
the source articles"), in 万元 = 10,000 CNY.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from trunkline.blueprint.load import validate_data
from trunkline.cli import app
from trunkline.cost import (EXPANSION_SEATS, CostBasis, ModelCost, break_even, cost_basis, cost_of_ownership, cost_report,
                            load_price_book)
from trunkline.plan.topology import build_plan
from trunkline.center import load as load_center

from shared import EXAMPLES, example_ids

WAN = 10_000  # the articles count in 万 (10,000 CNY)
runner = CliRunner()


@pytest.fixture(scope="module")
def articles():
    """The articles' center: 100 seats on 5 E1 trunks of 30 channels (3,000 CNY a trunk, §四 1.(2.))."""
    return cost_of_ownership(CostBasis.of_seats(seats=100, channels=5 * 30), load_price_book())


def _plan(data):
    return build_plan(validate_data(data))


def test_articles_self_built_costs_150_once_and_5_a_month(articles):
    # §四 1.: 建设初期费用 150万; 中继 1.5 + 维护 1.5 + 外呼 2 = 5万 a month
    m = articles.models["self-built"]
    assert (m.initial, m.monthly) == (150 * WAN, 5 * WAN)


def test_articles_hosted_costs_10_once_and_15_a_month(articles):
    # §四 2.: 集成费 10万; 座席 10 + 中继 1.5 + 外呼 2 + 网络 1.5 = 15万 a month
    m = articles.models["hosted"]
    assert (m.initial, m.monthly) == (10 * WAN, 15 * WAN)


def test_articles_hosted_total_passes_self_built_in_month_14(articles):
    # §四: 150 + 5N vs 10 + 15N: "即在第14个月份,运营费用将超过自建费用"
    assert articles.as_dict()["break_even_month"]["self-built/hosted"] == 14
    assert articles.series("hosted")[14] == articles.series("self-built")[14] == 220 * WAN
    assert articles.series("hosted")[13] < articles.series("self-built")[13]


@pytest.mark.parametrize("seats, self_built_once, hosted_per_year",
                         [(1, 0.5, 1.4), (50, 25, 70), (100, 50, 140), (200, 100, 280), (500, 250, 700)])
def test_articles_expansion_table_comes_out_exactly(articles, seats, self_built_once, hosted_per_year):
    # §四 3. 扩容费用: 自建 0.5/25/50/100/250 once, 托管 1.4/70/140/280/700 a year (万)
    row = next(e for e in articles.expansion if e.seats == seats)
    assert row.once["self-built"] == Decimal(str(self_built_once)) * WAN and row.yearly["self-built"] == 0
    assert row.yearly["hosted"] == Decimal(str(hosted_per_year)) * WAN and row.once["hosted"] == 0


def test_expansion_covers_1_50_100_200_500_seats(articles):
    assert [e.seats for e in articles.expansion] == list(EXPANSION_SEATS) == [1, 50, 100, 200, 500]


def test_a_100_seat_blueprint_on_150_channels_reproduces_the_articles_through_the_cli(base_data, tmp_path):
    base_data["spec"]["seats"] = [{"pool": "agents", "count": 100, "skills": ["orders"], "site": "fra1"}]
    base_data["spec"]["trunks"][0]["channels"] = 150
    path = tmp_path / "hundred.yaml"
    YAML().dump(base_data, path)
    result = runner.invoke(app, ["cost", str(path), "--json"])
    body = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert body["break_even_month"]["self-built/hosted"] == 14
    assert [(body["models"][m]["initial"], body["models"][m]["monthly"]) for m in ("self-built", "hosted")] == \
        [(150 * WAN, 5 * WAN), (10 * WAN, 15 * WAN)]


@pytest.mark.parametrize("path", EXAMPLES, ids=example_ids())
def test_break_even_month_is_the_first_month_the_cheaper_start_is_caught_up(path):
    rep = cost_report(load_center(path).plan, months=120)
    for be in rep.break_even:
        if be.month is None:
            continue
        first, after = rep.series(be.cheaper_first), rep.series(be.cheaper_after)
        assert first[be.month - 1] < after[be.month - 1], be.key
        assert first[be.month] >= after[be.month], be.key


@pytest.mark.parametrize("path", EXAMPLES, ids=example_ids())
def test_json_has_break_even_month_and_one_series_per_model_from_month_0(path):
    body = cost_report(load_center(path).plan, months=24).as_dict()
    assert set(body["break_even_month"]) == {"self-built/hosted", "self-built/hybrid", "hosted/hybrid"}
    assert set(body["series"]) == {"self-built", "hosted", "hybrid"}
    for model, series in body["series"].items():
        assert len(series) == 25
        assert series[0] == body["models"][model]["initial"]


def test_more_seats_share_the_self_built_platform_and_break_even_sooner():
    book = load_price_book()
    months = [cost_of_ownership(CostBasis.of_seats(n, n), book).break_even[0].month for n in (50, 100, 400)]
    assert months[0] > months[1] > months[2]


def test_curves_that_never_cross_have_no_break_even_month():
    cheap, dear = ModelCost("cheap", Decimal(10), Decimal(5), ()), ModelCost("dear", Decimal(11), Decimal(6), ())
    be = break_even(dear, cheap)
    assert (be.month, be.cheaper_first, be.cheaper_after) == (None, "cheap", "dear")


@pytest.mark.parametrize("provider, hosted, cloud", [("aliyun", ("rented", "peak"), ()), ("aws", ("rented",), ("peak",))])
def test_hybrid_prices_hosted_pools_and_burst_seats_by_who_runs_them(base_data, provider, hosted, cloud):
    """A burst site trunkline's AWS stack deploys is its own software on rented resources (the cloud
    part); a burst site elsewhere cannot be priced by resource, so its seats are taken as rented."""
    spec = base_data["spec"]
    spec["sites"].append({"name": "burst", "kind": "cloud", "provider": provider, "role": "burst", "network": {"cidr": "10.2.0.0/24"}})
    spec["seats"] = [
        {"pool": "core", "count": 40, "skills": ["orders"], "site": "fra1"},
        {"pool": "rented", "count": 10, "skills": ["orders"], "site": "fra1", "hosted": True},
        {"pool": "peak", "count": 30, "skills": ["orders"], "site": "burst"},
    ]
    basis = cost_basis(_plan(base_data))
    assert (basis.hybrid_self_built.pools, basis.hybrid_hosted.pools, basis.hybrid_cloud.pools) == (("core",), hosted, cloud)
    assert basis.hybrid_self_built.seats + basis.hybrid_hosted.seats + basis.hybrid_cloud.seats == 80


def test_hybrid_channels_of_three_parts_follow_the_seats_and_add_up():
    basis = CostBasis.of_seats(seats=464, channels=374, hosted_seats=300, cloud_seats=100)
    assert (basis.hybrid_hosted.channels, basis.hybrid_cloud.channels) == (242, 81)  # ceil(374 * 300 / 464), ceil(374 * 100 / 464)
    assert basis.hybrid_self_built.channels + basis.hybrid_hosted.channels + basis.hybrid_cloud.channels == 374


def test_hybrid_channels_follow_the_seats_and_add_up():
    basis = CostBasis.of_seats(seats=464, channels=374, hosted_seats=300)
    assert basis.hybrid_hosted.channels == 242  # ceil(374 * 300 / 464)
    assert basis.hybrid_self_built.channels + basis.hybrid_hosted.channels == 374


def test_hybrid_without_hosted_or_burst_seats_costs_what_self_built_costs(base_data):
    rep = cost_report(_plan(base_data))
    assert (rep.models["hybrid"].initial, rep.models["hybrid"].monthly) == (rep.models["self-built"].initial, rep.models["self-built"].monthly)
    assert rep.as_dict()["break_even_month"]["self-built/hybrid"] is None


def test_hybrid_grows_at_the_hosted_expansion_price(articles):
    assert all(e.placed_as["hybrid"] == "hosted" and e.yearly["hybrid"] == e.yearly["hosted"] for e in articles.expansion)


def test_the_hybrid_of_the_ecommerce_example_breaks_even_with_both_others():
    rep = cost_report(load_center(next(p for p in EXAMPLES if p.stem == "ecommerce-hybrid")).plan)
    assert all(m is not None for m in rep.as_dict()["break_even_month"].values())


@pytest.mark.parametrize("months", ["0", "601", "-3"])
def test_months_outside_1_to_600_exit_2(months):
    result = runner.invoke(app, ["cost", str(EXAMPLES[0]), "--months", months, "--json"])
    assert result.exit_code == 2
    assert "--months" in json.loads(result.stdout)["message"]


def test_cost_json_is_the_same_bytes_twice():
    runs = {runner.invoke(app, ["cost", str(EXAMPLES[0]), "--json"]).stdout for _ in range(2)}
    assert len(runs) == 1
