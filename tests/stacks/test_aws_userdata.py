"""The first boot of the AWS instances: each bundle is exactly the host's rendered files, no secret
value reaches the stack, and the user-data script, run into a folder with stand-ins for apt-get,
the AWS CLI and systemctl, places exactly those files with the secrets resolved as on-prem."""

from __future__ import annotations

import base64
import gzip
import io
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from stacks_shared import CLOUD_EXAMPLES, SKIP_REASON, of_type, stack

pytest.importorskip("pulumi_aws", reason=SKIP_REASON)

from trunkline import secrets  # noqa: E402
from trunkline.deploys import unmark  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
examples = pytest.mark.parametrize("path", CLOUD_EXAMPLES, ids=[p.stem for p in CLOUD_EXAMPLES])
GLOBAL = next(p for p in CLOUD_EXAMPLES if p.stem == "global-support")
SENTINEL = "Sentinel-&<v\"al'ue>-7f3a"  # XML-special on purpose: the .xml files must get it escaped


def bundles(resources) -> dict[str, bytes]:
    return {r.name.removesuffix("-files"): base64.b64decode(r.properties["contentBase64"])
            for r in of_type(resources, "bucketObjectv2:BucketObjectv2")}


def members(bundle: bytes) -> dict[str, tuple]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(bundle))) as tar:
        return {"/" + m.name: (tar.extractfile(m).read(), f"{m.mode:04o}", m.uname, m.gname) for m in tar.getmembers()}


@examples
def test_each_bundle_holds_exactly_the_hosts_rendered_files(path):
    center, resources = stack(path)
    got = bundles(resources)
    instances = {r.name for r in of_type(resources, "ec2/instance:Instance")}
    assert sorted(got) == sorted(instances), "one bundle per instance"
    for host, bundle in got.items():
        want = {f.path: (f.content, f.mode, f.owner, f.group) for f in center.files if f.host == host}
        assert members(bundle) == want, f"{host}-files: the bundle is not the host's rendered files (bytes, mode, owner, group)"


def test_no_secret_value_reaches_user_data_bundles_or_inputs(monkeypatch):
    center, _ = stack(GLOBAL)
    refs = {r for f in center.files for r in f.secrets}
    for ref in refs:
        if ref.startswith("env:"):
            monkeypatch.setenv(ref[4:], SENTINEL)
    from trunkline.cloud.mocks import preview

    resources = preview(center)
    for r in resources:
        assert SENTINEL not in repr(r.properties), f"{r.name}: a secret value in the stack's inputs"
    for host, bundle in bundles(resources).items():
        assert all(SENTINEL.encode() not in c for c, *_ in members(bundle).values()), f"{host}: a secret value in its bundle"
    secrets = {r.properties["name"] for r in of_type(resources, "secretsmanager/secret:Secret")}
    assert secrets and all("secretString" not in r.properties for r in of_type(resources, "secretsmanager/secret:Secret"))
    assert not of_type(resources, "SecretVersion"), "a secret value is put by the stack (it would be in the state)"


STANDINS = {
    "apt-get": 'echo "apt-get $*" >> "$TL_LOG"\n',
    "systemctl": 'echo "systemctl $*" >> "$TL_LOG"\n',
    # aws s3 cp s3://B/K DEST -> the bundle; aws secretsmanager get-secret-value ... -> the sentinel
    "aws": 'echo "aws $*" >> "$TL_LOG"\ncase "$1" in\n  s3) for a; do last=$a; done; cp "$TL_BUNDLE" "$last" ;;\n'
           '  secretsmanager) printf "%s\\n" "$TL_SECRET" ;;\n  *) exit 3 ;;\nesac\n',
}


def run_user_data(tmp_path: Path, user_data: str, bundle: bytes) -> tuple[Path, str]:
    bin_, root = tmp_path / "bin", tmp_path / "root"
    bin_.mkdir()
    root.mkdir()
    # python3 itself: a pyenv shim would put its own folders (and their aws) first on PATH
    for name, body in {**STANDINS, "python3": f'exec {sys.executable} "$@"\n'}.items():
        (bin_ / name).write_text("#!/bin/sh\n" + body)
        (bin_ / name).chmod(0o755)
    (tmp_path / "bundle.tar.gz").write_bytes(bundle)
    (tmp_path / "user-data").write_text(user_data)
    env = {**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}", "TRUNKLINE_ROOT": str(root),
           "TL_LOG": str(tmp_path / "log"), "TL_BUNDLE": str(tmp_path / "bundle.tar.gz"), "TL_SECRET": SENTINEL}
    done = subprocess.run(["sh", str(tmp_path / "user-data")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"user-data failed: {done.stderr[-2000:]}"
    return root, (tmp_path / "log").read_text()


@pytest.mark.parametrize("host", ["fra1-media1", "fra1-sip1", "fra1-rtp1"])
def test_user_data_places_exactly_the_rendered_files_with_secrets_resolved(tmp_path, host):
    center, resources = stack(GLOBAL)
    (instance,) = [r for r in resources if r.type.endswith("ec2/instance:Instance") and r.name == host]
    root, log = run_user_data(tmp_path, instance.properties["userData"], bundles(resources)[host])
    extras = {"/usr/local/sbin/trunkline-eip-follower", "/etc/systemd/system/trunkline-eip-follower.service"}
    placed = {"/" + str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} - extras
    files = [f for f in center.files if f.host == host]
    assert placed == {f.path for f in files}, "the user-data placed other files than the render's"
    for f in files:
        on_disk = root / f.path.lstrip("/")
        want = unmark(f.content.decode(), f.path, {r: SENTINEL for r in f.secrets}).encode() if f.secrets else f.content
        assert on_disk.read_bytes() == want, f"{host}:{f.path}: bytes differ from the render (secrets resolved as on-prem)"
        assert f"{stat.S_IMODE(on_disk.stat().st_mode):04o}" == f.mode, f"{host}:{f.path}: mode"
    assert "apt-get install" in log and "aws s3 cp" in log
    assert ("secretsmanager get-secret-value" in log) == any(f.secrets for f in files)


def test_user_data_is_a_small_script_without_markers_or_values():
    _, resources = stack(GLOBAL)
    for r in of_type(resources, "ec2/instance:Instance"):
        ud = r.properties["userData"]
        assert len(ud.encode()) < 16 * 1024, f"{r.name}: user-data over EC2's 16 KB"
        assert not secrets.refs_in(ud) and SENTINEL not in ud, f"{r.name}: user-data holds a marker or a value"
