"""pyinfra deploys: the Ansible roles of roles/, one per role, doing the same with pyinfra operations.

Each deploy reads its role's defaults (roles/<role>/defaults/main.yml: package names, paths),
overridden by the inventory's variables, so both engines install the same packages. Both place
the same bytes: the rendered files (build/<center>/<host>/..., the firewall and the time zone
included), each by the role whose <role>_template_dirs holds its template's folder. Secrets are resolved before a deploy starts and
reach it only as `HostJob.secrets`; operations that carry them are named, so their arguments
are never attached to the operation's description.

`apply_host(job)` runs every deploy a host's role needs (the role catalogue, trunkline/roles.py), in the
order site.yml runs the roles.
Handlers work as in Ansible: an operation that changes something notifies a topic
(`restart kamailio`); at the end of the play the topic's operations run, validation first,
each with `_if` so it runs only when a notifying operation changed something.
"""

from __future__ import annotations

import io
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML

from trunkline import secrets as secret_marker
from trunkline.paths import ROLES
from trunkline.render.escape import secret_value
from trunkline.roles import CATALOGUE


# plan role -> roles/deploys in the order site.yml applies them (common first, on every host): the role catalogue's
ROLE_DEPLOYS = {name: list(role.deploys) for name, role in CATALOGUE.items() if name != "common"}


@dataclass
class HostJob:
    """Everything a deploy needs for one host, resolved before anything runs."""

    name: str
    role: str
    site: str
    entries: list[dict]  # the render manifest's entries of this host
    render_dir: Path  # build/<center>
    vars: dict = field(default_factory=dict)  # role defaults < inventory < overrides (chroot)
    secrets: dict[str, str] = field(default_factory=dict)  # reference -> value, only those this host needs
    notified: dict[str, list] = field(default_factory=dict)  # handler topic -> operations that notify it

    def notify(self, topic: str, *ops) -> None:
        self.notified.setdefault(topic, []).extend(ops)

    def changed(self, *topics: str):
        """_if for a handler: run when an operation notifying one of the topics changed something."""
        ops = [op for t in topics for op in self.notified.get(t, [])]
        return lambda: any(op.did_change() for op in ops)

    def is_notified(self, *topics: str) -> bool:
        return any(self.notified.get(t) for t in topics)

    def files_of(self, role: str) -> list[dict]:
        """The role's files: those rendered from its <role>_template_dirs."""
        return [e for e in self.entries if role in roles_of_entry(e, self.vars)]

    def source(self, entry: dict) -> Path:
        return self.render_dir / self.name / entry["path"].lstrip("/")

    def content(self, entry: dict) -> bytes | io.BytesIO | str:
        """The bytes to place: the file itself, or with its secret markers replaced (in memory only)."""
        src = self.source(entry)
        if not entry.get("secrets"):
            return str(src)
        return io.BytesIO(unmark(src.read_text(), entry["path"], self.secrets).encode())


def roles_of_entry(entry: dict, v: dict) -> set[str]:
    """Which roles place a manifest entry: by the folder of its template under templates/ (each
    role's <role>_template_dirs)."""
    folder = entry["template"].removeprefix("templates/").split("/", 1)[0]
    return {k.removesuffix("_template_dirs") for k, dirs in v.items() if k.endswith("_template_dirs") and folder in dirs}


def unplaced(job: HostJob) -> list[str]:
    """Rendered files of the host that none of its roles places (a template folder no role claims)."""
    roles = {"common", *ROLE_DEPLOYS[job.role]}
    return [f"{e['path']} (templates/{e['template'].removeprefix('templates/')})" for e in job.entries
            if not roles & roles_of_entry(e, job.vars)]


def unmark(text: str, path: str, secrets: dict[str, str]) -> str:
    """@@secret:REF@@ -> the value, escaped for the file's format (escape.secret_value, as the
    roles' resolve_secrets filter does): XML-escaped in .xml files, one line elsewhere."""
    for ref, value in secrets.items():
        marker = secret_marker.marker(ref)
        if marker in text:
            text = text.replace(marker, secret_value(value.rstrip("\n"), path))
    return text


def role_defaults(role: str) -> dict:
    """roles/<role>/defaults/main.yml; values that are Jinja (Ansible glue) are left out."""
    data = YAML(typ="safe").load((ROLES / role / "defaults" / "main.yml").read_text()) or {}
    return {k: v for k, v in data.items() if not (isinstance(v, str) and "{{" in v)}


def all_role_defaults() -> dict:
    out: dict = {}
    for role in ["common", *{r for roles in ROLE_DEPLOYS.values() for r in roles}]:
        out.update(role_defaults(role))
    return out


APT = {"no_recommends": True, "update": True}


def make_dirs(job: HostJob, role: str, name: str, entries: list[dict] | None = None) -> None:
    """Create the missing folders of the role's files; existing ones are left as they are."""
    from pyinfra.operations import files

    for d in sorted({posixpath.dirname(e["path"]) for e in (job.files_of(role) if entries is None else entries)}):
        files.directory(name=f"{name}: {d}", path=d, present=True)


def place(job: HostJob, role: str, name: str, entries: list[dict] | None = None) -> list:
    """files.put for each of the role's files, with the manifest's owner, group and mode."""
    from pyinfra.operations import files

    ops = []
    for e in job.files_of(role) if entries is None else entries:
        ops.append(files.put(name=f"{name}: {e['path']}", src=job.content(e), dest=e["path"],
                             user=e["owner"], group=e["group"], mode=e["mode"]))
    return ops


def apply_host(job: HostJob) -> None:
    """The pyinfra counterpart of site.yml for one host; call inside add_deploy(state, ..., host=h)."""
    from trunkline.deploys import common, freeswitch, kamailio, keepalived, recording_storage, rtpengine, tls

    modules = {"common": common, "kamailio": kamailio, "tls": tls, "keepalived": keepalived,
               "rtpengine": rtpengine, "freeswitch": freeswitch, "recording_storage": recording_storage}
    for play in (["common"], ROLE_DEPLOYS[job.role]):  # handlers run at the end of each play, as in site.yml
        for name in play:
            modules[name].run(job)
        for name in play:
            modules[name].handlers(job)
