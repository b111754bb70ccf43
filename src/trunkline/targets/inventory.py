"""Plan -> inventories/<center>/: what Ansible, pyinfra, ssh and testinfra need to reach the hosts.

Only the on-prem sites' hosts are in it (cloud sites belong to the cloud target). Written
atomically, like a render:

    hosts.yml                 Ansible: groups per role (sip_proxy, rtpengine, media, recording)
                              and per site (site_<name>); ansible_host is the plan's address
    group_vars/all.yml        where the render tree is, the recording store, the secrets hook
    group_vars/site_<s>.yml   SSH user, port, key (a file: reference) and bastion of the site
    host_vars/<host>.yml      the host's role, site and TLS references
    inventory.py              the same hosts for pyinfra (`pyinfra inventory.py exec -- uptime`)
    ssh_config                `ssh -F ssh_config <host>`; testinfra and pyinfra read it too
    pki/                      where users put the proxies' certificates and keys (carried over)
    manifest.json             trunkline's mark: the center, its blueprint and every file written

Host files are not here: every one of them (the firewall and the time zone included) is rendered
by render/ into the render tree that group_vars/all.yml names.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from trunkline.errors import TrunklineError, UsageError
from trunkline.plan.topology import Host, Plan, SshPlan
from trunkline.render import check_output_folder, escape, manifest, replace_dir
from trunkline.render.escape import ansible_unsafe as unsafe


class InventoryError(TrunklineError):
    exit_code = 2


def group_of_role(role: str) -> str:
    """sip-proxy -> sip_proxy: Ansible group names may not contain '-'."""
    return role.replace("-", "_")


def group_of_site(site: str) -> str:
    return "site_" + site.replace("-", "_")


def onprem_hosts(plan: Plan) -> list[Host]:
    kinds = {s.name: s.kind for s in plan.sites}
    return [h for h in plan.hosts if kinds[h.site] == "onprem"]


# --- SSH: what verify and the engines need to reach a host -----------------------------------


@dataclass(frozen=True)
class SshTarget:
    host: str
    address: str
    user: str = "root"
    port: int = 22
    key: str | None = None  # a path (from a file: reference); None: ssh-agent or ~/.ssh defaults
    bastion: str | None = None
    ssh_config: str | None = None  # the inventory's ssh_config, which has this host (with ProxyJump)

    def testinfra_spec(self) -> str:
        """A pytest-testinfra host: paramiko://user@address:port[?ssh_identity_file=KEY]; behind a
        bastion, ssh://HOST?ssh_config=FILE (OpenSSH follows the ProxyJump of the inventory's ssh_config)."""
        if self.bastion and self.ssh_config:
            return f"ssh://{self.host}?ssh_config={quote(self.ssh_config, safe='/~')}"
        spec = f"paramiko://{self.user}@{self.address}:{self.port}"  # the user holds no URL delimiter (ssh_targets)
        return spec + (f"?ssh_identity_file={quote(self.key, safe='/~')}" if self.key else "")  # parse_qs unquotes it


def ssh_key_path(ref: str | None, where: str) -> str | None:
    """file:~/.ssh/key -> ~/.ssh/key. A key stays a file on the control machine; env:/vault: are refused."""
    if ref is None:
        return None
    scheme, _, rest = ref.partition(":")
    if scheme != "file":
        raise InventoryError(f"{where}: SSH key {ref!r}: only file: references work for SSH keys (the key stays a file "
                             f"on this machine); write key: file:~/.ssh/NAME or leave key out to use ssh-agent")
    return rest


def ssh_targets(plan: Plan) -> dict[str, SshTarget]:
    """Host name -> how to reach it, from the plan's addresses and its sites' ssh settings.

    User, key and bastion land in ssh_config, in ansible_ssh_common_args and on ssh command lines:
    each must be one ssh_config value (escape.ssh_config), else a located InventoryError."""
    out = {}
    for h in onprem_hosts(plan):
        s = plan.site(h.site).ssh or SshPlan()
        where = f"spec.sites[{h.site}].ssh"
        key = ssh_key_path(s.key, f"{where}.key")
        try:
            user = escape.ssh_config(s.user)
            if any(c in user for c in "@:/?#&%[]"):  # it is also the user part of testinfra's host URL
                raise escape.UnsafeValue(f"{escape.shown(user)} holds one of @ : / ? # & % [ ], which no login name has; remove them", user)
        except escape.UnsafeValue as exc:
            raise InventoryError(f"{where}.user: {exc}") from None
        for field, value, check in (("key", key, lambda v: escape.ssh_config(v, spaces=True)), ("bastion", s.bastion, escape.ssh_jump)):
            try:
                if value is not None:
                    check(value)
            except escape.UnsafeValue as exc:
                raise InventoryError(f"{where}.{field}: {exc}" if field != "key" else f"{where}.key: the path {exc}") from None
        out[h.name] = SshTarget(h.name, h.address, s.user, s.port, key, s.bastion)
    return out


def proxy_jump_args(bastion: str) -> str:
    """ansible_ssh_common_args for a bastion: one shell-quoted -o ProxyJump=..., never a pasted string."""
    return shlex.join(["-o", f"ProxyJump={escape.ssh_jump(bastion)}"])


def read_ssh_targets(inventory: Path) -> dict[str, SshTarget]:
    """The same from a written inventory (so edits to hosts.yml or group_vars are honoured).

    This is the hook for `trunkline verify --target onprem`: one SshTarget per host with the
    address, user, port, key path and bastion; `inventory / "ssh_config"` has them as ssh config.
    """
    inv = load_inventory(inventory)
    out = {}
    for name, v in inv.hosts.items():
        out[name] = SshTarget(name, str(v.get("ansible_host", name)), str(v.get("ansible_user", "root")),
                              int(v.get("ansible_port", 22)), v.get("ansible_ssh_private_key_file"), v.get("trunkline_bastion"),
                              str(Path(inventory).absolute() / "ssh_config"))
    return out


def _store(plan: Plan) -> str:
    """recording.storage.path, checked where it is written: the roles make it and age files under it."""
    try:
        return escape.store_path(plan.recording["storage"]["path"])
    except escape.UnsafeValue as exc:
        raise InventoryError(f"spec.recording.storage.path: {exc}") from None


# --- the inventory folder ---------------------------------------------------------------------


def _yaml():
    """Strings from the blueprint are written as !unsafe: Ansible never evaluates Jinja in them."""
    y = escape.unsafe_yaml()
    y.default_flow_style = False
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _dump(path: Path, comment: str, data: dict) -> None:
    import io

    buf = io.StringIO()
    buf.write("---\n" + "".join(f"# {escape.comment(line)}\n" for line in comment.split("\n")))
    _yaml().dump(data, buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue())


PKI_KEEP = "pki"  # the folder the inventory's pki/README tells users to put certificates and keys in
WRITTEN = "manifest.json"  # trunkline's mark on an inventory: the render manifest's keys (no files), plus "written"
OLD_WRITTEN = "files/manifest.json"  # the mark of an inventory that still held host files (files/<host>/...)


def write_inventory(plan: Plan, out: Path, render_dir: Path, force: bool = False,
                    notes: list[str] | None = None) -> list[str]:
    """Write out/ (replacing it atomically); returns the host names in it.

    `render_dir` is where the render tree is (group_vars/all.yml points there, relatively).
    What users put in pki/ (certificates, keys) is carried into the new inventory and said in
    `notes`; a folder that is not a trunkline inventory is refused, or with `force` moved aside.
    Every string from the blueprint is written !unsafe (Ansible never templates it).
    """
    hosts = onprem_hosts(plan)
    if not hosts:
        raise UsageError(f"{plan.source}: no site of {plan.center} has kind: onprem; the on-prem target has nothing to manage")
    targets = ssh_targets(plan)
    out = Path(out).absolute()
    render_dir = Path(render_dir).absolute()
    if any(m in str(render_dir) for m in ("{{", "{%", "{#")):
        raise UsageError(f"--build {render_dir}: holds Jinja markers, which Ansible would evaluate; name another folder")
    check_output_folder(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    made_by = f"generated by `trunkline inventory {plan.source}` ({plan.center}); regenerate it rather than edit it"
    try:
        roles = sorted({h.role for h in hosts}, key=["sip-proxy", "rtpengine", "recording", "media"].index)
        sites = [s.name for s in plan.sites if any(h.site == s.name for h in hosts)]
        children: dict = {}
        for role in roles:
            children[group_of_role(role)] = {"hosts": {h.name: None for h in hosts if h.role == role}}
        for site in sites:
            children[group_of_site(site)] = {"hosts": {h.name: None for h in hosts if h.site == site}}
        for h in hosts:  # connection variables once, in the role group
            children[group_of_role(h.role)]["hosts"][h.name] = {"ansible_host": unsafe(h.address)}
        _dump(tmp / "hosts.yml", made_by + "\nGroups: one per role and one per site (site_<name>).", {"all": {"children": children}})

        rec = plan.recording
        store = _store(plan)
        # relative to the inventory, so a checkout with build/ and inventories/ side by side can move
        render_ref = "{{ inventory_dir }}/" + os.path.relpath(render_dir.resolve(), out.resolve())
        # the three Jinja values are trunkline's own (Ansible glue); every value from the blueprint is !unsafe
        all_vars = {
            "trunkline_center": unsafe(plan.center),
            "trunkline_blueprint": unsafe(plan.source),
            "trunkline_render_dir": render_ref,
            "trunkline_secrets": "{{ lookup('ansible.builtin.env', 'TRUNKLINE_SECRETS', default='{}') | from_json }}",
            "recording_storage_path": unsafe(store),
            "recording_storage_kind": unsafe(rec["storage"]["kind"]),
            "recording_storage_encryption": unsafe(rec["storage"]["encryption"]),
            "recording_storage_retention_days": plan.sizing.retention_days,
            "freeswitch_recording": rec["mode"] != "none",
            "freeswitch_recording_dir": unsafe(store),
            "freeswitch_recording_format": unsafe(rec["format"]),
        }
        _dump(tmp / "group_vars" / "all.yml",
              made_by + "\ntrunkline_secrets: `trunkline apply` passes resolved secret references in the environment,"
              "\nnever on a command line or in a file; from AWX, set it from a vaulted credential instead.", all_vars)
        for site in sites:
            t = next(targets[h.name] for h in hosts if h.site == site)
            v = {"ansible_user": unsafe(t.user), "ansible_port": t.port}
            if t.key:
                v["ansible_ssh_private_key_file"] = unsafe(t.key)
            if t.bastion:
                v["ansible_ssh_common_args"] = unsafe(proxy_jump_args(t.bastion))
                v["trunkline_bastion"] = unsafe(t.bastion)
            _dump(tmp / "group_vars" / f"{group_of_site(site)}.yml", made_by + f"\nHow site {site} is reached (the blueprint's ssh section).", v)
        for h in hosts:
            v = {"trunkline_role": unsafe(h.role), "trunkline_site": unsafe(h.site)}
            if h.role == "sip-proxy" and any(t.transport == "tls" and h.site in t.sites for t in plan.trunks):
                v.update({
                    "tls_certificate_ref": unsafe(f"file:pki/{h.name}.crt"),
                    "tls_private_key_ref": unsafe(f"file:pki/{h.name}.key"),
                    "tls_ca_ref": unsafe("file:pki/ca.crt"),
                })
                # carriers' CAs the proxies verify client certificates against (trunks[].tls.ca)
                cas = sorted({t.tls_ca_ref for t in plan.trunks if h.site in t.sites and t.tls_ca_ref})
                if cas:
                    v["tls_carrier_ca_refs"] = [unsafe(ref) for ref in cas]
            _dump(tmp / "host_vars" / f"{h.name}.yml", made_by + "\nReferences (*_ref): env:NAME or file:PATH; a relative PATH is relative to this inventory.", v)

        _write_pyinfra(tmp / "inventory.py", hosts, targets, made_by)
        _write_ssh_config(tmp / "ssh_config", hosts, targets, made_by)
        (tmp / "pki").mkdir()
        (tmp / "pki" / "README").write_text(
            "Certificates of the SIP proxies: <host>.crt, <host>.key and ca.crt, named by the tls_*_ref\n"
            "references in host_vars/. Keys do not belong in git: .gitignore keeps them out.\n"
            "`trunkline inventory` carries what you put here into the inventory it writes.\n")
        (tmp / "pki" / ".gitignore").write_text("*.key\n")
        written = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file()) + [WRITTEN]
        (tmp / WRITTEN).write_text(json.dumps(dict(manifest(plan, []), written=sorted(written)), indent=2) + "\n")
        kept = _carry_pki(out, tmp)
        tmp.chmod(0o755)
        # an inventory written before host files moved to render/ carries its mark under files/
        mark = OLD_WRITTEN if not (out / WRITTEN).exists() and (out / OLD_WRITTEN).exists() else WRITTEN
        replace_dir(tmp, out, manifest_path=mark, prefix="files/", force=force, notes=notes)
        if kept and notes is not None:
            notes.append(f"kept what you put in {out / PKI_KEEP}: {', '.join(kept)}")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [h.name for h in hosts]


def _carry_pki(out: Path, tmp: Path) -> list[str]:
    """Copy the user's files in out/pki (certificates, keys: what pki/README asks for) into the new
    tree, keeping modes and links; the old tree is only removed after the new one is in place."""
    src = out / PKI_KEEP
    if out.is_symlink() or not src.is_dir() or src.is_symlink():
        return []
    kept = []
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src)
        if rel.as_posix() in ("README", ".gitignore") or (p.is_dir() and not p.is_symlink()):
            continue
        dest = tmp / PKI_KEEP / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dest, follow_symlinks=False)
        kept.append(rel.as_posix())
    return kept


def chroot_vars() -> dict:
    """Variables of a host that is a Debian root on this machine (`--chroot`). A chroot has no init
    system and shares this machine's kernel and disks: nothing is started, reloaded or loaded into
    the kernel there, and the store's volume cannot be checked for encryption; files are placed
    and checked, packages installed."""
    return {
        "ansible_connection": "community.general.chroot",
        "ansible_python_interpreter": "/usr/bin/python3",
        "common_manage_services": False,
        "kamailio_manage_service": False,
        "keepalived_manage_service": False,
        "rtpengine_manage_service": False,
        "freeswitch_manage_service": False,
        "recording_storage_manage_service": False,
        "recording_storage_require_encrypted_volume": False,
    }


def _write_pyinfra(path: Path, hosts: list[Host], targets: dict[str, SshTarget], made_by: str) -> None:
    lines = [f"# {escape.comment(made_by)}", "# pyinfra inventory: groups per role and per site, e.g.",
             "#   pyinfra inventories/<center>/inventory.py exec -- uptime",
             "# `trunkline apply --engine pyinfra` builds the same hosts in code from hosts.yml.",
             "from pathlib import Path", "",
             "_SSH_CONFIG = str(Path(__file__).with_name(\"ssh_config\"))  # has the bastion (ProxyJump)", ""]
    groups: dict[str, list[Host]] = {}
    for h in hosts:
        groups.setdefault(group_of_role(h.role), []).append(h)
        groups.setdefault(group_of_site(h.site), []).append(h)

    def entry(h: Host) -> str:
        t = targets[h.name]
        data = {"trunkline_host": h.name, "ssh_user": t.user, "ssh_port": t.port}
        if t.key:
            data["ssh_key"] = t.key
        lit = escape.python_literal  # data as Python literals, never pasted into code
        if not t.bastion:
            return f"    ({lit(h.name)}, {lit(dict(data, ssh_hostname=t.address))}),"
        return f"    ({lit(h.name)}, {{**{lit(data)}, \"ssh_config_file\": _SSH_CONFIG}}),"

    for group, members in groups.items():
        lines += [f"{group} = [", *[entry(h) for h in members], "]", ""]
    path.write_text("\n".join(lines))


def _write_ssh_config(path: Path, hosts: list[Host], targets: dict[str, SshTarget], made_by: str) -> None:
    lines = [f"# {escape.comment(made_by)}", "# ssh -F ssh_config <host>; the plan's addresses with the blueprint's per-site ssh settings", ""]
    v = escape.ssh_config  # one value per keyword: refuses what could start another keyword or option
    for h in hosts:
        t = targets[h.name]
        lines += [f"Host {v(h.name)}", f"    HostName {v(t.address)}", f"    User {v(t.user)}", f"    Port {t.port}"]
        if t.key:
            lines.append(f"    IdentityFile {v(t.key, spaces=True)}")
        if t.bastion:
            lines.append(f"    ProxyJump {escape.ssh_jump(t.bastion)}")
        lines.append("")
    path.write_text("\n".join(lines))


# --- reading an inventory back ----------------------------------------------------------------


@dataclass
class Inventory:
    dir: Path
    hosts: dict[str, dict]  # host -> merged variables (inventory's view, Jinja strings left as they are)
    groups: dict[str, list[str]]


def load_inventory(inventory: Path) -> Inventory:
    """hosts.yml + group_vars + host_vars, merged with Ansible's order: all < groups < host_vars."""
    inventory = Path(inventory)
    if not (inventory / "hosts.yml").exists():
        raise UsageError(f"{inventory}: no hosts.yml; write it with trunkline inventory BLUEPRINT -o {inventory}")
    y = escape.unsafe_yaml("safe")  # !unsafe values come back as escape.Unsafe (data, not Jinja)
    data = y.load((inventory / "hosts.yml").read_text()) or {}
    groups: dict[str, list[str]] = {}
    inline: dict[str, dict] = {}
    for group, body in ((data.get("all") or {}).get("children") or {}).items():
        for name, v in ((body or {}).get("hosts") or {}).items():
            groups.setdefault(group, []).append(name)
            inline.setdefault(name, {}).update(v or {})

    def read(p: Path) -> dict:
        return (y.load(p.read_text()) or {}) if p.exists() else {}

    all_vars = read(inventory / "group_vars" / "all.yml")
    hosts = {}
    for name, v in inline.items():
        merged = dict(all_vars)
        for group in sorted(g for g, members in groups.items() if name in members):
            merged.update(read(inventory / "group_vars" / f"{group}.yml"))
        merged.update(v)
        merged.update(read(inventory / "host_vars" / f"{name}.yml"))
        hosts[name] = merged
    return Inventory(inventory, hosts, groups)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
