"""The price book: the default one cites its sources; a bad one is refused with file, line, field and fix."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from trunkline.cli import app
from trunkline.cost import ITEMS, PRICE_BOOK, CostBasis, PriceBookError, cost_of_ownership, load_price_book

from shared import EXAMPLES, ROOT

# The cited sections of the source articles, kept in the repository (a user's clone has no seeds folder).
SOURCES = ROOT / "docs" / "sources"
CJK = re.compile(r"[\u3400-\u9fff]+")
runner = CliRunner()


def _book(tmp_path, old: str, new: str):
    text = PRICE_BOOK.read_text()
    assert old in text, "the edit must change the default book"
    path = tmp_path / "book.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def _problems(path) -> list[str]:
    with pytest.raises(PriceBookError) as info:
        load_price_book(path)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("model", ["self-built", "hosted"])
@pytest.mark.parametrize("item", ITEMS)
def test_every_default_figure_quotes_its_source_article_verbatim(model, item):
    """Every Chinese phrase a citation quotes stands in the cited article's excerpt kept in docs/sources/."""
    source = getattr(load_price_book().models.of(model), item).source
    cited = re.match(r"seeds/(\d{3}) (§\S+)", source)
    assert cited, source
    excerpt = SOURCES / f"seeds-{cited.group(1)}.md"
    assert excerpt.is_file(), f"{source}: no excerpt {excerpt.relative_to(ROOT)}"
    text = excerpt.read_text()
    quoted = CJK.findall(source)
    assert quoted, f"{source}: quotes nothing from the article"
    missing = [q for q in quoted if q not in text]
    assert not missing, f"{source}: {missing} not in {excerpt.relative_to(ROOT)}"


def test_citations_check_out_in_a_clone_without_the_seeds_folder(tmp_path):
    """A user's clone has only the repository: the citation test passes there too."""
    import shutil
    import subprocess
    import sys

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-local", str(ROOT), str(clone)], check=True, timeout=120)
    for path in ("tests/cost/test_price_book.py", "tests/shared.py", "src/trunkline/pricebook.yaml", "docs/sources"):
        # the working tree's version, so the claim holds for what is about to be committed
        src, dst = ROOT / path, clone / path
        if src.is_dir():
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    assert not (clone.parent / "shared").exists()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "verbatim",
                           "tests/cost/test_price_book.py"], cwd=clone, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(clone / "src")})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert " passed" in done.stdout


def test_default_price_book_is_in_cny():
    assert load_price_book().currency == "CNY"


def test_negative_figure_is_refused_with_file_line_field_and_fix(tmp_path):
    path = _book(tmp_path, "monthly: 1000\n", "monthly: -1000\n")
    line = path.read_text().splitlines().index("      monthly: -1000") + 1
    assert _problems(path) == [f"{path}:{line}:7 models.hosted.seat_licence.monthly: -1000 is negative; "
                               "a cost is 0 or more (write 0 if the item costs nothing)"]


def test_missing_figure_is_refused_with_file_line_field_and_fix(tmp_path):
    path = _book(tmp_path, "      once: 100000\n", "")
    (problem,) = _problems(path)
    assert re.fullmatch(rf"{re.escape(str(path))}:\d+:\d+ models\.hosted\.initial_build\.once: is required; add once: AMOUNT .*", problem)


def test_missing_item_names_the_shape_to_add(tmp_path):
    text = PRICE_BOOK.read_text()
    start = text.index("    network:", text.index("  hosted:"))
    end = text.index("    expansion:", start)
    path = tmp_path / "book.yaml"
    path.write_text(text[:start] + text[end:])
    assert [p.split(" ", 1)[1] for p in _problems(path)] == [
        "models.hosted.network: is required; add network: {once: AMOUNT, monthly: AMOUNT, per: seat, source: TEXT}"]


def test_figure_that_is_not_a_number_is_refused(tmp_path):
    path = _book(tmp_path, "once: 5000\n", "once: 5.000,00 CNY\n")
    (problem,) = _problems(path)
    assert "models.self-built.seat_licence.once: '5.000,00 CNY' is not a number; write a plain amount" in problem


def test_unknown_key_suggests_the_close_one(tmp_path):
    path = _book(tmp_path, "    maintenance:\n      once: 0\n      monthly: 150", "    maintenance:\n      once: 0\n      montly: 150")
    assert any(p.endswith("models.self-built.maintenance.montly: unknown key 'montly'; did you mean 'monthly'?") for p in _problems(path))


def test_unknown_unit_lists_the_units(tmp_path):
    path = _book(tmp_path, "per: channel", "per: trunk")
    (problem,) = _problems(path)
    assert "models.self-built.trunks.per: 'trunk' is not one of seat, channel, mbps, center" in problem


def test_cli_exits_2_on_a_bad_price_book_and_writes_no_plot(tmp_path):
    path = _book(tmp_path, "monthly: 150\n", "monthly: -150\n")
    plot = tmp_path / "cost.png"
    result = runner.invoke(app, ["cost", str(EXAMPLES[0]), "--price-book", str(path), "--plot", str(plot), "--json"])
    body = json.loads(result.stdout)
    assert result.exit_code == 2 and body["ok"] is False and body["error"] == "PriceBookError"
    assert body["problems"][0]["path"] == "models.self-built.maintenance.monthly"
    assert body["problems"][0]["file"] == str(path)
    assert not plot.exists()


def test_cli_names_a_missing_price_book_file_and_exits_2(tmp_path):
    result = runner.invoke(app, ["cost", str(EXAMPLES[0]), "--price-book", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "no such price book" in result.output


def test_a_users_price_book_prices_the_network_per_mbit(tmp_path):
    path = _book(tmp_path, "      monthly: 150\n      per: seat\n      source: \"seeds/001 §四 2.(5)",
                 "      monthly: 300\n      per: mbps\n      source: \"seeds/001 §四 2.(5)")
    basis = CostBasis.of_seats(seats=100, channels=150, mbps=Decimal("10.5"))
    hosted = cost_of_ownership(basis, load_price_book(path)).models["hosted"]
    network = next(i for i in hosted.items if i.item == "network")
    assert (network.quantity, network.monthly) == (10.5, 3150)


def test_every_cloud_price_names_the_aws_page_it_comes_from():
    """The cloud section is not the articles': each list price cites AWS's own pricing page; the
    two figures that are not prices (the exchange rate, the logs a call leaves) say what they are."""
    aws = load_price_book().cloud.aws
    for name, value in aws:
        if hasattr(value, "source"):
            expected = "trunkline's estimate" if name == "log_bytes_per_call" else "https://aws.amazon.com/"
            assert expected in value.source, f"cloud.aws.{name}: {value.source!r}"
    assert "set the rate of the day" in aws.rate_source


def test_a_negative_cloud_price_is_refused_with_file_line_field_and_fix(tmp_path):
    path = _book(tmp_path, "      price: 0.045\n      source: \"https://aws.amazon.com/vpc/pricing/ (NAT Gateway): $0.045 per hour\"",
                 "      price: -0.045\n      source: \"https://aws.amazon.com/vpc/pricing/ (NAT Gateway): $0.045 per hour\"")
    (problem,) = _problems(path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "price: -0.045" in text)
    assert f"book.yaml:{line}:" in problem and "cloud.aws.nat_gateway_hour.price" in problem and "negative" in problem
