"""The topology diagram: sites, hosts, proxy pairs with their VIPs, trunks, seat pools and recording
storage as a Graphviz graph (DOT source), rendered by `dot` to SVG or PNG."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from trunkline.errors import RenderError
from trunkline.plan.topology import Plan
from trunkline.report import atomic_write, suffix_format

DIAGRAM_FORMATS = ("svg", "png", "dot")
DOT_TIMEOUT_S = 60


class Left(str):
    """A label whose lines are left-justified (DOT ends each with \\l instead of \\n)."""


def _q(text: str) -> str:
    """A DOT string: quoted, quotes and backslashes escaped, line breaks as DOT's \\n (or \\l)."""
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(text, Left):
        return '"' + escaped.replace("\n", "\\l") + '\\l"'
    return '"' + escaped.replace("\n", "\\n") + '"'


def _attrs(**kw) -> str:
    return "[" + ", ".join(f"{k}={_q(v)}" for k, v in kw.items()) + "]"


def topology_dot(plan: Plan) -> str:
    """Graphviz source: a cluster per site (proxy pair + VIP, rtpengines, media, recording,
    seat pools), the carriers' trunks on the left, recording storage and DR links."""
    lines: list[str] = []

    def node(name: str, **kw) -> None:
        lines.append(f"  {_q(name)} {_attrs(**kw)};")

    def edge(a: str, b: str, **kw) -> None:
        lines.append(f"  {_q(a)} -> {_q(b)} {_attrs(**kw)};")

    def cluster(name: str, **kw) -> None:
        lines.append(f"  subgraph {name} {{ " + " ".join(f"{k}={_q(v)};" for k, v in kw.items()))

    title = f"{plan.center} ({plan.customer}): sites, hosts, proxy pairs with their VIPs, trunks"
    lines.append(f"digraph {_q(plan.center)} {{")
    lines.append(f"  graph {_attrs(rankdir='LR', compound='true', fontname='DejaVu Sans', fontsize='14', labelloc='t', labeljust='l', nodesep='0.22', ranksep='0.55', newrank='true', bgcolor='white', pad='0.2', label=title)};")
    lines.append(f"  node {_attrs(fontname='DejaVu Sans', fontsize='10', shape='box', style='rounded,filled', fillcolor='white', color='#4d4d4d', penwidth='1.2')};")
    lines.append(f"  edge {_attrs(fontname='DejaVu Sans', fontsize='9', color='#4d4d4d', fontcolor='#333333', arrowsize='0.7')};")

    cluster("cluster_carriers", label="carriers (SIP trunks)", style="rounded,dashed", color="#999999")
    for t in plan.trunks:
        label = "\n".join([t.name, f"{t.transport}:{t.port} · {t.channels} channels", ", ".join(t.peers)])
        node("trunk:" + t.name, label=label, style="filled", fillcolor="#fff1c7")
    lines.append("  }")

    rec = plan.recording
    store = None
    if rec["mode"] != "none" and rec["storage"]["kind"] in ("s3", "oss"):
        st = rec["storage"]
        store = "store:recordings"
        flags = " · ".join(x for x in (st["encryption"], "WORM" if st["worm"] else "") if x)
        node(store, label="\n".join(["recordings", f"{st['kind']}://{st['bucket']}", flags]), shape="cylinder",
             style="filled", fillcolor="#efe6f7")

    for i, site in enumerate(plan.sites):
        where = site.kind + (f", {site.provider} {site.region or ''}".rstrip() if site.provider else "")
        label = Left("\n".join([f"{site.name} · {where} · {site.role}",
                                 f"{site.cidr} · {site.seats} seats · {site.concurrent_calls} calls"]))
        cluster(f"cluster_site_{i}", label=label, style="rounded,filled", fillcolor="#e9f3fb" if site.kind == "cloud" else "#eef0f3",
                color="#7a8a99", fontsize="12")
        vip = f"vip:{site.name}"
        proxies = [plan.host(n) for n in site.proxies]
        vrid = proxies[0].ha.vrid if proxies and proxies[0].ha else None
        node(vip, label="\n".join([f"VIP {site.vip}", f"VRRP vrid {vrid}" if vrid else "(single proxy)"]),
             shape="ellipse", fillcolor="#ffe08a", color="#b58900")
        cluster(f"cluster_pair_{i}", label="SIP proxy pair (Kamailio + keepalived)" if len(proxies) > 1 else "SIP proxy (Kamailio)",
                style="rounded,dashed", color="#7a8a99", fontsize="10")
        for h in proxies:
            node(h.name, label="\n".join([h.name, h.address] + ([f"{h.ha.state} · prio {h.ha.priority}"] if h.ha else [])))
        lines.append("  }")
        for name in site.rtpengines:
            h = plan.host(name)
            node(h.name, label="\n".join([h.name, h.address, "rtpengine"]), fillcolor="#f4f4f4")
        cluster(f"cluster_media_{i}", label=f"media (FreeSWITCH) · {site.media_nodes} x {site.calls_per_node} calls",
                style="rounded,dashed", color="#7a8a99", fontsize="10")
        for name in site.media:
            h = plan.host(name)
            node(h.name, label="\n".join([h.name, h.address]))
        lines.append("  }")
        for name in site.recording:
            h = plan.host(name)
            node(h.name, label="\n".join([h.name, h.address, f"recordings ({rec['storage']['kind']})"]), shape="cylinder",
                 fillcolor="#efe6f7")
        pools = [sp for sp in plan.seats if sp.site == site.name]
        for sp in pools:
            kind = "hosted (rented)" if sp.hosted else ("burst" if site.role == "burst" else "own seats")
            node("pool:" + sp.pool, label="\n".join([f"{sp.pool}: {sp.agents} agents", kind]), shape="tab",
                 fillcolor="#f6d5d3" if sp.hosted else "#d7e5f2", color="#c8423b" if sp.hosted else "#1f5f99")
        lines.append("  }")

        # inside the site: the VIP held by the pair, each proxy with its rtpengine, dispatcher to media
        for k, h in enumerate(proxies):
            edge(vip, h.name, style="solid" if k == 0 else "dashed", label="holds" if k == 0 else "takes over")
        if len(proxies) == 2:
            edge(proxies[0].name, proxies[1].name, dir="both", style="dotted", constraint="false", label="VRRP")
        # the plan gives each proxy its rtpengine, or none at all (media_relay: none)
        for p, r in zip(site.proxies, site.rtpengines, strict=bool(site.rtpengines)):
            edge(p, r, label="media relay")
        if site.media and proxies:
            local = ", ".join(str(d) for d in site.dispatcher_sets if d < 100)
            edge(proxies[0].name, site.media[0], ltail=f"cluster_pair_{i}", lhead=f"cluster_media_{i}", label=f"dispatcher set {local}")
            for m in site.media[1:]:
                edge(proxies[0].name, m, style="invis")  # keeps every media node in the column after the proxies
        for r in site.rtpengines[:1]:
            for target in [*site.recording, *([store] if store else [])]:
                edge(r, target, label="recordings", style="dashed")
        if site.media:
            for sp in pools:
                edge(site.media[0], "pool:" + sp.pool, ltail=f"cluster_media_{i}", label="queues")

    for t in plan.trunks:
        for s in t.sites:
            edge("trunk:" + t.name, "vip:" + s, penwidth="1.6")
    # disaster recovery: a primary's proxies may send calls to the standby's media
    index = {s.name: i for i, s in enumerate(plan.sites)}
    for d in plan.dispatcher_sets:
        if d.purpose.startswith("dr:"):
            src, dst = plan.site(d.site), plan.site(d.purpose.split(":", 1)[1])
            if src.proxies and dst.media:
                edge(src.proxies[0], dst.media[0], ltail=f"cluster_pair_{index[src.name]}", lhead=f"cluster_media_{index[dst.name]}",
                     style="dashed", color="#c8423b", fontcolor="#c8423b", label=f"DR: dispatcher set {d.id}", constraint="false")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_dot(source: str, fmt: str = "svg") -> bytes:
    """Run Graphviz `dot`; its absence or failure is a RenderError naming the fix."""
    if fmt == "dot":
        return source.encode()
    exe = shutil.which("dot")
    if not exe:
        raise RenderError("the topology diagram needs Graphviz's dot, which is not installed; apt-get install graphviz")
    try:
        proc = subprocess.run([exe, f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=DOT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise RenderError(f"dot took longer than {DOT_TIMEOUT_S} s on the topology diagram; try trunkline diagram -o FILE.dot and dot by hand") from None
    if proc.returncode != 0:
        raise RenderError(f"dot rejected the topology diagram: {proc.stderr.decode(errors='replace').strip()}; this is a trunkline bug, please report it with the blueprint")
    return proc.stdout


def topology_svg(plan: Plan) -> bytes:
    return render_dot(topology_dot(plan), "svg")


def write_diagram(plan: Plan, path: Path) -> Path:
    path = Path(path)
    atomic_write(path, render_dot(topology_dot(plan), suffix_format(path, DIAGRAM_FORMATS, "-o")))
    return path
