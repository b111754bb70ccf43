"""--dry-run reports what an apply would change and changes nothing."""

from __future__ import annotations

import json

import pytest

from onprem_support import fresh_roots, apply_cli, in_root

pytestmark = pytest.mark.chroot


@pytest.mark.parametrize("engine", ["pyinfra", "ansible"])
def test_dry_run_on_a_fresh_server_reports_changes_and_installs_nothing(engine, pristine, workdir, secrets_env):
    roots = fresh_roots(pristine, workdir / f"dry-{engine}", ["sh-dc1-sip1"])
    result = apply_cli(workdir, roots, engine, "--dry-run", "--json", hosts=["sh-dc1-sip1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] and report["hosts"][0]["changed"] > 0
    assert in_root(roots / "sh-dc1-sip1", "dpkg-query", "-W", "kamailio").returncode != 0
    assert not (roots / "sh-dc1-sip1" / "etc/kamailio").exists()
