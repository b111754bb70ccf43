"""Running commands for the lab: `ip`, and argv inside a host (its network and mount namespaces) or a bare namespace."""

from __future__ import annotations

import subprocess

from trunkline.targets.lab.state import LabError, mount_file, ns_name


def run(argv: list[str], check: bool = True, timeout: float = 30, input: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
    if check and proc.returncode != 0:
        shown = " ".join(argv) if len(" ".join(argv)) < 300 else " ".join(argv)[:300] + " ..."
        raise LabError(f"{shown}: {(proc.stderr or proc.stdout).strip()}")
    return proc


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(["ip", *args], check=check)


def in_host(center: str, host: str, argv: list[str], wd: str = "/tmp") -> list[str]:
    """argv as run inside a lab host: its network and mount namespaces, working in its own /tmp."""
    return ["nsenter", f"--net=/run/netns/{ns_name(center, host)}", f"--mount={mount_file(center, host)}", f"--wdns={wd}", "--", *argv]


def in_ns(ns: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]

