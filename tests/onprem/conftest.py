"""Real Debian 12 roots for the on-prem tests, and one apply per engine that the tests share.

The root is made once by debootstrap (minbase + python3, python3-apt; the roles' packages
downloaded, not installed) and cached outside the tree in $TRUNKLINE_ROOT_CACHE
(/var/cache/trunkline). Every engine gets fresh copies, one root per host, so each first apply
starts from a clean server. One representative host per role is applied, not every host:
a SIP proxy of a pair (kamailio, tls, keepalived), an rtpengine with its recording daemon,
a media node (FreeSWITCH files with trunk passwords) and the recording store.

acme-bank keeps its recordings in S3, which needs no store host; the --set layer (SETS) moves
them to NFS so the recording_storage role has a host, and points carrier-b's password (vault:,
which this version does not resolve) at an environment variable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from onprem_support import BLUEPRINT, CACHE, SECRETS, SETS, apply_cli, cli, fresh_roots, sets_args, unmount_roots


def pytest_configure(config):
    config.addinivalue_line("markers", "chroot: applies to real Debian roots made by debootstrap (needs root and the apt mirror)")


@pytest.fixture(scope="session")
def secrets_env():
    saved = {k: os.environ.get(k) for k in SECRETS}
    os.environ.update(SECRETS)
    yield SECRETS
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def plan():
    from trunkline.center import load as load_center

    return load_center(BLUEPRINT, SETS).plan


@pytest.fixture(scope="session")
def pristine() -> Path:
    from trunkline.targets.onprem import cached_root

    if os.geteuid() != 0:
        pytest.fail("the on-prem tests need root (debootstrap, chroot); run them as root, as CI does")
    return cached_root(CACHE)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory, plan):
    """An inventory (with a throwaway CA for the proxies' TLS) and a build folder shared by all
    applies; the roots made under it (overlays on the pristine root) are unmounted and removed
    at the end unless TRUNKLINE_KEEP_ROOTS is set."""
    from trunkline.targets.lab import make_lab_pki

    work = tmp_path_factory.mktemp("onprem")
    result = cli("inventory", BLUEPRINT, *sets_args(), "-o", work / "inventory", "--build", work / "build")
    assert result.exit_code == 0, result.output
    make_lab_pki(plan, work / "inventory" / "pki")
    # the media nodes get trunkline's FreeSWITCH build, as docs/onprem.md tells an operator to ask for
    # it: a tarball of the tree `make freeswitch` installed (what build.sh --tarball packages)
    from trunkline import freeswitch

    if freeswitch.launcher() is None:
        pytest.fail(f"FreeSWITCH is not installed under {freeswitch.PREFIX}; install it with {freeswitch.INSTALL_HINT}")
    tarball = work / "freeswitch-1.10.12-debian12-amd64.tar.xz"
    subprocess.run(f"tar -C {freeswitch.PREFIX.parent} -cf - {freeswitch.PREFIX.name} | xz -0 -T2 > {tarball}", shell=True, check=True)
    (work / "inventory" / "group_vars" / "media.yml").write_text(
        f"freeswitch_package_source: trunkline\nfreeswitch_tarball: {tarball}\n")
    yield work
    if not os.environ.get("TRUNKLINE_KEEP_ROOTS"):
        unmount_roots()
        shutil.rmtree(work, ignore_errors=True)


class Applied:
    """Two applies of one engine to the same fresh roots: what each printed and reported."""

    def __init__(self, engine: str, roots: Path, first, second):
        self.engine, self.roots, self.first, self.second = engine, roots, first, second

    def root(self, host: str) -> Path:
        return self.roots / host

    @staticmethod
    def report(result) -> dict:
        return json.loads(result.stdout)


_applied: dict[str, Applied] = {}


def applied_with(engine: str, pristine: Path, workdir: Path) -> Applied:
    """The session's two applies of one engine (made on first use, then shared)."""
    if engine not in _applied:
        roots = fresh_roots(pristine, workdir / f"roots-{engine}")
        first = apply_cli(workdir, roots, engine, "--json")
        assert first.exit_code == 0, first.output
        second = apply_cli(workdir, roots, engine)  # as people see it: progress, table, summary
        assert second.exit_code == 0, second.output
        _applied[engine] = Applied(engine, roots, first, second)
    return _applied[engine]


@pytest.fixture(scope="session", params=["pyinfra", "ansible"])
def applied(request, pristine, workdir, secrets_env) -> Applied:
    return applied_with(request.param, pristine, workdir)


@pytest.fixture(scope="session")
def pyinfra_applied(pristine, workdir, secrets_env) -> Applied:
    return applied_with("pyinfra", pristine, workdir)
