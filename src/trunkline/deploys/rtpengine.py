"""roles/rtpengine with pyinfra: the relay and its configuration (it records nothing: the media nodes do)."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, systemd

from trunkline.deploys import APT, HostJob, make_dirs, place


SERVICES = ["rtpengine-daemon"]  # roles/rtpengine/vars/main.yml: rtpengine_services


@deploy("rtpengine")
def run(job: HostJob) -> None:
    v = job.vars
    apt.packages(name="Install rtpengine", packages=v["rtpengine_packages"], cache_time=v["rtpengine_apt_cache_valid_time"], **APT)
    make_dirs(job, "rtpengine", "Create the folders of the rendered files")
    job.notify("restart rtpengine", *place(job, "rtpengine", "Place the rendered rtpengine configuration"))
    if v["rtpengine_manage_service"]:
        for service in SERVICES:
            systemd.service(name=f"Start {service}, now and at boot", service=service, running=True, enabled=True)


def handlers(job: HostJob) -> None:
    # rtpengine has no configuration test; the render step parsed the files before they got here
    if job.vars["rtpengine_manage_service"] and job.is_notified("restart rtpengine"):
        for service in SERVICES:
            systemd.service(name=f"Restart {service}", service=service, restarted=True, daemon_reload=True,
                            _if=job.changed("restart rtpengine"))
