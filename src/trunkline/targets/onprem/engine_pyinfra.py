"""The pyinfra engine: trunkline.deploys in this process, one deploy per role, over each host's connection."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

from trunkline.errors import TrunklineError
from trunkline.targets.connection import Connection
from trunkline.targets.onprem.common import OnpremError, Progress
from trunkline.targets.onprem.results import HostResult


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
