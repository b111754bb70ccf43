"""testinfra over trunkline's connections (targets/connection.py): the same suite and host checks
run wherever a Connection reaches.

Hostspec for lab hosts: trunkline-lab://<host>?namespace=<center> (testinfra passes only known
query keys on): commands run inside the host's network and mount namespaces. Servers keep
testinfra's own ssh:// and paramiko:// hostspecs; `testinfra_host(connection)` gives a testinfra
host for any Connection (live compliance uses it).
"""

from __future__ import annotations

from typing import Any

import testinfra.backend
import testinfra.host
from testinfra.backend import base

from trunkline.targets.connection import Connection, lab_host

NAME = "trunkline-lab"


class ConnectionBackend(base.BaseBackend):
    """A testinfra backend whose commands go through a Connection (the host's /bin/sh reads them)."""

    NAME = "trunkline"

    def __init__(self, via: Connection, /, *args: Any, **kwargs: Any):  # testinfra passes connection=NAME itself
        self.via = via
        super().__init__(via.name, *args, **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        cmd = self.get_command(command, *args)
        r = self.via.run(cmd, timeout=60)
        return self.result(r.rc, self.encode(cmd), r.out, r.err)


class LabBackend(ConnectionBackend):
    NAME = NAME

    def __init__(self, hostname: str, namespace: str = "", *args: Any, **kwargs: Any):
        self.center = namespace
        super().__init__(lab_host(namespace, hostname), *args, **kwargs)


def testinfra_host(connection: Connection) -> testinfra.host.Host:
    backend = ConnectionBackend(connection)
    host = testinfra.host.Host(backend)
    backend.set_host(host)  # as testinfra.get_host does: some modules ask the backend for its host
    return host


def register() -> None:
    testinfra.backend.BACKENDS.setdefault(NAME, f"{__name__}.LabBackend")
