"""roles/freeswitch with pyinfra: the freeswitch user, the rendered configuration, FreeSWITCH if a source is set.

FreeSWITCH is not packaged for Debian 12. With freeswitch_package_source: trunkline, trunkline's own
build (the tree the lab runs, a tarball on the operator's machine) is unpacked under
/opt/trunkline/freeswitch and started by the role's unit (files/freeswitch.service). With freeswitch_package_source: signalwire the
packages come from SignalWire's repository, which needs a token (a secret reference); curl and
apt read it from apt's auth file, so it is never on a command line.
"""

from __future__ import annotations

import io
import posixpath
import shlex


from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server, systemd

from trunkline.deploys import APT, HostJob, make_dirs, place
from trunkline.errors import UsageError
from trunkline.paths import ROLES
from trunkline.freeswitch import CONF, FS_CLI_CONF, event_socket_ref, fs_cli_conf

AUTH = "/etc/apt/auth.conf.d/freeswitch.conf"
KEYRING = "/usr/share/keyrings/signalwire-freeswitch-repo.gpg"
STORE_UNIT = "/etc/systemd/system/trunkline-recording-store.service"  # rendered when the site's store is NFS
UNIT = ROLES / "freeswitch" / "files" / "freeswitch.service"  # the same bytes as the Ansible role's copy
SERVER_PREFIX = "/opt/trunkline/freeswitch"  # what the unit starts


def installed(job: HostJob) -> bool:
    return job.vars["freeswitch_package_source"] != "none"


def install_build(job: HostJob) -> None:
    """trunkline's build: the runtime packages, the tarball unpacked under the prefix (a tree of this
    version in place is kept), the sample configuration kept aside, fs_cli on PATH, the unit."""
    v = job.vars
    prefix = SERVER_PREFIX
    if not v["freeswitch_tarball"]:
        raise UsageError("freeswitch_package_source trunkline needs freeswitch_tarball, the path on this machine of a tree made "
                         "by scripts/freeswitch/build.sh --tarball")
    parent, staged = posixpath.dirname(prefix), "/var/tmp/trunkline-freeswitch.tar.xz"
    apt.packages(name="Install the build's runtime packages", packages=v["freeswitch_runtime_packages"],
                 cache_time=v["freeswitch_apt_cache_valid_time"], **APT)
    files.directory(name="Create the folder the build is unpacked in", path=parent, user="root", group="root", mode="0755")
    if not host.get_fact(File, path=f"{prefix}/BUILDINFO.txt"):  # a tree in place is kept, as Ansible's `creates`
        q = shlex.quote
        files.put(name="Copy the build", src=v["freeswitch_tarball"], dest=staged, user="root", group="root", mode="0600")
        server.shell(name="Unpack the build", commands=[
            f"tar -C {q(parent)} -xJf {staged} --no-same-owner",
            f"test ! -d {q(prefix + '/conf')} || test -e {q(prefix + '/conf.vanilla')} || mv {q(prefix + '/conf')} {q(prefix + '/conf.vanilla')}",
            f"rm -f {staged}"])
    files.link(name="Put fs_cli on root's PATH", path="/usr/local/bin/fs_cli", target=f"{prefix}/bin/fs_cli")
    files.put(name="Place FreeSWITCH's systemd unit", dest="/etc/systemd/system/freeswitch.service", user="root", group="root",
              mode="0644", src=str(UNIT))


def recordings(job: HostJob, entries: list[dict]) -> bool:
    """What FreeSWITCH's recordings need: opusenc for opus, the NFS client for the site's store, the
    readers' group and the folder (with an NFS store, the mount point: its owner and mode are the
    store's). True when this node mounts the store (the rendered unit)."""
    v = job.vars
    store = any(e["path"] == STORE_UNIT for e in entries)
    packages = (v["freeswitch_opus_packages"] if v["freeswitch_recording"] and v["freeswitch_recording_format"] == "opus" else []) \
        + (v["freeswitch_nfs_packages"] if store else [])
    if packages:
        apt.packages(name="Install what the recordings need (opusenc for opus, the NFS client for the store)", packages=packages,
                     cache_time=v["freeswitch_apt_cache_valid_time"], **APT)
    if v["freeswitch_recording"]:
        server.group(name="Create the group that may read recordings", group=v["freeswitch_recording_group"], system=True)
        if store:
            files.directory(name="Create the mount point of the recording store", path=v["freeswitch_recording_dir"], present=True)
        else:
            files.directory(name="Create the recording folder, written by FreeSWITCH and read by the recordings group only",
                            path=v["freeswitch_recording_dir"], user=v["freeswitch_user"], group=v["freeswitch_recording_group"], mode="0750")
    return store


@deploy("freeswitch")
def run(job: HostJob) -> None:
    v = job.vars
    user = v["freeswitch_user"]
    server.group(name="Create the freeswitch group", group=user, system=True)
    server.user(name="Create the freeswitch user", user=user, group=user, comment="FreeSWITCH", home=v["freeswitch_home"],
                shell="/usr/sbin/nologin", system=True, create_home=False, ensure_home=False)
    if v["freeswitch_package_source"] == "trunkline":
        install_build(job)
    if v["freeswitch_package_source"] == "signalwire":
        token = job.secrets[v["freeswitch_signalwire_token_ref"]].strip()
        apt.packages(name="Install what fetching from the repository needs", packages=["ca-certificates", "curl"],
                     cache_time=v["freeswitch_apt_cache_valid_time"], **APT)
        files.put(name="Let apt log in to the repository with the token", dest=AUTH, user="root", group="root", mode="0600",
                  src=io.BytesIO(f"machine {v['freeswitch_signalwire_host']} login signalwire password {token}\n".encode()))
        files.download(name="Fetch the repository's signing key", src=f"{v['freeswitch_signalwire_repo']}/signalwire-freeswitch-repo.gpg",
                       dest=KEYRING, user="root", group="root", mode="0644", extra_curl_args={"--netrc-file": AUTH})
        files.put(name="Add the repository", dest="/etc/apt/sources.list.d/freeswitch.list", user="root", group="root", mode="0644",
                  src=io.BytesIO(f"deb [signed-by={KEYRING}] {v['freeswitch_signalwire_repo']}/ {v['freeswitch_signalwire_suite']} main\n".encode()))
        apt.packages(name="Install FreeSWITCH", packages=v["freeswitch_packages"], update=True)
    entries = job.files_of("freeswitch")
    for d in sorted({posixpath.dirname(e["path"]) for e in entries if e["path"].startswith(CONF)}):
        files.directory(name=f"Create the configuration folders, readable by FreeSWITCH only: {d}", path=d, user=user, group=user, mode="0750")
    make_dirs(job, "freeswitch", "Create the system folders of the other rendered files",
              [e for e in entries if not e["path"].startswith(CONF)])
    store = recordings(job, entries)
    job.notify("reload freeswitch", *place(job, "freeswitch", "Place the rendered FreeSWITCH configuration", entries))
    ref = event_socket_ref(entries)
    if installed(job) and ref:
        files.put(name="Let root's fs_cli log in to the event socket with its password", dest=FS_CLI_CONF, user="root",
                  group="root", mode="0600", src=io.BytesIO(fs_cli_conf(job.secrets[ref].rstrip("\n")).encode()))
    if v["freeswitch_manage_service"] and store:
        systemd.service(name="Mount the site's recording store, now and at boot (before FreeSWITCH writes to it)",
                        service="trunkline-recording-store", running=True, enabled=True, daemon_reload=True)
    if v["freeswitch_manage_service"] and installed(job):
        systemd.service(name="Start FreeSWITCH, now and at boot", service="freeswitch", running=True, enabled=True,
                        daemon_reload=v["freeswitch_package_source"] == "trunkline")


def handlers(job: HostJob) -> None:
    if job.vars["freeswitch_manage_service"] and installed(job) and job.is_notified("reload freeswitch"):
        server.shell(name="Reload the FreeSWITCH configuration", commands=["fs_cli -x reloadxml"], _if=job.changed("reload freeswitch"))
