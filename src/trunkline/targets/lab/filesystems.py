"""Each lab host's file system: a persistent mount namespace in which /etc, /var and /srv are overlays
(a recording store under /srv is the host's own, never this machine's), /run and /tmp its own
tmpfs, and the rendered files placed at their server paths with their owners and modes (what the roles do on a server), their secret references filled in with the lab's own
random values as apply fills them in (fill_secrets)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shlex
import shutil
from pathlib import Path

from trunkline.plan.topology import Host, Plan
from trunkline.targets.lab.shell import in_host, run
from trunkline.targets.lab.state import LAB_SRC, RUN_ROOT, LabState, host_run_dir, mount_file


def _ensure_private_run_root(state: LabState) -> None:
    """Persistent mount namespaces are bind-mounted on files, which needs a private mount."""
    RUN_ROOT.mkdir(parents=True, exist_ok=True)
    mounts = Path("/proc/self/mountinfo").read_text()
    if f" {RUN_ROOT} " not in mounts:
        run(["mount", "--bind", str(RUN_ROOT), str(RUN_ROOT)])
        run(["mount", "--make-private", str(RUN_ROOT)])


def fill_secrets(state: LabState) -> None:
    """A random value per secret reference of the render (secrets.json, mode 0600), and the placed
    tree: the render with those values filled in by trunkline.deploys.unmark, as apply does, and its
    manifest's digests those of the filled files (what verify compares the hosts' files with)."""
    fill_tree(state.render_dir(), state.placed_dir(), lab_secret_values(state, state.render_dir()))


def lab_secret_values(state: LabState, render: Path) -> dict[str, str]:
    """The lab's values for a render's secret references: those the lab has, a new one for a new reference (kept)."""
    values = state.secrets()
    refs = {r for e in json.loads((render / "manifest.json").read_text())["files"] for r in e["secrets"]}
    if refs - values.keys():
        values |= {ref: secrets.token_urlsafe(18) for ref in sorted(refs - values.keys())}
        _save_secrets(state, values)
    return values


def _save_secrets(state: LabState, values: dict[str, str]) -> None:
    fd = os.open(state.dir / "secrets.json.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(values, fh, indent=2)
    (state.dir / "secrets.json.tmp").replace(state.dir / "secrets.json")


def fill_tree(render: Path, placed: Path, values: dict[str, str]) -> dict:
    """Copy a render to `placed` with the secret values filled in (root only), its manifest's digests
    those of the filled files; returns that manifest."""
    from trunkline.deploys import unmark

    manifest = json.loads((render / "manifest.json").read_text())
    shutil.copytree(render, placed)
    placed.chmod(0o700)
    for e in manifest["files"]:
        if e["secrets"]:
            f = placed / e["host"] / e["path"].lstrip("/")
            data = unmark(f.read_text(), e["path"], values).encode()
            f.write_bytes(data)
            e["sha256"] = hashlib.sha256(data).hexdigest()
    (placed / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def build_filesystems(state: LabState, plan: Plan) -> None:
    c = plan.center
    _ensure_private_run_root(state)
    state.run_dir = str(RUN_ROOT / c)
    state.save()
    manifest = json.loads((state.placed_dir() / "manifest.json").read_text())
    for host in plan.hosts:
        base = host_run_dir(c, host.name)
        for d in ("etc.upper", "etc.work", "var.upper", "var.work", "srv.upper", "srv.work"):
            (base / d).mkdir(parents=True, exist_ok=True)
        mnt = mount_file(c, host.name)
        mnt.parent.mkdir(parents=True, exist_ok=True)
        mnt.touch()
        state.mounts.append(str(mnt))
        state.save()
        run(["unshare", f"--mount={mnt}", "--propagation", "private", "true"])
        setup = " && ".join([
            f"mount -t overlay overlay -o lowerdir=/etc,upperdir={base}/etc.upper,workdir={base}/etc.work /etc",
            f"mount -t overlay overlay -o lowerdir=/var,upperdir={base}/var.upper,workdir={base}/var.work /var",
            f"mount -t overlay overlay -o lowerdir=/srv,upperdir={base}/srv.upper,workdir={base}/srv.work /srv",
            "mount -t tmpfs -o mode=0755 tmpfs /run",
            # the state folder (placed tree, lab PKI, SIPp scenarios), read-only, before /tmp is hidden
            f"mkdir -p {LAB_SRC} && mount --bind '{state.dir}' {LAB_SRC} && mount -o remount,bind,ro {LAB_SRC}",
            "mount -t tmpfs -o mode=1777 tmpfs /tmp",
        ])
        run(["nsenter", f"--mount={mnt}", "--", "sh", "-c", setup])
        place_files(c, host, [e for e in manifest["files"] if e["host"] == host.name])


def place_files(center: str, host: Host, entries: list[dict], tree: str = "placed", removed: list[str] = (),
                pki: bool = True) -> None:
    """Install the rendered files at their paths with their owners and modes (what the roles do),
    from `tree` (a folder of the lab's state: the placed tree, or a rollout's); `removed`: paths to
    delete; `pki`: also the lab's certificates (at up; a rollout changes rendered files only)."""
    script = ["set -e"]
    for user in sorted({e["owner"] for e in entries} | {e["group"] for e in entries} | {"trunkline-rec"}):
        # users the packages would create; made in this host's overlay /etc only
        script.append(f"getent group {user} >/dev/null || groupadd --system {user}")
        script.append(f"getent passwd {user} >/dev/null || useradd --system --no-create-home -g {user} -s /usr/sbin/nologin {user}")
    # roles/freeswitch makes the folders of its files FreeSWITCH's own, readable by it only
    for d in sorted({os.path.dirname(e["path"]) for e in entries if e["template"].startswith("templates/freeswitch/")}):
        script.append(f"install -d -o freeswitch -g freeswitch -m 0750 '{d}'")
    for e in entries:
        src = f"{LAB_SRC}/{tree}/{host.name}{e['path']}"
        script.append(f"install -D -o {e['owner']} -g {e['group']} -m {e['mode']} '{src}' '{e['path']}'")
    script += [f"rm -f {shlex.quote(path)}" for path in removed]
    if host.role == "sip-proxy" and pki:
        script.append("install -d -o root -g kamailio -m 0750 /etc/kamailio/tls")
        for name, mode in (("ca.crt", "0644"), (f"{host.name}.crt", "0644"), (f"{host.name}.key", "0640")):
            script.append(f"install -o root -g kamailio -m {mode} '{LAB_SRC}/pki/{name}' /etc/kamailio/tls/{name}")
        script.append(f"[ ! -f '{LAB_SRC}/pki/carriers-ca.crt' ] || install -o root -g kamailio -m 0644 '{LAB_SRC}/pki/carriers-ca.crt' /etc/kamailio/tls/carriers-ca.crt")
        script.append("install -d -o kamailio -g kamailio -m 0750 /run/kamailio")
        # the lab's carriers hold certificates of the lab CA where real ones hold a public CA's: this
        # host trusts it as it trusts those (tls.cfg [client:default]), in its own /etc only
        script.append(f"mkdir -p /etc/ssl/certs && cat '{LAB_SRC}/pki/ca.crt' >> /etc/ssl/certs/ca-certificates.crt")
    if any(e["path"].startswith("/etc/tmpfiles.d/") for e in entries):
        # what systemd does at boot: make the folders the rendered tmpfiles.d entries name
        script.append("systemd-tmpfiles --create /etc/tmpfiles.d/*.conf")
    run(in_host(center, host.name, ["sh", "-c", "\n".join(script)]), timeout=60)

