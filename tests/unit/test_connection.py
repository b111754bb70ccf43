"""The one connection interface: run, put, get (and stat) on a chroot root, on this machine behind a
prefix (what lab hosts and SSH servers share), and the one place flags choose an implementation.

Lab connections run in tests/lab (under the lab lock); SSH against a real sshd in
tests/onprem/test_ssh.py (drift over SSH). Here SSH is only its command line and pyinfra data.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import shutil
from pathlib import Path

import pytest

from shared import ROOT
from trunkline.center import load as load_center
from trunkline.errors import UsageError
from trunkline.targets.connection import ChrootConnection, LocalConnection, SshConnection, Unreachable, connect
from trunkline.targets.inventory import SshTarget

ACME = ROOT / "blueprints" / "acme-bank.yaml"
DEBIAN_ROOT = Path(os.environ.get("TRUNKLINE_ROOT_CACHE", "/var/cache/trunkline")) / "debootstrap-bookworm"


@pytest.fixture
def root(tmp_path) -> Path:
    """A tiny root: its own users (uids this machine does not give those names) and a link pointing out."""
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nkamailio:x:4321:4322::/run/kamailio:/usr/sbin/nologin\n")
    (r / "etc" / "group").write_text("root:x:0:\nkamailio:x:4322:\n")
    (r / "srv").mkdir()
    (r / "srv" / "real.cfg").write_text("inside\n")
    (r / "etc" / "alias.cfg").symlink_to("/srv/real.cfg")  # absolute: the root's /srv, not this machine's
    return r


@pytest.mark.skipif(os.geteuid() != 0, reason="placing a file with another owner needs root")
def test_chroot_put_places_bytes_with_the_roots_owner_group_and_mode(root):
    conn = ChrootConnection("sh-dc1-sip1", root)
    conn.put("/etc/kamailio/tls/host.key", b"secret\n", mode="0640", owner="root", group="kamailio")
    placed = root / "etc" / "kamailio" / "tls" / "host.key"
    st = placed.stat()
    assert (placed.read_bytes(), st.st_uid, st.st_gid, st.st_mode & 0o7777) == (b"secret\n", 0, 4322, 0o640)
    assert os.listdir(placed.parent) == ["host.key"]  # written beside and renamed: no temporary left


def test_chroot_get_reads_under_the_root_and_follows_links_inside_it(root):
    conn = ChrootConnection("h", root)
    assert conn.get("/srv/real.cfg") == b"inside\n"
    assert conn.get("/etc/alias.cfg") == b"inside\n"
    assert conn.path("/../../srv/real.cfg") == root / "srv" / "real.cfg"  # '..' stops at the root
    with pytest.raises(FileNotFoundError):
        conn.get("/etc/missing.cfg")


def test_chroot_put_refuses_an_owner_the_root_does_not_have(root):
    with pytest.raises(OSError, match="no user freeswitch"):
        ChrootConnection("h", root).put("/etc/x", b"", owner="freeswitch")


def test_chroot_is_reached_by_pyinfra_and_ansible_as_a_chroot(root):
    conn = ChrootConnection("sh-dc1-sip1", root)
    assert conn.pyinfra_host() == (f"@chroot/{root}", {"trunkline_host": "sh-dc1-sip1"})
    assert conn.ansible_vars()["ansible_connection"] == "community.general.chroot"
    assert conn.ansible_vars()["ansible_host"] == str(root) and conn.ansible_vars()["kamailio_manage_service"] is False


def test_chroot_run_and_stat_happen_inside_the_root():
    # asked when the test runs, not when it is collected: on a fresh machine tests/onprem makes the cache
    # earlier in the same run (a skipif mark, read at collection, skipped it there)
    if os.geteuid() != 0 or not (DEBIAN_ROOT / "etc" / "debian_version").exists():
        pytest.skip("needs root and the debootstrap root cache (tests/onprem make it)")
    conn = ChrootConnection("debian", DEBIAN_ROOT)  # read only: nothing is written to the cache
    version = (DEBIAN_ROOT / "etc" / "debian_version").read_bytes()
    r = conn.run("cat /etc/debian_version")
    assert (r.rc, r.out) == (0, version)
    assert conn.run(["sh", "-c", "exit 3"]).rc == 3
    found = conn.stat(["/etc/debian_version", "/etc/not-there"])
    assert list(found) == ["/etc/debian_version"]
    info = found["/etc/debian_version"]
    assert (info.owner, info.group, info.mode, info.sha256) == ("root", "root", "644", hashlib.sha256(version).hexdigest())


def test_commands_put_get_and_stat_through_a_prefix(tmp_path):
    """The shell-side put/get/stat that lab hosts and SSH servers use, on this machine (no prefix)."""
    conn = LocalConnection("local", "here", [])
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    target = tmp_path / "a dir" / "file.cfg"
    conn.put(str(target), b"one\ntwo\n", mode="0600", owner=user, group=group)
    assert target.read_bytes() == b"one\ntwo\n" and target.stat().st_mode & 0o7777 == 0o600
    assert os.listdir(target.parent) == ["file.cfg"]
    assert conn.get(str(target)) == b"one\ntwo\n"
    with pytest.raises(FileNotFoundError):
        conn.get(str(tmp_path / "nope"))
    r = conn.run("cat; echo err >&2; exit 4", input=b"in")
    assert (r.rc, r.stdout, r.stderr) == (4, "in", "err\n")
    found = conn.stat([str(target), str(tmp_path / "nope")])
    assert list(found) == [str(target)]
    assert (found[str(target)].mode, found[str(target)].owner, found[str(target)].sha256) == \
        ("600", user, hashlib.sha256(b"one\ntwo\n").hexdigest())


def test_a_prefix_that_cannot_run_makes_the_host_unreachable_for_stat():
    with pytest.raises(Unreachable):
        LocalConnection("lab", "gone", ["sh", "-c", "echo 'no such namespace' >&2; exit 1", "x"]).stat(["/etc/x"])


def test_ssh_reaches_the_address_with_the_inventorys_port_key_and_host_key_settings():
    conn = SshConnection(SshTarget("bj-dc2-rtp1", "10.20.0.12", "deploy", 2222, "~/.ssh/k"),
                         {"ssh_known_hosts_file": "/tmp/known", "ssh_strict_host_key_checking": "yes"})
    argv = conn.ssh_argv()
    assert argv[-6:] == ["-p", "2222", "-l", "deploy", "--", "10.20.0.12"]
    assert "BatchMode=yes" in argv and "StrictHostKeyChecking=yes" in argv and "UserKnownHostsFile=/tmp/known" in argv
    assert argv[argv.index("-i") + 1] == os.path.expanduser("~/.ssh/k")
    assert conn.pyinfra_host() == ("bj-dc2-rtp1", {
        "trunkline_host": "bj-dc2-rtp1", "ssh_hostname": "10.20.0.12", "ssh_user": "deploy", "ssh_port": 2222,
        "ssh_key": os.path.expanduser("~/.ssh/k"), "ssh_known_hosts_file": "/tmp/known", "ssh_strict_host_key_checking": "yes"})
    assert conn.ansible_vars() == {}


def test_ssh_behind_a_bastion_goes_by_the_inventorys_ssh_config():
    conn = SshConnection(SshTarget("sh-dc1-sip1", "10.10.0.10", "deploy", 22, None, "jump.example", "/inv/ssh_config"))
    argv = conn.ssh_argv()
    assert argv[-4:] == ["-F", "/inv/ssh_config", "--", "sh-dc1-sip1"]
    assert "StrictHostKeyChecking=accept-new" in argv  # pyinfra's default too
    name, data = conn.pyinfra_host()
    assert "ssh_hostname" not in data and data["ssh_config_file"] == "/inv/ssh_config"


def test_an_ssh_failure_is_unreachable_not_a_failed_command(monkeypatch):
    conn = SshConnection(SshTarget("h", "192.0.2.1"))
    monkeypatch.setattr(conn, "ssh_argv", lambda: ["sh", "-c", "echo 'Connection refused' >&2; exit 255"])
    with pytest.raises(Unreachable, match="Connection refused"):
        conn.run("true")
    monkeypatch.setattr(conn, "ssh_argv", lambda: ["sh", "-c"])  # the remote command becomes sh's script
    r = conn.run(["sh", "-c", "printf '%s' \"$1\"; exit 7", "x", "a b"])
    assert (r.rc, r.stdout) == (7, "a b")  # an argv survives the remote shell word for word


def test_flags_choose_the_connection_in_one_place(tmp_path, monkeypatch):
    monkeypatch.setattr("trunkline.targets.lab.state.STATE_ROOT", tmp_path / "state")  # no lab of ours is up
    plan = load_center([ACME], []).plan
    roots = connect(plan, "onprem", chroot=tmp_path)
    assert all(isinstance(c, ChrootConnection) and c.root == tmp_path.absolute() / name for name, c in roots.items())
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventories" / "acme-bank", inventory)
    servers = connect(plan, "onprem", inventory=inventory, hosts=["sh-dc1-sip1", "bj-dc2-rtp1"])
    assert sorted(servers) == ["bj-dc2-rtp1", "sh-dc1-sip1"] and all(isinstance(c, SshConnection) for c in servers.values())
    assert servers["sh-dc1-sip1"].target.bastion and servers["bj-dc2-rtp1"].target.address == "10.20.0.12"
    with pytest.raises(UsageError, match="no hosts.yml"):
        connect(plan, "onprem", inventory=tmp_path / "none")
    with pytest.raises(UsageError, match="no lab of acme-bank is up"):
        connect(plan, "lab")
    with pytest.raises(UsageError, match="not a target"):
        connect(plan, "cloud")


def test_testinfra_runs_over_a_connection(tmp_path):
    """verify's suite and the live host checks use testinfra hosts made over connections."""
    import testinfra

    from trunkline.verify.backend import register, testinfra_host

    (tmp_path / "f.cfg").write_text("x = 1\n")
    host = testinfra_host(LocalConnection("local", "here", []))
    assert host.file(str(tmp_path / "f.cfg")).content_string == "x = 1\n" and host.run("exit 2").rc == 2
    register()
    lab = testinfra.get_host("trunkline-lab://fra1-sip1?namespace=small-shop")  # as the generated suite asks for it
    assert lab.backend.via.prefix[0] == "nsenter" and "--net=/run/netns/tl-small-shop-fra1-sip1" in lab.backend.via.prefix
