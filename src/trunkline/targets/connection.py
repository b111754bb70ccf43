"""One way to reach a host: run a command, put a file, get a file.

Three implementations of `Connection`:
  lab     a lab host: its network and mount namespaces on this machine (nsenter), or a bare lab
          namespace such as a carrier's (ip netns exec);
  ssh     a server, through the ssh binary with the inventory's settings (port, key, known hosts;
          behind a bastion the inventory's ssh_config, which has the ProxyJump);
  chroot  a Debian root on this machine (`--chroot DIR`): commands run under `chroot DIR/<host>`,
          files are read and written under that folder.

`connect(plan, target, chroot=, inventory=)` is the one place where flags choose among them.
verify (its testinfra backend), live compliance and drift run through the connections it gives;
apply keeps its engines, which ask the connection how to reach the host (`pyinfra_host`,
`ansible_vars`), so the choice of chroot or SSH is made here too.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from trunkline.errors import TrunklineError, UsageError
from trunkline.plan.topology import Plan

TARGETS = ("lab", "onprem")

# put: write beside the file, then rename, so a reader never sees half a file ($1 path, $2 owner, $3 group, $4 mode)
_PUT = ('set -e; mkdir -p "$(dirname "$1")"; t=$(mktemp "$1.trunkline.XXXXXX"); trap \'rm -f "$t"\' EXIT; '
        'cat >"$t"; chown "$2:$3" "$t"; chmod "$4" "$t"; mv -f "$t" "$1"; trap - EXIT')
# stat: one line per regular file: "mode owner group<TAB>sha256<TAB>path"; files that are not there print nothing
_STAT = ('for f do if [ -f "$f" ]; then printf \'%s\\t%s\\t%s\\n\' "$(stat -c \'%a %U %G\' -- "$f")" '
         '"$(sha256sum <"$f" | cut -d" " -f1)" "$f"; fi; done; exit 0')


class Unreachable(TrunklineError):
    """The host could not be reached (the transport failed, not the command)."""

    exit_code = 1


@dataclass(frozen=True)
class Result:
    rc: int
    out: bytes
    err: bytes

    @property
    def stdout(self) -> str:
        return self.out.decode(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err.decode(errors="replace")


@dataclass(frozen=True)
class FileState:
    mode: str  # as stat %a gives it: 640
    owner: str
    group: str
    sha256: str


class Connection(ABC):
    """A host trunkline can act on. `run` takes a shell command line (the host's /bin/sh reads it)
    or an argv (run exactly); put and get move bytes; the default put/get/stat are commands."""

    kind: str
    name: str

    @abstractmethod
    def _exec(self, argv: list[str], input: bytes | None, timeout: float) -> Result: ...

    def run(self, command: str | Sequence[str], input: bytes | None = None, timeout: float = 60) -> Result:
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        return self._exec(argv, input, timeout)

    def put(self, path: str, data: bytes, mode: str = "0644", owner: str = "root", group: str = "root") -> None:
        r = self.run(["sh", "-c", _PUT, "put", path, owner, group, mode], input=data)
        if r.rc != 0:
            raise OSError(f"{self.name}:{path}: cannot write it: {r.stderr.strip()}")

    def get(self, path: str) -> bytes:
        r = self.run(["cat", "--", path])
        if r.rc != 0:
            raise FileNotFoundError(f"{self.name}:{path}: {r.stderr.strip()}")
        return r.out

    def stat(self, paths: Sequence[str]) -> dict[str, FileState]:
        """Mode, owner, group and SHA-256 of each regular file of `paths` there, in one command."""
        r = self.run(["sh", "-c", _STAT, "stat", *paths], timeout=120)
        if r.rc != 0:
            raise Unreachable(f"{self.name}: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f'exit {r.rc}'}")
        out = {}
        for line in r.stdout.splitlines():
            perms, sha, path = line.split("\t", 2)
            mode, owner, group = perms.split(" ")
            out[path] = FileState(mode, owner, group, sha)
        return out

    def pyinfra_host(self) -> tuple[str, dict]:
        raise UsageError(f"{self.name}: pyinfra does not reach {self.kind} hosts")

    def ansible_vars(self) -> dict:
        """Variables to add to the inventory's for this host ({}: the inventory reaches it as it is)."""
        return {}


class LocalConnection(Connection):
    """A place on this machine: commands run behind a prefix (nsenter, ip netns exec, chroot)."""

    def __init__(self, kind: str, name: str, prefix: list[str]):
        self.kind, self.name, self.prefix = kind, name, prefix

    def _exec(self, argv: list[str], input: bytes | None, timeout: float) -> Result:
        proc = subprocess.run([*self.prefix, *argv], input=input, capture_output=True, timeout=timeout)
        return Result(proc.returncode, proc.stdout, proc.stderr)


def lab_host(center: str, host: str) -> LocalConnection:
    """A lab host: its network and mount namespaces (its files at their server paths), working in its /tmp."""
    from trunkline.targets.lab import in_host

    return LocalConnection("lab", host, in_host(center, host, []))


def lab_namespace(ns: str) -> LocalConnection:
    """A lab namespace that is no host (a carrier, the stranger): the network only."""
    from trunkline.targets.lab import in_ns

    return LocalConnection("lab", ns, in_ns(ns, []))


class ChrootConnection(LocalConnection):
    """A Debian root on this machine: commands under `chroot ROOT`, files under ROOT (with the root's
    own users and groups, and its symbolic links followed inside it)."""

    def __init__(self, name: str, root: Path):
        self.root = Path(root).absolute()
        super().__init__("chroot", name, ["chroot", str(self.root)])

    def path(self, path: str) -> Path:
        """Where `path` of the root is on this machine: links resolved as the root sees them, never out of it."""
        parts, done, hops = [p for p in path.split("/") if p not in ("", ".")], [], 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                done = done[:-1]
                continue
            here = self.root.joinpath(*done, part)
            if here.is_symlink() and hops < 40:
                hops += 1
                target = os.readlink(here)
                done = [] if target.startswith("/") else done
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            done.append(part)
        return self.root.joinpath(*done)

    def _id(self, table: str, name: str) -> int:
        if name.isdigit():
            return int(name)
        for line in self.path(f"/etc/{table}").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == name and len(fields) > 2:
                return int(fields[2])
        raise OSError(f"{self.name}: no {'user' if table == 'passwd' else 'group'} {name} in {self.root}/etc/{table}")

    def put(self, path: str, data: bytes, mode: str = "0644", owner: str = "root", group: str = "root") -> None:
        uid, gid = self._id("passwd", owner), self._id("group", group)
        dest = self.path(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chown(tmp, uid, gid)
            os.chmod(tmp, int(mode, 8))
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, path: str) -> bytes:
        return self.path(path).read_bytes()

    def pyinfra_host(self) -> tuple[str, dict]:
        return f"@chroot/{self.root}", {"trunkline_host": self.name}

    def ansible_vars(self) -> dict:
        from trunkline.targets.inventory import chroot_vars

        return {**chroot_vars(), "ansible_host": str(self.root)}


class SshConnection(Connection):
    """A server over SSH: the ssh binary, never asking (BatchMode); `options` are the inventory's
    ssh_* variables (pyinfra's names: ssh_known_hosts_file, ssh_strict_host_key_checking...)."""

    kind = "ssh"

    def __init__(self, target, options: dict | None = None):
        self.target, self.options, self.name = target, dict(options or {}), target.host

    def ssh_argv(self) -> list[str]:
        t, o = self.target, self.options
        argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
                "-o", f"StrictHostKeyChecking={o.get('ssh_strict_host_key_checking', 'accept-new')}"]
        if o.get("ssh_known_hosts_file"):
            argv += ["-o", f"UserKnownHostsFile={os.path.expanduser(str(o['ssh_known_hosts_file']))}"]
        if t.bastion and t.ssh_config:  # the inventory's ssh_config has the host with its ProxyJump
            return [*argv, "-F", t.ssh_config, "--", t.host]
        if t.key:
            argv += ["-i", os.path.expanduser(t.key)]
        return [*argv, "-p", str(t.port), "-l", t.user, "--", t.address]

    def _exec(self, argv: list[str], input: bytes | None, timeout: float) -> Result:
        proc = subprocess.run([*self.ssh_argv(), shlex.join(argv)], input=input, capture_output=True, timeout=timeout)
        if proc.returncode == 255:  # ssh's own failure: no connection, refused key, unknown host key
            raise Unreachable(f"{self.name}: ssh {self.target.user}@{self.target.address}:{self.target.port}: "
                              f"{proc.stderr.decode(errors='replace').strip() or 'could not connect'}")
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def pyinfra_host(self) -> tuple[str, dict]:
        t = self.target
        data = {"trunkline_host": t.host, "ssh_hostname": t.address, "ssh_user": t.user, "ssh_port": t.port}
        if t.key:
            data["ssh_key"] = os.path.expanduser(t.key)
        if t.bastion:  # ProxyJump is read from the inventory's ssh_config, by host name
            data.pop("ssh_hostname")
            data["ssh_config_file"] = t.ssh_config
        # pyinfra's own connection settings (ssh_known_hosts_file, ssh_strict_host_key_checking...)
        # may be set in the inventory too; Ansible ignores them
        data.update({k: v for k, v in self.options.items() if k not in data})
        return t.host, data  # pyinfra connects to ssh_hostname; the name is for people


def connect(plan: Plan, target: str, *, chroot: Path | None = None, inventory: Path | None = None,
            hosts: Sequence[str] | None = None) -> dict[str, Connection]:
    """Host name -> its connection, for --target lab|onprem (with --chroot DIR or --inventory DIR).

    lab: the hosts the running lab has (it may have scaled media nodes away); onprem with chroot:
    DIR/<host> for each on-prem host; onprem: SSH as the inventory (inventories/<center>/) says.
    `hosts` keeps only those names. UsageError when the target is not there to reach."""
    if target == "lab":
        from trunkline.targets.lab import LabState

        state = LabState.load(plan.center)
        if not state or not state.ready:
            raise UsageError(f"no lab of {plan.center} is up; run trunkline up BLUEPRINT first")
        out: dict[str, Connection] = {h.name: lab_host(plan.center, h.name) for h in state.plan().hosts}
    elif target == "onprem" and chroot:
        from trunkline.targets.inventory import onprem_hosts

        out = {h.name: ChrootConnection(h.name, Path(chroot) / h.name) for h in onprem_hosts(plan)}
    elif target == "onprem":
        from trunkline.targets.inventory import load_inventory, read_ssh_targets

        where = Path(inventory or Path("inventories") / plan.center)
        loaded = load_inventory(where)  # UsageError without hosts.yml, with the command that writes it
        out = {name: SshConnection(t, {k: v for k, v in loaded.hosts[name].items() if k.startswith("ssh_")})
               for name, t in read_ssh_targets(where).items()}
    else:
        raise UsageError(f"--target {target}: not a target; use {' or '.join(TARGETS)}")
    return {n: c for n, c in out.items() if hosts is None or n in hosts}
