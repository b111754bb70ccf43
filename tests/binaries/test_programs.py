"""The real programs accept every rendered file of every example, and reject broken ones.

kamailio and keepalived come from Debian (make test installs them); these tests fail, not
skip, when they are missing, because a skipped check would pass a config nobody checked.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from trunkline.center import load as load_center
from trunkline.render import render_site
from trunkline.render.check import check_file, check_tree

from shared import EXAMPLES, ROOT, example_ids


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    out = {}
    for path in EXAMPLES:
        tree = tmp_path_factory.mktemp(path.stem) / "out"
        render_site(load_center(path).plan, tree, check=False)
        out[path.stem] = tree
    return out


def test_kamailio_and_keepalived_are_installed():
    assert shutil.which("kamailio") or Path("/usr/sbin/kamailio").exists()
    assert shutil.which("keepalived") or Path("/usr/sbin/keepalived").exists()


@pytest.mark.parametrize("name", example_ids())
def test_every_rendered_file_of_the_example_is_accepted(trees, name):
    results = check_tree(trees[name])
    assert results, "nothing was checked"
    bad = [f"{r.host}{r.path}: {r.checker}: {r.status} {r.detail}" for r in results if r.status != "passed"]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", example_ids())
def test_every_kamailio_cfg_went_through_kamailio_c(trees, name):
    results = [r for r in check_tree(trees[name]) if r.path.endswith("kamailio.cfg")]
    plan = load_center(ROOT / "blueprints" / f"{name}.yaml").plan
    assert {r.host for r in results} == {h.name for h in plan.hosts if h.role == "sip-proxy"}
    assert {r.checker for r in results} == {"kamailio -c"}


def _break(tree, host, rel, old, new):
    path = tree / host / rel
    path.write_text(path.read_text().replace(old, new, 1))
    return path


def test_kamailio_rejects_a_cfg_with_an_unknown_function(trees, tmp_path):
    tree = tmp_path / "t"
    shutil.copytree(trees["acme-bank"], tree)
    _break(tree, "sh-dc1-sip1", "etc/kamailio/kamailio.cfg", "route(REQINIT);", "route(REQINIT);\n\tno_such_function();")
    checker, status, detail = check_file(tree / "sh-dc1-sip1", "/etc/kamailio/kamailio.cfg")
    assert (checker, status) == ("kamailio -c", "failed")
    assert "no_such_function" in detail or "error" in detail.lower()


def test_keepalived_rejects_a_bad_advert_interval(trees, tmp_path):
    tree = tmp_path / "t"
    shutil.copytree(trees["acme-bank"], tree)
    _break(tree, "sh-dc1-sip1", "etc/keepalived/keepalived.conf", "advert_int 0.1", "advert_int fast")
    checker, status, _ = check_file(tree / "sh-dc1-sip1", "/etc/keepalived/keepalived.conf")
    assert (checker, status) == ("keepalived -t", "failed")


def test_dispatcher_list_with_a_garbled_line_is_rejected(trees, tmp_path):
    tree = tmp_path / "t"
    shutil.copytree(trees["acme-bank"], tree)
    (tree / "sh-dc1-sip1/etc/kamailio/dispatcher.list").write_text("1 not-a-uri\n")
    _, status, detail = check_file(tree / "sh-dc1-sip1", "/etc/kamailio/dispatcher.list")
    assert status == "failed" and "line 1" in detail


def test_broken_xml_is_rejected(trees, tmp_path):
    tree = tmp_path / "t"
    shutil.copytree(trees["acme-bank"], tree)
    (tree / "sh-dc1-media1/etc/freeswitch/vars.xml").write_text("<include><X-PRE-PROCESS></include>")
    _, status, _ = check_file(tree / "sh-dc1-media1", "/etc/freeswitch/vars.xml")
    assert status == "failed"
