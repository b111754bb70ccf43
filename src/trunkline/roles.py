"""The role catalogue: what each role of the plan is, in one table that render, deploys, verify and the lab read.

    CATALOGUE[role].outputs           the files render/ makes for it: templates/<folder>/..., mode, owner, when
    CATALOGUE[role].deploys           its Ansible roles (roles/<name>/, site.yml's play for its group), which are
                                      also its pyinfra deploys (trunkline/deploys/<name>.py), in the order applied
    CATALOGUE[role].lab               the programs the lab starts on it (targets/lab: argv_for), in start order;
                                      STAND_IN names what runs in a program's place when the lab cannot run it
    CATALOGUE[role].lab_processes     what verify finds running there in the lab; server_processes on servers
    CATALOGUE[role].ports             what it serves, as its firewall opens it (templates/common/etc/nftables.conf.j2)

The roles are the plan's (sip-proxy, rtpengine, media, recording) and "common": what every host gets
(its files, the common Ansible role and deploy, applied first). Programs in PAIR_ONLY run only on a
proxy of an HA pair. A template's folder under templates/ says which Ansible role places its file
(each role's <role>_template_dirs); tests/onprem/test_role_catalogue.py checks site.yml, roles/ and
templates/ against this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from trunkline.plan.topology import (FREESWITCH_RTP_PORTS, MEDIA_SIP_PORT, NFS_PORTS, RTP_PORTS, RTPENGINE_NG_PORT, SIP_PORT,
                                     SIP_TLS_PORT, Host, Plan)


@dataclass(frozen=True)
class Output:
    template: str  # relative to templates/
    when: Callable[[Plan, Host], bool] = lambda plan, host: True
    mode: str = "0644"
    owner: str = "root"
    group: str = "root"
    header: bool = True  # False: the file's format has no comments, so no managed-by line (/etc/timezone)
    # the same bytes on every host of the role at a site (a site's agents and tiers): rendered once
    # per site, without `host` in the template's context, so a 100,000-seat center renders in
    # proportion to its seats rather than seats x media nodes
    site_wide: bool = False

    @property
    def target(self) -> str:
        """/etc/kamailio/kamailio.cfg for kamailio/etc/kamailio/kamailio.cfg.j2"""
        return "/" + self.template.split("/", 1)[1].removesuffix(".j2")


def _pair(plan: Plan, host: Host) -> bool:
    return host.ha is not None


def _recording(plan: Plan, host: Host) -> bool:
    return plan.recording["mode"] != "none"


def _mp3(plan: Plan, host: Host) -> bool:
    """FreeSWITCH writes the recordings as mp3 (mod_shout, which reads shout.conf)."""
    return plan.recording["mode"] != "none" and plan.recording["format"] == "mp3"


def _onprem(plan: Plan, host: Host) -> bool:
    """Hosts trunkline manages itself (a cloud site's hosts belong to the cloud target)."""
    return plan.site(host.site).kind == "onprem"


def _recording_over_nfs(plan: Plan, host: Host) -> bool:
    """A media node mounts the site's store when recordings go to an NFS store there."""
    rec = plan.recording
    return rec["mode"] != "none" and rec["storage"]["kind"] == "nfs" and bool(plan.hosts_of(host.site, "recording"))


# every host, whatever its role
_COMMON = (
    Output("common/etc/systemd/journald.conf.d/trunkline-retention.conf.j2"),
    Output("common/etc/nftables.conf.j2", when=_onprem, mode="0755"),
    Output("common/etc/timezone.j2", when=_onprem, header=False),  # the zone's name alone: /etc/localtime links to it
)


@dataclass(frozen=True)
class Role:
    outputs: tuple[Output, ...]
    deploys: tuple[str, ...]
    lab: tuple[str, ...] = ()
    lab_processes: tuple[str, ...] = ()
    server_processes: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()  # proto/port, proto/first-last; vrrp: IP protocol 112
    units: tuple[str, ...] = ()  # the systemd units it runs on a server (the cloud user-data starts them)


def _span(ports: tuple[int, int]) -> str:
    return f"{ports[0]}-{ports[1]}"


# Private keys are not rendered: the tls role places them (apply time).
CATALOGUE: dict[str, Role] = {
    "common": Role(_COMMON, ("common",), ports=("tcp/22",), units=("systemd-journald",)),  # SSH: the site's ssh.port, from the admin networks
    "sip-proxy": Role(
        outputs=(
            Output("kamailio/etc/kamailio/kamailio.cfg.j2", mode="0640", group="kamailio"),
            Output("kamailio/etc/kamailio/dispatcher.list.j2", mode="0640", group="kamailio"),
            Output("kamailio/etc/kamailio/tls.cfg.j2", mode="0640", group="kamailio"),
            Output("kamailio/etc/default/kamailio.j2"),
            Output("kamailio/etc/systemd/system/kamailio.service.d/trunkline.conf.j2"),
            Output("keepalived/etc/keepalived/keepalived.conf.j2", when=_pair, mode="0640"),
            Output("keepalived/etc/keepalived/check_kamailio.sh.j2", when=_pair, mode="0755"),
        ),
        deploys=("kamailio", "tls", "keepalived"),
        lab=("kamailio", "keepalived"),
        lab_processes=("kamailio", "keepalived"),
        server_processes=("kamailio", "keepalived"),
        units=("kamailio", "keepalived"),
        ports=(f"udp/{SIP_PORT}", f"tcp/{SIP_PORT}", f"tcp/{SIP_TLS_PORT}", "vrrp"),  # and the trunks' own ports
    ),
    "rtpengine": Role(
        outputs=(
            Output("rtpengine/etc/rtpengine/rtpengine.conf.j2"),
        ),
        deploys=("rtpengine",),
        lab=("rtpengine",),
        lab_processes=("rtpengine",),
        server_processes=("rtpengine",),
        units=("rtpengine-daemon",),
        ports=(f"udp/{RTPENGINE_NG_PORT}", f"udp/{_span(RTP_PORTS)}"),
    ),
    "media": Role(
        outputs=(
            Output("freeswitch/etc/freeswitch/freeswitch.xml.j2", owner="freeswitch", group="freeswitch"),
            Output("freeswitch/etc/freeswitch/vars.xml.j2", mode="0640", owner="freeswitch", group="freeswitch"),
            Output("freeswitch/etc/freeswitch/autoload_configs/switch.conf.xml.j2", owner="freeswitch", group="freeswitch"),
            Output("freeswitch/etc/freeswitch/autoload_configs/timezones.conf.xml.j2", owner="freeswitch", group="freeswitch"),
            Output("freeswitch/etc/freeswitch/autoload_configs/console.conf.xml.j2", owner="freeswitch", group="freeswitch"),
            Output("freeswitch/etc/freeswitch/autoload_configs/logfile.conf.xml.j2", owner="freeswitch", group="freeswitch"),
            Output("freeswitch/etc/freeswitch/autoload_configs/event_socket.conf.xml.j2", mode="0640", owner="freeswitch", group="freeswitch"),
            Output("freeswitch/etc/freeswitch/autoload_configs/sofia.conf.xml.j2", owner="freeswitch", group="freeswitch"),
            Output("freeswitch/etc/freeswitch/autoload_configs/db.conf.xml.j2", owner="freeswitch", group="freeswitch"),
            Output("freeswitch/etc/freeswitch/autoload_configs/local_stream.conf.xml.j2", owner="freeswitch", group="freeswitch"),
            Output("freeswitch/etc/freeswitch/autoload_configs/ivr.conf.xml.j2", owner="freeswitch", group="freeswitch"),
            Output("freeswitch/etc/freeswitch/autoload_configs/post_load_modules.conf.xml.j2", owner="freeswitch", group="freeswitch"),
            Output("freeswitch/etc/freeswitch/autoload_configs/opus.conf.xml.j2", owner="freeswitch", group="freeswitch"),
            Output("freeswitch/etc/freeswitch/autoload_configs/modules.conf.xml.j2", owner="freeswitch", group="freeswitch"),
            Output("freeswitch/etc/freeswitch/autoload_configs/callcenter.conf.xml.j2", owner="freeswitch", group="freeswitch", site_wide=True),
            Output("freeswitch/etc/freeswitch/sip_profiles/internal.xml.j2", mode="0640", owner="freeswitch", group="freeswitch"),
            Output("freeswitch/etc/freeswitch/sip_profiles/external.xml.j2", mode="0640", owner="freeswitch", group="freeswitch"),
            Output("freeswitch/etc/freeswitch/dialplan/trunkline.xml.j2", owner="freeswitch", group="freeswitch"),
            Output("freeswitch/etc/freeswitch/ivr_menus/trunkline.xml.j2", owner="freeswitch", group="freeswitch"),
            # FreeSWITCH records the calls: mod_shout's settings for mp3, its folder, the site's NFS store mounted there
            Output("freeswitch/etc/freeswitch/autoload_configs/shout.conf.xml.j2", when=_mp3, owner="freeswitch", group="freeswitch"),
            Output("recording/etc/tmpfiles.d/trunkline-recordings.conf.j2", when=_recording),
            Output("freeswitch/etc/systemd/system/trunkline-recording-store.service.j2", when=_recording_over_nfs),
            Output("freeswitch/etc/freeswitch/directory/trunkline.xml.j2", mode="0640", owner="freeswitch", group="freeswitch", site_wide=True),
        ),
        deploys=("freeswitch",),
        lab=("freeswitch",),  # trunkline's build (make freeswitch), as its unit runs it; STAND_IN without it
        lab_processes=("freeswitch",),
        server_processes=("freeswitch",),
        ports=(f"udp/{MEDIA_SIP_PORT}", f"tcp/{MEDIA_SIP_PORT}", f"udp/{_span(FREESWITCH_RTP_PORTS)}"),
    ),
    "recording": Role(
        outputs=(
            Output("recording/etc/tmpfiles.d/trunkline-recordings.conf.j2"),
            Output("recording/etc/exports.d/trunkline.exports.j2", when=lambda plan, host: plan.recording["storage"]["kind"] == "nfs"),
            Output("recording/etc/default/trunkline-retention.j2"),
        ),
        deploys=("recording_storage",),
        units=("nfs-kernel-server",),
        ports=tuple(f"{p}/{n}" for n in NFS_PORTS for p in ("tcp", "udp")),  # NFS for the site's media nodes
    ),
}
PAIR_ONLY = {"keepalived"}  # runs only on a proxy of an HA pair (it holds the VIP)
# a lab program -> what the lab runs in its place on a machine without it, or when asked to (the edge
# benchmarks measure Kamailio alone): that lab program and its process name
STAND_IN = {"freeswitch": ("sipp-uas", "sipp")}

COMMON = CATALOGUE["common"].outputs  # every host, whatever its role
OUTPUTS = {name: role.outputs for name, role in CATALOGUE.items() if name != "common"}  # plan role -> its files


def _on(host: Host, names: tuple[str, ...]) -> list[str]:
    return [n for n in names if n not in PAIR_ONLY or host.ha]


def lab_programs(host: Host, stand_in: bool = False) -> list[str]:
    """What the lab starts on a host, in start order; `stand_in`: STAND_IN's programs in place of theirs."""
    return [STAND_IN[n][0] if stand_in and n in STAND_IN else n for n in _on(host, CATALOGUE[host.role].lab)]


def processes(host: Host, target: str, stand_in: bool = False) -> list[str]:
    """What verify expects running on a host: in the lab (target "lab", `stand_in` as for
    lab_programs) or on servers."""
    role = CATALOGUE[host.role]
    if target != "lab":
        return _on(host, role.server_processes)
    pairs = [(prog, proc) for prog, proc in zip(role.lab, role.lab_processes) if prog not in PAIR_ONLY or host.ha]
    return [STAND_IN[prog][1] if stand_in and prog in STAND_IN else proc for prog, proc in pairs]
