"""Checks on live hosts, through testinfra: what a running server does, not what was rendered.

A host check is a function `check(host, plan_host, plan, **params)`: `host` is a testinfra host
(`testinfra.get_host(...)`: local://, ssh://, or the lab's namespaces), `plan_host` the plan's
`Host` it stands for. It returns a list of `Fail` (empty: pass) or `NotApplicable` for hosts
whose role it does not concern. Each failure's place is the host and the command that showed it.

Every check that reads files takes `root` ("/" on a server): where the host's file system is,
so the same check runs against a debootstrap root or a crafted tree from outside.

`evaluate_hosts(check, params, plan, connect)` runs one control over every plan host, with
`connect(plan_host) -> testinfra host` (or None: the target does not run that host).
`live_connection(target, plan)` gives that `connect` for `--live lab|onprem`, over the target's
connections (targets/connection.py); UsageError ("live checks need a running target: ...") when
the target is not there.
"""

from __future__ import annotations

import fnmatch
import inspect
import os
import re
import shlex
from typing import Any, Callable

from trunkline.blueprint.models import format_duration, parse_duration
from trunkline.comply import registry
from trunkline.comply.findings import Fail, NotApplicable, Place
from trunkline.comply.nftables import NftError, parse_ruleset, violations
from trunkline.durations import SYSTEMD, parse_span
from trunkline.errors import UsageError
from trunkline.plan.topology import SIP_TLS_PORT, Host, Plan

check = registry.check("hosts")
Result = list[Fail] | NotApplicable
Connect = Callable[[Host], Any]  # plan host -> testinfra host, or None when the target does not run it

OPENSSL_FLAGS = {"1.0": "-tls1", "1.1": "-tls1_1", "1.2": "-tls1_2", "1.3": "-tls1_3"}


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


def openssl_cipher_probe(address: str, port: int, cipher: str, timeout_s: int = 5) -> str:
    """s_client offering only `cipher` suites over TLS 1.2 (security level 0, so the client does offer them)."""
    host = f"[{address}]" if ":" in address else address
    return f"timeout {timeout_s} openssl s_client -connect {host}:{port} -tls1_2 -cipher '{cipher}:@SECLEVEL=0' -brief </dev/null"


@check
def tls_handshakes(host, plan_host: Host, plan: Plan, port: int = SIP_TLS_PORT, refused: tuple = ("1.0", "1.1"),
                   accepted: tuple = ("1.2",), refused_ciphers: tuple = (), address: str | None = None, vantage=None) -> Result:
    """The proxy's TLS listener refuses old versions and weak ciphers and accepts the current versions,
    tried from a carrier's side where the target has one (the lab's carrier namespace), else from the host."""
    if plan_host.role != "sip-proxy":
        return NotApplicable("not a SIP proxy")
    if not any(t.transport == "tls" and plan_host.site in t.sites for t in plan.trunks):
        return NotApplicable(f"no TLS trunk ends at site {plan_host.site}")
    addr = address or plan_host.address
    site_tls = [t for t in plan.trunks if t.transport == "tls" and plan_host.site in t.sites]
    if all(getattr(t, "tls_verify", False) for t in site_tls):
        accepted = ()  # the handshake itself requires a carrier's certificate this probe does not hold
    client = (vantage("peer", plan_host) if vantage else None) or (host, None)
    runner = client[0]
    out = []
    probes = [(v, openssl_probe(addr, port, v), v in refused) for v in (*refused, *accepted)]
    probes += [(c, openssl_cipher_probe(addr, port, c), True) for c in refused_ciphers]
    for what, cmd, must_refuse in probes:
        verdict, text = _handshake(runner, cmd)
        label = f"a TLS {what} handshake" if what[0].isdigit() else f"a handshake offering only {what} ciphers"
        if verdict == "unreachable":
            return [_fail(plan_host, cmd, f"nothing answers TLS on {addr}:{port}: {_last_line(text)}", "start Kamailio with its TLS listener (listen=tls:...:5061)")]
        if must_refuse and verdict == "accepted":
            out.append(_fail(plan_host, cmd, f"{addr}:{port} completes {label}",
                             "set method = TLSv1.2+ and a cipher_list of strong suites in /etc/kamailio/tls.cfg, then restart Kamailio"))
        if not must_refuse and verdict != "accepted":
            out.append(_fail(plan_host, cmd, f"{addr}:{port} refuses {label}: {_last_line(text)}", "allow TLS 1.2 in /etc/kamailio/tls.cfg and check the certificate"))
    return out


# --- SIP behaviour at the edge, from outside it ------------------------------------------------------

_SIP_PROBE = r"""
import socket, sys, time, uuid
src, dst, port, wait, count, msg = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
s = socket.socket(socket.AF_INET6 if ':' in dst else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
local = s.getsockname()[1]
for i in range(count):
    b = uuid.uuid4().hex
    s.sendto(msg.replace('{port}', str(local)).replace('{branch}', b).encode(), (dst, port))
end = time.monotonic() + wait
while True:
    left = end - time.monotonic()
    if left <= 0:
        break
    s.settimeout(left)
    try:
        print(s.recv(65535).decode(errors='replace').split('\r\n')[0])
    except OSError:
        break
"""
SIP_PROBE_MAX = 500  # requests in one burst, whatever the blueprint's pike rate


def sip_message(method: str, source: str, target: str, body: str = "", agent: str = "Carrier-SBC/4.2", user: str | None = "100") -> str:
    """A real-shaped SIP request over UDP; {port} and {branch} are filled in by the probe for each send."""
    ruri = f"sip:{user}@{target}" if user else f"sip:{target}"
    head = [f"{method} {ruri} SIP/2.0", f"Via: SIP/2.0/UDP {source}:{{port}};branch=z9hG4bK{{branch}};rport",
            f"From: <sip:probe@{source}>;tag={{branch}}", f"To: <{ruri}>", "Call-ID: {branch}@trunkline-comply",
            f"CSeq: 1 {method}", f"Contact: <sip:probe@{source}:{{port}}>", "Max-Forwards: 70", f"User-Agent: {agent}"]
    if body:
        head.append("Content-Type: application/sdp")
    head.append(f"Content-Length: {len(body.encode())}")
    return "\r\n".join(head) + "\r\n\r\n" + body


def sip_probe_command(source: str, target: str, message: str, port: int = 5060, wait: float = 2.0, count: int = 1) -> str:
    """One shell command: send `count` copies of a request from `source`, print every status line heard within `wait` s."""
    count = max(1, min(count, SIP_PROBE_MAX))
    return " ".join(shlex.quote(a) for a in ("timeout", str(int(wait) + 10), "python3", "-c", _SIP_PROBE, source, target, str(port), str(wait), str(count), message))


def _answers(runner, command: str) -> list[str]:
    r = runner.run(command)
    if r.rc not in (0,) and not (r.stdout or "").strip():
        raise RuntimeError(f"the SIP probe did not run (exit {r.rc}): {_last_line(r.stderr or '')}")
    return [line for line in (r.stdout or "").splitlines() if line.startswith("SIP/2.0 ")]


def _short(command: str) -> str:
    """A probe command as a finding shows it: the program, not the script."""
    return command.split(" -c ", 1)[0] + " -c <sip probe> " + " ".join(shlex.split(command)[5:9])


@check
def strangers_unanswered(host, plan_host: Host, plan: Plan, address: str | None = None, port: int = 5060,
                         agents: tuple = ("friendly-scanner", "sipvicious"), wait: float = 2.0, vantage=None) -> Result:
    """A stranger's INVITE, and a scanner's INVITE and OPTIONS, get no answer at all from the proxy."""
    if plan_host.role != "sip-proxy":
        return NotApplicable("not a SIP proxy")
    where = vantage("stranger", plan_host) if vantage else None
    if where is None:
        return NotApplicable("the target offers no place outside the center to send from (only the lab has one)")
    runner, source = where
    addr = address or plan_host.address
    from trunkline.comply.files import sdp_offer

    probes = [("a stranger's INVITE", sip_message("INVITE", source, addr, sdp_offer(source, "RTP/SAVP")))]
    for agent in agents:
        probes.append((f"an INVITE from User-Agent {agent}", sip_message("INVITE", source, addr, sdp_offer(source, "RTP/SAVP"), agent=agent)))
        probes.append((f"an OPTIONS from User-Agent {agent}", sip_message("OPTIONS", source, addr, agent=agent, user=None)))
    out = []
    for what, message in probes:
        cmd = sip_probe_command(source, addr, message, port, wait)
        heard = _answers(runner, cmd)
        if heard:
            out.append(_fail(plan_host, _short(cmd), f"{what} from {source} to {addr}:{port} is answered: {', '.join(dict.fromkeys(heard))}",
                             "drop strangers and scanners without a reply (route[SCANNERS], route[ALLOWLIST]) and restart Kamailio"))
    return out


@check
def plain_rtp_refused(host, plan_host: Host, plan: Plan, address: str | None = None, port: int = 5060, wait: float = 2.0, vantage=None) -> Result:
    """A carrier's plain-RTP offer, also one that mentions RTP/SAVP outside its m= line, is answered 488."""
    if plan_host.role != "sip-proxy":
        return NotApplicable("not a SIP proxy")
    if plan.security.get("srtp") != "required":
        return NotApplicable("security.srtp is not required")
    where = vantage("peer", plan_host) if vantage else None
    if where is None:
        return NotApplicable("the target offers no carrier's address to send from (only the lab has one)")
    runner, source = where
    addr = address or plan_host.address
    from trunkline.comply.files import sdp_offer

    out = []
    for what, body in (("a plain-RTP offer", sdp_offer(source, "RTP/AVP")),
                       ("a plain-RTP offer that mentions RTP/SAVP outside its m= line", sdp_offer(source, "RTP/AVP", mention=True))):
        cmd = sip_probe_command(source, addr, sip_message("INVITE", source, addr, body), port, wait)
        final = [line for line in _answers(runner, cmd) if not line.startswith("SIP/2.0 1")]
        if not final or not final[0].startswith("SIP/2.0 488"):
            out.append(_fail(plan_host, _short(cmd), f"{what} from carrier {source} is answered {final[0] if final else 'with nothing'}, not 488",
                             "deploy the rendered kamailio.cfg (route[SRTP]) and restart Kamailio"))
    return out


BAN_LIST = "kamcmd -s unix:/run/kamailio/kamailio_ctl htable.dump ipban 2>/dev/null; nft list ruleset 2>/dev/null"


@check
def flood_banned(host, plan_host: Host, plan: Plan, address: str | None = None, port: int = 5060, ban_list: str = BAN_LIST, vantage=None) -> Result:
    """A burst from one stranger, above security.pike_requests, puts its address in the proxy's ban:
    Kamailio's htable (kamcmd htable.get) or an nftables set of the host."""
    if plan_host.role != "sip-proxy":
        return NotApplicable("not a SIP proxy")
    if not plan.security.get("pike", True):
        return [_fail(plan_host, "", "security.pike is off: floods are not limited", "set security.pike: true")]
    where = vantage("stranger", plan_host) if vantage else None
    if where is None:
        return NotApplicable("the target offers no place outside the center to send from (only the lab has one)")
    runner, source = where
    addr = address or plan_host.address
    burst = min(SIP_PROBE_MAX, 3 * int(plan.security.get("pike_requests", 30)) + 10)
    cmd = sip_probe_command(source, addr, sip_message("OPTIONS", source, addr, user=None), port, wait=0.5, count=burst)
    runner.run(cmd)
    seen = host.run(ban_list)
    if re.search(rf"(?<![\d.]){re.escape(source)}(?![\d.])", seen.stdout or ""):
        return []
    return [_fail(plan_host, _short(cmd) + f" x{burst}; " + ban_list, f"after {burst} requests from {source} in under a second, {source} is in no ban",
                  "deploy route[FLOOD] (pike_check_req, $sht(ipban=>$si)) and the nftables ban set, then restart Kamailio")]


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
    elif plan_host.role == "media" and not (rec["storage"]["kind"] == "nfs" and plan.hosts_of(plan_host.site, "recording")):
        folders = [rec["storage"]["path"]]  # FreeSWITCH records here (an NFS store is checked on its own host)
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
            # (FreeSWITCH, for one, makes the date folders under it 0755)
            continue
        find = f"find {shlex.quote(path)} -mindepth 1 -perm /o=rwx"
        found = [line for line in host.run(find + f" -print 2>/dev/null | head -n {show}").stdout.splitlines() if line.strip()]
        if found:
            shown = ", ".join(p[len(path.rstrip("/")) + 1:] for p in found)
            out.append(_fail(plan_host, find, f"under {folder} others have access to: {shown}", f"chmod -R o-rwx {folder}"))
    return out


# --- logs kept long enough ------------------------------------------------------------------------

def systemd_timespan(value: str) -> int | None:
    """'180d', '6month', '1y 2w' (systemd.time) in seconds; a bare number is seconds; None for 0/infinity."""
    value = value.strip()
    if value in ("", "0", "infinity"):
        return None
    return parse_span(value, SYSTEMD)


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


# --- the firewall ---------------------------------------------------------------------------------

NFT_LIST = "nft list table inet trunkline"


@check
def firewall_loaded(host, plan_host: Host, plan: Plan, list_command: str = NFT_LIST, target: str | None = None) -> Result:
    """The host's kernel holds the rendered `inet trunkline` table: the same address sets, input policy
    drop, and the plan's probes answered as the plan says (comply/nftables.py reads the `nft list` output)."""
    from trunkline.render import render_host

    if plan.site(plan_host.site).kind != "onprem":
        return NotApplicable("not an on-prem host: a cloud site's firewall is its security groups")
    if target == "lab":
        return NotApplicable("the lab's hosts are network namespaces of this machine that do not load their rendered "
                             "nftables ruleset (it is placed in /etc, not loaded); checked on servers with --live onprem")
    rendered = next((f for f in render_host(plan, plan_host) if f.path == "/etc/nftables.conf"), None)
    if rendered is None:
        return NotApplicable("no firewall is rendered for this host")
    r = host.run(list_command)
    fix = "load the rendered /etc/nftables.conf (systemctl reload nftables; the common role does it after placing the file)"
    if r.rc != 0:
        return [_fail(plan_host, list_command, f"no table inet trunkline is loaded: {_last_line((r.stderr or '') + (r.stdout or ''))}", fix)]
    try:
        live, want = parse_ruleset(r.stdout), parse_ruleset(rendered.content.decode())
    except NftError as exc:
        return [_fail(plan_host, list_command, f"the loaded table cannot be followed: {exc}", fix)]
    out = [_fail(plan_host, list_command, f"set {name} holds {', '.join(live.members(name)) or 'nothing'}, the rendered one "
                 f"{', '.join(want.members(name))}", fix)
           for name in sorted(want.sets) if want.sets[name] and live.members(name) != want.members(name)]
    out += [_fail(plan_host, list_command, f"as loaded: {message}", fix) for message, _ in violations(live, plan, plan_host)]
    return out


# --- running a control over the hosts -----------------------------------------------------------------


def evaluate_hosts(fn: Callable, params: dict, plan: Plan, connect: Connect) -> tuple[list[Fail], list[str], bool, list[str]]:
    """(failures, errors, applied, skipped): errors are hosts the check could not run on, skipped the
    reasons it gave for the hosts it does not concern (said when it concerns none)."""
    failures: list[Fail] = []
    errors: list[str] = []
    skipped: list[str] = []
    applied = False
    for plan_host in plan.hosts:
        try:
            host = connect(plan_host)
            if host is None:  # the target does not run this host (e.g. the lab scaled media nodes down)
                continue
            wanted = inspect.signature(fn).parameters  # where a check runs from (vantage) and which target it is on
            extra = {k: getattr(connect, k, None) for k in ("vantage", "target") if k in wanted}
            result = fn(host, plan_host, plan, **params, **extra)
        except Exception as exc:  # a host that does not answer must not pass; say which and why
            errors.append(f"{plan_host.name}: {type(exc).__name__}: {exc}")
            continue
        if isinstance(result, NotApplicable):
            skipped += [result.reason] if result.reason not in skipped else []
            continue
        applied = True
        failures.extend(result)
    return failures, errors, applied, skipped


def lab_vantage(plan: Plan):
    """vantage(kind, plan_host) -> (runner, source address) in the lab: 'peer' is the carrier namespace of a
    trunk ending at the host's site, 'stranger' the lab's stranger namespace (an address no trunk lists)."""
    from trunkline.targets import lab
    from trunkline.targets.connection import lab_namespace

    def vantage(kind: str, plan_host: Host):
        if kind == "peer":
            trunk = next((t for t in plan.trunks if plan_host.site in t.sites), None)
            return (lab_namespace(lab.carrier_ns(plan.center, trunk.name)), trunk.peers[0]) if trunk else None
        if kind == "stranger":
            return lab_namespace(lab.stranger_ns(plan.center)), lab.STRANGER
        return None

    return vantage


def live_connection(target: str, plan: Plan) -> Connect:
    """`connect(plan_host) -> testinfra host` for --live TARGET (None: the target does not run that host),
    over the target's connections (targets/connection.py).

    lab: the running lab of the center (media nodes the lab scaled away are None); onprem: SSH, as
    written by `trunkline inventory` in inventories/<center>/.
    """
    from trunkline.targets.connection import TARGETS, connect as reach
    from trunkline.verify.backend import testinfra_host

    if target not in TARGETS:
        raise UsageError(f"--live {target}: not a target; use lab or onprem")
    try:
        connections = reach(plan, target)
    except UsageError as exc:
        raise UsageError(f"live checks need a running target: {exc}") from None

    def connect(h):
        return testinfra_host(connections[h.name]) if h.name in connections else None

    if target == "lab":
        connect.vantage, connect.target = lab_vantage(plan), "lab"  # the lab loads no firewall (firewall_loaded)
    return connect
