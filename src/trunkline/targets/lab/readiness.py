"""Is the lab ready: VIP holders, SIP probes sent from inside namespaces, and waiting for each site
to answer (every proxy and media node answering OPTIONS; a media node that fails shows the end of
FreeSWITCH's log)."""

from __future__ import annotations

import time
from typing import Callable

from trunkline.plan.topology import MEDIA_SIP_PORT, Host, Plan
from trunkline.targets.lab import media as media_server
from trunkline.targets.lab.processes import alive
from trunkline.targets.lab.shell import in_ns, ip, run
from trunkline.targets.lab.state import LabError, LabState, carrier_ns, ns_name


def wait_until(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.1) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(interval)
    raise LabError(f"timed out after {timeout:.0f} s waiting for {what}")


def vip_holders(center: str, plan: Plan, site: str) -> list[str]:
    vip = plan.site(site).vip
    out = []
    for h in plan.hosts_of(site, "sip-proxy"):
        text = ip("-n", ns_name(center, h.name), "-o", "-4", "addr", "show", "dev", h.interface, check=False).stdout
        if f" {vip}/" in text:
            out.append(h.name)
    return out


def sip_options(center: str, from_ns: str, source: str, target: str, port: int = 5060, timeout: float = 1.0) -> str | None:
    """Send one SIP OPTIONS from a namespace; the status line of the answer, or None."""
    code = (
        "import socket,sys,uuid\n"
        "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(float(sys.argv[4]));s.bind((sys.argv[1],0))\n"
        "p=s.getsockname()[1];b=uuid.uuid4().hex\n"
        "m=(f'OPTIONS sip:{sys.argv[2]}:{sys.argv[3]} SIP/2.0\\r\\nVia: SIP/2.0/UDP {sys.argv[1]}:{p};branch=z9hG4bK{b}\\r\\n'\n"
        " f'From: <sip:probe@{sys.argv[1]}>;tag={b[:8]}\\r\\nTo: <sip:{sys.argv[2]}>\\r\\nCall-ID: {b}@trunkline\\r\\n'\n"
        " 'CSeq: 1 OPTIONS\\r\\nMax-Forwards: 70\\r\\nContent-Length: 0\\r\\n\\r\\n')\n"
        "s.sendto(m.encode(),(sys.argv[2],int(sys.argv[3])))\n"
        "try:\n print(s.recv(4096).decode(errors='replace').split('\\r\\n')[0])\n"
        "except OSError:\n pass\n"
    )
    proc = run(in_ns(from_ns, ["python3", "-c", code, source, target, str(port), str(timeout)]), check=False, timeout=timeout + 10)
    line = proc.stdout.strip()
    return line or None


def sip_send(from_ns: str, source: str, target: str, message: str, port: int = 5060, timeout: float = 2.0) -> list[str]:
    """Send one raw SIP message over UDP from a namespace and return what comes back (whole
    messages) until a final answer (2xx-6xx) or `timeout` s of silence. {port} in the message is the
    sender's local port (for Via and Contact)."""
    code = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(float(sys.argv[4]));s.bind((sys.argv[1],0))\n"
        "m=sys.stdin.read().replace('{port}',str(s.getsockname()[1]))\n"
        "s.sendto(m.encode(),(sys.argv[2],int(sys.argv[3])))\n"
        "while True:\n"
        " try:\n  r=s.recv(65535).decode(errors='replace')\n"
        " except OSError:\n  break\n"
        " sys.stdout.write(r+'\\0');sys.stdout.flush()\n"
        " if not r.startswith('SIP/2.0 1'):\n  break\n"
    )
    proc = run(in_ns(from_ns, ["python3", "-c", code, source, target, str(port), str(timeout)]), check=False,
                timeout=timeout * 10 + 10, input=message)
    return [m for m in proc.stdout.split("\0") if m]


def wait_proxy(center: str, plan: Plan, proxy: Host, timeout: float) -> None:
    """Until Kamailio on `proxy` answers OPTIONS. It answers only its site's trunk peers and media
    nodes: probe as one of them (a trunk with mutual TLS is answered only over TLS with its
    certificate, which the lab's carriers lack)."""
    trunk = next((t for t in plan.trunks if proxy.site in t.sites and not t.tls_verify), None)
    media = plan.hosts_of(proxy.site, "media")
    if trunk or not media:
        ns, src = carrier_ns(center, (trunk or plan.trunks[0]).name), (trunk or plan.trunks[0]).peers[0]
    else:
        ns, src = ns_name(center, media[0].name), media[0].address
    wait_until(f"Kamailio on {proxy.name} answering OPTIONS",
               lambda: (sip_options(center, ns, src, proxy.address) or "").startswith("SIP/2.0 200"), timeout, 0.3)


def wait_ready(state: LabState, plan: Plan, progress: Callable[[str], None] = lambda s: None, timeout: float = 30) -> None:
    c = plan.center
    for site in plan.sites:
        proxies = plan.hosts_of(site.name, "sip-proxy")
        if proxies[0].ha:
            wait_until(f"one VIP holder at {site.name}", lambda: len(vip_holders(c, plan, site.name)) == 1, timeout)
        for p in proxies:
            wait_proxy(c, plan, p, timeout)
        for m in plan.hosts_of(site.name, "media"):
            _wait_media_node(state, proxies[0], m, timeout)
        progress(f"site {site.name} ready: VIP {site.vip} on {', '.join(vip_holders(c, plan, site.name)) or proxies[0].name}")
    # the dispatcher marks nodes up on its first probe round (ds_ping_interval 1 s)
    time.sleep(1.5)


def _wait_media_node(state: LabState, proxy: Host, node: Host, timeout: float) -> None:
    """OPTIONS from the site's first proxy answered on MEDIA_SIP_PORT; FreeSWITCH gets its own
    bound (a start may include making its keys) and, failing, the end of its log in the error."""
    c = state.center
    procs = [p for p in state.processes if p.host == node.name]
    program = "FreeSWITCH" if state.media == "freeswitch" else "the SIPp stand-in"

    def answers() -> bool:
        if procs and not any(alive(p) for p in procs):
            raise LabError(f"{program} on media node {node.name} exited")
        return (sip_options(c, ns_name(c, proxy.name), proxy.address, node.address, MEDIA_SIP_PORT) or "").startswith("SIP/2.0 200")

    try:
        wait_until(f"{program} on media node {node.name} answering OPTIONS on {MEDIA_SIP_PORT}", answers,
                   media_server.START_TIMEOUT_S if state.media == "freeswitch" else timeout, 0.3)
    except LabError as exc:
        if state.media != "freeswitch":
            raise
        raise LabError(f"{exc}; the end of its log:\n{media_server.log_tail(state, node.name)}") from None

