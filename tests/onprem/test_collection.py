"""The roles' plugins (collections/ansible_collections/trunkline/center): the stale-file check
and the secret resolution, which must place the same bytes as trunkline's pyinfra deploys."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import grp

import pytest
from ansible.errors import AnsibleFilterError

from trunkline.paths import ANSIBLE
from trunkline.deploys import unmark

PLUGINS = ANSIBLE / "collections" / "ansible_collections" / "trunkline" / "center" / "plugins"


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


files = _load(PLUGINS / "filter" / "files.py", "trunkline_center_files")
stale = _load(PLUGINS / "modules" / "stale_files.py", "trunkline_center_stale_files")
ME, MY_GROUP = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


@pytest.mark.parametrize("path,value", [("/etc/freeswitch/sip_profiles/external.xml", 'p&ss<"w>\n'),
                                        ("/etc/kamailio/kamailio.cfg", 'p&ss<"w>\n')])
def test_secrets_resolve_to_the_bytes_the_pyinfra_deploys_place(path, value):
    text = 'a="@@secret:env:P@@" b=@@secret:env:P@@\n'
    assert files.resolve_secrets(text, {"env:P": value}, path) == unmark(text, path, {"env:P": value})


def test_a_reference_without_a_value_names_the_reference_and_no_value():
    with pytest.raises(AnsibleFilterError, match="env:MISSING") as err:
        files.resolve_secrets("x=@@secret:env:MISSING@@", {"env:OTHER": "hunter2"}, "/etc/x.conf")
    assert "hunter2" not in str(err.value)


def test_expected_hashes_the_resolved_bytes_of_a_file_with_secrets(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "x.conf").write_text("pass=@@secret:env:P@@\n")
    entries = [{"path": "/etc/x.conf", "sha256": "0" * 64, "owner": "root", "group": "root", "mode": "0640", "secrets": ["env:P"]},
               {"path": "/etc/y.conf", "sha256": "a" * 64, "owner": "root", "group": "root", "mode": "0644", "secrets": []}]
    got = files.expected(entries, tmp_path, {"env:P": "s3cret\n"})
    assert got[0]["sha256"] == hashlib.sha256(b"pass=s3cret\n").hexdigest()
    assert got[1] == {"path": "/etc/y.conf", "sha256": "a" * 64, "owner": "root", "group": "root", "mode": "0644"}


def _entry(path, data=b"hello\n", mode="0640"):
    return {"path": str(path), "sha256": hashlib.sha256(data).hexdigest(), "owner": ME, "group": MY_GROUP, "mode": mode}


def test_a_file_that_matches_is_not_stale(tmp_path):
    f = tmp_path / "a.conf"
    f.write_bytes(b"hello\n")
    f.chmod(0o640)
    assert stale.differs(_entry(f)) is None


@pytest.mark.parametrize("change,reason", [
    (lambda f: f.unlink(), "missing"),
    (lambda f: f.write_bytes(b"hello, edited\n"), "content"),
    (lambda f: f.chmod(0o644), "mode"),
    (lambda f: (f.unlink(), f.mkdir()), "not a file"),
])
def test_each_kind_of_difference_makes_a_file_stale(tmp_path, change, reason):
    f = tmp_path / "a.conf"
    f.write_bytes(b"hello\n")
    f.chmod(0o640)
    change(f)
    assert stale.differs(_entry(f)) == reason


def test_an_owner_that_differs_makes_a_file_stale(tmp_path):
    f = tmp_path / "a.conf"
    f.write_bytes(b"hello\n")
    f.chmod(0o640)
    assert stale.differs({**_entry(f), "owner": "nobody-of-trunkline"}) == "owner"
    assert stale.differs({**_entry(f), "group": "nobody-of-trunkline"}) == "group"


def test_a_folder_is_compared_by_kind_owner_and_mode(tmp_path):
    d = tmp_path / "conf.d"
    d.mkdir()
    d.chmod(0o750)
    want = {"path": str(d), "owner": ME, "group": MY_GROUP, "mode": "0750"}
    assert stale.differs(want, folder=True) is None
    d.chmod(0o755)
    assert stale.differs(want, folder=True) == "mode"
    assert stale.differs({**want, "path": str(tmp_path / "nope")}, folder=True) == "missing"
