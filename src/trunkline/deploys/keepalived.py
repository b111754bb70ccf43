"""roles/keepalived with pyinfra: VRRP for a proxy pair; keepalived -t before a reload."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, server, systemd

from trunkline.deploys import APT, HostJob, make_dirs, place


@deploy("keepalived")
def run(job: HostJob) -> None:
    v = job.vars
    if not job.files_of("keepalived"):
        return  # a single proxy: no pair, no VRRP
    apt.packages(name="Install keepalived", packages=v["keepalived_packages"], cache_time=v["keepalived_apt_cache_valid_time"], **APT)
    make_dirs(job, "keepalived", "Create the folders of the rendered files")
    job.notify("reload keepalived", *place(job, "keepalived", "Place the rendered keepalived configuration and health check"))
    if v["keepalived_manage_service"]:
        systemd.service(name="Start keepalived, now and at boot", service="keepalived", running=True, enabled=True)


def handlers(job: HostJob) -> None:
    if not job.is_notified("reload keepalived"):
        return
    server.shell(name="Check the keepalived configuration before it is loaded", commands=["keepalived -t -f /etc/keepalived/keepalived.conf"],
                 _if=job.changed("reload keepalived"))
    if job.vars["keepalived_manage_service"]:
        systemd.service(name="Reload keepalived", service="keepalived", reloaded=True, _if=job.changed("reload keepalived"))
