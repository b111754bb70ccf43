"""`trunkline drift --target onprem`: each host's managed files against what the blueprint gives."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from onprem_support import BLUEPRINT, HOSTS, apply_cli, cli, sets_args

pytestmark = pytest.mark.chroot


def drift_cli(roots: Path, *extra: str):
    return cli("drift", BLUEPRINT, *sets_args(), "--target", "onprem", "--chroot", roots, "--limit", ",".join(HOSTS), *extra)


def drifted(roots: Path) -> set[tuple[str, str, str]]:
    """(host, path, what) of every difference drift reports."""
    result = drift_cli(roots, "--json")
    assert result.exit_code in (0, 1), result.output
    return {(d["host"], d["path"], d["what"]) for d in json.loads(result.stdout)["drift"]}


class tampered:
    """Change a file of a root (content or mode) for the length of a test, then put it back."""

    def __init__(self, path: Path, append: str = "", mode: int | None = None):
        self.path, self.append, self.mode = path, append, mode

    def __enter__(self):
        self.saved = (self.path.read_bytes(), self.path.stat().st_mode & 0o7777)
        if self.append:
            self.path.write_bytes(self.saved[0] + self.append.encode())
        if self.mode is not None:
            self.path.chmod(self.mode)
        return self

    def __exit__(self, *exc):
        self.path.write_bytes(self.saved[0])
        os.chmod(self.path, self.saved[1])


def test_drift_finds_nothing_after_an_apply(applied):
    result = drift_cli(applied.roots)
    assert result.exit_code == 0, result.output
    assert "no drift" in result.output


def test_a_tampered_file_shows_up_in_drift(applied):
    with tampered(applied.root("sh-dc1-sip1") / "etc/kamailio/dispatcher.list", append="1 sip:192.0.2.66:5080 0 0\n"):
        result = drift_cli(applied.roots)
        found = drifted(applied.roots)
    assert result.exit_code == 1 and "1 difference(s) on 1 host(s)" in result.output
    assert found == {("sh-dc1-sip1", "/etc/kamailio/dispatcher.list", "content")}


def test_a_file_made_world_readable_shows_up_in_drift(applied):
    with tampered(applied.root("sh-dc1-sip1") / "etc/keepalived/keepalived.conf", mode=0o644):
        found = drifted(applied.roots)
    assert found == {("sh-dc1-sip1", "/etc/keepalived/keepalived.conf", "mode")}


def test_a_changed_file_with_secrets_shows_up_in_drift(applied):
    with tampered(applied.root("sh-dc1-media1") / "etc/freeswitch/sip_profiles/external.xml", append="<!-- edited -->\n"):
        found = drifted(applied.roots)
    assert found == {("sh-dc1-media1", "/etc/freeswitch/sip_profiles/external.xml", "content")}


def test_a_changed_firewall_shows_up_in_drift(applied):
    with tampered(applied.root("sh-dc1-rtp1") / "etc/nftables.conf", append="# opened by hand\n"):
        found = drifted(applied.roots)
    assert found == {("sh-dc1-rtp1", "/etc/nftables.conf", "content")}


def test_apply_puts_a_tampered_file_back(applied, workdir):
    path = applied.root("sh-dc1-sip1") / "etc/kamailio/dispatcher.list"
    path.write_bytes(path.read_bytes() + b"# edited by hand\n")
    result = apply_cli(workdir, applied.roots, applied.engine, "--json", hosts=["sh-dc1-sip1"])
    assert result.exit_code == 0, result.output
    assert applied.report(result)["changed"] >= 1
    assert drifted(applied.roots) == set()


def test_apply_puts_back_a_changed_mode_a_file_with_secrets_and_a_folders_mode(applied, workdir):
    media = applied.root("sh-dc1-media1")
    (media / "etc/freeswitch/sip_profiles/external.xml").write_text("<!-- replaced by hand -->\n")
    os.chmod(media / "etc/freeswitch/vars.xml", 0o644)
    os.chmod(media / "etc/freeswitch/sip_profiles", 0o755)
    result = apply_cli(workdir, applied.roots, applied.engine, "--json", hosts=["sh-dc1-media1"])
    assert result.exit_code == 0, result.output
    assert applied.report(result)["changed"] >= 2
    assert drifted(applied.roots) == set()
    assert oct(os.stat(media / "etc/freeswitch/sip_profiles").st_mode & 0o777) == "0o750"
