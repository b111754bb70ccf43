"""Both engines place the same bytes: Ansible finds nothing to change on hosts pyinfra applied."""

from __future__ import annotations

import json

import pytest

from onprem_support import HOSTS, apply_cli, fresh_roots

pytestmark = pytest.mark.chroot


def test_ansible_changes_nothing_on_hosts_pyinfra_applied(pristine, workdir, secrets_env):
    roots = fresh_roots(pristine, workdir / "roots-both")
    assert apply_cli(workdir, roots, "pyinfra").exit_code == 0
    result = apply_cli(workdir, roots, "ansible", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["changed"] == 0, {h["host"]: h["changes"] for h in report["hosts"] if h["changes"]}
    assert {h["host"] for h in report["hosts"]} == set(HOSTS)
