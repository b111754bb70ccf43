"""The Ansible engine: ansible-playbook site.yml with the inventory, secrets in its environment, its output read back per host."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from trunkline.paths import ANSIBLE, ROLES, SITE_PLAYBOOK as SITE
from trunkline.targets.connection import Connection
from trunkline.targets.onprem.common import OnpremError, Progress
from trunkline.targets.onprem.results import HostResult


_TASK = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?P<task>.*)\] \**$")
_RESULT = re.compile(r"^(?P<status>ok|changed|skipping|fatal|failed): \[(?P<host>[^\]]+)\](?:: (?P<kind>FAILED|UNREACHABLE)!)?(?: => \(item=(?P<item>.*)\))?(?P<rest>.*)$")
_RECAP = re.compile(r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+"
                    r"failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)\s+rescued=\d+\s+ignored=\d+")


def ansible_playbook() -> str:
    local = Path(sys.executable).with_name("ansible-playbook")
    exe = str(local) if local.exists() else shutil.which("ansible-playbook")
    if not exe:
        raise OnpremError("ansible-playbook is not installed; pip install ansible (it brings ansible-core and community.general)")
    return exe


def ansible_env(secrets: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "ANSIBLE_ROLES_PATH": str(ROLES),
        "ANSIBLE_PIPELINING": "1",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
        "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    })
    env.pop("TRUNKLINE_SECRETS", None)
    if secrets is not None:
        env["TRUNKLINE_SECRETS"] = json.dumps(secrets)
    return env


def run_ansible(jobs, inventory: Path, build: Path, connections: dict[str, Connection], secrets: dict[str, str],
                dry_run: bool, progress: Progress) -> dict[str, HostResult]:
    results = {j.name: HostResult(j.name) for j in jobs}
    with tempfile.TemporaryDirectory(prefix="trunkline-ansible-") as tmp:
        cmd = [ansible_playbook(), "-i", str(inventory / "hosts.yml")]
        # a second inventory source with what the connections add (a chroot's: community.general.chroot)
        added = {name: v for name, c in connections.items() if (v := c.ansible_vars())}
        if added:
            overlay = Path(tmp) / "connections.yml"
            overlay.write_text(json.dumps({"all": {"hosts": added}}))
            cmd += ["-i", str(overlay)]
        extra = {"trunkline_render_dir": str(build)}
        cmd += [str(SITE), "--limit", ",".join(j.name for j in jobs), "-e", json.dumps(extra), "--forks", str(min(20, max(1, len(jobs))))]
        if dry_run:
            cmd.append("--check")
        env = ansible_env(secrets)
        env["ANSIBLE_LOCAL_TEMP"] = str(Path(tmp) / "local")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=str(ANSIBLE))
        task, tail = "", []
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail = (tail + [line])[-40:]
            if m := _TASK.match(line):
                task = m["task"]
                continue
            if (m := _RESULT.match(line)) and m["host"] in results:
                r, what = results[m["host"]], task + (f": {m['item']}" if m["item"] else "")
                if m["status"] == "changed":
                    r.changes.append(what)
                    progress(m["host"], "changed", what)
                elif m["status"] in ("fatal", "failed"):
                    r.errors.append(f"{what}: {line[:800]}")
                    progress(m["host"], "failed", what)
                elif m["status"] == "ok":
                    progress(m["host"], "ok", what)
                continue
            if (m := _RECAP.match(line)) and m["host"] in results:
                r = results[m["host"]]
                r.ok, r.changed, r.skipped = int(m["ok"]) - int(m["changed"]), int(m["changed"]), int(m["skipped"])
                r.failed = int(m["failed"]) + int(m["unreachable"])
        code = proc.wait()
        if code != 0 and not any(r.failed for r in results.values()):
            hint = ("\nThe chroot connection is community.general.chroot: pip install ansible (it carries community.general)"
                    if "community.general.chroot" in "\n".join(tail) else "")
            raise OnpremError(f"ansible-playbook exited with {code}:\n" + "\n".join(tail) + hint)
    for r in results.values():
        progress(r.host, "done", f"{r.changed} changed, {r.ok} ok, {r.failed} failed")
    return results
