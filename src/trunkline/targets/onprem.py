"""On-prem target: apply a center to its own Linux servers with pyinfra or Ansible, and find drift.

An apply, in order; no host is touched before step 4:
  1. render the center into build/<center> (the real programs check it, as `trunkline render` does);
  2. read inventories/<center>/ (written by `trunkline inventory` when missing) and refuse it
     when it no longer matches the plan;
  3. resolve the secret references the chosen hosts need: env:NAME, file:PATH. vault: is not
     supported by this version (there is no Vault client in it) and is refused with the fix.
     Values stay in memory: pyinfra gets them as Python objects, ansible-playbook in its
     environment (TRUNKLINE_SECRETS); every task that uses one has no_log, no value is logged;
  4. run the engine: pyinfra in this process (trunkline.deploys, one deploy per role) or
     ansible-playbook site.yml (roles/); both place the same bytes and report what changed.

`--chroot DIR` makes every host the Debian root DIR/<host> on this machine instead of an SSH
server (pyinfra's @chroot connector; Ansible's community.general.chroot connection). A chroot
has no init system and shares this machine's kernel, so nothing is started or loaded there:
/usr/sbin/policy-rc.d (exit 101) keeps package scripts from starting daemons, and the roles'
*_manage_service switches are off (no systemctl, no `nft -f`, no `sysctl --system`). Packages
are installed, files placed with their owners and modes, and configurations checked
(kamailio -c, keepalived -t, nft -c) inside the root.

Drift: each host's rendered files against what the plan gives now: missing,
content, mode, owner, group. Files with secrets are compared around the markers, so drift needs
no secret values.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from trunkline import secrets as secret_marker
from trunkline.center import Center
from trunkline.errors import TrunklineError, UsageError
from trunkline.paths import ANSIBLE, ROLES, SITE_PLAYBOOK as SITE
from trunkline.plan.topology import Host, Plan
from trunkline.targets import inventory as inv
from trunkline.targets.connection import Connection, Unreachable, connect

ENGINES = ("pyinfra", "ansible")
POLICY_RC_D = "#!/bin/sh\n# written by trunkline: this root is a chroot; package scripts must not start daemons on the machine it lives on\nexit 101\n"

Progress = Callable[[str, str, str], None]  # (host, event: start|ok|changed|failed, what)


class OnpremError(TrunklineError):
    exit_code = 1


class SecretError(TrunklineError):
    exit_code = 2


# --- secrets -----------------------------------------------------------------------------------


def resolve_secret(ref: str, base: Path | None = None) -> str:
    """env:NAME -> $NAME; file:PATH -> the file's text (~ expanded; relative to `base` if given)."""
    scheme, _, rest = ref.partition(":")
    if scheme == "env":
        if rest not in os.environ:
            raise SecretError(f"{ref}: the environment variable {rest} is not set; export it before the apply")
        return os.environ[rest]
    if scheme == "file":
        path = Path(rest).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        try:
            return path.read_text()
        except OSError as exc:
            raise SecretError(f"{ref}: cannot read {path} ({exc.strerror}); create it or point the reference elsewhere") from None
    if scheme == "vault":
        raise SecretError(f"{ref}: vault: references are not supported by this version of trunkline (it has no Vault client); "
                          "for the apply, point the field at env:NAME or file:PATH, e.g. with --set FIELD=env:NAME")
    raise SecretError(f"{ref}: not a secret reference; write env:NAME, file:PATH or vault:PATH#KEY")


def resolve_secrets(needed: dict[str, tuple[list[str], Path | None]]) -> dict[str, str]:
    """Every reference at once, so one run names every missing secret (and where it is used)."""
    values, problems = {}, []
    for ref, (users, base) in sorted(needed.items()):
        try:
            values[ref] = resolve_secret(ref, base)
        except SecretError as exc:
            problems.append(f"{exc} (needed by {', '.join(sorted(set(users)))})")
    if problems:
        raise SecretError("secrets could not be resolved; nothing was changed:\n  " + "\n  ".join(problems))
    return values


# --- what to apply where -------------------------------------------------------------------------


def select_hosts(plan: Plan, limit: list[str] | None) -> list[Host]:
    """--limit: host names, site names or roles (sip-proxy...), comma-separated or repeated."""
    hosts = inv.onprem_hosts(plan)
    if not limit:
        return hosts
    words = [w.strip() for item in limit for w in item.split(",") if w.strip()]
    known = {h.name for h in hosts} | {h.site for h in hosts} | {h.role for h in hosts} | {inv.group_of_role(h.role) for h in hosts}
    unknown = [w for w in words if w not in known]
    if unknown:
        raise UsageError(f"--limit {', '.join(unknown)}: not an on-prem host, site or role of {plan.center}; "
                         f"hosts are {', '.join(h.name for h in hosts)}")
    return [h for h in hosts if {h.name, h.site, h.role, inv.group_of_role(h.role)} & set(words)]


def expected_files(plan: Plan, hosts: list[Host]) -> dict[str, list]:
    """Host -> the RenderedFile list render/ gives it (in memory)."""
    from trunkline.render import render_plan

    out: dict[str, list] = {h.name: [] for h in hosts}
    for f in render_plan(plan, [h.name for h in hosts]):
        out[f.host].append(f)
    return out


def check_inventory(plan: Plan, inventory: Path) -> inv.Inventory:
    """The inventory must be the plan's: the same hosts."""
    loaded = inv.load_inventory(inventory)
    hosts = inv.onprem_hosts(plan)
    fix = f"regenerate it: trunkline inventory {plan.source} -o {inventory}"
    if set(loaded.hosts) != {h.name for h in hosts}:
        raise OnpremError(f"{inventory} lists hosts {', '.join(sorted(loaded.hosts))} but the plan has "
                          f"{', '.join(h.name for h in hosts)}; {fix}")
    return loaded


def host_entries(render_dir: Path, hosts: list[str]) -> dict[str, list[dict]]:
    """Host -> its entries of the render manifest (every file a host gets)."""
    out: dict[str, list[dict]] = {h: [] for h in hosts}
    for e in json.loads((render_dir / "manifest.json").read_text())["files"]:
        if e["host"] in out:
            out[e["host"]].append(e)
    return out


def chroot_overrides() -> dict:
    """Role switches for a chroot (see the module docstring), without Ansible's connection keys."""
    return {k: v for k, v in inv.chroot_vars().items() if not k.startswith("ansible_")}


def needed_secrets(jobs: list, inventory: Path | None = None) -> dict[str, tuple[list[str], Path | None]]:
    """Reference -> (where it is used, base of a relative file: path).

    The markers in the host's files come from the blueprint (relative to the working directory);
    the *_ref variables come from the inventory (relative to it).
    """
    needed: dict[str, tuple[list[str], Path | None]] = {}
    for job in jobs:
        for e in job.entries:
            for ref in e.get("secrets") or []:
                needed.setdefault(ref, ([], None))[0].append(f"{job.name}:{e['path']}")
        for key, value in job.vars.items():
            if key.endswith("_ref") and isinstance(value, str) and value and _wanted(key, job.vars):
                needed.setdefault(value, ([], inventory))[0].append(f"{job.name} {key}")
            elif key.endswith("_refs") and isinstance(value, list):  # e.g. tls_carrier_ca_refs
                for ref in value:
                    needed.setdefault(str(ref), ([], inventory))[0].append(f"{job.name} {key}")
    return needed


def _wanted(key: str, v: dict) -> bool:
    if key == "freeswitch_signalwire_token_ref":
        return v.get("freeswitch_package_source") == "signalwire"
    return True


def prepare_chroot(root: Path, engine: str) -> None:
    """A Debian root made by debootstrap, made safe to install packages into (policy-rc.d)."""
    root = Path(root)
    if not (root / "usr" / "bin").is_dir() or not (root / "etc" / "debian_version").exists():
        raise OnpremError(f"{root}: not a Debian root file system; make one with "
                          f"debootstrap --variant=minbase --include=python3 bookworm {root}")
    if engine == "ansible" and not (root / "usr" / "bin" / "python3").exists():
        raise OnpremError(f"{root}: Ansible needs /usr/bin/python3 in the root; chroot {root} apt-get install -y python3")
    policy = root / "usr" / "sbin" / "policy-rc.d"
    if not policy.exists():
        policy.write_text(POLICY_RC_D)
        policy.chmod(0o755)


def apt_mirror(default: str = "http://deb.debian.org/debian") -> str:
    """The Debian mirror this machine's apt uses (sources.list or deb822 .sources), for debootstrap."""
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        for m in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s", text, re.M):
            if m[1].rstrip("/").endswith("/debian"):
                return m[1]
        for stanza in text.split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:(.*)$", stanza, re.M)
            if uris and suites and "bookworm" in suites[1].split() and uris[1].rstrip("/").endswith("/debian"):
                return uris[1]
    return default


BASE_PACKAGES = ("python3", "python3-apt")  # Ansible's modules need python3; its apt module (in --check too) python3-apt


def debootstrap_root(dest: Path, packages: list[str] = (), mirror: str | None = None) -> Path:
    """A Debian 12 server as a directory: debootstrap minbase with BASE_PACKAGES, apt's lists
    fetched, policy-rc.d in place, and `packages` downloaded (not installed) so an apply installs
    them from the cache. Built beside `dest` and renamed, so it is whole or absent."""
    if not shutil.which("debootstrap"):
        raise OnpremError("debootstrap is not installed; apt-get install debootstrap")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", "bookworm", str(tmp), mirror or apt_mirror()],
                       check=True, capture_output=True, text=True)
        prepare_chroot(tmp, "ansible")
        subprocess.run(["chroot", str(tmp), "apt-get", "update", "-qq"], check=True, capture_output=True, text=True)
        if packages:
            subprocess.run(["chroot", str(tmp), "apt-get", "install", "-qq", "--download-only", "--no-install-recommends", *packages],
                           check=True, capture_output=True, text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        tmp.chmod(0o755)
        tmp.rename(dest)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OnpremError(f"making a Debian root failed: {' '.join(exc.cmd)}:\n{(exc.stdout or '')[-1500:]}{(exc.stderr or '')[-1500:]}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def role_packages() -> list[str]:
    """Every Debian package the roles install from Debian (FreeSWITCH's come from SignalWire, off by default)."""
    from trunkline.deploys import all_role_defaults

    d = all_role_defaults()
    keys = ["common_packages", "kamailio_packages", "keepalived_packages", "rtpengine_packages", "rtpengine_recording_packages",
            "recording_storage_nfs_packages"]
    return sorted({p for k in keys for p in d[k]})


def cached_root(cache: Path) -> Path:
    """cache/debootstrap-bookworm: made once (a lock keeps parallel callers from making it twice),
    remade when the package list changes. Copy it before use; never apply to it."""
    import fcntl

    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    root, stamp = cache / "debootstrap-bookworm", cache / "debootstrap-bookworm.packages"
    want = "\n".join([*BASE_PACKAGES, "--", *role_packages()]) + "\n"
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if root.is_dir() and stamp.exists() and stamp.read_text() == want:
            return root
        if root.exists():
            shutil.rmtree(root)
        debootstrap_root(root, role_packages())
        stamp.write_text(want)
    return root


# --- results -------------------------------------------------------------------------------------


@dataclass
class HostResult:
    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    changes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class ApplyReport:
    engine: str
    dry_run: bool
    seconds: float
    hosts: list[HostResult]
    render_dir: str
    inventory: str
    inventory_written: bool = False

    @property
    def changed(self) -> int:
        return sum(h.changed for h in self.hosts)

    @property
    def failed(self) -> int:
        return sum(h.failed for h in self.hosts)

    def as_dict(self) -> dict:
        return {"ok": self.failed == 0, "engine": self.engine, "dry_run": self.dry_run, "seconds": round(self.seconds, 2),
                "changed": self.changed, "failed": self.failed, "render_dir": self.render_dir, "inventory": self.inventory,
                "inventory_written": self.inventory_written, "hosts": [asdict(h) for h in self.hosts]}


# --- apply -----------------------------------------------------------------------------------------


def apply(center: Center, *, engine: str = "pyinfra", limit: list[str] | None = None, dry_run: bool = False,
          chroot: Path | None = None, inventory: Path | None = None, build: Path | None = None,
          progress: Progress = lambda host, event, what: None) -> ApplyReport:
    """Render, check the inventory, resolve secrets, then run the engine on the chosen hosts."""
    from trunkline.deploys import HostJob, all_role_defaults
    from trunkline.render.escape import Unsafe

    plan = center.plan

    if engine not in ENGINES:
        raise UsageError(f"--engine {engine}: use one of {', '.join(ENGINES)}")
    hosts = select_hosts(plan, limit)
    build = Path(build or Path("build") / plan.center).absolute()
    inventory = Path(inventory or Path("inventories") / plan.center).absolute()
    center.render(build)
    written = False
    if not (inventory / "hosts.yml").exists():
        inv.write_inventory(plan, inventory, build)
        written = True
    loaded = check_inventory(plan, inventory)
    entries = host_entries(build, [h.name for h in hosts])
    defaults = all_role_defaults()
    jobs = []
    for h in hosts:
        # Jinja values are Ansible glue and left out; !unsafe ones are blueprint data, kept as they are
        own = {k: v for k, v in loaded.hosts[h.name].items() if not (isinstance(v, str) and not isinstance(v, Unsafe) and "{{" in v)}
        jobs.append(HostJob(h.name, h.role, h.site, entries[h.name], build,
                            {**defaults, **own, **(chroot_overrides() if chroot else {})}))
    from trunkline.deploys import unplaced

    orphans = [f"{job.name}: {f}" for job in jobs for f in unplaced(job)]
    if orphans:
        raise OnpremError("no role places these rendered files; add their template folder to a role's <role>_template_dirs "
                          "(roles/<role>/defaults/main.yml):\n  " + "\n  ".join(orphans))
    secrets = resolve_secrets(needed_secrets(jobs, inventory))
    for job in jobs:
        job.secrets = {ref: secrets[ref] for ref in needed_secrets([job])}
    if chroot:  # the first write to a target: policy-rc.d
        for h in hosts:
            prepare_chroot(Path(chroot) / h.name, engine)
    started = time.monotonic()
    reach = connect(plan, "onprem", chroot=chroot, inventory=inventory, hosts=[j.name for j in jobs])
    if engine == "pyinfra":
        results = run_pyinfra(jobs, reach, dry_run, progress)
    else:
        results = run_ansible(jobs, inventory, build, reach, secrets, dry_run, progress)
    return ApplyReport(engine, dry_run, time.monotonic() - started, [results[j.name] for j in jobs], str(build), str(inventory), written)


@contextmanager
def _quiet_pyinfra() -> Iterator[None]:
    """pyinfra logs to the `pyinfra` logger; trunkline reports results itself (cli.py prints)."""
    import gevent

    logger = logging.getLogger("pyinfra")
    hub = gevent.get_hub()
    saved = (logger.handlers[:], logger.propagate, hub.exception_stream)
    # a failed operation ends its host's greenlet with an exception; the report has it already
    logger.handlers, logger.propagate, hub.exception_stream = [logging.NullHandler()], False, None
    try:
        yield
    finally:
        logger.handlers, logger.propagate, hub.exception_stream = saved


def _connect(connections: dict[str, Connection], check_for_changes: bool):
    """pyinfra's state over the hosts, each reached as its connection says (@chroot/DIR or SSH)."""
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.connect import connect_all

    inventory = Inventory(([c.pyinfra_host() for c in connections.values()], {}))
    state = State(inventory, Config(PARALLEL=max(1, len(connections)), CONNECT_TIMEOUT=10), check_for_changes=check_for_changes)
    connect_all(state)
    by_host = {h.data.trunkline_host: h for h in inventory}
    return state, by_host


def run_pyinfra(jobs, connections: dict[str, Connection], dry_run: bool, progress: Progress) -> dict[str, HostResult]:
    from pyinfra.api.connect import disconnect_all
    from pyinfra.api.deploy import add_deploy
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.api.operations import run_ops
    from pyinfra.api.state import BaseStateCallback, StateStage

    from trunkline.deploys import apply_host

    results = {j.name: HostResult(j.name) for j in jobs}
    with _quiet_pyinfra():
        state, by_host = _connect(connections, check_for_changes=dry_run)
        try:
            for job in jobs:
                if by_host[job.name] not in state.activated_hosts or by_host[job.name] in state.failed_hosts:
                    results[job.name].failed += 1
                    results[job.name].errors.append("could not connect")
                    progress(job.name, "failed", "connect")
            state.set_stage(StateStage.Prepare)
            problems = []
            for job in jobs:
                host = by_host[job.name]
                if host not in state.activated_hosts:
                    continue
                try:
                    add_deploy(state, apply_host, job, host=host)
                except (TrunklineError, PyinfraError) as exc:
                    problems.append(f"{job.name}: {exc}")
            if problems:
                raise OnpremError("the deploys could not be prepared; nothing was changed:\n  " + "\n  ".join(problems))

            def name_of(host, op_hash) -> str:
                return str(state.ops[host][op_hash].global_arguments.get("name") or "operation")

            if dry_run:
                for job in jobs:
                    host = by_host[job.name]
                    for op_hash, data in state.ops[host].items():
                        if data.global_arguments.get("_if"):  # handlers: they run only after a change
                            continue
                        if data.operation_meta.will_change:
                            results[job.name].changed += 1
                            results[job.name].changes.append(name_of(host, op_hash))
                        else:
                            results[job.name].ok += 1
                return results

            class Callback(BaseStateCallback):
                @staticmethod
                def operation_host_start(state, host, op_hash):
                    progress(host.data.trunkline_host, "start", name_of(host, op_hash))

            state.add_callback_handler(Callback())
            state.set_stage(StateStage.Execute)
            run_ops(state, no_wait=True)
            for job in jobs:
                host, r = by_host[job.name], results[job.name]
                for op_hash in state.get_op_order():
                    data = state.ops[host].get(op_hash)
                    if data is None:
                        continue
                    meta = data.operation_meta
                    if not meta.is_complete():
                        r.skipped += 1
                    elif not meta.did_succeed():
                        r.failed += 1
                        r.errors.append(f"{name_of(host, op_hash)}: {meta.stderr.strip()[-800:] or 'failed'}")
                        progress(job.name, "failed", name_of(host, op_hash))
                    elif meta.did_change():
                        r.changed += 1
                        r.changes.append(name_of(host, op_hash))
                    else:
                        r.ok += 1
                progress(job.name, "done", f"{r.changed} changed, {r.ok} ok, {r.failed} failed")
        finally:
            disconnect_all(state)
    return results


# --- Ansible -------------------------------------------------------------------------------------

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


# --- drift -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    host: str
    path: str
    what: str  # missing | content | mode | owner | group | unreachable
    expected: str = ""
    found: str = ""


def matches_around_markers(rendered: str, found: str) -> bool:
    """A file with @@secret:REF@@ markers matches when everything but the secret values is equal."""
    parts = secret_marker.split(rendered)
    return re.fullmatch("[^\n]*?".join(re.escape(p) for p in parts), found, re.S) is not None


def drift(center: Center, *, limit: list[str] | None = None, chroot: Path | None = None,
          inventory: Path | None = None) -> list[Drift]:
    """What differs between each host and the plan's files; [] when nothing does. Each host is read
    through its connection: one command for every file's mode, owner, group and checksum, and the
    files with secrets themselves (compared around the markers)."""
    plan = center.plan
    hosts = select_hosts(plan, limit)
    expected = expected_files(plan, hosts)
    reach = connect(plan, "onprem", chroot=chroot, inventory=inventory, hosts=[h.name for h in hosts])
    out: list[Drift] = []
    for h in hosts:
        try:
            if h.name not in reach:
                raise Unreachable(f"{h.name} is not in the inventory")
            found = reach[h.name].stat([f.path for f in expected[h.name]])
        except Unreachable as exc:
            out.append(Drift(h.name, "", "unreachable", "", str(exc)))
            continue
        for f in expected[h.name]:
            info = found.get(f.path)
            if info is None:
                out.append(Drift(h.name, f.path, "missing", f.sha256[:12], ""))
                continue
            same = (matches_around_markers(f.content.decode(), reach[h.name].get(f.path).decode(errors="replace")) if f.secrets
                    else info.sha256 == f.sha256)
            if not same:
                out.append(Drift(h.name, f.path, "content", f.sha256[:12], info.sha256[:12]))
            if int(info.mode, 8) != int(f.mode, 8):  # stat gives 640 for 0640
                out.append(Drift(h.name, f.path, "mode", f.mode, f"0{info.mode}"))
            if info.owner != f.owner:
                out.append(Drift(h.name, f.path, "owner", f.owner, info.owner))
            if info.group != f.group:
                out.append(Drift(h.name, f.path, "group", f.group, info.group))
    return out
