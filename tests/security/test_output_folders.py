"""`render -o DIR` and `inventory -o DIR` never delete what trunkline did not make.

An output folder is replaced only when it is new, empty, or trunkline's own (its manifest, and
nothing in it that the manifest or the new tree does not name). Anything else is exit 2 naming
the folder and --force; --force moves the folder aside to DIR.bak-<time>, it never deletes it.
What the inventory's pki/README tells users to put in pki/ is carried into the new inventory.
A regular file as -o is exit 2, with nothing renamed or written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trunkline.cli import app

from shared import ROOT

BLUEPRINT = ROOT / "blueprints" / "acme-bank.yaml"
runner = CliRunner()
COMMANDS = ["render", "inventory"]


def cli(*args: object):
    extra = ["--no-check"] if args[0] == "render" else []
    return runner.invoke(app, [str(a) for a in args] + extra)


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_folder_trunkline_did_not_make_is_left_whole_and_named_with_the_flag(command, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("the only copy\n")
    result = cli(command, BLUEPRINT, "-o", out)
    assert result.exit_code == 2, result.output
    assert str(out) in result.output and "--force" in result.output
    assert tree(out) == {"precious.txt": b"the only copy\n"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left behind


@pytest.mark.parametrize("command", COMMANDS)
def test_force_moves_a_foreign_folder_aside_and_says_where(command, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("the only copy\n")
    result = cli(command, BLUEPRINT, "-o", out, "--force")
    assert result.exit_code == 0, result.output
    backups = [p for p in tmp_path.iterdir() if p.name.startswith("out.bak-")]
    assert len(backups) == 1 and tree(backups[0]) == {"precious.txt": b"the only copy\n"}
    assert str(backups[0]) in result.output.replace("\n", "")
    assert not (out / "precious.txt").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_file_added_to_trunklines_own_output_stops_the_replacement(command, tmp_path):
    out = tmp_path / "out"
    assert cli(command, BLUEPRINT, "-o", out).exit_code == 0
    (out / "notes.md").write_text("mine\n")
    before = tree(out)
    result = cli(command, BLUEPRINT, "-o", out)
    assert result.exit_code == 2 and "notes.md" in result.output
    assert tree(out) == before


@pytest.mark.parametrize("command", COMMANDS)
def test_trunklines_own_output_and_an_empty_folder_are_replaced(command, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert cli(command, BLUEPRINT, "-o", out).exit_code == 0
    first = tree(out)
    result = cli(command, BLUEPRINT, "-o", out)
    assert result.exit_code == 0, result.output
    assert tree(out) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_regular_file_as_output_is_refused_with_nothing_renamed(command, tmp_path):
    target = tmp_path / "out"
    target.write_text("a file\n")
    result = cli(command, BLUEPRINT, "-o", target)
    assert result.exit_code == 2, result.output
    assert "is a file" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert target.read_text() == "a file\n"


def test_keys_put_in_the_inventorys_pki_folder_survive_a_new_inventory(tmp_path):
    out = tmp_path / "inv"
    assert cli("inventory", BLUEPRINT, "-o", out).exit_code == 0
    assert "<host>.key" in (out / "pki" / "README").read_text()  # where the inventory tells users to put keys
    key = out / "pki" / "sh-dc1-sip1.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot a real key\n-----END PRIVATE KEY-----\n")
    key.chmod(0o600)
    (out / "pki" / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    result = cli("inventory", BLUEPRINT, "-o", out)
    assert result.exit_code == 0, result.output
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert (out / "pki" / "ca.crt").exists()
    assert "sh-dc1-sip1.key" in result.output and "pki" in result.output


def test_a_refused_inventory_leaves_the_keys_where_they_were(tmp_path):
    out = tmp_path / "inv"
    assert cli("inventory", BLUEPRINT, "-o", out).exit_code == 0
    key = out / "pki" / "sh-dc1-sip1.key"
    key.write_text("key\n")
    (out / "group_vars" / "extra.yml").write_text("mine: 1\n")  # not trunkline's: the new inventory is refused late
    result = cli("inventory", BLUEPRINT, "-o", out)
    assert result.exit_code == 2 and "group_vars/extra.yml" in result.output
    assert key.read_text() == "key\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inv"]


def test_a_symbolic_link_as_output_is_refused_and_its_target_kept(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "precious.txt").write_text("x\n")
    link = tmp_path / "out"
    os.symlink(real, link)
    result = cli("render", BLUEPRINT, "-o", link)
    assert result.exit_code == 2 and "symbolic link" in result.output
    assert link.is_symlink() and tree(real) == {"precious.txt": b"x\n"}
