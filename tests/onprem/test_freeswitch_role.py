"""The FreeSWITCH role installs trunkline's build with the same runtime packages as
scripts/freeswitch/install.sh, and both engines start it with the same unit."""

from __future__ import annotations

from pathlib import Path

import pytest

from trunkline.deploys import role_defaults
from trunkline.deploys.freeswitch import UNIT, install_build
from trunkline.errors import UsageError

ROOT = Path(__file__).parents[2]


def test_the_role_installs_the_runtime_packages_install_sh_does():
    listed = [line.strip() for line in (ROOT / "scripts/freeswitch/runtime-packages.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert role_defaults("freeswitch")["freeswitch_runtime_packages"] == [*listed, "xz-utils"]


def test_the_unit_runs_the_build_as_freeswitch_on_the_rendered_configuration():
    text = UNIT.read_text()
    start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert start.startswith("ExecStart=/opt/trunkline/freeswitch/bin/freeswitch-reloc -nonat -nf -nc -conf /etc/freeswitch ")
    assert "\nUser=freeswitch\n" in text and "\nStateDirectory=freeswitch\n" in text


class _Job:
    def __init__(self, **v):
        self.vars = role_defaults("freeswitch") | v


def test_the_trunkline_source_without_a_build_is_refused():
    with pytest.raises(UsageError, match="freeswitch_tarball"):
        install_build(_Job(freeswitch_package_source="trunkline", freeswitch_tarball=""))
