"""The one registry of compliance checks: scope -> check name -> function.

A check module registers its functions with the decorator of its scope,

    check = registry.check("files")

    @check
    def tls_min_version_rendered(ctx, minimum="1.2"): ...

and a pack control names a check of its scope (`applies: files`, `check: tls_min_version_rendered`).
packs.py validates those names and parameters against `checks(scope)`; evaluate.py calls the
function `lookup` gives. Cloud controls have no checks yet (they are reported as skipped).

This module imports nothing of comply: the check modules point at it, never the other way.
"""

from __future__ import annotations

from typing import Callable

SCOPES = ("blueprint", "files", "hosts", "cloud")
CHECKS: dict[str, dict[str, Callable]] = {scope: {} for scope in SCOPES}


def check(scope: str) -> Callable[[Callable], Callable]:
    """The decorator that registers a function as the check of `scope` named after it."""
    registered = CHECKS[scope]

    def register(fn: Callable) -> Callable:
        known = registered.get(fn.__name__)
        if known is not None and known.__module__ != fn.__module__:  # a module read again may register anew
            raise ValueError(f"two {scope} checks are named {fn.__name__}")
        registered[fn.__name__] = fn
        return fn

    return register


def checks(scope: str) -> dict[str, Callable]:
    """The checks of `scope`, by name (only those of check modules already imported)."""
    return CHECKS[scope]


def lookup(scope: str, name: str) -> Callable:
    return CHECKS[scope][name]
