"""roles/rtpengine with pyinfra: the relay, its recording daemon, their folders and configuration."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd

from trunkline.deploys import APT, HostJob, make_dirs, place


def services(job: HostJob) -> list[str]:
    return ["rtpengine-daemon"] + (["rtpengine-recording-daemon"] if job.vars["rtpengine_recording"] else [])


@deploy("rtpengine")
def run(job: HostJob) -> None:
    v = job.vars
    recording = v["rtpengine_recording"]
    packages = v["rtpengine_packages"] + (v["rtpengine_recording_packages"] if recording else [])
    apt.packages(name="Install rtpengine and, when calls are recorded, its recording daemon", packages=packages,
                 cache_time=v["rtpengine_apt_cache_valid_time"], **APT)
    if recording:
        server.group(name="Create the group that may read recordings", group=v["rtpengine_recording_group"], system=True)
        for path in (v["rtpengine_spool_dir"], v["rtpengine_recording_dir"]):
            files.directory(name=f"Create the spool and recording folders: {path}", path=path, user="rtpengine",
                            group=v["rtpengine_recording_group"], mode="0750")
    make_dirs(job, "rtpengine", "Create the folders of the rendered files")
    job.notify("restart rtpengine", *place(job, "rtpengine", "Place the rendered rtpengine configuration"))
    if v["rtpengine_manage_service"]:
        for service in services(job):
            systemd.service(name=f"Start {service}, now and at boot", service=service, running=True, enabled=True)


def handlers(job: HostJob) -> None:
    # rtpengine has no configuration test; the render step parsed the files before they got here
    if job.vars["rtpengine_manage_service"] and job.is_notified("restart rtpengine"):
        for service in services(job):
            systemd.service(name=f"Restart {service}", service=service, restarted=True, daemon_reload=True,
                            _if=job.changed("restart rtpengine"))
