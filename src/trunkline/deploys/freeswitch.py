"""roles/freeswitch with pyinfra: the freeswitch user, the rendered configuration, packages if a source is set.

FreeSWITCH is not packaged for Debian 12. With freeswitch_package_source: signalwire the
packages come from SignalWire's repository, which needs a token (a secret reference); curl and
apt read it from apt's auth file, so it is never on a command line.
"""

from __future__ import annotations

import io
import posixpath

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd

from trunkline.deploys import APT, HostJob, place
from trunkline.freeswitch import FS_CLI_CONF, event_socket_ref, fs_cli_conf

AUTH = "/etc/apt/auth.conf.d/freeswitch.conf"
KEYRING = "/usr/share/keyrings/signalwire-freeswitch-repo.gpg"


def installed(job: HostJob) -> bool:
    return job.vars["freeswitch_package_source"] != "none"


@deploy("freeswitch")
def run(job: HostJob) -> None:
    v = job.vars
    user = v["freeswitch_user"]
    server.group(name="Create the freeswitch group", group=user, system=True)
    server.user(name="Create the freeswitch user", user=user, group=user, comment="FreeSWITCH", home=v["freeswitch_home"],
                shell="/usr/sbin/nologin", system=True, create_home=False, ensure_home=False)
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
    for d in sorted({posixpath.dirname(e["path"]) for e in entries}):
        files.directory(name=f"Create the configuration folders, readable by FreeSWITCH only: {d}", path=d, user=user, group=user, mode="0750")
    job.notify("reload freeswitch", *place(job, "freeswitch", "Place the rendered FreeSWITCH configuration", entries))
    ref = event_socket_ref(entries)
    if installed(job) and ref:
        files.put(name="Let root's fs_cli log in to the event socket with its password", dest=FS_CLI_CONF, user="root",
                  group="root", mode="0600", src=io.BytesIO(fs_cli_conf(job.secrets[ref].rstrip("\n")).encode()))
    if v["freeswitch_manage_service"] and installed(job):
        systemd.service(name="Start FreeSWITCH, now and at boot", service="freeswitch", running=True, enabled=True)


def handlers(job: HostJob) -> None:
    if job.vars["freeswitch_manage_service"] and installed(job) and job.is_notified("reload freeswitch"):
        server.shell(name="Reload the FreeSWITCH configuration", commands=["fs_cli -x reloadxml"], _if=job.changed("reload freeswitch"))
