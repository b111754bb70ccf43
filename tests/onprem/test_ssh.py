"""The SSH path: apply and drift reach a server through sshd, the way they reach real servers.

The server is a Debian root running OpenSSH on 127.0.0.1:2222 (loopback only). Its inventory
is the generated one with the host's address, port and key edited, as an integrator edits a
management address, and with the services switched off (the server is still a chroot here).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from onprem_support import BLUEPRINT, cli, fresh_roots, in_root, sets_args

pytestmark = pytest.mark.chroot

HOST = "sh-dc1-media1"
PORT = 2222


def _key_pair(where: Path) -> tuple[Path, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    path = where / "id_ed25519"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    path.chmod(0o600)
    return path, key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _wait_for_port(port: int, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"sshd did not listen on 127.0.0.1:{port}")


@pytest.fixture(scope="module")
def server(pristine, workdir, secrets_env):
    """(roots, inventory): the media node's root serving SSH, and an inventory that reaches it."""
    roots = fresh_roots(pristine, workdir / "ssh-roots", [HOST])
    root = roots / HOST
    installed = in_root(root, "sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    key, public = _key_pair(workdir)
    (root / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    (root / "root/.ssh/authorized_keys").write_text(public + "\n")
    (root / "run/sshd").mkdir(exist_ok=True)
    host_key = (root / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[:2]
    known = workdir / "known_hosts"
    known.write_text(f"[127.0.0.1]:{PORT} {' '.join(host_key)}\n")

    inventory = workdir / "ssh-inventory"
    shutil.copytree(workdir / "inventory", inventory)
    y = YAML()
    hosts = y.load((inventory / "hosts.yml").read_text())
    hosts["all"]["children"]["media"]["hosts"][HOST]["ansible_host"] = "127.0.0.1"
    with open(inventory / "hosts.yml", "w") as f:
        y.dump(hosts, f)
    site = {"ansible_user": "root", "ansible_port": PORT, "ansible_ssh_private_key_file": str(key),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes",
            "ssh_known_hosts_file": str(known), "ssh_strict_host_key_checking": "yes"}
    with open(inventory / "group_vars" / "site_sh_dc1.yml", "w") as f:
        y.dump(site, f)
    from trunkline.targets.inventory import chroot_vars

    all_vars = y.load((inventory / "group_vars" / "all.yml").read_text())
    all_vars.update({k: v for k, v in chroot_vars().items() if not k.startswith("ansible_")})
    with open(inventory / "group_vars" / "all.yml", "w") as f:
        y.dump(all_vars, f)

    sshd = subprocess.Popen(["chroot", str(root), "/usr/sbin/sshd", "-D", "-e", "-p", str(PORT), "-o", "ListenAddress=127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(PORT)
        yield roots, inventory
    finally:
        sshd.terminate()
        sshd.wait(timeout=10)


def apply_ssh(workdir: Path, inventory: Path, engine: str):
    return cli("apply", BLUEPRINT, *sets_args(), "--engine", engine, "--limit", HOST, "--inventory", inventory,
               "--build", workdir / "build", "--json")


def test_pyinfra_applies_over_ssh(server, workdir):
    roots, inventory = server
    result = apply_ssh(workdir, inventory, "pyinfra")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["failed"] == 0 and report["changed"] > 0
    assert (roots / HOST / "etc/freeswitch/sip_profiles/external.xml").exists()


def test_ansible_over_ssh_finds_nothing_left_to_change(server, workdir):
    roots, inventory = server
    result = apply_ssh(workdir, inventory, "ansible")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["changed"] == 0


def test_drift_over_ssh_sees_a_tampered_file(server, workdir):
    roots, inventory = server
    path = roots / HOST / "etc/freeswitch/dialplan/trunkline.xml"
    saved = path.read_bytes()
    path.write_bytes(saved + b"<!-- by hand -->\n")
    try:
        result = cli("drift", BLUEPRINT, *sets_args(), "--limit", HOST, "--inventory", inventory, "--json")
    finally:
        path.write_bytes(saved)
    assert result.exit_code == 1, result.output
    assert [(d["host"], d["path"], d["what"]) for d in json.loads(result.stdout)["drift"]] == \
        [(HOST, "/etc/freeswitch/dialplan/trunkline.xml", "content")]
