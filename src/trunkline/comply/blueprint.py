"""Checks on the blueprint itself: what the center declares, before anything is rendered.

A check takes the context and its pack parameters and returns a list of `Fail` (empty: pass)
or `NotApplicable`. Places are blueprint positions (`FILE:LINE field.path`); a field left to
its default points at the nearest parent the file does have.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from trunkline.blueprint.load import Positions, dotted
from trunkline.blueprint.models import Blueprint, format_duration, parse_duration
from trunkline.comply import registry
from trunkline.comply.findings import Fail, NotApplicable, NotEvaluated, Pack, Place
from trunkline.plan.topology import Plan

check = registry.check("blueprint")
Result = list[Fail] | NotApplicable


@dataclass
class BlueprintContext:
    center: Blueprint
    data: dict  # the merged layers as plain data (what the files say, before defaults)
    positions: Positions
    source: str
    plan: Plan
    packs: list[Pack]  # the packs in effect
    catalogue: dict[str, Pack] = field(default_factory=dict)  # every pack there is, by id (for advice)

    @property
    def spec(self):
        return self.center.spec

    def place(self, *loc: Any) -> Place:
        file, line, col = self.positions.find(tuple(loc), self.source)
        return Place("blueprint", file=file, line=line, column=col, path=dotted(loc))

    def fail(self, loc: tuple, message: str, fix: str = "") -> Fail:
        return Fail(self.place(*loc), message, fix)

    def declared(self, *loc: Any) -> bool:
        """The field is written in a layer (or a --set), not left to its default."""
        return tuple(loc) in self.positions.by_loc

    def pack_ids(self) -> list[str]:
        return [p.id for p in self.packs]


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def _uses_tls(spec) -> bool:
    # SRTP keys (SDES) travel in the SDP: wherever SRTP is on, the signalling is TLS too
    return any(t.transport == "tls" for t in spec.trunks) or spec.security.srtp != "off"


# --- signalling and media in transit --------------------------------------------------------------


@check
def tls_min_version(ctx: BlueprintContext, minimum: str = "1.2") -> Result:
    spec = ctx.spec
    if not _uses_tls(spec):
        return NotApplicable("no trunk uses TLS and SRTP is off")
    have = spec.security.sip_tls_min
    if _version(have) < _version(minimum):
        return [ctx.fail(("spec", "security", "sip_tls_min"),
                         f"sip_tls_min {have!r} lets peers negotiate TLS {have}, deprecated by RFC 8996",
                         f'set sip_tls_min: "{minimum}"')]
    return []


@check
def transit_encrypted(ctx: BlueprintContext, minimum_tls: str = "1.2") -> Result:
    """Signalling on TLS (every trunk), at least minimum_tls, and SRTP required for the media."""
    spec = ctx.spec
    out = []
    for i, t in enumerate(spec.trunks):
        if t.transport != "tls":
            out.append(ctx.fail(("spec", "trunks", i, "transport"),
                                f"trunk {t.name} signals over {t.transport}: call set-up and SDP keys travel in clear",
                                "set transport: tls"))
    if _version(spec.security.sip_tls_min) < _version(minimum_tls):
        out.append(ctx.fail(("spec", "security", "sip_tls_min"), f"sip_tls_min {spec.security.sip_tls_min!r} is below TLS {minimum_tls}",
                            f'set sip_tls_min: "{minimum_tls}"'))
    if spec.security.srtp != "required":
        out.append(ctx.fail(("spec", "security", "srtp"), f"srtp is {spec.security.srtp}: a call may carry its audio as plain RTP",
                            "set srtp: required (every trunk on tls)"))
    return out


# --- secrets and exposure -----------------------------------------------------------------------

_SECRET_KEY = re.compile(r"(?i)(passw(or)?d|passwd|secret|token|api[-_]?key|private[-_]?key|credential|access[-_]?key)")
_SECRET_VALUE = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a PEM private key"),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"\bxox[abprs]-[0-9A-Za-z-]{10,}"), "a Slack token"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"), "a URL with a password in it"),
    (re.compile(r"(?i)\bbearer\s+[0-9a-z._~+/-]{16,}"), "a bearer token"),
]
_REF = re.compile(r"^(env|file|vault):\S+")


def secret_like(key: str, value: str) -> str | None:
    """What kind of secret a value looks like, or None."""
    if _REF.match(value):
        return None
    if _SECRET_KEY.search(key) and value.strip():
        return f"a literal value under {key!r}"
    for pattern, what in _SECRET_VALUE:
        if pattern.search(value):
            return what
    return None


@check
def no_literal_secrets(ctx: BlueprintContext) -> Result:
    out = []

    def walk(node: Any, loc: tuple) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, loc + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, loc + (i,))
        elif isinstance(node, str):
            what = secret_like(str(loc[-1]) if loc else "", node)
            if what:
                # the value itself is never repeated: a report must not leak what it found
                out.append(ctx.fail(loc, f"holds {what}", "move the secret to a store and write a reference: env:NAME, file:/path or vault:path#key"))

    walk(ctx.data, ())
    return out


@check
def admin_cidrs_restricted(ctx: BlueprintContext, min_public_prefix_v4: int = 16, min_public_prefix_v6: int = 48) -> Result:
    cidrs = ctx.spec.security.admin_cidrs
    if not cidrs:
        return [ctx.fail(("spec", "security", "admin_cidrs"), "admin_cidrs is empty: nothing limits where SSH and admin consoles are reached from",
                         "list the management networks, e.g. admin_cidrs: [10.0.0.0/8]")]
    out = []
    for i, cidr in enumerate(cidrs):
        net = ipaddress.ip_network(cidr)
        least = min_public_prefix_v4 if net.version == 4 else min_public_prefix_v6
        if net.prefixlen == 0:
            out.append(ctx.fail(("spec", "security", "admin_cidrs", i), f"{cidr} opens the admin interfaces to the whole Internet",
                                "name the management networks instead"))
        elif not net.is_private and net.prefixlen < least:
            out.append(ctx.fail(("spec", "security", "admin_cidrs", i),
                                f"{cidr} is a public range of {net.num_addresses:,} addresses (shorter than /{least})",
                                f"narrow it to the offices' own ranges (/{least} or longer) or a VPN range"))
    return out


# --- recordings -----------------------------------------------------------------------------------


@check
def recording_pauses_for_payments(ctx: BlueprintContext) -> Result:
    rec = ctx.spec.recording
    if rec.mode == "none":
        return NotApplicable("recording.mode is none: no call is recorded")
    if not rec.pause_on_payment:
        started = "every call is recorded" if rec.mode == "all" else "agents start recordings on demand"
        return [ctx.fail(("spec", "recording", "pause_on_payment"),
                         f"{started} and pause_on_payment is off: card numbers and security codes read out by callers end up in recordings",
                         "set recording.pause_on_payment: true")]
    return []


@check
def record_all_without_pause(ctx: BlueprintContext) -> Result:
    """Conflict: a duty to record everything against the duty to keep no card data after authorisation."""
    rec = ctx.spec.recording
    if rec.mode != "all":
        return NotApplicable(f"recording.mode is {rec.mode}: not every call is recorded")
    if rec.pause_on_payment:
        return []
    why = "MiFID II Art. 16(7) (mifid-2) asks for every order-related call to be recorded" if "mifid-2" in ctx.pack_ids() else "recording.mode: all records every call"
    return [ctx.fail(("spec", "recording", "pause_on_payment"),
                     f"conflict: {why}, and PCI DSS 3.3.1 forbids keeping card verification codes after authorisation; "
                     "with no pause the recordings hold them",
                     "set recording.pause_on_payment: true: the recording pauses while card data is taken and goes on after")]


@check
def recordings_encrypted(ctx: BlueprintContext) -> Result:
    rec = ctx.spec.recording
    if rec.mode == "none":
        return NotApplicable("recording.mode is none: no recordings are stored")
    if rec.storage.encryption == "none":
        return [ctx.fail(("spec", "recording", "storage", "encryption"), "recordings are stored unencrypted",
                         "set recording.storage.encryption: aes-256" + (" and give its key as a reference (key: vault:...)" if rec.storage.kind in ("s3", "oss") else ""))]
    # The flag is an intent. Nothing trunkline renders or builds carries it out yet, so a pass here
    # would rest on the flag alone: say what was not seen instead.
    if rec.storage.kind in ("s3", "oss"):
        return NotEvaluated(f"storage.encryption is {rec.storage.encryption}, but the {rec.storage.kind} bucket's encryption "
                            "(server-side encryption with storage.key) is a cloud resource trunkline does not build yet: nothing shows the objects are encrypted")
    return NotEvaluated(f"storage.encryption is {rec.storage.encryption}, but nothing trunkline renders encrypts {rec.storage.path} "
                        f"on the {rec.storage.kind} storage (no fscrypt policy or LUKS volume); disk encryption below it is not visible to these checks")


@check
def records_every_call(ctx: BlueprintContext) -> Result:
    mode = ctx.spec.recording.mode
    if mode != "all":
        return [ctx.fail(("spec", "recording", "mode"),
                         f"recording.mode is {mode}: " + ("no call is recorded" if mode == "none" else "only the calls an agent chooses are recorded, so order-related calls can be missed"),
                         "set recording.mode: all")]
    return []


@check
def retention_at_least(ctx: BlueprintContext, minimum: str = "3y") -> Result:
    rec = ctx.spec.recording
    need = parse_duration(minimum)
    if rec.mode == "none":
        return [ctx.fail(("spec", "recording", "mode"), f"recording.mode is none: no recording is kept, {minimum} are required",
                         f"set recording.mode: all and retention: {minimum} or more")]
    if rec.retention < need:
        return [ctx.fail(("spec", "recording", "retention"),
                         f"recordings are kept {format_duration(rec.retention)}, less than the {minimum} required",
                         f"set recording.retention: {minimum} (or longer)")]
    return []


@check
def retention_declared(ctx: BlueprintContext) -> Result:
    if ctx.spec.recording.mode == "none":
        return NotApplicable("recording.mode is none: no recordings are stored")
    if not ctx.declared("spec", "recording", "retention"):
        return [ctx.fail(("spec", "recording", "retention"),
                         f"no retention is written: recordings are kept for the default {format_duration(ctx.spec.recording.retention)}, a period nobody chose",
                         "write recording.retention: the shortest period the recordings are needed for (e.g. 90d)")]
    return []


@check
def tamper_evident_storage(ctx: BlueprintContext) -> Result:
    st = ctx.spec.recording.storage
    if ctx.spec.recording.mode == "none":
        return [ctx.fail(("spec", "recording", "mode"), "recording.mode is none: there are no records to protect", "set recording.mode: all")]
    if st.kind not in ("s3", "oss"):
        return [ctx.fail(("spec", "recording", "storage", "kind"),
                         f"storage kind {st.kind} is a file system: anyone with root on it can alter or delete a recording unnoticed",
                         "store recordings in object storage with object lock: kind: s3 (or oss), bucket: NAME, worm: true")]
    if not st.worm:
        return [ctx.fail(("spec", "recording", "storage", "worm"), "object lock is off: a recording can be overwritten or deleted before its retention ends",
                         "set recording.storage.worm: true")]
    return []


@check
def worm_within_legal_duty(ctx: BlueprintContext, erasure_deadline: str = "30d") -> Result:
    """Conflict: object lock for longer than any declared legal duty blocks erasure on request."""
    rec = ctx.spec.recording
    if rec.mode == "none" or not rec.storage.worm:
        return NotApplicable("no recording is under object lock")
    duties = {p.id: p.retention_duty for p in ctx.packs if p.retention_duty}
    allowed = max([parse_duration(erasure_deadline), *duties.values()])
    if rec.retention <= allowed:
        return []
    basis = (", ".join(f"{k} {format_duration(v)}" for k, v in sorted(duties.items())) + " (Art. 17(3)(b))") if duties else "no legal retention duty is declared"
    return [ctx.fail(("spec", "recording", "storage", "worm"),
                     f"conflict: object lock keeps every recording undeletable for {format_duration(rec.retention)}, but GDPR Art. 17 erasure must "
                     f"be possible within {erasure_deadline} of a request once no legal duty holds the data; {basis}, so the lock may last "
                     f"{format_duration(allowed)} at most",
                     _worm_conflict_fix(ctx, allowed, rec.retention))]


def _worm_conflict_fix(ctx: BlueprintContext, allowed: int, retention: int) -> str:
    """What resolves the lock-vs-erasure conflict, offering a pack only where one not yet declared
    would carry the retention (suggesting a declared one resolves nothing)."""
    declared = {p.id for p in ctx.packs}
    covering = sorted(p.id for p in ctx.catalogue.values()
                      if p.retention_duty and p.retention_duty >= retention and p.id not in declared)
    ways = [f"cut the lock to the legal minimum: recording.retention: {format_duration(allowed)}",
            "drop the lock (worm: false) and erase a caller's recordings on request",
            "keep the lock but encrypt each caller's recordings with a key of their own and destroy the key on request "
            "(crypto-shredding; trunkline does not render this)",
            "or accept it with a waiver that states the justification (--waivers)"]
    if covering:
        ways.insert(0, f"if a law obliges you to keep them, declare its pack ({' or '.join(covering)})")
    return "; ".join(ways)


# --- availability -----------------------------------------------------------------------------------


@check
def offsite_standby(ctx: BlueprintContext, max_rpo: str = "15m") -> Result:
    spec = ctx.spec
    standby = [s for s in spec.sites if s.role == "standby"]
    if not standby:
        return [ctx.fail(("spec", "sites"), "no site has role standby: nothing is kept off-site",
                         "add a site with role: standby in another location (another data center or cloud region)")]
    out = []
    primaries = [s for s in spec.sites if s.role == "primary"]
    for i, s in enumerate(spec.sites):
        if s.role != "standby":
            continue
        same = [p.name for p in primaries if (p.region and p.region == s.region and p.provider == s.provider)]
        if same:
            out.append(ctx.fail(("spec", "sites", i, "region"), f"standby {s.name} is in the same region as {', '.join(same)}: not off-site",
                                "put the standby site in another region"))
    if spec.dr.rpo > parse_duration(max_rpo):
        out.append(ctx.fail(("spec", "dr", "rpo"), f"dr.rpo {format_duration(spec.dr.rpo)} allows losing more than {max_rpo} of data: not real-time backup",
                            f"set dr.rpo: {max_rpo} or less"))
    return out


@check
def hot_standby(ctx: BlueprintContext, min_media_nodes: int = 2) -> Result:
    out = []
    for i, site in enumerate(ctx.spec.sites):
        if site.sip_proxy.ha != "pair":
            out.append(ctx.fail(("spec", "sites", i, "sip_proxy", "ha"), f"site {site.name} has a single SIP proxy: no hot standby",
                                "set sip_proxy: {ha: pair}"))
        nodes = ctx.plan.site(site.name).media_nodes
        if nodes < min_media_nodes:
            out.append(ctx.fail(("spec", "sites", i, "media", "nodes"), f"site {site.name} has {nodes} media node(s): a failed node drops its calls with no spare",
                                f"set media.nodes: auto (capacity + 1) or at least {min_media_nodes}"))
    return out
