"""Each engine applies acme-bank to real Debian roots (one per representative host), twice.

The `applied` fixture (conftest.py) runs `trunkline apply --chroot` for pyinfra and for
Ansible on fresh copies of the debootstrap root; every test here checks one property of the
result on both engines.
"""

from __future__ import annotations

import hashlib

import pytest
from markupsafe import escape

from onprem_support import BLUEPRINT, HOSTS, SECRETS, in_root, manifest_entries, processes_in
from trunkline.center import load as load_center
from trunkline.render import render_host

pytestmark = pytest.mark.chroot

PACKAGES = {
    "sh-dc1-sip1": ["kamailio", "kamailio-tls-modules", "ca-certificates", "keepalived", "nftables", "chrony", "tzdata"],
    "sh-dc1-rtp1": ["rtpengine-daemon", "nftables", "chrony"],
    "sh-dc1-media1": ["nfs-common", "nftables", "chrony"],  # the NFS client: FreeSWITCH records into the store
    "sh-dc1-rec1": ["nfs-kernel-server", "nftables", "chrony"],
}


def test_first_apply_changes_every_host_and_fails_nowhere(applied):
    report = applied.report(applied.first)
    assert report["failed"] == 0
    assert {h["host"] for h in report["hosts"] if h["changed"] > 0} == set(HOSTS)


def test_second_apply_changes_nothing_and_says_so(applied):
    assert "0 changed: every host already matches acme-bank" in applied.second.stdout


@pytest.mark.parametrize("host", HOSTS)
def test_the_roles_packages_are_installed_from_debian(applied, host):
    result = in_root(applied.root(host), "dpkg-query", "-W", "-f", "${Package} ${Status}\n", *PACKAGES[host])
    installed = {line.split()[0] for line in result.stdout.splitlines() if line.endswith("install ok installed")}
    assert installed == set(PACKAGES[host]), result.stdout + result.stderr


def test_trunklines_freeswitch_build_is_installed_and_runs_inside_the_root(applied):
    """freeswitch_package_source: trunkline - the tree unpacked, its runtime libraries installed from
    Debian (it runs inside the root), fs_cli on PATH and the unit that starts it on the server paths."""
    root = applied.root("sh-dc1-media1")
    version = in_root(root, "/opt/trunkline/freeswitch/bin/freeswitch-reloc", "-version")
    assert version.returncode == 0 and "1.10.12" in version.stdout, version.stdout + version.stderr
    assert in_root(root, "readlink", "/usr/local/bin/fs_cli").stdout.strip() == "/opt/trunkline/freeswitch/bin/fs_cli"
    unit = (root / "etc/systemd/system/freeswitch.service").read_text()
    start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert start.split()[:1] == ["ExecStart=/opt/trunkline/freeswitch/bin/freeswitch-reloc"]
    assert "-conf /etc/freeswitch" in start and "-run /run/freeswitch" in start and "User=freeswitch" in unit


def test_every_managed_file_has_the_manifests_owner_group_and_mode(applied, workdir):
    wrong = []
    for e in manifest_entries(workdir):
        got = in_root(applied.root(e["host"]), "stat", "-c", "%U %G %a", e["path"]).stdout.split()
        if got != [e["owner"], e["group"], e["mode"].lstrip("0")]:
            wrong.append(f"{e['host']}:{e['path']}: {got} instead of {e['owner']} {e['group']} {e['mode']}")
    assert not wrong, "\n".join(wrong)


def test_every_managed_file_without_secrets_has_the_rendered_bytes(applied, workdir):
    wrong = [f"{e['host']}:{e['path']}" for e in manifest_entries(workdir) if not e["secrets"]
             and hashlib.sha256((applied.root(e["host"]) / e["path"].lstrip("/")).read_bytes()).hexdigest() != e["sha256"]]
    assert not wrong


def test_kamailio_accepts_its_configuration_inside_the_root(applied):
    result = in_root(applied.root("sh-dc1-sip1"), "kamailio", "-c", "-f", "/etc/kamailio/kamailio.cfg")
    assert result.returncode == 0 and "config file ok" in result.stdout + result.stderr, result.stderr[-2000:]


def test_keepalived_accepts_its_configuration_inside_the_root(applied):
    result = in_root(applied.root("sh-dc1-sip1"), "keepalived", "-t", "-f", "/etc/keepalived/keepalived.conf")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("host", HOSTS)
def test_nft_accepts_the_firewall_inside_the_root(applied, host):
    result = in_root(applied.root(host), "nft", "-c", "-f", "/etc/nftables.conf")
    assert result.returncode == 0, result.stderr


def test_the_tls_key_is_readable_by_kamailio_and_nobody_else(applied):
    got = in_root(applied.root("sh-dc1-sip1"), "stat", "-c", "%U %G %a", "/etc/kamailio/tls/sh-dc1-sip1.key").stdout.split()
    assert got == ["root", "kamailio", "640"]


def test_the_trunk_passwords_reach_the_media_node_xml_escaped(applied):
    xml = (applied.root("sh-dc1-media1") / "etc/freeswitch/sip_profiles/external.xml").read_text()
    assert 'value="a-Pw&amp;&lt;&#34;7731&#34;&gt;"' in xml
    assert 'value="b-Pw-5519-quartz"' in xml
    assert "@@secret:" not in xml


def test_no_secret_value_is_in_the_output(applied):
    printed = applied.first.output + applied.second.output
    assert [v for v in SECRETS.values() if v in printed or v[:6] in printed or escape(v) in printed] == []


def test_the_freeswitch_user_owns_the_media_configuration(applied):
    passwd = (applied.root("sh-dc1-media1") / "etc/passwd").read_text()
    assert any(line.startswith("freeswitch:") and line.endswith(":/var/lib/freeswitch:/usr/sbin/nologin") for line in passwd.splitlines())
    assert in_root(applied.root("sh-dc1-media1"), "stat", "-c", "%U %G %a", "/etc/freeswitch/sip_profiles").stdout.split() == \
        ["freeswitch", "freeswitch", "750"]


def test_the_recording_store_belongs_to_root_and_the_recording_group(applied):
    got = in_root(applied.root("sh-dc1-rec1"), "stat", "-c", "%U %G %a", "/var/spool/trunkline/recordings").stdout.split()
    assert got == ["root", "trunkline-rec", "750"]


def test_the_retention_job_keeps_recordings_the_blueprints_five_years(applied):
    settings = (applied.root("sh-dc1-rec1") / "etc/default/trunkline-retention").read_text()
    assert "TRUNKLINE_RETENTION_DAYS=1825" in settings
    assert (applied.root("sh-dc1-rec1") / "usr/local/sbin/trunkline-retention").stat().st_mode & 0o777 == 0o755


def test_the_media_node_mounts_the_store_over_nfs_before_freeswitch_records(applied):
    root = applied.root("sh-dc1-media1")
    unit = (root / "etc/systemd/system/trunkline-recording-store.service").read_text()
    assert 'ExecStart=/bin/mount -t nfs4 -o hard,tcp,vers=4.2 "10.10.0.14:/var/spool/trunkline/recordings" "/var/spool/trunkline/recordings"' in unit
    assert "Before=freeswitch.service" in unit and "RequiredBy=freeswitch.service" in unit
    assert (root / "var/spool/trunkline/recordings").is_dir()  # the mount point


def test_no_daemon_was_started_inside_the_roots(applied):
    assert processes_in(applied.roots) == []
    assert all((applied.root(h) / "usr/sbin/policy-rc.d").exists() for h in HOSTS)


def test_nft_accepts_the_firewall_of_a_media_node_that_takes_rtp_from_the_carriers(applied):
    plan = load_center(BLUEPRINT, ["spec.recording.mode=none", "spec.sites[0].sip_proxy.media_relay=none"]).plan
    root = applied.root("sh-dc1-media1")
    rendered = {f.path: f.content for f in render_host(plan, plan.host("sh-dc1-media1"))}
    (root / "tmp" / "no-relay.nft").write_bytes(rendered["/etc/nftables.conf"])
    result = in_root(root, "nft", "-c", "-f", "/tmp/no-relay.nft")
    assert result.returncode == 0, result.stderr
