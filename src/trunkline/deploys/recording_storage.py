"""roles/recording_storage with pyinfra: the store, its encryption check, NFS export, retention job."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server, systemd

from trunkline.deploys import APT, ROLES, HostJob, make_dirs, place
from trunkline.errors import TrunklineError
from trunkline.render.escape import shell

FILES = ROLES / "recording_storage" / "files"
RETENTION = [("trunkline-retention", "/usr/local/sbin/trunkline-retention", "0755"),
             ("trunkline-retention.service", "/etc/systemd/system/trunkline-retention.service", "0644"),
             ("trunkline-retention.timer", "/etc/systemd/system/trunkline-retention.timer", "0644")]


class StoreNotEncrypted(TrunklineError):
    exit_code = 1


@deploy("recording_storage")
def run(job: HostJob) -> None:
    v = job.vars
    path = v["recording_storage_path"]
    server.group(name="Create the group that may read recordings", group=v["recording_storage_group"], system=True)
    if v["recording_storage_kind"] == "nfs":
        apt.packages(name="Install the NFS server that serves the store to the site's rtpengine hosts",
                     packages=v["recording_storage_nfs_packages"], cache_time=v["recording_storage_apt_cache_valid_time"], **APT)
    files.directory(name="Create the recording store", path=path, user=v["recording_storage_owner"],
                    group=v["recording_storage_group"], mode=v["recording_storage_mode"])
    if v["recording_storage_encryption"] != "none" and v["recording_storage_require_encrypted_volume"]:
        # the path comes from the blueprint and the source from the host: both one quoted word
        source = host.get_fact(Command, f"findmnt --noheadings --output SOURCE --target {shell(path)}").strip()
        types = host.get_fact(Command, f"lsblk --inverse --noheadings --output TYPE {shell(source)}").split()
        if "crypt" not in types:
            raise StoreNotEncrypted(
                f"{path} is on {source}, which is not a dm-crypt (LUKS) volume, but the blueprint asks for "
                f"recording.storage.encryption {v['recording_storage_encryption']}; mount an encrypted volume there, or set "
                "recording_storage_require_encrypted_volume to false when the encryption is done below the file system")
    make_dirs(job, "recording_storage", "Create the folders of the rendered recording files")
    job.notify("reload exports", *place(job, "recording_storage", "Place the rendered recording files"))
    files.directory(name="Create the folder of the retention job's units", path="/etc/systemd/system", user="root", group="root", mode="0755")
    for src, dest, mode in RETENTION:
        job.notify("restart the retention timer", files.put(name=f"Place the retention job: {dest}", src=str(FILES / src), dest=dest,
                                                             user="root", group="root", mode=mode))
    if v["recording_storage_manage_service"]:
        systemd.service(name="Start the retention timer, now and at boot", service="trunkline-retention.timer", running=True,
                        enabled=True, daemon_reload=True)
        if v["recording_storage_kind"] == "nfs":
            systemd.service(name="Start the NFS server, now and at boot", service="nfs-server", running=True, enabled=True)


def handlers(job: HostJob) -> None:
    v = job.vars
    if not v["recording_storage_manage_service"]:
        return
    if v["recording_storage_kind"] == "nfs" and job.is_notified("reload exports"):
        server.shell(name="Export the store again", commands=["exportfs -ra"], _if=job.changed("reload exports"))
    if job.is_notified("restart the retention timer"):
        systemd.service(name="Restart the retention timer", service="trunkline-retention.timer", restarted=True, daemon_reload=True,
                        _if=job.changed("restart the retention timer"))
