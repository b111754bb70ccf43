"""Render: the output map, the manifest, atomic writes and the no-secrets rule."""

from __future__ import annotations

import hashlib
import json

import pytest

from trunkline.errors import CheckError, RenderError
from trunkline.paths import ROLES
from trunkline.center import load as load_center
from trunkline.render import MANIFEST, TEMPLATES, render_plan, render_site
from trunkline.roles import CATALOGUE

from shared import EXAMPLES, ROOT, example_ids

ACME = ROOT / "blueprints" / "acme-bank.yaml"


@pytest.fixture(scope="module")
def acme_tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("render") / "acme-bank"
    render_site(load_center(ACME).plan, out, check=False)
    return out


def test_files_land_under_host_at_their_server_path(acme_tree):
    assert (acme_tree / "sh-dc1-sip1" / "etc" / "kamailio" / "kamailio.cfg").is_file()
    assert (acme_tree / "sh-dc1-sip2" / "etc" / "keepalived" / "keepalived.conf").is_file()
    assert (acme_tree / "sh-dc1-rtp1" / "etc" / "rtpengine" / "rtpengine.conf").is_file()
    assert (acme_tree / "sh-dc1-media1" / "etc" / "freeswitch" / "autoload_configs" / "callcenter.conf.xml").is_file()


def test_manifest_lists_every_file_with_its_sha256_template_and_blueprint(acme_tree):
    manifest = json.loads((acme_tree / MANIFEST).read_text())
    on_disk = {p.relative_to(acme_tree).as_posix() for p in acme_tree.rglob("*") if p.is_file() and p.name != MANIFEST}
    listed = {f"{e['host']}{e['path']}" for e in manifest["files"]}
    assert listed == on_disk
    for e in manifest["files"]:
        data = (acme_tree / e["host"] / e["path"].lstrip("/")).read_bytes()
        assert hashlib.sha256(data).hexdigest() == e["sha256"]
        assert (TEMPLATES.parent / e["template"]).is_file()
    assert manifest["blueprint"].endswith("acme-bank.yaml") and len(manifest["blueprint_sha256"]) == 64


def test_file_modes_follow_the_output_map(acme_tree):
    cfg = acme_tree / "sh-dc1-sip1" / "etc" / "kamailio" / "kamailio.cfg"
    script = acme_tree / "sh-dc1-sip1" / "etc" / "keepalived" / "check_kamailio.sh"
    assert oct(cfg.stat().st_mode & 0o777) == "0o640"
    assert oct(script.stat().st_mode & 0o777) == "0o755"


@pytest.mark.parametrize("path", EXAMPLES, ids=example_ids())
def test_every_file_starts_with_a_managed_by_header_naming_blueprint_and_template(path):
    headerless = {o.template for role in CATALOGUE.values() for o in role.outputs if not o.header}
    for f in render_plan(load_center(path).plan):
        lines = f.content.decode().splitlines()
        if f.template in headerless:  # a format without comments (/etc/timezone): one line, nothing else
            assert len(lines) == 1, (f.host, f.path)
            continue
        first = lines[1] if lines[0].startswith("#!") else lines[0]  # a shebang or #!KAMAILIO must stay first
        assert "managed by trunkline" in first, (f.host, f.path)
        assert path.name in first and f.template in first


@pytest.mark.parametrize("path", EXAMPLES, ids=example_ids())
def test_no_secret_value_reaches_a_rendered_file(path, monkeypatch):
    # even with the referenced variables set, rendering never resolves them
    plan = load_center(path).plan
    refs = [t.secret_ref for t in plan.trunks if t.secret_ref] + [plan.security[k] for k in ("event_socket_password", "agent_sip_password")]
    for ref in refs:
        if ref.startswith("env:"):
            monkeypatch.setenv(ref[4:], "SUPER-SECRET-VALUE")
    files = render_plan(load_center(path).plan)
    assert not any(b"SUPER-SECRET-VALUE" in f.content for f in files)
    used = {r for f in files for r in f.secrets}
    assert used <= set(refs) | {plan.recording["storage"].get("key")}


def test_sip_proxy_gets_keepalived_only_in_a_pair(tmp_path):
    from trunkline.blueprint.load import load_blueprint
    from trunkline.plan.topology import build_plan

    plan = build_plan(load_blueprint(ROOT / "tests/blueprint/base.yaml", ["spec.sites[0].sip_proxy.ha=single"]))
    paths = {f.path for f in render_plan(plan) if f.host.endswith("sip1")}
    assert "/etc/kamailio/kamailio.cfg" in paths and "/etc/keepalived/keepalived.conf" not in paths


def test_failed_template_leaves_the_previous_output_as_it_was(tmp_path, monkeypatch):
    import trunkline.render as render

    out = tmp_path / "out"
    plan = load_center(ACME).plan
    render_site(plan, out, check=False)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    broken = tmp_path / "templates"
    import shutil

    shutil.copytree(render.TEMPLATES, broken)
    (broken / "rtpengine/etc/rtpengine/rtpengine.conf.j2").write_text("{{ header }}\n{{ plan.no_such_field }}\n")
    monkeypatch.setattr(render, "TEMPLATES", broken)
    with pytest.raises(RenderError, match="rtpengine.conf.j2.*no_such_field"):
        render_site(plan, out, check=False)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


def test_site_wide_files_are_rendered_once_per_site_and_name_no_host():
    """A site's agents and tiers (callcenter.conf.xml, the directory) are the same bytes on each of
    its media nodes: templated once per site (the hosts share one bytes object), and the node's own
    cc-instance-id comes from vars.xml, which is per node."""
    plan = load_center(ACME).plan
    wide = {o.target for o in CATALOGUE["media"].outputs if o.site_wide}
    assert wide == {"/etc/freeswitch/autoload_configs/callcenter.conf.xml", "/etc/freeswitch/directory/trunkline.xml"}
    files = render_plan(plan)
    for site in plan.sites:
        nodes = [h.name for h in plan.hosts_of(site.name, "media")]
        for target in wide:
            copies = [f for f in files if f.host in nodes and f.path == target]
            assert len(copies) == len(nodes) > 1 and all(f.content is copies[0].content for f in copies), (site.name, target)
            assert not any(n.encode() in copies[0].content for n in nodes), f"{target} names a node"
            assert all(f.sha256 == hashlib.sha256(f.content).hexdigest() for f in copies)
    cc = next(f for f in files if f.path.endswith("callcenter.conf.xml")).content.decode()
    assert '<param name="cc-instance-id" value="$${trunkline_node}"/>' in cc
    for f in files:
        if f.path == "/etc/freeswitch/vars.xml":
            assert f'<X-PRE-PROCESS cmd="set" data="trunkline_node={f.host}"/>'.encode() in f.content


def test_a_site_wide_template_that_reads_the_host_is_refused(tmp_path, monkeypatch):
    """Rendered once for all the site's nodes, it has no `host` to read: a template that reads one
    would give every node the first node's value, so it fails to render instead."""
    import trunkline.render as render
    from trunkline.roles import Output

    (tmp_path / "freeswitch" / "etc").mkdir(parents=True)
    (tmp_path / "freeswitch" / "etc" / "node.conf.j2").write_text("{{ header }}\nnode={{ host.name }}\n")
    monkeypatch.setitem(render.OUTPUTS, "media", (Output("freeswitch/etc/node.conf.j2", site_wide=True),))
    monkeypatch.setattr(render, "COMMON", ())
    plan = load_center(ACME).plan
    node = next(h for h in plan.hosts if h.role == "media")
    with pytest.raises(RenderError, match="node.conf.j2 for host .*'host' is undefined"):
        render.render_host(plan, node, render.environment(tmp_path))


def test_file_rejected_by_a_program_leaves_the_previous_output_as_it_was(tmp_path, monkeypatch):
    import trunkline.render.check as check

    out = tmp_path / "out"
    plan = load_center(ACME).plan
    render_site(plan, out, check=False)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    monkeypatch.setattr(check, "check_xml", lambda path: ("XML parser", "failed", "pretend it is broken"))
    with pytest.raises(CheckError, match="pretend it is broken"):
        render_site(plan, out, check=True)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_kamailio_runs_with_tlsf_and_the_planned_memory_through_a_drop_in(acme_tree):
    """Debian's unit passes only -m/-M; the drop-in resets ExecStart to add the TLSF memory manager."""
    unit = (acme_tree / "sh-dc1-sip1" / "etc/systemd/system/kamailio.service.d/trunkline.conf").read_text()
    starts = [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert starts[0] == "" and len(starts) == 2, "the packaged ExecStart must be reset before it is replaced"
    argv = starts[1].split()
    assert argv[0] == "/usr/sbin/kamailio" and argv[argv.index("-x") + 1] == "tlsf" and argv[argv.index("-X") + 1] == "tlsf"
    assert argv[argv.index("-m") + 1] == "$SHM_MEMORY" and argv[argv.index("-M") + 1] == "$PKG_MEMORY"


def _kamailio_cfg(tmp_path, sets=()):
    plan = load_center(ACME, list(sets)).plan
    render_site(plan, tmp_path / "out", check=False)
    return (tmp_path / "out" / "sh-dc1-sip1" / "etc/kamailio/kamailio.cfg").read_text()


def _core(cfg: str, name: str) -> int:
    return int(next(line.split("=", 1)[1] for line in cfg.splitlines() if line.startswith(f"{name}=")))


def test_kamailio_workers_follow_the_media_relay(tmp_path):
    """Workers that wait on rtpengine scale with the edge's rate; without a relay none waits, and
    Kamailio's default of 8 per socket beats more (fewer context switches)."""
    relayed = _kamailio_cfg(tmp_path / "a", ["spec.sites[0].sip_proxy.max_cps=10000"])
    signalling = _kamailio_cfg(tmp_path / "b", ["spec.sites[0].sip_proxy.max_cps=10000", "spec.recording.mode=none",
                                                "spec.sites[0].sip_proxy.media_relay=none"])
    assert _core(relayed, "children") == 32 and _core(signalling, "children") == 8
    assert _core(_kamailio_cfg(tmp_path / "c"), "children") == 16  # acme-bank's own busy hour: the floor
    # sockets may grow to what the common role lets the kernel give them
    sysctl = dict(line.replace(" ", "").split("=", 1) for line in (ROLES / "common/files/60-trunkline.conf").read_text().splitlines()
                  if "=" in line and not line.startswith("#"))
    assert _core(relayed, "maxbuffer") == _core(signalling, "maxbuffer") == int(sysctl["net.core.rmem_max"])
