"""The role catalogue (trunkline/roles.py) is the one place a role is described: site.yml, roles/, the
pyinfra deploys and templates/ must agree with it, nothing more and nothing less."""

from __future__ import annotations

import importlib.util

import pytest
from ruamel.yaml import YAML

from trunkline.paths import ROLES, SITE_PLAYBOOK, TEMPLATES
from trunkline.roles import CATALOGUE, OUTPUTS

# templates that are not a host's file: the HTML report and `trunkline init`'s starter blueprint
NOT_HOST_FILES = ("report", "starter")


def group_of(role: str) -> str:
    return "all" if role == "common" else role.replace("-", "_")


@pytest.fixture(scope="module")
def plays() -> dict[str, list[str]]:
    """site.yml: the hosts of each play -> its roles, in order."""
    out: dict[str, list[str]] = {}
    for play in YAML(typ="safe").load(SITE_PLAYBOOK.read_text()):
        assert play["hosts"] not in out, f"two plays for {play['hosts']}"
        out[play["hosts"]] = [r["role"] if isinstance(r, dict) else r for r in play["roles"]]
    return out


def test_site_yml_has_one_play_per_catalogue_role_with_its_ansible_roles_in_order(plays):
    assert plays == {group_of(name): list(role.deploys) for name, role in CATALOGUE.items()}


def test_the_common_play_comes_first(plays):
    assert next(iter(plays)) == "all"


def test_every_catalogue_ansible_role_has_its_folder_and_nothing_else_is_in_roles():
    folders = {p.name for p in ROLES.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert folders == {d for role in CATALOGUE.values() for d in role.deploys}
    for name in folders:
        assert (ROLES / name / "tasks" / "main.yml").is_file() and (ROLES / name / "defaults" / "main.yml").is_file(), name


def test_every_ansible_role_has_its_pyinfra_deploy():
    for name in {d for role in CATALOGUE.values() for d in role.deploys}:
        assert importlib.util.find_spec(f"trunkline.deploys.{name}") is not None, f"no trunkline/deploys/{name}.py"


def test_every_template_is_in_the_catalogue_and_every_output_has_its_template():
    outputs = {o.template for role in CATALOGUE.values() for o in role.outputs}
    templates = {p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.j2")}
    host_templates = {t for t in templates if t.split("/", 1)[0] not in NOT_HOST_FILES}
    assert host_templates == outputs


def test_every_output_is_placed_by_one_of_its_roles_ansible_roles():
    """A template's folder must be in a <role>_template_dirs of the Ansible roles that run on the host."""
    dirs = {}
    for name in {d for role in CATALOGUE.values() for d in role.deploys}:
        defaults = YAML(typ="safe").load((ROLES / name / "defaults" / "main.yml").read_text()) or {}
        dirs[name] = set(defaults.get(f"{name}_template_dirs", []))
    for name, outputs in OUTPUTS.items():
        placing = set().union(*(dirs[d] for d in ("common", *CATALOGUE[name].deploys)))
        for o in (*outputs, *CATALOGUE["common"].outputs):
            assert o.template.split("/", 1)[0] in placing, f"{name}: no Ansible role of it places {o.template}"


def test_the_catalogue_names_programs_and_ports_for_every_plan_role():
    for name in OUTPUTS:
        role = CATALOGUE[name]
        assert role.ports, name
        assert len(role.lab) == len(role.lab_processes) and len(role.server_processes) == len(role.lab_processes), name
