"""roles/kamailio with pyinfra: the package and the rendered configuration; kamailio -c before a restart."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, server, systemd

from trunkline.deploys import APT, HostJob, make_dirs, place


@deploy("kamailio")
def run(job: HostJob) -> None:
    v = job.vars
    apt.packages(name="Install Kamailio", packages=v["kamailio_packages"], cache_time=v["kamailio_apt_cache_valid_time"], **APT)
    entries = job.files_of("kamailio")
    dispatcher = [e for e in entries if e["path"] == v["kamailio_dispatcher_list"]]
    make_dirs(job, "kamailio", "Create the folders of the rendered files")
    job.notify("restart kamailio", *place(job, "kamailio", "Place the rendered Kamailio configuration",
                                          [e for e in entries if e not in dispatcher]))
    job.notify("reload kamailio", *place(job, "kamailio", "Place the rendered dispatcher list", dispatcher))
    if v["kamailio_manage_service"]:
        systemd.service(name="Start Kamailio, now and at boot", service="kamailio", running=True, enabled=True)


def handlers(job: HostJob) -> None:
    v = job.vars
    if not job.is_notified("restart kamailio", "reload kamailio"):
        return
    # kamailio -c first: a configuration it rejects never replaces the running one
    server.shell(name="Check the Kamailio configuration before it is loaded", commands=["kamailio -c -f /etc/kamailio/kamailio.cfg"],
                 _if=job.changed("restart kamailio", "reload kamailio"))
    if v["kamailio_manage_service"]:
        systemd.service(name="Restart Kamailio", service="kamailio", restarted=True, daemon_reload=True,
                        _if=job.changed("restart kamailio"))  # the rendered drop-in may have changed
        server.shell(name="Reload the dispatcher list", commands=["kamcmd dispatcher.reload"], _if=job.changed("reload kamailio"))
