"""The lab: a center's hosts as network namespaces on this machine, running the real programs.

Layout for center C (all of it made, recorded and removed by trunkline):

  tl-C-core            one namespace that is the sites' network: a bridge per site holding
                       the site gateway (.1), routes between sites, a point-to-point link per
                       carrier. The machine's own namespace gets no address, route or bridge.
  tl-C-<host>          one per host of the plan, `eth0` on its site bridge, addressed from the plan.
  tl-C-carrier-<trunk> one per trunk, holding the trunk's peer addresses; SIPp calls from here.
  tl-C-stranger        an address that is no trunk's peer (STRANGER), routed to every site like a
                       carrier: what a scanner on the internet would send from.
  tl-C-agents-<site>   with FreeSWITCH on the media nodes: the site's lab agents, SIP phones
                       registered to every media node of the site and logged in (agents.py).

Each host also gets a mount namespace in which /etc, /var and /srv are overlays (the rendered files
are placed at their server paths, with their owners and modes) and /run, /tmp are its own
tmpfs: every program reads exactly the rendered bytes at the paths it would on a server, and
nothing is written to the machine's /etc, /var or /srv.

Processes start in their own session, so the lab outlives `trunkline up`; their PIDs and start
times are in the state file, and `down` ends exactly those (a PID whose start time differs is
someone else's and is left alone). State is written before each resource is made, so `down`
cleans up after a crash or a `kill -9` of trunkline itself.

The package, one module a concern: state (the record, names), shell (running commands in a host or
namespace), pki, network, filesystems (and the lab's secret values), units (a systemd unit reader),
media (FreeSWITCH on the media nodes as its server unit runs it, or the SIPp stand-in), processes, readiness,
lifecycle (up, down, status), agents (the agents' phones and the lab's prompts), faults and caller
(FreeSWITCH as a carrier's call generator). Every public name is importable from here.
"""

from __future__ import annotations

from trunkline.targets.lab.state import STATE_ROOT, RUN_ROOT, LAB_SRC, LabError, Proc, LabState, lab_centers, ns_name, core_ns, carrier_ns, stranger_ns, mount_file, host_run_dir
from trunkline.targets.lab.shell import run, ip, in_host, in_ns
from trunkline.targets.lab.pki import make_lab_pki
from trunkline.targets.lab.network import STRANGER, build_network
from trunkline.targets.lab.filesystems import build_filesystems, fill_secrets
from trunkline.targets.lab.units import parse_unit, unit_lines, unit_umask, unit_command
from trunkline.targets.lab.media import STAND_IN_NOTE, fs_api
from trunkline.targets.lab.processes import KAMAILIO_DROPIN, SIPP_DIR, SIPP_SOCKET_BUFFER, alive, spawn, argv_for, services, start_host, stop_proc, stop_procs
from trunkline.targets.lab.readiness import wait_until, vip_holders, sip_options, sip_send, wait_ready
from trunkline.targets.lab.lifecycle import PROGRAMS, LAB_MAX_MEDIA, require_privileges, missing_programs, lab_overrides, up, down, HostStatus, status
from trunkline.targets.lab.faults import set_link, program_pids, kill_program, restart_service, dispatcher_flags, dispatcher_list, answered_calls
from trunkline.targets.lab.caller import CallResult, Caller, carrier_caller, start_caller

__all__ = [
    "STATE_ROOT", "RUN_ROOT", "LAB_SRC", "LabError", "Proc", "LabState", "lab_centers", "ns_name", "core_ns",
    "carrier_ns", "stranger_ns", "mount_file", "host_run_dir", "run", "ip", "in_host", "in_ns", "make_lab_pki",
    "STRANGER", "build_network", "build_filesystems", "fill_secrets", "parse_unit", "unit_lines", "unit_umask", "unit_command",
    "STAND_IN_NOTE", "fs_api", "KAMAILIO_DROPIN",
    "SIPP_DIR", "SIPP_SOCKET_BUFFER", "alive", "spawn", "argv_for", "services", "start_host", "stop_proc", "stop_procs",
    "wait_until", "vip_holders", "sip_options", "sip_send", "wait_ready", "PROGRAMS", "LAB_MAX_MEDIA",
    "require_privileges", "missing_programs", "lab_overrides", "up", "down", "HostStatus", "status", "set_link",
    "program_pids", "kill_program", "restart_service", "dispatcher_flags", "dispatcher_list", "answered_calls",
    "CallResult", "Caller", "carrier_caller", "start_caller",
]
