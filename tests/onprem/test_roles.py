"""The Ansible roles and site.yml: Galaxy layout, conventions, syntax check and ansible-lint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from onprem_support import ROOT
from trunkline.paths import ANSIBLE

ROLES = sorted(p.name for p in (ANSIBLE / "roles").iterdir() if p.is_dir())
BIN = Path(sys.executable).parent


def tool(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "ANSIBLE_ROLES_PATH": str(ANSIBLE / "roles")}
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_the_roles_are_the_seven_of_an_onprem_center():
    assert ROLES == ["common", "freeswitch", "kamailio", "keepalived", "recording_storage", "rtpengine", "tls"]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_has_the_galaxy_layout(role):
    assert all((ANSIBLE / "roles" / role / d / "main.yml").exists() for d in ("defaults", "tasks", "handlers", "meta", "vars"))


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_commented(role):
    lines = (ANSIBLE / "roles" / role / "defaults" / "main.yml").read_text().splitlines()
    bare = [line for i, line in enumerate(lines) if line and line[0].isalpha() and not lines[i - 1].startswith("#")]
    assert bare == []


@pytest.mark.parametrize("role", ROLES)
def test_every_role_variable_is_prefixed_with_the_role_name(role):
    names = [k for d in ("defaults", "vars") for k in (YAML(typ="safe").load((ANSIBLE / "roles" / role / d / "main.yml").read_text()) or {})]
    assert [n for n in names if not n.startswith(role + "_")] == []


@pytest.mark.parametrize("role", ROLES)
def test_roles_place_the_rendered_bytes_and_template_nothing(role):
    tasks = (ANSIBLE / "roles" / role / "tasks" / "main.yml").read_text()
    assert "ansible.builtin.template" not in tasks and not (ANSIBLE / "roles" / role / "templates").exists()


@pytest.mark.parametrize("role,check", [("kamailio", "kamailio -c"), ("keepalived", "keepalived -t"), ("common", "nft -c")])
def test_the_check_runs_before_the_reload_it_guards(role, check):
    handlers = YAML(typ="safe").load((ANSIBLE / "roles" / role / "handlers" / "main.yml").read_text())

    def topics(h) -> set[str]:
        return set(h["listen"]) if isinstance(h["listen"], list) else {h["listen"]}

    i = next(n for n, h in enumerate(handlers) if str(h.get("ansible.builtin.command", "")).startswith(check))
    guarded = [n for n, h in enumerate(handlers) if n != i and topics(h) & topics(handlers[i])]
    assert guarded and all(n > i for n in guarded)


def test_site_playbook_passes_the_syntax_check():
    result = tool("ansible-playbook", "--syntax-check", "-i", "inventories/acme-bank/hosts.yml", str(ANSIBLE / "site.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_roles_and_site_playbook_pass_ansible_lint():
    result = tool("ansible-lint", "site.yml", "roles/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr
