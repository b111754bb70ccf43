"""`trunkline inventory`: hosts.yml, group_vars, host_vars, the pyinfra inventory, ssh_config; no host files
(the firewall, the time zone and the settings files are rendered: tests/render/test_firewall.py)."""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from onprem_support import BLUEPRINT, ROOT, cli
from trunkline.render.escape import unsafe_yaml
from trunkline.center import load as load_center
from trunkline.targets import inventory as inv

EXAMPLE = ROOT / "inventories" / "acme-bank"


@pytest.fixture(scope="module")
def written() -> Path:
    """What `trunkline inventory blueprints/acme-bank.yaml` writes, run where the example was made
    (beside it: the inventory names the render tree relative to itself)."""
    out = Path(tempfile.mkdtemp(prefix=".test-acme-bank-", dir=ROOT / "inventories"))
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(ROOT)
            result = cli("inventory", BLUEPRINT.relative_to(ROOT), "-o", out.relative_to(ROOT))
        assert result.exit_code == 0, result.output
        yield out
    finally:
        shutil.rmtree(out, ignore_errors=True)


def load(path: Path) -> dict:
    """As Ansible reads it: !unsafe values (every string from the blueprint) come back as plain data."""
    return unsafe_yaml("safe").load(path.read_text())


def test_hosts_are_grouped_by_role_and_by_site(written):
    children = load(written / "hosts.yml")["all"]["children"]
    assert sorted(children) == ["media", "rtpengine", "sip_proxy", "site_bj_dc2", "site_sh_dc1"]
    assert sorted(children["sip_proxy"]["hosts"]) == ["bj-dc2-sip1", "bj-dc2-sip2", "sh-dc1-sip1", "sh-dc1-sip2"]
    assert children["sip_proxy"]["hosts"]["sh-dc1-sip1"] == {"ansible_host": "10.10.0.10"}


def test_a_sites_ssh_user_port_key_and_bastion_are_its_group_vars(written):
    assert load(written / "group_vars" / "site_sh_dc1.yml") == {
        "ansible_user": "deploy", "ansible_port": 22, "ansible_ssh_private_key_file": "~/.ssh/acme_deploy",
        "ansible_ssh_common_args": "-o ProxyJump=jump.acme.example", "trunkline_bastion": "jump.acme.example"}


def test_verify_gets_each_hosts_address_and_ssh_settings(written):
    targets = inv.read_ssh_targets(written)
    assert targets["bj-dc2-rtp1"].testinfra_spec() == "paramiko://root@10.20.0.12:22"
    behind = targets["sh-dc1-sip1"]
    assert (behind.address, behind.user, behind.key, behind.bastion) == ("10.10.0.10", "deploy", "~/.ssh/acme_deploy", "jump.acme.example")
    assert behind.testinfra_spec() == f"ssh://sh-dc1-sip1?ssh_config={written.absolute() / 'ssh_config'}"


def test_ssh_config_reaches_a_host_through_the_bastion(written):
    text = (written / "ssh_config").read_text()
    assert "Host sh-dc1-sip1\n    HostName 10.10.0.10\n    User deploy\n    Port 22\n    IdentityFile ~/.ssh/acme_deploy\n    ProxyJump jump.acme.example\n" in text


def test_pyinfra_reads_the_same_hosts_and_groups(written):
    out = subprocess.run([str(Path(sys.executable).with_name("pyinfra")), str(written / "inventory.py"), "debug-inventory"],
                         capture_output=True, text=True, timeout=120, cwd=written)
    printed = out.stdout + out.stderr
    assert out.returncode == 0, printed
    assert "[sh-dc1-sip1]" in printed and "--> Groups: sip_proxy, site_sh_dc1" in printed
    assert f'"ssh_config_file": "{written / "ssh_config"}"' in printed


def test_proxies_with_tls_trunks_get_references_to_their_certificates(written):
    assert load(written / "host_vars" / "sh-dc1-sip1.yml") == {
        "trunkline_role": "sip-proxy", "trunkline_site": "sh-dc1", "tls_certificate_ref": "file:pki/sh-dc1-sip1.crt",
        "tls_private_key_ref": "file:pki/sh-dc1-sip1.key", "tls_ca_ref": "file:pki/ca.crt"}


def test_private_keys_are_kept_out_of_git(written):
    assert (written / "pki" / ".gitignore").read_text() == "*.key\n"


def test_the_inventory_holds_no_host_files_and_names_the_render_tree(written):
    """render/ is the only producer of host files: the firewall and the time zone are in build/, not here."""
    assert not (written / "files").exists()
    assert "trunkline_files_dir" not in load(written / "group_vars" / "all.yml")
    mark = json.loads((written / "manifest.json").read_text())
    assert mark["files"] == [] and "hosts.yml" in mark["written"] and "manifest.json" in mark["written"]


def test_an_inventory_written_with_host_files_is_replaced_without_force(tmp_path):
    """An inventory of the layout before (its mark under files/) is still trunkline's own."""
    out = tmp_path / "inv"
    assert cli("inventory", BLUEPRINT, "-o", out).exit_code == 0
    mark = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").unlink()
    (out / "files" / "sh-dc1-sip1" / "etc").mkdir(parents=True)
    (out / "files" / "sh-dc1-sip1" / "etc" / "timezone").write_text("Asia/Shanghai\n")
    old = dict(mark, files=[{"host": "sh-dc1-sip1", "path": "/etc/timezone"}],
               written=[w for w in mark["written"] if w != "manifest.json"] + ["files/manifest.json"])
    (out / "files" / "manifest.json").write_text(json.dumps(old))
    result = cli("inventory", BLUEPRINT, "-o", out)
    assert result.exit_code == 0, result.output
    assert not (out / "files").exists() and (out / "manifest.json").exists()


def test_cloud_sites_are_left_to_the_cloud_target(tmp_path):
    result = cli("inventory", ROOT / "blueprints" / "ecommerce-hybrid.yaml", "-o", tmp_path / "inv", "--json")
    assert result.exit_code == 0, result.output
    plan = load_center(ROOT / "blueprints" / "ecommerce-hybrid.yaml").plan
    cloud = {s.name for s in plan.sites if s.kind == "cloud"}
    assert cloud and not any(h.startswith(tuple(cloud)) for h in load(tmp_path / "inv" / "hosts.yml")["all"]["children"]["sip_proxy"]["hosts"])


def test_a_center_without_onprem_sites_has_no_inventory(tmp_path):
    result = cli("inventory", ROOT / "blueprints" / "cloudshop.yaml", "-o", tmp_path / "inv")
    assert result.exit_code == 2 and "no site of" in result.output
    assert not (tmp_path / "inv").exists()


def test_an_env_reference_for_an_ssh_key_is_refused_with_the_fix(tmp_path):
    result = cli("inventory", BLUEPRINT, "--set", "spec.sites[0].ssh.key=env:DEPLOY_KEY", "-o", tmp_path / "inv")
    assert result.exit_code == 2
    assert "spec.sites[0].ssh.key" in result.output and "only a file: reference works here" in result.output


def test_the_committed_example_is_what_the_blueprint_gives(written):
    """inventories/acme-bank is generated; if this fails, run: trunkline inventory blueprints/acme-bank.yaml"""
    cmp = filecmp.dircmp(EXAMPLE, written)

    def differences(c) -> list[str]:
        out = [f"{c.left}: {n}" for n in c.left_only + c.right_only + c.diff_files + c.funny_files]
        for sub in c.subdirs.values():
            out += differences(sub)
        return out

    assert differences(cmp) == []


def test_a_carriers_declared_ca_reaches_the_proxies_host_vars_and_the_secrets_an_apply_resolves(tmp_path):
    """trunks[].tls.ca: the tls role and deploy bundle these references as carriers-ca.crt on the proxies."""
    from trunkline.targets.onprem import needed_secrets

    result = cli("inventory", BLUEPRINT, "--set", "spec.trunks[0].tls={ca: 'file:/etc/trunkline/carrier-a-ca.crt', verify: true}",
                 "-o", tmp_path / "inv", "--build", tmp_path / "build")
    assert result.exit_code == 0, result.output
    proxy = load(tmp_path / "inv" / "host_vars" / "sh-dc1-sip1.yml")
    media = load(tmp_path / "inv" / "host_vars" / "sh-dc1-media1.yml")
    assert proxy["tls_carrier_ca_refs"] == ["file:/etc/trunkline/carrier-a-ca.crt"]
    assert "tls_carrier_ca_refs" not in media

    class Job:
        name, entries, vars = "sh-dc1-sip1", [], proxy

    assert "sh-dc1-sip1 tls_carrier_ca_refs" in needed_secrets([Job()])["file:/etc/trunkline/carrier-a-ca.crt"][0]
