"""The secret marker: how a rendered file says "the value of this secret goes here".

Rendering writes `@@secret:REF@@` (REF a reference such as env:NAME, file:/path or vault:path#key,
in the charset render/escape.py's secret_ref allows, which has no @ and no white space); the apply
step replaces it by the value on the way to the target (deploys.unmark, the Ansible collection's
resolve_secrets); drift compares a host's file around it; comply and verify look for markers
left unresolved. Every one of them reads the marker through this module.
"""

from __future__ import annotations

import re

PREFIX = "@@secret:"
SUFFIX = "@@"
PATTERN = re.compile(r"@@secret:([^@\s]+)@@")  # group 1: the reference


def marker(ref: str) -> str:
    """The marker that stands for `ref` in a rendered file."""
    return f"{PREFIX}{ref}{SUFFIX}"


def refs_in(text: str) -> list[str]:
    """The references of the markers in `text`, in order (repeats kept)."""
    return PATTERN.findall(text)


def split(text: str) -> list[str]:
    """`text` cut at its markers: the pieces around them (one more piece than markers)."""
    return PATTERN.split(text)[::2]


def has_marker(text: str) -> bool:
    """Whether `text` still holds a marker (or the start of one)."""
    return PREFIX in text
