"""Plan -> files: each host's configuration at the path it takes on the server.

The role catalogue (trunkline/roles.py) says which templates a role gets. A template's place under templates/
mirrors its target path: templates/kamailio/etc/kamailio/kamailio.cfg.j2 is written to
<out>/<host>/etc/kamailio/kamailio.cfg. Rendering is atomic: everything goes into a temporary
folder beside the output, which replaces the output only when every template rendered. An
existing output is replaced only when it is trunkline's own (its manifest, nothing foreign in it)
or empty; any other folder is refused, or with force moved aside, never deleted (replace_dir).

Every blueprint value reaches a file through the escaper of that file's format (render/escape.py,
registered below as filters: xml, fs, kamailio, shell, tmpfiles_path, exports_path...).

Secrets never reach a file: `{{ secret(ref) }}` writes a marker `@@secret:REF@@` (trunkline/secrets.py)
that the apply step resolves on the target; the manifest lists the references each file needs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import jinja2

from trunkline import secrets as secret_marker
from trunkline.errors import CheckError, RenderError, UsageError
from trunkline.paths import TEMPLATES
from trunkline.plan import topology
from trunkline.plan.topology import Host, Plan, SitePlan
from trunkline.render import escape
from trunkline.roles import COMMON, OUTPUTS

MANIFEST = "manifest.json"


def header_for(plan: Plan, template: str, comment: str) -> str:
    """The managed-by line; the blueprint's file name and center are made safe for the comment syntax."""
    text = f"managed by trunkline from blueprint {plan.source} ({plan.center}) with template {template}; local edits are overwritten"
    if comment == "xml":
        return f"<!-- {escape.comment(text, 'xml')} -->"
    return f"{comment} {escape.comment(text)}"


def environment(templates: Path | None = None) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates or TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # templates do not change during a run: no stat per file rendered
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(filters())
    env.tests["contains"] = lambda seq, item: item in seq
    env.globals["secret"] = lambda ref: secret_marker.marker(escape.secret_ref(ref))
    env.globals.update(constants())
    return env


def filters() -> dict[str, Callable]:
    """trunkline's own Jinja filters (also what benchmarks/render_scale.py gives ansible-core)."""
    return {
        # escaping per output format: render/escape.py; every blueprint value goes through one of these
        "xml": escape.xml, "fs": escape.freeswitch, "kamailio": escape.kamailio, "shell": escape.shell,
        "tmpfiles_path": escape.tmpfiles_path, "exports_path": escape.exports_path, "store_path": escape.store_path,
        "timezone": escape.timezone, "systemd_exec": escape.systemd_exec,
        "fs_var": lambda name: name.replace("-", "_"),
        "sha256": lambda text: hashlib.sha256(str(text).encode()).hexdigest(),
        "by_family": by_family,
    }


def constants() -> dict[str, object]:
    """The plan's named ports and limits, for the firewall and the services that open them."""
    return {name.lower(): getattr(topology, name) for name in (
        "RTP_PORTS", "SIP_PORT", "SIP_TLS_PORT", "MEDIA_SIP_PORT", "FREESWITCH_RTP_PORTS", "RTPENGINE_NG_PORT", "NFS_PORTS",
        "SIP_BAN_SECONDS")}


def by_family(addrs: list[str]) -> list[tuple[int, list[str]]]:
    """Addresses or networks -> [(4, [...]), (6, [...])], each sorted and without repeats, only the
    families that have members: nftables sets hold one family each."""
    nets = {a: ipaddress.ip_network(a, strict=False) for a in addrs}
    return [(v, sorted({a for a, n in nets.items() if n.version == v}, key=nets.__getitem__))
            for v in (4, 6) if any(n.version == v for n in nets.values())]


@dataclass(frozen=True)
class RenderedFile:
    host: str
    path: str  # target path on the host
    template: str
    content: bytes
    mode: str
    owner: str
    group: str
    secrets: tuple[str, ...]
    digest: str = dataclasses.field(default="", repr=False, compare=False)  # sha256, when known (a site-wide file's)

    @property
    def sha256(self) -> str:
        return self.digest or hashlib.sha256(self.content).hexdigest()


def render_host(plan: Plan, host: Host, env: jinja2.Environment | None = None,
                site_wide: dict[tuple[str, str], RenderedFile] | None = None) -> list[RenderedFile]:
    """site_wide: the files of site-wide outputs already rendered in this run, by (template, site)."""
    env = env or environment()
    site: SitePlan = plan.site(host.site)
    site_wide = {} if site_wide is None else site_wide
    out = []
    for o in OUTPUTS[host.role] + COMMON:
        if not o.when(plan, host):
            continue
        key = (o.template, site.name)
        if o.site_wide and key in site_wide:
            out.append(dataclasses.replace(site_wide[key], host=host.name))
            continue
        try:
            tpl = env.get_template(o.template)
            comment = "xml" if o.template.endswith(".xml.j2") else "#"
            context = dict(plan=plan, site=site, header=header_for(plan, o.template, comment))
            # a site-wide file has no `host`: StrictUndefined refuses a template that reads it
            text = tpl.render(**context) if o.site_wide else tpl.render(host=host, **context)
        except jinja2.TemplateError as exc:
            where = f"{getattr(exc, 'filename', None) or o.template}:{getattr(exc, 'lineno', '?')}"
            raise RenderError(f"templates/{o.template} for host {host.name}: {exc} ({where}); fix the template or the plan field it names") from None
        except escape.UnsafeValue as exc:
            raise escape.UnsafeValue(f"{_fields_of(plan, exc)}: {exc} (templates/{o.template}:{_template_line(exc)}, "
                                     f"host {host.name})") from None
        secrets = tuple(sorted(set(secret_marker.refs_in(text))))
        out.append(RenderedFile(host.name, o.target, o.template, text.encode(), o.mode, o.owner, o.group, secrets))
        if o.site_wide:  # the hosts of the site share one bytes object and its digest
            site_wide[key] = out[-1] = dataclasses.replace(out[-1], digest=out[-1].sha256)
    return out


def _fields_of(plan: Plan, exc: escape.UnsafeValue) -> str:
    """The plan fields a refused value came from (searched only when a render fails): the fields
    equal to it, else those that hold it (a template may have cut or lower-cased the value)."""
    value = str(exc.value)
    strings: list[tuple[str, str]] = []

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")
        elif isinstance(node, str) and node:
            strings.append((path, node))

    walk(plan.model_dump(mode="json"), "")
    found = [p for p, s in strings if s == value] or [p for p, s in strings if value and value.lower() in s.lower()]
    return ", ".join(f"plan.{p}" for p in found[:3]) or "a plan value"


def _template_line(exc: BaseException) -> str:
    """The template line that called the filter (Jinja maps its frames to template lines)."""
    tb, line = exc.__traceback__, "?"
    while tb:
        if tb.tb_frame.f_code.co_filename.endswith(".j2"):
            line = str(tb.tb_lineno)
        tb = tb.tb_next
    return line


def render_plan(plan: Plan, hosts: list[str] | None = None) -> list[RenderedFile]:
    env = environment()
    files: list[RenderedFile] = []
    site_wide: dict[tuple[str, str], RenderedFile] = {}
    for host in plan.hosts:
        if hosts is None or host.name in hosts:
            files.extend(render_host(plan, host, env, site_wide))
    return files


def manifest(plan: Plan, files: list[RenderedFile]) -> dict:
    return {
        "center": plan.center,
        "blueprint": plan.source,
        "blueprint_sha256": plan.blueprint_sha256,
        "files": [
            {
                "host": f.host, "path": f.path, "template": f"templates/{f.template}", "sha256": f.sha256,
                "mode": f.mode, "owner": f.owner, "group": f.group, "secrets": list(f.secrets),
            }
            for f in files
        ],
    }


MARK_KEYS = frozenset({"center", "blueprint", "blueprint_sha256", "files"})  # what makes a manifest trunkline's


def check_output_folder(out: Path) -> None:
    """-o names a folder (new or existing): a file or a symbolic link there is refused before anything is written."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        kind = "a symbolic link" if out.is_symlink() else "a file"
        raise UsageError(f"-o {out}: is {kind}, not a folder; name a folder (nothing was written, nothing renamed)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"-o {out}: cannot make the folder it goes in ({exc.strerror}); nothing was written") from None


def listed_files(out: Path, manifest_path: str = MANIFEST, prefix: str = "") -> set[str] | None:
    """Files (relative to out) that a trunkline manifest at out/manifest_path lists, itself included;
    None when there is no manifest of trunkline's there (not our folder)."""
    try:
        body = json.loads((out / manifest_path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict) or not MARK_KEYS <= body.keys() or not isinstance(body["files"], list):
        return None
    written = {p for p in body.get("written", []) if isinstance(p, str)}  # an inventory lists all it wrote
    return {manifest_path} | written | {f"{prefix}{e.get('host')}/{str(e.get('path', '')).lstrip('/')}" for e in body["files"] if isinstance(e, dict)}


def _files_under(root: Path) -> set[str]:
    """Every file and link under root (links not followed), relative to root."""
    out = set()
    for folder, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if (Path(folder) / d).is_symlink()]:
            out.add((Path(folder) / name).relative_to(root).as_posix())
    return out


def replace_dir(tmp: Path, out: Path, *, manifest_path: str = MANIFEST, prefix: str = "", force: bool = False,
                notes: list[str] | None = None) -> Path | None:
    """Put a finished temporary folder in the place of out; out stays whole until the renames.

    out is replaced only when it is new, empty, or trunkline's own output: a trunkline manifest at
    out/manifest_path, and no file in it that neither that manifest nor the new tree names. Anything
    else is refused (UsageError, exit 2); with force it is moved aside to OUT.bak-<time>, never
    deleted. Returns that backup folder, if one was made.
    """
    check_output_folder(out)
    if not out.exists():
        tmp.rename(out)
        return None
    present = _files_under(out)
    listed = listed_files(out, manifest_path, prefix)
    unlisted = present - (listed or set())
    foreign = sorted(unlisted - _files_under(tmp)) if unlisted else []  # the new tree is walked only when needed
    if foreign:
        why = (f"holds {len(foreign)} file(s) trunkline did not write ({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''})"
               if listed is not None else f"is not a trunkline output folder (no {manifest_path} of trunkline's in it)")
        if not force:
            raise UsageError(f"-o {out}: {why}; nothing was changed. Name a new or empty folder, or pass --force to move "
                             f"{out} aside to {out}.bak-<time> (nothing is deleted) and write a new one there")
        backup = _backup_name(out)
        out.rename(backup)
        tmp.rename(out)
        if notes is not None:
            notes.append(f"{out} {why}: moved it to {backup} (delete that yourself when you no longer need it)")
        return backup
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old)
    return None


def _backup_name(out: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    backup, n = out.with_name(f"{out.name}.bak-{stamp}"), 1
    while backup.exists() or backup.is_symlink():
        n += 1
        backup = out.with_name(f"{out.name}.bak-{stamp}-{n}")
    return backup


def write_tree(plan: Plan, files: list[RenderedFile], out: Path, verify: Callable[[Path], None] | None = None,
               force: bool = False, notes: list[str] | None = None) -> Path:
    """Write files under out/<host>/<path> and out/manifest.json, replacing out atomically.

    `verify` sees the finished temporary tree first; if it raises, out is left as it was. A folder
    that is not trunkline's output is refused, or with `force` moved aside (replace_dir).
    """
    out = Path(out)
    check_output_folder(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        made: set[Path] = set()
        for f in files:
            dest = tmp / f.host / f.path.lstrip("/")
            if dest.parent not in made:  # hosts share folders: one mkdir each (thousands of files at scale)
                dest.parent.mkdir(parents=True, exist_ok=True)
                made.add(dest.parent)
            dest.write_bytes(f.content)
            dest.chmod(int(f.mode, 8))
        (tmp / MANIFEST).write_text(json.dumps(manifest(plan, files), indent=2) + "\n")
        tmp.chmod(0o755)
        if verify:
            verify(tmp)
        replace_dir(tmp, out, force=force, notes=notes)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def render_site(plan: Plan, out: Path, hosts: list[str] | None = None, check: bool = True, force: bool = False,
                notes: list[str] | None = None) -> list[RenderedFile]:
    """Render every host (or the named ones), check with the real programs, write the tree.

    Nothing is written when a template fails or a program rejects a file.
    """
    from trunkline.render.check import failed, check_tree

    def verify(tree: Path) -> None:
        bad = failed(check_tree(tree))
        if bad:
            lines = [f"{r.host}:{r.path}: {r.checker} rejected it:\n    " + r.detail.replace("\n", "\n    ") for r in bad]
            raise CheckError("rendered files were rejected; the previous output is unchanged\n" + "\n".join(lines))

    files = render_plan(plan, hosts)
    write_tree(plan, files, out, verify if check else None, force=force, notes=notes)
    return files
