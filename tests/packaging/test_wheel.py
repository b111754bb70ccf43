"""trunkline as an installed package: the wheel carries everything read at run time.

The wheel is built from this checkout, installed (without its dependencies) into a fresh virtual
environment in a temporary folder, and run from a folder outside the checkout. The dependencies
come from the project's own environment through a .pth line, which adds that folder to sys.path
without running its .pth files, so the editable install of the checkout stays out of the way: every
`trunkline` module and data file must come from the wheel, which the first test proves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from shared import ROOT

EXAMPLE = ROOT / "blueprints" / "acme-bank.yaml"


def _run(argv: list, cwd: Path, timeout: int = 600, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRUNKLINE_")}  # no path pointed back at the checkout
    return subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**clean, "CARRIER_A_PASSWORD": "x", "CARRIER_B_PASSWORD": "x", **env})


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # a copy of the checkout, so the build's own build/ and *.egg-info never land in the working tree
    src = out / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "inventories", ".trunkline",
                                                             "__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis"))
    built = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, src], cwd=out)
    assert built.returncode == 0, built.stdout + built.stderr
    return next(out.glob("trunkline-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> tuple[Path, Path]:
    """(the fresh environment's trunkline executable, a work folder outside the checkout)"""
    home = tmp_path_factory.mktemp("fresh")
    env = home / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    site = Path(subprocess.check_output([env / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    (site / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    got = _run([sys.executable, "-m", "pip", "--python", env / "bin" / "python", "install", "-q", "--no-deps", wheel], cwd=home)
    assert got.returncode == 0, got.stdout + got.stderr
    work = home / "work"
    work.mkdir()
    shutil.copy(EXAMPLE, work / EXAMPLE.name)
    return env / "bin" / "trunkline", work


def test_the_wheel_carries_templates_roles_site_playbook_and_collection(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for must in ("trunkline/templates/kamailio/etc/kamailio/kamailio.cfg.j2", "trunkline/ansible/site.yml",
                 "trunkline/ansible/roles/common/tasks/main.yml", "trunkline/ansible/collections/ansible_collections/trunkline/center/galaxy.yml",
                 "trunkline/pricebook.yaml", "trunkline/comply/packs/baseline.yaml", "trunkline/verify/suite_tests.py"):
        assert must in names, must
    assert not any("__pycache__" in n for n in names)


def test_the_installed_trunkline_is_the_wheel_not_the_checkout(installed):
    exe, work = installed
    where = _run([exe.with_name("python"), "-c", "import trunkline, trunkline.paths as p; print(trunkline.__file__); print(p.TEMPLATES)"], cwd=work)
    assert where.returncode == 0, where.stderr
    module, templates = where.stdout.split()
    assert Path(module).is_relative_to(exe.parents[1]) and Path(templates).is_relative_to(exe.parents[1])
    assert not Path(module).is_relative_to(ROOT)


def test_validate_plan_render_inventory_and_comply_run_outside_the_checkout(installed):
    exe, work = installed
    bp = EXAMPLE.name
    for argv in (["validate", bp], ["plan", bp], ["inventory", bp], ["comply", bp]):
        got = _run([exe, *argv], cwd=work)
        assert got.returncode == 0, f"trunkline {' '.join(argv)}: {got.stdout}{got.stderr}"
    # render with the real checks (kamailio -c, keepalived -t, XML parsers) from the installed templates
    got = _run([exe, "render", bp, "--json"], cwd=work)
    assert got.returncode == 0, got.stdout + got.stderr
    assert '"checked": true' in got.stdout
    assert (work / "build" / "acme-bank" / "sh-dc1-sip1" / "etc" / "kamailio" / "kamailio.cfg").is_file()
    assert (work / "inventories" / "acme-bank" / "hosts.yml").is_file()
