"""Compliance: rule packs evaluated on the blueprint, the rendered files and the live hosts.

    packs/*.yaml    the rule packs, one file per pack (data: id, title, severity, citation, scope, check, fix)
    packs.py        loads and validates them against the registry; baseline is always on
    registry.py     the one check registry: scope -> check name -> function (`check(scope)` decorator)
    blueprint.py    checks on the blueprint as written (places: FILE:LINE field.path)
    files.py        checks on the rendered files, in memory (places: HOST:/path:LINE)
    hosts.py        checks on running hosts through testinfra (places: HOST: COMMAND); the --live hook
    nftables.py     the firewall read as the kernel applies it, and the plan's probes (files.py and hosts.py use it)
    waivers.py      InSpec-style waivers: control id, justification, expiration date
    evaluate.py     blueprint -> Report (one ControlResult per control, waivers applied)
    findings.py     Control, Pack, Place, Fail, NotApplicable, ControlResult, Report
    output.py       Report -> table, JSON, JUnit XML, SARIF 2.1.0

Imports point one way: findings and registry import no other comply module; the check modules
import those two (and one another one way: hosts -> files -> blueprint); packs imports the check modules (so the registry is full when it validates);
waivers and evaluate come last.

See docs/compliance.md.
"""
