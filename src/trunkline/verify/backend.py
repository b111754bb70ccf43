"""A testinfra backend for lab hosts: commands run inside the host's network and mount namespaces.

Hostspec: trunkline-lab://<host>?namespace=<center> (testinfra passes only known query keys on). The same suite runs over ssh:// for servers;
only this backend differs.
"""

from __future__ import annotations

import subprocess
from typing import Any

import testinfra.backend
from testinfra.backend import base

from trunkline.targets.lab import in_host

NAME = "trunkline-lab"


class LabBackend(base.BaseBackend):
    NAME = NAME

    def __init__(self, hostname: str, namespace: str = "", *args: Any, **kwargs: Any):
        self.center = namespace
        super().__init__(hostname, *args, **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        cmd = self.get_command(command, *args)
        proc = subprocess.run(in_host(self.center, self.hostname, ["/bin/sh", "-c", cmd]), capture_output=True, timeout=60)
        return self.result(proc.returncode, self.encode(cmd), proc.stdout, proc.stderr)


def register() -> None:
    testinfra.backend.BACKENDS.setdefault(NAME, f"{__name__}.LabBackend")
