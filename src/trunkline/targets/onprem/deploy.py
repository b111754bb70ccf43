"""apply(): render, check the inventory, resolve secrets, then run the chosen engine on the chosen hosts."""

from __future__ import annotations

import time
from pathlib import Path

from trunkline.center import Center
from trunkline.errors import UsageError
from trunkline.targets import inventory as inv
from trunkline.targets.connection import connect
from trunkline.targets.onprem.common import ENGINES, OnpremError, Progress, check_inventory, host_entries, select_hosts
from trunkline.targets.onprem.engine_ansible import run_ansible
from trunkline.targets.onprem.engine_pyinfra import run_pyinfra
from trunkline.targets.onprem.results import ApplyReport
from trunkline.targets.onprem.roots import chroot_overrides, prepare_chroot
from trunkline.targets.onprem.secret_values import needed_secrets, resolve_secrets


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
