"""roles/common with pyinfra: base packages, time zone, kernel settings for SIP/RTP, the firewall."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd

from trunkline.deploys import APT, ROLES, HostJob, make_dirs, place
from trunkline.render.escape import timezone

SYSCTL = ROLES / "common" / "files" / "60-trunkline.conf"
# rendered files this role treats apart: the link to the zone, the firewall's check and reload
TIMEZONE, FIREWALL = "/etc/timezone", "/etc/nftables.conf"


@deploy("common")
def run(job: HostJob) -> None:
    v = job.vars
    apt.packages(name="Install the base packages", packages=v["common_packages"], cache_time=v["common_apt_cache_valid_time"], **APT)
    own = {e["path"]: e for e in job.files_of("common")}
    tz, firewall = own.pop(TIMEZONE), own.pop(FIREWALL)
    place(job, "common", "Place the time zone of the site", [tz])
    zone = timezone(job.source(tz).read_text().strip())  # an IANA name, never a path out of /usr/share/zoneinfo
    files.link(name="Point /etc/localtime at the time zone of the site", path="/etc/localtime",
               target=f"/usr/share/zoneinfo/{zone}", force=True)
    job.notify("apply kernel settings", files.put(
        name="Place the kernel settings for SIP and RTP", src=str(SYSCTL), dest="/etc/sysctl.d/60-trunkline.conf",
        user="root", group="root", mode="0644"))
    job.notify("reload nftables", *place(job, "common", "Place the firewall of the host", [firewall]))
    rendered = list(own.values())
    make_dirs(job, "common", "Create the folders of the rendered files", rendered)
    job.notify("restart journald", *place(job, "common", "Place the rendered files every host gets", rendered))
    if v["common_manage_services"]:
        for service in ("chrony", "nftables"):
            systemd.service(name=f"Start {service}, now and at boot", service=service, running=True, enabled=True)


def handlers(job: HostJob) -> None:
    v = job.vars
    if v["common_manage_services"] and job.is_notified("apply kernel settings"):
        server.shell(name="Apply the kernel settings", commands=["sysctl --system"], _if=job.changed("apply kernel settings"))
    if job.is_notified("reload nftables"):
        if v["common_nftables_validate"]:
            server.shell(name="Check the firewall before it is loaded", commands=["nft -c -f /etc/nftables.conf"],
                         _if=job.changed("reload nftables"))
        if v["common_manage_services"]:
            systemd.service(name="Reload the firewall", service="nftables", reloaded=True, _if=job.changed("reload nftables"))
    if v["common_manage_services"] and job.is_notified("restart journald"):
        systemd.service(name="Restart journald", service="systemd-journald", restarted=True, _if=job.changed("restart journald"))
