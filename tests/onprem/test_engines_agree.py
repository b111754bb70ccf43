"""Both engines place the same bytes: Ansible finds nothing to change on hosts pyinfra applied."""

from __future__ import annotations

import json

import pytest

from onprem_support import HOSTS, apply_cli

pytestmark = pytest.mark.chroot


def test_ansible_changes_nothing_on_hosts_pyinfra_applied(pyinfra_applied, workdir):
    """On the roots the session's pyinfra apply made (tests that tamper with them put them back)."""
    result = apply_cli(workdir, pyinfra_applied.roots, "ansible", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["changed"] == 0, {h["host"]: h["changes"] for h in report["hosts"] if h["changes"]}
    assert {h["host"] for h in report["hosts"]} == set(HOSTS)
