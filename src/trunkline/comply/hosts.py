"""Checks on live hosts, through testinfra: what a running server does, not what was rendered.

A host check is a function `check(host, plan_host, plan, **params)`: `host` is a testinfra host
(`testinfra.get_host(...)`: local://, ssh://, or the lab's namespaces), `plan_host` the plan's
`Host` it stands for. It returns a list of `Fail` (empty: pass) or `NotApplicable` for hosts
whose role it does not concern. Each failure's place is the host and the command that showed it.

Every check that reads files takes `root` ("/" on a server): where the host's file system is,
so the same check runs against a debootstrap root or a crafted tree from outside.

`evaluate_hosts(check, params, plan, connect)` runs one control over every plan host, with
`connect(plan_host) -> testinfra host` (or None: the target does not run that host).
`live_connection(target, plan)` gives that `connect` for `--live lab|onprem`; until those
targets are wired to it, it raises UsageError ("live checks need a running target: ...").
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from typing import Any, Callable

from trunkline.blueprint.models import format_duration, parse_duration
from trunkline.comply.findings import Fail, NotApplicable, Place
from trunkline.errors import UsageError
from trunkline.plan.topology import SIP_TLS_PORT, Host, Plan

CHECKS: dict[str, Callable] = {}
Result = list[Fail] | NotApplicable
Connect = Callable[[Host], Any]  # plan host -> testinfra host, or None when the target does not run it

RECORDER_SPOOL = "/var/spool/rtpengine"
OPENSSL_FLAGS = {"1.0": "-tls1", "1.1": "-tls1_1", "1.2": "-tls1_2", "1.3": "-tls1_3"}


def check(fn: Callable) -> Callable:
    CHECKS[fn.__name__] = fn
    return fn


def _at(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/")) if root not in ("", "/") else path


def _read(host, path: str) -> str | None:
    f = host.file(path)
    return f.content_string if f.exists and f.is_file else None


def _listing(host, folder: str, pattern: str = "*") -> list[str]:
    f = host.file(folder)
    if not (f.exists and f.is_directory):
        return []
    return sorted(os.path.join(folder, n) for n in f.listdir() if fnmatch.fnmatch(n, pattern))


def _fail(plan_host: Host, command: str, message: str, fix: str = "") -> Fail:
    return Fail(Place("host", host=plan_host.name, command=command), message, fix)


# --- TLS on the SIP proxies ---------------------------------------------------------------------


def openssl_probe(address: str, port: int, version: str, timeout_s: int = 5) -> str:
    """The s_client command that tries exactly one TLS version.

    DEFAULT@SECLEVEL=0 lets the client itself offer TLS 1.0/1.1: Debian's OpenSSL 3 refuses them
    at its default level 2, so without it a weak server would look as if it refused them."""
    host = f"[{address}]" if ":" in address else address
    cipher = " -cipher DEFAULT@SECLEVEL=0" if version in ("1.0", "1.1") else ""
    return f"timeout {timeout_s} openssl s_client -connect {host}:{port} {OPENSSL_FLAGS[version]}{cipher} -brief </dev/null"


def _handshake(host, command: str) -> tuple[str, str]:
    """accepted | refused | unreachable, with the output."""
    r = host.run(command)
    text = (r.stdout or "") + (r.stderr or "")
    if r.rc == 0 and re.search(r"(?i)(protocol version|^\s*protocol\s*:)", text, re.M):
        return "accepted", text
    if re.search(r"(?i)connection refused|connect:errno|no route to host|timed out|getaddrinfo|BIO_connect", text) or r.rc == 124:
        return "unreachable", text
    return "refused", text


@check
def tls_handshakes(host, plan_host: Host, plan: Plan, port: int = SIP_TLS_PORT, refused: tuple = ("1.0", "1.1"),
                   accepted: tuple = ("1.2",), address: str | None = None) -> Result:
    """The proxy's TLS listener refuses old versions and accepts the current ones, tried from the host itself."""
    if plan_host.role != "sip-proxy":
        return NotApplicable("not a SIP proxy")
    if not any(t.transport == "tls" and plan_host.site in t.sites for t in plan.trunks):
        return NotApplicable(f"no TLS trunk ends at site {plan_host.site}")
    addr = address or plan_host.address
    out = []
    for version in (*refused, *accepted):
        cmd = openssl_probe(addr, port, version)
        verdict, text = _handshake(host, cmd)
        if verdict == "unreachable":
            return [_fail(plan_host, cmd, f"nothing answers TLS on {addr}:{port}: {_last_line(text)}", "start Kamailio with its TLS listener (listen=tls:...:5061)")]
        if version in refused and verdict == "accepted":
            out.append(_fail(plan_host, cmd, f"{addr}:{port} completes a TLS {version} handshake", "set method = TLSv1.2+ in /etc/kamailio/tls.cfg (blueprint security.sip_tls_min) and restart Kamailio"))
        if version in accepted and verdict != "accepted":
            out.append(_fail(plan_host, cmd, f"{addr}:{port} refuses TLS {version}: {_last_line(text)}", "allow TLS 1.2 in /etc/kamailio/tls.cfg and check the certificate"))
    return out


def _last_line(text: str) -> str:
    lines = [s for s in text.strip().splitlines() if s.strip()]
    return lines[-1][:200] if lines else "(no output)"


# --- recordings on disk ---------------------------------------------------------------------------


@check
def recording_folders_private(host, plan_host: Host, plan: Plan, root: str = "/", show: int = 5) -> Result:
    """Folders that hold recordings have no permission for 'other', nor does anything under them."""
    rec = plan.recording
    if rec["mode"] == "none":
        return NotApplicable("recording.mode is none")
    if plan_host.role == "recording":
        folders = [rec["storage"]["path"]]
    elif plan_host.role == "rtpengine":
        folders = [RECORDER_SPOOL] + ([rec["storage"]["path"]] if rec["storage"]["kind"] in ("s3", "oss") else [])
    else:
        return NotApplicable("holds no recordings")
    out = []
    for folder in folders:
        path = _at(root, folder)
        f = host.file(path)
        stat = f"stat -c %a {shlex.quote(path)}"
        if not f.exists:
            out.append(_fail(plan_host, stat, f"{folder} does not exist: recordings have nowhere to go or go elsewhere", "apply the host's files (systemd-tmpfiles --create)"))
            continue
        if f.mode & 0o007:
            out.append(_fail(plan_host, stat, f"{folder} has mode {f.mode:04o}: others may list or read it", f"chmod o-rwx {folder}"))
        else:
            # others cannot enter the folder, so nothing under it is theirs to read, whatever its bits
            # (rtpengine, for one, writes its call metadata 0664 whatever the umask)
            continue
        find = f"find {shlex.quote(path)} -mindepth 1 -perm /o=rwx"
        found = [line for line in host.run(find + f" -print 2>/dev/null | head -n {show}").stdout.splitlines() if line.strip()]
        if found:
            shown = ", ".join(p[len(path.rstrip("/")) + 1:] for p in found)
            out.append(_fail(plan_host, find, f"under {folder} others have access to: {shown}", f"chmod -R o-rwx {folder}; set output-chmod 0640 in rtpengine-recording.conf"))
    return out


# --- logs kept long enough ------------------------------------------------------------------------

_SPAN_UNITS = {
    "us": 1e-6, "usec": 1e-6, "ms": 1e-3, "msec": 1e-3, "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60, "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400, "w": 604800, "week": 604800, "weeks": 604800,
    "M": 2629800, "month": 2629800, "months": 2629800, "y": 31557600, "year": 31557600, "years": 31557600,
}


def systemd_timespan(value: str) -> int | None:
    """'180d', '6month', '1y 2w' (systemd.time) in seconds; a bare number is seconds; None for 0/infinity."""
    value = value.strip()
    if value in ("", "0", "infinity"):
        return None
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)", value):
        if unit not in _SPAN_UNITS and unit != "":
            raise ValueError(f"{value!r}: unknown unit {unit!r}")
        total += float(number) * _SPAN_UNITS.get(unit, 1)
    return round(total)


def _ini_values(texts: list[str], section: str, key: str) -> str | None:
    """The last value of key in [section] over the texts (systemd drop-in order: later wins)."""
    value = None
    for text in texts:
        current = None
        for line in text.splitlines():
            s = line.strip()
            if s.startswith("[") and s.endswith("]"):
                current = s[1:-1]
            elif current == section and "=" in s and not s.startswith(("#", ";")):
                k, v = s.split("=", 1)
                if k.strip() == key:
                    value = v.strip()
    return value


_PERIODS = {"hourly": 1 / 24, "daily": 1, "weekly": 7, "monthly": 30, "yearly": 365}


def logrotate_days(texts: list[str], log_file: str) -> int | None:
    """Days of old logs logrotate keeps for log_file (rotate N x period, capped by maxage); None if no rule names it.

    Top-level directives are defaults for the blocks after them (logrotate.conf first)."""
    defaults: dict[str, Any] = {"rotate": 0, "period": 1, "maxage": None}
    found = None
    for text in texts:
        lines = iter(text.splitlines())
        pending: list[str] = []
        for raw in lines:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.endswith("{"):
                paths = pending + line[:-1].split()
                pending = []
                rule = dict(defaults)
                for inner in lines:
                    s = inner.split("#", 1)[0].strip()
                    if s == "}":
                        break
                    if s in ("postrotate", "prerotate", "firstaction", "lastaction", "preremove"):
                        for script in lines:
                            if script.strip() == "endscript":
                                break
                        continue
                    _directive(rule, s)
                if any(fnmatch.fnmatch(log_file, p.strip('"')) for p in paths):
                    found = rule
            elif line.startswith("/"):
                pending += line.split()
            else:
                _directive(defaults, line)
    if found is None:
        return None
    days = found["rotate"] * found["period"]
    return int(min(days, found["maxage"]) if found["maxage"] is not None else days)


def _directive(rule: dict, line: str) -> None:
    words = line.split()
    if not words:
        return
    if words[0] == "rotate" and len(words) > 1 and words[1].lstrip("-").isdigit():
        rule["rotate"] = max(0, int(words[1]))
    elif words[0] in _PERIODS:  # 'weekly 5' names a weekday, not a count of weeks
        rule["period"] = _PERIODS[words[0]]
    elif words[0] == "maxage" and len(words) > 1 and words[1].isdigit():
        rule["maxage"] = int(words[1])


@check
def log_retention(host, plan_host: Host, plan: Plan, minimum: str = "180d", log_files: tuple = ("/var/log/syslog", "/var/log/messages"),
                  root: str = "/") -> Result:
    """The host keeps its logs at least `minimum`: in a persistent journal with MaxRetentionSec at least that,
    or in a syslog file that logrotate keeps that long."""
    need = parse_duration(minimum)
    notes = []
    # journald: persistent storage and a retention time no shorter than the minimum
    conf = _at(root, "/etc/systemd/journald.conf")
    dropins = [p for d in ("/usr/lib/systemd/journald.conf.d", "/etc/systemd/journald.conf.d", "/run/systemd/journald.conf.d")
               for p in _listing(host, _at(root, d), "*.conf")]
    texts = [t for t in [_read(host, conf)] + [_read(host, p) for p in sorted(dropins, key=os.path.basename)] if t]
    storage = _ini_values(texts, "Journal", "Storage") or "auto"
    persistent = storage == "persistent" or (storage == "auto" and host.file(_at(root, "/var/log/journal")).is_directory)
    keep = _ini_values(texts, "Journal", "MaxRetentionSec")
    kept = systemd_timespan(keep) if keep else None
    if persistent and kept is not None and kept >= need:
        return []
    notes.append(f"journald: Storage={storage}" + ("" if persistent else " (not persistent)") +
                 (f", MaxRetentionSec={keep}" if keep else ", no MaxRetentionSec (entries go when the size cap is reached)"))
    # logrotate: a rule for a log file that exists, keeping it long enough
    rotate_texts = [t for t in [_read(host, _at(root, "/etc/logrotate.conf"))] + [_read(host, p) for p in _listing(host, _at(root, "/etc/logrotate.d"))] if t]
    for log in log_files:
        if not host.file(_at(root, log)).exists:
            continue
        days = logrotate_days(rotate_texts, log)
        if days is not None and days * 86400 >= need:
            return []
        notes.append(f"{log}: " + (f"logrotate keeps {days} days" if days is not None else "no logrotate rule"))
    command = "cat /etc/systemd/journald.conf /etc/systemd/journald.conf.d/*.conf /etc/logrotate.conf /etc/logrotate.d/*"
    return [_fail(plan_host, command, f"logs are not kept {minimum}: " + "; ".join(notes),
                  f"set Storage=persistent and MaxRetentionSec={need // 86400}day in /etc/systemd/journald.conf.d/retention.conf "
                  f"(with SystemMaxUse large enough), or rotate syslog to keep {need // 86400} days")]


# --- idle sessions ------------------------------------------------------------------------------


def _sshd_channel_timeout(texts: list[str]) -> int | None:
    """ChannelTimeout session=... (OpenSSH 9.2+; the first value sshd reads wins)."""
    for text in texts:
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) >= 2 and words[0].lower() == "channeltimeout":
                for spec in words[1:]:
                    kind, _, span = spec.partition("=")
                    if kind in ("session", "*", "session:*") and span:
                        return systemd_timespan(span)
                return None
    return None


@check
def idle_logoff(host, plan_host: Host, plan: Plan, maximum: str = "15m", root: str = "/") -> Result:
    """An idle administrator is logged off: a read-only shell TMOUT, or sshd's ChannelTimeout for sessions."""
    limit = parse_duration(maximum)
    shells = [p for p in [_at(root, "/etc/profile"), _at(root, "/etc/bash.bashrc")] + _listing(host, _at(root, "/etc/profile.d"), "*.sh")]
    tmout, readonly = None, False
    for p in shells:
        text = _read(host, p) or ""
        for m in re.finditer(r"(?m)^\s*(?:(readonly|declare\s+-r|export)\s+)?TMOUT=(\d+)", text):
            tmout = int(m.group(2))
            readonly = readonly or (m.group(1) or "").startswith(("readonly", "declare"))
        if re.search(r"(?m)^\s*readonly\s+TMOUT\b", text):
            readonly = True
    if tmout and tmout <= limit and readonly:
        return []
    sshd = [_read(host, _at(root, "/etc/ssh/sshd_config")) or ""]
    sshd = [t for t in [_read(host, p) for p in _listing(host, _at(root, "/etc/ssh/sshd_config.d"), "*.conf")] if t] + sshd  # Include comes first in Debian's file
    channel = _sshd_channel_timeout(sshd)
    if channel and channel <= limit:
        return []
    found = (f"TMOUT={tmout}" + ("" if readonly else " (not read-only)") if tmout else "no TMOUT") + "; " + \
            (f"sshd ChannelTimeout session={format_duration(channel)}" if channel else "no sshd ChannelTimeout for sessions")
    return [_fail(plan_host, "grep TMOUT /etc/profile /etc/profile.d/*.sh; grep ChannelTimeout /etc/ssh/sshd_config*",
                  f"idle sessions are not logged off within {maximum}: {found}",
                  f"add /etc/profile.d/tmout.sh with 'readonly TMOUT={limit}; export TMOUT', or 'ChannelTimeout session={limit // 60}m' to sshd_config")]


# --- running a control over the hosts -----------------------------------------------------------------


def evaluate_hosts(fn: Callable, params: dict, plan: Plan, connect: Connect) -> tuple[list[Fail], list[str], bool]:
    """(failures, errors, applied): errors are hosts the check could not run on."""
    failures: list[Fail] = []
    errors: list[str] = []
    applied = False
    for plan_host in plan.hosts:
        try:
            host = connect(plan_host)
            if host is None:  # the target does not run this host (e.g. the lab scaled media nodes down)
                continue
            result = fn(host, plan_host, plan, **params)
        except Exception as exc:  # a host that does not answer must not pass; say which and why
            errors.append(f"{plan_host.name}: {type(exc).__name__}: {exc}")
            continue
        if isinstance(result, NotApplicable):
            continue
        applied = True
        failures.extend(result)
    return failures, errors, applied


def live_connection(target: str, plan: Plan) -> Connect:
    """`connect(plan_host) -> testinfra host` for --live TARGET (None: the target does not run that host).

    lab: the running lab of the center (the same backend `trunkline verify` uses; media nodes the
    lab scaled away are None); onprem: SSH, as written by `trunkline inventory`.
    """
    import testinfra

    if target == "lab":
        from trunkline.targets.lab import LabState
        from trunkline.verify.backend import register

        state = LabState.load(plan.center)
        if not state or not state.ready:
            raise UsageError(f"live checks need a running target: no lab of {plan.center} is up; run trunkline up BLUEPRINT first")
        register()
        running = {h.name for h in state.plan().hosts}
        return lambda h: testinfra.get_host(f"trunkline-lab://{h.name}?namespace={plan.center}") if h.name in running else None
    if target == "onprem":
        from pathlib import Path

        from trunkline.targets.inventory import read_ssh_targets

        inventory = Path("inventories") / plan.center
        if not inventory.exists():
            raise UsageError(f"live checks need a running target: {inventory} does not exist; write it with trunkline inventory BLUEPRINT")
        targets = read_ssh_targets(inventory)
        return lambda h: testinfra.get_host(targets[h.name].testinfra_spec()) if h.name in targets else None
    raise UsageError(f"--live {target}: not a target; use lab or onprem")
