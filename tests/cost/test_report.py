"""The pictures and the page: plot by suffix with the break-even marked, diagram of every host, VIP and
trunk, an HTML report that is self-contained and written only when all of it succeeded."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from trunkline.cli import app
from trunkline.cost import CostBasis, cost_of_ownership, load_price_book
from trunkline.center import load as load_center
from trunkline.report import cost_plot, topology_dot

from shared import BASE, EXAMPLES, example_ids

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def svg_texts(svg: str) -> set[str]:
    """The text lines an SVG shows (Graphviz writes '-' as &#45;, so compare parsed text)."""
    return {el.text for el in ET.fromstring(svg.encode()).iter() if el.tag.endswith("}text") and el.text}


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    out = {}
    for path in EXAMPLES:
        folder = tmp_path_factory.mktemp(path.stem) / "report"
        result = run("report", path, "-o", folder)
        assert result.exit_code == 0, result.output
        out[path.stem] = folder
    return out


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG\r\n\x1a\n"), (".svg", b"<?xml")])
def test_plot_format_follows_the_suffix(tmp_path, suffix, magic):
    plot = tmp_path / f"cost{suffix}"
    result = run("cost", EXAMPLES[0], "--plot", plot)
    assert result.exit_code == 0, result.output
    assert plot.read_bytes().startswith(magic)


def test_plot_with_another_suffix_exits_2_and_writes_nothing(tmp_path):
    result = run("cost", EXAMPLES[0], "--plot", tmp_path / "cost.pdf")
    assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_plot_of_the_articles_case_marks_the_break_even_in_month_14():
    rep = cost_of_ownership(CostBasis.of_seats(100, 150), load_price_book())
    svg = cost_plot(rep, "svg").decode()
    assert "break-even in month 14: hosted total reaches self-built" in svg


def test_plot_names_a_break_even_beyond_the_months_shown():
    rep = cost_of_ownership(CostBasis.of_seats(100, 150), load_price_book(), months=12)
    assert "after the months shown: hosted total reaches self-built and hybrid in month 14" in cost_plot(rep, "svg").decode()


def test_plot_svg_is_the_same_bytes_twice():
    rep = cost_of_ownership(CostBasis.of_seats(100, 150), load_price_book())
    assert cost_plot(rep, "svg") == cost_plot(rep, "svg")


@pytest.mark.parametrize("path", EXAMPLES, ids=example_ids())
def test_diagram_shows_every_host_every_vip_and_every_trunk(path, tmp_path):
    plan = load_center(path).plan
    out = tmp_path / "topology.svg"
    result = run("diagram", path, "-o", out)
    assert result.exit_code == 0, result.output
    shown = svg_texts(out.read_text())
    for name in [h.name for h in plan.hosts] + [f"VIP {s.vip}" for s in plan.sites] + [t.name for t in plan.trunks]:
        assert name in shown, name


def test_diagram_draws_the_vip_held_by_both_proxies_of_a_pair():
    plan = load_center(EXAMPLES[0]).plan
    dot = topology_dot(plan)
    site = plan.sites[0]
    for proxy in site.proxies:
        assert re.search(rf'"vip:{site.name}" -> "{proxy}"', dot), proxy


def test_diagram_without_output_writes_svg_to_stdout():
    result = run("diagram", BASE)
    assert result.exit_code == 0
    assert "fra1-sip1" in svg_texts(result.stdout)


def test_diagram_json_without_output_exits_2():
    result = run("diagram", BASE, "--json")
    assert result.exit_code == 2 and json.loads(result.stdout)["ok"] is False


@pytest.mark.parametrize("name", example_ids())
def test_report_writes_the_page_with_the_plot_and_diagram_beside_it(reports, name):
    assert sorted(p.name for p in reports[name].iterdir()) == ["cost.svg", "index.html", "topology.svg"]


@pytest.mark.parametrize("name", example_ids())
def test_report_page_holds_both_pictures_inline(reports, name):
    page = (reports[name] / "index.html").read_text()
    for figure in ("cost-plot", "topology-diagram"):
        inside = page.split(f'<figure id="{figure}">', 1)[1].split("</figure>", 1)[0]
        assert "<svg" in inside and "</svg>" in inside, figure


@pytest.mark.parametrize("name", example_ids())
def test_report_loads_nothing_from_the_network(reports, name):
    page = (reports[name] / "index.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page and "@import" not in page


def test_report_lists_every_host_of_the_plan(reports):
    plan = load_center(next(p for p in EXAMPLES if p.stem == "acme-bank")).plan
    page = (reports["acme-bank"] / "index.html").read_text()
    hosts = page.split('<table id="hosts">', 1)[1].split("</table>", 1)[0]
    assert all(f"<td>{h.name}</td>" in hosts for h in plan.hosts)


def test_report_of_an_invalid_blueprint_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.read_text().replace("role: primary", "role: boss"))
    result = run("report", bad, "-o", tmp_path / "report")
    assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == [bad]


def test_report_json_gives_the_files_and_break_even_months(tmp_path):
    result = run("report", EXAMPLES[0], "-o", tmp_path / "r", "--json")
    body = json.loads(result.stdout)
    assert result.exit_code == 0 and body["ok"]
    assert body["html"] == str(tmp_path / "r" / "index.html") and "self-built/hosted" in body["break_even_month"]


def test_report_is_the_same_bytes_twice(tmp_path):
    pages = []
    for run_dir in ("a", "b"):
        assert run("report", EXAMPLES[0], "-o", tmp_path / run_dir).exit_code == 0
        pages.append((tmp_path / run_dir / "index.html").read_bytes())
    assert pages[0] == pages[1]
