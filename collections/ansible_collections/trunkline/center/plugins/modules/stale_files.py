#!/usr/bin/python
# Copyright: trunkline developers; Apache-2.0
"""Which rendered files a host lacks or holds with other bytes, owner, group or mode."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: stale_files
short_description: List the files a host lacks or holds with other bytes, owner, group or mode
description:
  - Compares a list of expected files (sha256 of the content, owner, group, mode) with the host in
    one module run, so a role places only the files that differ. It changes nothing itself.
options:
  files:
    description: The expected files.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path on the host.
        type: str
        required: true
      sha256:
        description: sha256 of the expected content, hex; never shown in output.
        type: str
        required: true
      owner:
        description: Expected owner (name).
        type: str
      group:
        description: Expected group (name).
        type: str
      mode:
        description: Expected permission bits, octal as a string (for example C(0640)).
        type: str
  dirs:
    description: Expected folders, compared by owner, group and mode.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path on the host.
        type: str
        required: true
      owner:
        description: Expected owner (name).
        type: str
      group:
        description: Expected group (name).
        type: str
      mode:
        description: Expected permission bits, octal as a string (for example C(0750)).
        type: str
author:
  - trunkline developers
"""

EXAMPLES = r"""
- name: Find the rendered Kamailio files that differ on the host
  trunkline.center.stale_files:
    files: "{{ kamailio_files }}"
  register: kamailio_stale
"""

RETURN = r"""
stale:
  description: Paths of the files and folders that are missing or differ.
  returned: always
  type: list
  elements: str
reasons:
  description: For each stale path, what differs (missing, not a file, not a folder, content, owner, group, mode).
  returned: always
  type: dict
"""

import grp
import hashlib
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule


def _name(lookup, ident):
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def differs(f, folder=False):
    """What differs between the host and the expected file or folder, or None."""
    try:
        st = os.lstat(f["path"])
    except FileNotFoundError:
        return "missing"
    if folder:
        if not stat.S_ISDIR(st.st_mode):
            return "not a folder"
    elif not stat.S_ISREG(st.st_mode):
        return "not a file"
    elif _sha256(f["path"]) != f["sha256"].lower():
        return "content"
    if f.get("owner") and _name(pwd.getpwuid, st.st_uid) != f["owner"]:
        return "owner"
    if f.get("group") and _name(grp.getgrgid, st.st_gid) != f["group"]:
        return "group"
    if f.get("mode") and stat.S_IMODE(st.st_mode) != int(str(f["mode"]), 8):
        return "mode"
    return None


def main():
    module = AnsibleModule(
        argument_spec={"files": {"type": "list", "elements": "dict", "required": True, "options": {
            "path": {"type": "str", "required": True},
            # a file with secrets is compared by the hash of its resolved bytes: kept out of any output
            "sha256": {"type": "str", "required": True, "no_log": True},
            "owner": {"type": "str"}, "group": {"type": "str"}, "mode": {"type": "str"}}},
            "dirs": {"type": "list", "elements": "dict", "default": [], "options": {
                "path": {"type": "str", "required": True},
                "owner": {"type": "str"}, "group": {"type": "str"}, "mode": {"type": "str"}}}},
        supports_check_mode=True,
    )
    reasons = {}
    for f in module.params["files"]:
        if why := differs(f):
            reasons[f["path"]] = why
    for d in module.params["dirs"]:
        if why := differs(d, folder=True):
            reasons[d["path"]] = why
    module.exit_json(changed=False, stale=sorted(reasons), reasons=reasons)


if __name__ == "__main__":
    main()
