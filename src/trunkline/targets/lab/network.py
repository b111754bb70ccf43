"""The lab's network: one namespace per host, a core namespace with a bridge per site and routes
between sites, a point-to-point link per carrier, and a stranger that no trunk lists."""

from __future__ import annotations

import functools

from trunkline.paths import ROLES
from trunkline.plan.topology import Plan
from trunkline.targets.lab.shell import in_ns, ip, run
from trunkline.targets.lab.state import LabState, carrier_ns, core_ns, ns_name, stranger_ns


STRANGER = "192.0.2.66"  # the stranger namespace's address: no trunk's peer, documentation range


# the settings the common role gives a server (socket buffers, port range, keepalives), read from the
# role's own file. A namespace starts with the machine's values; it can set its own port range and
# keepalives, but its socket buffer limits (net.core.rmem_max and the like) are the machine's, read
# only inside it: benchmarks/_lab.py sets those for a measuring run (server_settings)
SERVER_SYSCTLS = ROLES / "common" / "files" / "60-trunkline.conf"


@functools.cache
def server_sysctls() -> tuple[str, ...]:
    """key=value of every setting in the common role's file (read once: every namespace applies it)."""
    out = []
    for line in SERVER_SYSCTLS.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            out.append(f"{key.strip()}={value.strip()}")
    return tuple(out)


def _add_ns(state: LabState, name: str) -> None:
    state.namespaces.append(name)
    state.save()
    ip("netns", "add", name)
    ip("-n", name, "link", "set", "lo", "up")
    # only the settings a network namespace may set for itself: the others are the machine's, which
    # the lab does not touch
    script = 'for kv in "$@"; do k=${kv%%=*}; [ -w "/proc/sys/$(echo "$k" | tr . /)" ] && sysctl -qw "$kv"; done; true'
    run(in_ns(name, ["sh", "-c", script, "sh", *server_sysctls()]))


def build_network(state: LabState, plan: Plan) -> None:
    c = plan.center
    core = core_ns(c)
    _add_ns(state, core)
    run(in_ns(core, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"]))
    for i, site in enumerate(plan.sites):
        br = f"br{i}"
        ip("-n", core, "link", "add", br, "type", "bridge")
        ip("-n", core, "addr", "add", f"{site.gateway}/{site.cidr.split('/')[1]}", "dev", br)
        ip("-n", core, "link", "set", br, "up")
    for j, host in enumerate(plan.hosts):
        ns = ns_name(c, host.name)
        _add_ns(state, ns)
        br = f"br{[s.name for s in plan.sites].index(host.site)}"
        peer = f"h{j}"
        ip("-n", core, "link", "add", peer, "type", "veth", "peer", "name", host.interface, "netns", ns)
        ip("-n", core, "link", "set", peer, "master", br, "up")
        ip("-n", ns, "addr", "add", f"{host.address}/{host.prefix}", "dev", host.interface)
        ip("-n", ns, "link", "set", host.interface, "up")
        ip("-n", ns, "route", "add", "default", "via", plan.site(host.site).gateway)
        if host.role == "sip-proxy":
            # the backup proxy listens on the VIP before it holds it
            run(in_ns(ns, ["sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1"]))
    for k, trunk in enumerate(plan.trunks):
        ns = carrier_ns(c, trunk.name)
        _add_ns(state, ns)
        link, gw = f"c{k}", f"169.254.{k + 1}.1"
        ip("-n", core, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("-n", core, "addr", "add", f"{gw}/32", "dev", link)
        ip("-n", core, "link", "set", link, "up")
        for peer in trunk.peers:
            ip("-n", ns, "addr", "add", f"{peer}/32", "dev", "eth0")
            ip("-n", core, "route", "add", f"{peer}/32", "dev", link)
        ip("-n", ns, "link", "set", "eth0", "up")
        ip("-n", ns, "route", "add", gw, "dev", "eth0")
        ip("-n", ns, "route", "add", "default", "via", gw, "src", trunk.peers[0])
    # a stranger: reaches every site as a carrier does, from an address no trunk lists
    ns = stranger_ns(c)
    _add_ns(state, ns)
    gw = "169.254.255.1"
    ip("-n", core, "link", "add", "x0", "type", "veth", "peer", "name", "eth0", "netns", ns)
    ip("-n", core, "addr", "add", f"{gw}/32", "dev", "x0")
    ip("-n", core, "link", "set", "x0", "up")
    ip("-n", core, "route", "add", f"{STRANGER}/32", "dev", "x0")
    ip("-n", ns, "addr", "add", f"{STRANGER}/32", "dev", "eth0")
    ip("-n", ns, "link", "set", "eth0", "up")
    ip("-n", ns, "route", "add", gw, "dev", "eth0")
    ip("-n", ns, "route", "add", "default", "via", gw, "src", STRANGER)

