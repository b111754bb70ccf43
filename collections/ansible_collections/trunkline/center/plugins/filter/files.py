# Copyright: trunkline developers; Apache-2.0
"""Filters the roles use to place rendered files.

resolve_secrets: the rendered bytes with their @@secret:REF@@ markers replaced by the values.
expected: manifest entries -> what trunkline.center.stale_files compares (path, sha256 of the
bytes the host should hold, owner, group, mode); for a file with secrets that is the sha256 of
the resolved bytes, computed here on the controller.
folders: folder paths with one owner, group and mode, for stale_files' dirs.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ansible.errors import AnsibleFilterError

from trunkline.render.escape import UnsafeValue, secret_value

MARKER = re.compile(r"@@secret:([^@\s]+)@@")


def resolve_secrets(text, secrets, path=""):
    """Replace each marker with its reference's value (trailing newlines dropped), escaped for the
    file's format by trunkline's one escaper (XML-escaped in .xml files, one line elsewhere), as
    the pyinfra deploys do. A reference without a value is an error that names the reference, never a value."""
    secrets = secrets or {}

    def value(m):
        ref = m.group(1)
        if ref not in secrets:
            raise AnsibleFilterError(f"{path}: no value for the secret reference {ref}; set it in TRUNKLINE_SECRETS")
        try:
            return secret_value(str(secrets[ref]).rstrip("\n"), str(path))
        except UnsafeValue as exc:
            raise AnsibleFilterError(f"{exc} (reference {ref})") from None

    return MARKER.sub(value, str(text))


def expected(entries, root, secrets=None):
    """Manifest entries of one host -> [{path, sha256, owner, group, mode}]; `root` is the host's
    folder of the render tree on the controller."""
    out = []
    for e in entries:
        digest = e.get("sha256")
        if e.get("secrets"):
            src = Path(str(root)) / str(e["path"]).lstrip("/")
            text = resolve_secrets(src.read_text(encoding="utf-8"), secrets, e["path"])
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if not digest:
            raise AnsibleFilterError(f"{e.get('path')}: the manifest gives no sha256; render again")
        out.append({"path": e["path"], "sha256": digest, "owner": e.get("owner"), "group": e.get("group"),
                    "mode": str(e["mode"]) if e.get("mode") is not None else None})
    return out


def folders(paths, owner=None, group=None, mode=None):
    """Folder paths -> [{path, owner, group, mode}] for trunkline.center.stale_files' dirs."""
    return [{"path": str(p), "owner": owner, "group": group, "mode": None if mode is None else str(mode)} for p in paths]


class FilterModule:
    def filters(self):
        return {"resolve_secrets": resolve_secrets, "expected": expected, "folders": folders}
