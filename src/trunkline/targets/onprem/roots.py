"""Debian roots for --chroot: checked and made safe (policy-rc.d), made by debootstrap and cached, and the role switches a chroot needs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from trunkline.targets import inventory as inv
from trunkline.targets.onprem.common import OnpremError

POLICY_RC_D = "#!/bin/sh\n# written by trunkline: this root is a chroot; package scripts must not start daemons on the machine it lives on\nexit 101\n"


def chroot_overrides() -> dict:
    """Role switches for a chroot (see the package docstring), without Ansible's connection keys."""
    return {k: v for k, v in inv.chroot_vars().items() if not k.startswith("ansible_")}


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
    keys = ["common_packages", "kamailio_packages", "keepalived_packages", "rtpengine_packages", "freeswitch_opus_packages",
            "freeswitch_nfs_packages", "recording_storage_nfs_packages"]
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
