"""Checks on the rendered files: the bytes the servers will read, not what the blueprint meant.

The files come from `render_plan(plan)` (in memory; nothing is written). A check reads their
text and reports `HOST:/target/path:LINE`. These controls catch a template that does not carry
a duty through (e.g. a TLS method or the SRTP 488 rule missing), so they are kept even where a
blueprint control checks the same intent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable

from trunkline import secrets as secret_marker
from trunkline.blueprint.models import format_duration, parse_duration
from trunkline.comply import registry
from trunkline.comply.blueprint import secret_like
from trunkline.comply.findings import Fail, NotApplicable, Place
from trunkline.comply.kamcfg import Config, KamailioCfgError, Outcome, Request, parse_kamailio, run_request
from trunkline.comply.nftables import NftError, parse_ruleset, violations
from trunkline.durations import TMPFILES as TMPFILES_AGE, parse_span
from trunkline.plan.topology import Plan
from trunkline.render import RenderedFile

check = registry.check("files")
Result = list[Fail] | NotApplicable

KAMAILIO_CFG = "/etc/kamailio/kamailio.cfg"
KAMAILIO_TLS = "/etc/kamailio/tls.cfg"
DISPATCHER = "/etc/kamailio/dispatcher.list"
KEEPALIVED = "/etc/keepalived/keepalived.conf"
RTPENGINE = "/etc/rtpengine/rtpengine.conf"
TMPFILES = "/etc/tmpfiles.d/trunkline-recordings.conf"
EXPORTS = "/etc/exports.d/trunkline.exports"
FS_VARS = "/etc/freeswitch/vars.xml"
FS_DIALPLAN = "/etc/freeswitch/dialplan/trunkline.xml"
FS_INTERNAL = "/etc/freeswitch/sip_profiles/internal.xml"
FS_CALLCENTER = "/etc/freeswitch/autoload_configs/callcenter.conf.xml"


@dataclass
class FilesContext:
    plan: Plan
    files: list[RenderedFile]
    _parsed: dict = field(default_factory=dict, repr=False)

    def kamailio(self, f: RenderedFile) -> Config:
        """The parsed kamailio.cfg (KamailioCfgError when it cannot be read)."""
        key = (f.host, f.path, f.content)
        if key not in self._parsed:
            try:
                self._parsed[key] = parse_kamailio(self.text(f))
            except KamailioCfgError as exc:
                self._parsed[key] = exc
        found = self._parsed[key]
        if isinstance(found, Exception):
            raise found
        return found

    def named(self, path: str) -> list[RenderedFile]:
        return [f for f in self.files if f.path == path]

    def of_host(self, host: str, path: str) -> RenderedFile | None:
        return next((f for f in self.files if f.host == host and f.path == path), None)

    @staticmethod
    def text(f: RenderedFile) -> str:
        return f.content.decode("utf-8", errors="replace")

    def line_of(self, f: RenderedFile, pattern: str) -> int:
        """1-based line of the first match of a regex, 0 when absent."""
        rx = re.compile(pattern)
        for n, line in enumerate(self.text(f).splitlines(), 1):
            if rx.search(line):
                return n
        return 0

    def fail(self, f: RenderedFile | None, line: int, message: str, fix: str = "", host: str = "", path: str = "") -> Fail:
        place = Place("file", file=f.path if f else path, line=line, host=f.host if f else host)
        return Fail(place, message, fix)

    @property
    def rec(self) -> dict:
        return self.plan.recording


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def _settings(text: str) -> dict[str, tuple[str, int]]:
    """key = value lines (INI style, sections ignored): key -> (value, line)."""
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^\s*([A-Za-z][\w.-]*)\s*=\s*(.*?)\s*$", line)
        if m and not line.lstrip().startswith(("#", ";")):
            out[m.group(1)] = (m.group(2), n)
    return out


def _fs_vars(text: str) -> dict[str, tuple[str, int]]:
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = re.search(r'<X-PRE-PROCESS\s+cmd="set"\s+data="([^=]+)=([^"]*)"', line)
        if m:
            out[m.group(1)] = (m.group(2), n)
    return out


def _xml_params(root: ET.Element) -> dict[str, str]:
    return {p.get("name"): p.get("value", "") for p in root.iter("param")}


def _xml(ctx: "FilesContext", f: RenderedFile, out: list[Fail]) -> ET.Element | None:
    """The parsed document, or None with a failure saying the file is not XML."""
    try:
        return ET.fromstring(ctx.text(f))
    except ET.ParseError as exc:
        out.append(ctx.fail(f, exc.position[0], f"not well-formed XML: {exc}", "fix the template that renders it"))
        return None


# --- TLS and SRTP -------------------------------------------------------------------------------

_KAM_METHOD = re.compile(r"^TLSv(1(?:\.[0-3])?)(\+?)$")
_FS_TLS = {"sslv2": "0.2", "sslv3": "0.3", "tlsv1": "1.0", "tlsv1.1": "1.1", "tlsv1.2": "1.2", "tlsv1.3": "1.3"}  # sofia tls-version names


@check
def tls_versions_rendered(ctx: FilesContext, minimum: str = "1.2") -> Result:
    """Kamailio tls.cfg methods and FreeSWITCH's sip_tls_version allow nothing below `minimum`."""
    out: list[Fail] = []
    seen = False
    for f in ctx.named(KAMAILIO_TLS):
        seen = True
        section, has_method = None, {}
        for n, line in enumerate(ctx.text(f).splitlines(), 1):
            s = line.strip()
            if s.startswith("[") and s.endswith("]"):
                section = s
                has_method[section] = 0
                continue
            m = re.match(r"^method\s*=\s*(\S+)", s)
            if m and section:
                has_method[section] = n
                mm = _KAM_METHOD.match(m.group(1))
                lowest = mm.group(1) if mm else "1.0"  # SSLv23 and unknown names: any version
                if _version(lowest if "." in lowest else lowest + ".0") < _version(minimum):
                    out.append(ctx.fail(f, n, f"{section} method {m.group(1)} accepts TLS below {minimum}",
                                        f"render method = TLSv{minimum}+ (blueprint security.sip_tls_min: \"{minimum}\")"))
        for section, line in has_method.items():
            if not line:
                out.append(ctx.fail(f, 0, f"{section} sets no method: Kamailio's default applies", f"render method = TLSv{minimum}+ in {section}"))
    for f in ctx.named(KAMAILIO_CFG):
        if re.search(r"(?m)^enable_tls\s*=\s*(yes|1)", ctx.text(f)) and not ctx.of_host(f.host, KAMAILIO_TLS):
            seen = True
            out.append(ctx.fail(f, ctx.line_of(f, r"^enable_tls"), "TLS is enabled but no tls.cfg is rendered: Kamailio's defaults apply",
                                "render /etc/kamailio/tls.cfg for this host"))
    for f in ctx.named(FS_VARS):
        found = _fs_vars(ctx.text(f)).get("sip_tls_version")
        if not found:
            continue
        seen = True
        value, n = found
        low = [v for v in (x.strip().lower() for x in value.split(",")) if v in _FS_TLS and _version(_FS_TLS[v]) < _version(minimum)]
        if low:
            out.append(ctx.fail(f, n, f"sip_tls_version {value} allows {', '.join(low)}", f"render sip_tls_version without versions below TLS {minimum}"))
    if not seen:
        return NotApplicable("no TLS configuration is rendered")
    return out


def tls_sections(text: str) -> list[tuple[str, int, dict[str, tuple[str, int]]]]:
    """tls.cfg as Kamailio's tls module reads it: [server:...]/[client:...] domains, each (name, line, key -> (value, line))."""
    out: list = []
    for n, line in enumerate(text.splitlines(), 1):
        s = line.split("#", 1)[0].strip()
        if not s:
            continue
        if s.startswith("[") and s.endswith("]"):
            out.append((s, n, {}))
            continue
        m = re.match(r"^([\w.-]+)\s*=\s*(.*?)\s*$", s)
        if m and out:
            out[-1][2][m.group(1).lower()] = (m.group(2), n)
    return out


# What a cipher may be, field by field, as `openssl ciphers -v` prints it: authenticated, encrypted
# with an AEAD or AES/Camellia, MAC'd with SHA-1 or SHA-2. NULL, anonymous, export, RC4, DES,
# 3DES and MD5 are simply not on the list.
CIPHER_ALLOW = {
    "Kx": {"ECDH", "DH", "RSA", "PSK", "ECDHEPSK", "DHEPSK", "RSAPSK", "SRP", "any"},
    "Au": {"RSA", "ECDSA", "DSS", "PSK", "SRP", "any"},
    "Enc": re.compile(r"^(AESGCM|AESCCM8?|CHACHA20/POLY1305|AES|Camellia|ARIAGCM)\((128|256)\)$"),
    "Mac": {"AEAD", "SHA1", "SHA256", "SHA384"},
}
# cipher-string words that ask for weak suites even where this OpenSSL build no longer has them
WEAK_CIPHER_WORDS = re.compile(r"^[+]?(eNULL|NULL|aNULL|ADH|AECDH|EXP\w*|EXPORT\w*|LOW|RC4|DES|3DES|DES-CBC3-\w+|MD5|RC2|IDEA|SEED|"
                               r"COMPLEMENTOF\w+|ALL)(-|$)|@SECLEVEL=[01]$", re.I)


@lru_cache(maxsize=64)
def expand_ciphers(spec: str) -> tuple[list[dict[str, str]], str]:
    """The suites a cipher string enables, as `openssl ciphers -v` lists them (the library Kamailio uses), or an error."""
    exe = shutil.which("openssl")
    if exe is None:
        raise RuntimeError("openssl is not installed: cipher strings cannot be expanded")
    proc = subprocess.run([exe, "ciphers", "-v", spec], capture_output=True, text=True, timeout=10)
    if proc.returncode != 0:
        return [], (proc.stderr.strip().splitlines() or ["openssl refused it"])[-1]
    suites = []
    for line in proc.stdout.splitlines():
        words = line.split()
        if len(words) >= 6:
            suite = {"name": words[0], "version": words[1]}
            suite.update(w.split("=", 1) for w in words[2:] if "=" in w)
            suites.append(suite)
    return suites, ""


def weak_suites(spec: str) -> tuple[list[str], str]:
    """(what is wrong with each suite or word the string enables, an error when openssl refuses the string)."""
    bad = [f"'{w}'" for w in re.split(r"[:, ]+", spec) if w and not w.startswith(("!", "-")) and WEAK_CIPHER_WORDS.search(w)]
    suites, error = expand_ciphers(spec)
    for suite in suites:
        wrong = [f"{k}={suite.get(k, '?')}" for k, allowed in CIPHER_ALLOW.items()
                 if not (allowed.match(suite.get(k, "")) if isinstance(allowed, re.Pattern) else suite.get(k) in allowed)]
        if wrong:
            bad.append(f"{suite['name']} ({', '.join(wrong)})")
    return bad, error


@check
def tls_ciphers_rendered(ctx: FilesContext) -> Result:
    """Every tls.cfg domain's cipher_list, expanded by OpenSSL, enables only suites on the allowlist."""
    out: list[Fail] = []
    for f in ctx.named(KAMAILIO_TLS):
        for section, line, keys in tls_sections(ctx.text(f)):
            spec, n = keys.get("cipher_list", ("DEFAULT", line))  # Kamailio leaves OpenSSL's default
            bad, error = weak_suites(spec.strip('"'))
            if error:
                out.append(ctx.fail(f, n, f"{section} cipher_list {spec} is not a cipher string OpenSSL accepts: {error}",
                                    "render cipher_list = ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"))
            if bad:
                shown = ", ".join(bad[:4]) + (f" and {len(bad) - 4} more" if len(bad) > 4 else "")
                out.append(ctx.fail(f, n, f"{section} cipher_list {spec} enables suites off the allowlist: {shown}",
                                    "render a cipher_list of authenticated AEAD suites only, e.g. ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"))
    if not ctx.named(KAMAILIO_TLS):
        return NotApplicable("no tls.cfg is rendered")
    return out


def _yes(value: str) -> bool:
    return value.strip().strip('"').lower() in ("yes", "1", "on", "true")


@check
def tls_peers_verified_rendered(ctx: FilesContext) -> Result:
    """Towards carriers Kamailio checks their certificates: every client domain verifies the server
    (verify_certificate, ca_list); where a trunk names the carrier's CA, the server domains require
    and verify the carrier's certificate (mutual TLS)."""
    out: list[Fail] = []
    seen = False
    for f in ctx.named(KAMAILIO_TLS):
        site = ctx.plan.host(f.host).site
        trunks = [t for t in ctx.plan.trunks if t.transport == "tls" and site in t.sites]
        if not trunks:
            continue
        seen = True
        sections = tls_sections(ctx.text(f))
        clients = [s for s in sections if s[0].lower().startswith("[client:")]
        if not clients:
            out.append(ctx.fail(f, 0, "no [client:...] domain: Kamailio's default client does not verify the carrier's certificate",
                                "render [client:default] with verify_certificate = yes and ca_list"))
        for section, line, keys in clients:
            value, n = keys.get("verify_certificate", ("no (default)", line))
            if not _yes(value):
                out.append(ctx.fail(f, n, f"{section} verify_certificate = {value}: calls to carriers accept any certificate (anyone in the path can pose as the carrier)",
                                    f"render verify_certificate = yes in {section}"))
            elif "ca_list" not in keys:
                out.append(ctx.fail(f, line, f"{section} verifies certificates against no ca_list", f"render ca_list in {section}"))
        mutual = [t for t in trunks if getattr(t, "tls_verify", False)]
        if mutual:
            names = ", ".join(t.name for t in mutual)
            servers = [s for s in sections if s[0].lower().startswith("[server:")]
            for section, line, keys in servers:
                value, n = keys.get("verify_certificate", ("no (default)", line))
                if not _yes(value) or "ca_list" not in keys:
                    out.append(ctx.fail(f, n, f"{section} verify_certificate = {value}{'' if 'ca_list' in keys else ', no ca_list'}: trunk {names} names its carrier's CA, "
                                        "but the carrier's certificate is not checked", f"render verify_certificate = yes and ca_list in {section}"))
            required = servers and all(_yes(k.get("require_certificate", ("no",))[0]) for _, _, k in servers)
            if not required:
                # the handshake lets a client without a certificate in: the routing script must then refuse
                # the trunk's requests unless the certificate was verified ($tls_peer_verified)
                cfg = ctx.of_host(f.host, KAMAILIO_CFG)
                for t in mutual if cfg else []:
                    req = invite(t.peers[0], sdp_offer(t.peers[0], "RTP/SAVP"), proto="tls", tls_verified=False)
                    let_in = next((o for o in _paths(ctx, cfg, req, out) or [] if o.relayed), None)
                    if let_in:
                        out.append(ctx.fail(cfg, (let_in.lines or (0,))[0], f"trunk {t.name} names its carrier's CA, yet an INVITE from {t.peers[0]} over TLS "
                                            "without a verified certificate is relayed (require_certificate is off and the script does not check $tls_peer_verified)",
                                            f"render require_certificate = yes, or refuse trunk {t.name}'s requests unless $tls_peer_verified"))
    if not seen:
        return NotApplicable("no TLS trunk ends at a rendered proxy")
    return out


# --- the routing script, run on model requests ------------------------------------------------------

SCANNER_AGENTS = ("friendly-scanner", "sipvicious", "sipcli/v1.8", "sip-scan")
_SDP = ("v=0\r\no=carrier 4711 4711 IN IP4 {ip}\r\ns={session}\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
        "m=audio 30000 {proto} 8 101\r\n{extra}a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")
CRYPTO = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n"


def sdp_offer(ip: str, proto: str, mention: bool = False) -> str:
    """A carrier's offer; `mention` puts RTP/SAVP in the body outside the m= line (session name and a
    capability attribute, RFC 5939), as an offer that only proposes SRTP would."""
    return _SDP.format(ip=ip, proto=proto, session="RTP/SAVP offered" if mention else "call",
                       extra=("a=tcap:1 RTP/SAVP\r\n" if mention else "") + (CRYPTO if proto == "RTP/SAVP" else ""))


def invite(source: str, body: str = "", agent: str = "Carrier-SBC/4.2", **kw) -> Request:
    return Request("INVITE", source, body, "application/sdp" if body else "", (("User-Agent", agent),), **kw)


def _stranger(plan: Plan) -> str:
    used = {h.address for h in plan.hosts} | {p for t in plan.trunks for p in t.peers}
    return next(a for a in ("192.0.2.250", "198.51.100.250", "203.0.113.250", "192.0.2.251") if a not in used)


def _said(o: Outcome) -> str:
    where = f" (line {', '.join(map(str, o.lines))})" if o.lines else ""
    if o.replies:
        return f"answered {'/'.join(map(str, o.replies))}{where}" + (" and relayed" if o.relayed else "")
    return f"relayed{where}" if o.relayed else "dropped without a reply"


def _paths(ctx: FilesContext, f: RenderedFile, req: Request, out: list[Fail], presets: dict | None = None) -> list[Outcome] | None:
    """request_route's outcomes for req, or None with a failure saying the script could not be read."""
    try:
        return run_request(ctx.kamailio(f), req, presets)
    except KamailioCfgError as exc:
        out.append(ctx.fail(f, 0, f"the routing script cannot be followed: {exc}", "fix the template that renders kamailio.cfg"))
        return None


def _site_sources(ctx: FilesContext, f: RenderedFile) -> tuple[str | None, str | None]:
    """(a trunk peer's address, a media node's address) for the proxy's site."""
    site = ctx.plan.host(f.host).site
    peer = next((p for t in ctx.plan.trunks if site in t.sites for p in t.peers), None)
    media = next((h.address for h in ctx.plan.hosts if h.site == site and h.role == "media"), None)
    return peer, media


@check
def srtp_enforced_rendered(ctx: FilesContext) -> Result:
    """Kamailio refuses plain-RTP offers with 488 and FreeSWITCH makes SRTP mandatory."""
    out: list[Fail] = []
    srtp = ctx.plan.security["srtp"]
    if srtp != "required":
        return [ctx.fail(f, 0, f"security.srtp is {srtp}: this file does not refuse plain RTP", "set security.srtp: required in the blueprint")
                for f in ctx.named(KAMAILIO_CFG) + ctx.named(FS_VARS)]
    for f in ctx.named(KAMAILIO_CFG):
        peer, _ = _site_sources(ctx, f)
        if peer is None:
            continue
        offers = {"a plain-RTP offer": sdp_offer(peer, "RTP/AVP"),
                  "a plain-RTP offer that mentions RTP/SAVP outside its m= line": sdp_offer(peer, "RTP/AVP", mention=True)}
        for what, body in offers.items():
            paths = _paths(ctx, f, invite(peer, body), out)
            wrong = [o for o in paths or [] if not (o.replies[:1] == (488,) and not o.relayed)]
            if wrong:
                out.append(ctx.fail(f, (wrong[0].lines or (0,))[0], f"{what} from carrier {peer} is {_said(wrong[0])}, not answered 488",
                                    "render route[SRTP], called from request_route for every INVITE with a body, answering 488 "
                                    "unless an m= line offers RTP/SAVP (sdp_with_transport)"))
        paths = _paths(ctx, f, invite(peer, sdp_offer(peer, "RTP/SAVP")), out)
        if paths and all(o.replies[:1] == (488,) for o in paths):
            out.append(ctx.fail(f, paths[0].lines[0] if paths[0].lines else 0, f"an SRTP offer (m=audio ... RTP/SAVP) from carrier {peer} is answered 488 too: no call can be made",
                                "test the m= lines' transport, not the body as a whole"))
    for f in ctx.named(FS_VARS):
        value, n = _fs_vars(ctx.text(f)).get("rtp_secure_media", ("", 0))
        if value != "mandatory":
            out.append(ctx.fail(f, n, f"rtp_secure_media is {value or 'unset'}: FreeSWITCH accepts plain RTP", "render rtp_secure_media=mandatory"))
    return out


@check
def transit_rendered(ctx: FilesContext, minimum_tls: str = "1.2") -> Result:
    """Both halves of encryption in transit as rendered: TLS versions and SRTP enforcement."""
    out: list[Fail] = []
    tls = tls_versions_rendered(ctx, minimum_tls)
    if isinstance(tls, list):
        out += tls
    for t in ctx.plan.trunks:
        if t.transport == "tls":
            continue
        for f in ctx.named(KAMAILIO_CFG):
            if ctx.plan.host(f.host).site in t.sites:
                line = ctx.line_of(f, rf"transport={t.transport}\b") or ctx.line_of(f, rf'^listen={t.transport}:')
                out.append(ctx.fail(f, line, f"trunk {t.name} is signalled over {t.transport}: not encrypted", "set the trunk's transport: tls in the blueprint"))
    out += srtp_enforced_rendered(ctx)
    return out


# --- secrets and exposure ---------------------------------------------------------------------------

_PAIR_RES = [
    re.compile(r'name="([^"]+)"\s+value="([^"]*)"'),
    re.compile(r'modparam\("[^"]+",\s*"([^"]+)",\s*"([^"]*)"\)'),
    re.compile(r"^\s*([A-Za-z][\w.-]*)\s*=\s*(.*?)\s*$"),
    re.compile(r"^\s*(auth_pass|password)\s+(\S+)"),  # keepalived style: key value
]


def _is_reference(value: str) -> bool:
    v = value.strip().strip('"')
    return not v or secret_marker.has_marker(v) or v.startswith(("/", "$", "env:", "file:", "vault:"))


@check
def no_rendered_secrets(ctx: FilesContext) -> Result:
    out = []
    for f in ctx.files:
        for n, line in enumerate(ctx.text(f).splitlines(), 1):
            for rx in _PAIR_RES:
                for m in rx.finditer(line):
                    key, value = m.group(1), m.group(2)
                    what = None if _is_reference(value) else secret_like(key if not key.endswith("_pass") else "password", value)
                    if what:
                        out.append(ctx.fail(f, n, f"holds {what}", "render a secret marker ({{ secret(ref) }}) that the apply step resolves on the host"))
            if "-----BEGIN" in line and "PRIVATE KEY" in line:
                out.append(ctx.fail(f, n, "holds a PEM private key", "keep keys out of rendered files; the tls role places them at apply time"))
    return out


@check
def sip_allow_list_rendered(ctx: FilesContext) -> Result:
    """Each proxy admits only its site's trunk peers and hosts; any other source's INVITE or OPTIONS
    is dropped without a reply (a reply tells a scanner that a SIP server lives here)."""
    out = []
    for f in ctx.named(KAMAILIO_CFG):
        site = ctx.plan.host(f.host).site
        allowed = {h.address for h in ctx.plan.hosts if h.site == site}
        allowed |= {p for t in ctx.plan.trunks if site in t.sites for p in t.peers}
        for n, line in enumerate(ctx.text(f).splitlines(), 1):
            for addr in re.findall(r'\$si\s*==\s*"([^"]+)"', line):
                if addr not in allowed:
                    out.append(ctx.fail(f, n, f"admits {addr}, neither a trunk peer of site {site} nor one of its hosts", "drop it, or add it to a trunk's peers"))
        stranger = _stranger(ctx.plan)
        probes = {"an INVITE": invite(stranger, sdp_offer(stranger, "RTP/SAVP")),
                  "an OPTIONS keepalive": Request("OPTIONS", stranger, headers=(("User-Agent", "Carrier-SBC/4.2"),), ruri_user=None)}
        for what, req in probes.items():
            for o in _paths(ctx, f, req, out) or []:
                if not o.silent:
                    out.append(ctx.fail(f, (o.lines or (0,))[0], f"{what} from a stranger ({stranger}) is {_said(o)}: strangers must get no reply",
                                        "render route[ALLOWLIST], called from request_route before any reply, dropping (exit) every source that is not a trunk peer or a host of the site"))
                    break
    if not ctx.named(KAMAILIO_CFG):
        return NotApplicable("no SIP proxy is rendered")
    return out


@check
def scanners_dropped_rendered(ctx: FilesContext, agents: Iterable[str] = SCANNER_AGENTS) -> Result:
    """Requests whose User-Agent is a known scanner get no reply and go nowhere, even from a carrier's address."""
    out = []
    for f in ctx.named(KAMAILIO_CFG):
        peer, _ = _site_sources(ctx, f)
        source = peer or _stranger(ctx.plan)
        for agent in agents:
            for req in (invite(source, sdp_offer(source, "RTP/SAVP"), agent=agent),
                        Request("OPTIONS", source, headers=(("User-Agent", agent),), ruri_user=None)):
                bad = next((o for o in _paths(ctx, f, req, out) or [] if not o.silent), None)
                if bad:
                    out.append(ctx.fail(f, (bad.lines or (0,))[0], f"{req.method} with User-Agent {agent} from {source} is {_said(bad)}",
                                        "render route[SCANNERS], called first in request_route, dropping known scanner User-Agents without a reply"))
                    break
    if not ctx.named(KAMAILIO_CFG):
        return NotApplicable("no SIP proxy is rendered")
    return out


@check
def flood_control_rendered(ctx: FilesContext, sampling_seconds: int = 2) -> Result:
    """pike is loaded with the blueprint's rate; a source it flags is dropped without a reply and banned,
    and a banned source's next request is dropped too."""
    out = []
    limit = ctx.plan.security.get("pike_requests", 30)
    if not ctx.plan.security.get("pike", True):
        return [ctx.fail(f, 0, "security.pike is off: nothing limits a source that floods the proxy", "set security.pike: true in the blueprint")
                for f in ctx.named(KAMAILIO_CFG)]
    for f in ctx.named(KAMAILIO_CFG):
        try:
            cfg = ctx.kamailio(f)
        except KamailioCfgError as exc:
            out.append(ctx.fail(f, 0, f"the routing script cannot be followed: {exc}"))
            continue
        if "pike" not in cfg.modules:
            out.append(ctx.fail(f, 0, "the pike module is not loaded: floods are not limited", "render loadmodule \"pike.so\" and route[FLOOD]"))
            continue
        density = cfg.modparam("pike", "reqs_density_per_unit")
        unit = cfg.modparam("pike", "sampling_time_unit")
        if density is None or not density[0].isdigit() or int(density[0]) > limit:
            out.append(ctx.fail(f, density[1] if density else cfg.modules["pike"], f"pike allows {density[0] if density else 'its default of 30'} requests per unit, "
                                f"more than security.pike_requests ({limit})", f"render modparam(\"pike\", \"reqs_density_per_unit\", {limit})"))
        if unit is None or not unit[0].isdigit() or int(unit[0]) > sampling_seconds:
            out.append(ctx.fail(f, unit[1] if unit else cfg.modules["pike"], f"pike samples every {unit[0] if unit else 2} s, longer than {sampling_seconds} s",
                                f"render modparam(\"pike\", \"sampling_time_unit\", {sampling_seconds})"))
        peer, _ = _site_sources(ctx, f)
        checked = False
        for source in [s for s in (_stranger(ctx.plan), peer) if s]:
            paths = _paths(ctx, f, invite(source, sdp_offer(source, "RTP/SAVP"), flood=True), out) or []
            flagged = [o for o in paths if "pike_check_req" in o.calls]
            if not flagged:
                continue
            checked = True
            noisy = next((o for o in flagged if not o.silent), None)
            if noisy:
                out.append(ctx.fail(f, (noisy.lines or (0,))[0], f"a flood from {source} that pike flags is {_said(noisy)}", "drop it (exit) without a reply"))
            bans = {a for o in flagged for a in o.assigned if a.startswith("$sht(")}
            if not bans or any(not any(a.startswith("$sht(") for a in o.assigned) for o in flagged):
                out.append(ctx.fail(f, 0, f"a flood from {source} that pike flags is not banned (no $sht(...=>$si) entry)",
                                    "render route[FLOOD] writing the source into a ban table (htable with autoexpire) that is checked first"))
                continue
            for ban in sorted(bans):
                again = _paths(ctx, f, invite(source, sdp_offer(source, "RTP/SAVP")), out, presets={ban: 1}) or []
                loud = next((o for o in again if not o.silent), None)
                if loud:
                    out.append(ctx.fail(f, (loud.lines or (0,))[0], f"a banned source ({ban} set) is {_said(loud)}: the ban is not enforced",
                                        f"check {ban} before anything else and drop the request"))
        if not checked:
            out.append(ctx.fail(f, 0, "pike_check_req() is reached by no request, neither a stranger's nor a carrier's",
                                "call route[FLOOD] (pike_check_req) from request_route before any reply"))
    if not ctx.named(KAMAILIO_CFG):
        return NotApplicable("no SIP proxy is rendered")
    return out


# --- recordings ---------------------------------------------------------------------------------------


# FreeSWITCH records (dialplan/trunkline.xml): the carrier extension sets the call's recording path
# in this variable and starts record_session on it; the payment extension masks and unmasks it
REC_PATH = "${trunkline_recording}"
# what would let a request stop or pause a recording at the edge (rtpengine's recording controls)
EDGE_RECORDING_CONTROLS = ("stop_recording", "start_recording", "pause_recording")
# dialplan applications that silence or end a call's recording
SILENCING = ("record_session_mask", "record_session_pause", "stop_record_session")


def _actions(ext: ET.Element) -> list[tuple[str, str]]:
    """(application, data) of an extension's actions, in order (anti-actions left out)."""
    return [(a.get("application", ""), a.get("data", "")) for a in ext.iter("action")]


def _extension(root: ET.Element, name: str) -> ET.Element | None:
    return next((e for e in root.iter("extension") if e.get("name") == name), None)


@check
def pause_route_rendered(ctx: FilesContext) -> Result:
    """When pause_on_payment: the dialplan's payment extension masks the call's recording (silence is
    written) before it reads the card number and unmasks it after; nothing else in the dialplan masks
    or stops a recording, and no request a carrier sends reaches a recording control at the edge."""
    if ctx.rec["mode"] == "none":
        return NotApplicable("recording.mode is none")
    if not ctx.rec["pause_on_payment"]:
        return NotApplicable("recording.pause_on_payment is off (a blueprint control reports that)")
    out = []
    for f in ctx.named(KAMAILIO_CFG):
        peer, _ = _site_sources(ctx, f)
        if peer:
            for body in ("pause\r\n", "resume\r\n"):
                req = Request("INFO", peer, body, "application/x-trunkline-recording", (), to_tag=True)
                leak = next((o for o in _paths(ctx, f, req, out) or [] if set(EDGE_RECORDING_CONTROLS) & set(o.calls)), None)
                if leak:
                    out.append(ctx.fail(f, 0, f"an in-dialog INFO from carrier {peer} reaches {'/'.join(c for c in EDGE_RECORDING_CONTROLS if c in leak.calls)}(): "
                                        "anyone in the dialog can switch the recording off", "record on the media nodes only (FreeSWITCH); no route controls recording"))
    for f in ctx.named(FS_DIALPLAN):
        root = _xml(ctx, f, out)
        if root is None:
            continue
        ext = _extension(root, "payment")
        if ext is None:
            out.append(ctx.fail(f, 0, "no payment extension", "render the payment extension"))
            continue
        datas = _actions(ext)
        idx = {k: next((i for i, (app, d) in enumerate(datas) if app == want and (want == "play_and_get_digits" or d == REC_PATH)), None)
               for k, want in (("mask", "record_session_mask"), ("digits", "play_and_get_digits"), ("unmask", "record_session_unmask"))}
        line = ctx.line_of(f, r'extension name="payment"')
        if idx["digits"] is not None:
            if idx["mask"] is None or idx["mask"] > idx["digits"]:
                out.append(ctx.fail(f, line, "the payment extension reads the card number without masking the recording first",
                                    f"render record_session_mask {REC_PATH} before play_and_get_digits"))
            if idx["unmask"] is None or idx["unmask"] < idx["digits"]:
                out.append(ctx.fail(f, line, "the payment extension never unmasks the recording after the card data",
                                    f"render record_session_unmask {REC_PATH} after the card data is taken"))
        for other in root.iter("extension"):
            if other is ext:
                continue
            silencing = [app for app, _ in _actions(other) if app in SILENCING]
            if silencing:
                out.append(ctx.fail(f, ctx.line_of(f, f'extension name="{other.get("name")}"'),
                                    f"extension {other.get('name')} runs {', '.join(silencing)}: the recording is silenced outside the payment",
                                    "mask the recording only in the payment extension"))
    return out


def _tmpfiles_entries(text: str) -> list[tuple[list[str], int]]:
    return [(line.split(), n) for n, line in enumerate(text.splitlines(), 1)
            if len(line.split()) >= 2 and not line.lstrip().startswith("#")]


def _recording_dirs(ctx: FilesContext, h) -> list[str]:
    """Folders this host keeps recordings in, as its rendered files say: the store on the recording
    host, FreeSWITCH's recordings_dir on a media node."""
    if ctx.rec["mode"] == "none":
        return []
    out = []
    if h.role == "recording":
        out.append(ctx.rec["storage"]["path"])
    fs_vars = ctx.of_host(h.name, FS_VARS)
    value = _fs_vars(ctx.text(fs_vars)).get("recordings_dir") if fs_vars else None
    if value and value[0].startswith("/"):
        out.append(value[0])
    return list(dict.fromkeys(out))


def _all_recording_dirs(ctx: FilesContext) -> list[str]:
    paths = [ctx.rec["storage"]["path"]] + [p for h in ctx.plan.hosts for p in _recording_dirs(ctx, h)]
    for f in ctx.named(FS_VARS):  # FreeSWITCH's recordings folder, wherever a host makes it
        value = _fs_vars(ctx.text(f)).get("recordings_dir")
        if value and value[0].startswith("/"):
            paths.append(value[0])
    return list(dict.fromkeys(paths))


def _tmpfiles_line(text: str, path: str) -> tuple[list[str], int] | None:
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if len(fields) >= 2 and not line.lstrip().startswith("#") and fields[1] == path:
            return fields, n
    return None


def tmpfiles_age(age: str) -> int | None:
    """tmpfiles.d Age ('30d', '1w2d', '-') in seconds; None when files are never cleaned."""
    age = age.lstrip("~")
    if age in ("-", ""):
        return None
    return parse_span(age, TMPFILES_AGE)


def _octal(mode: str) -> int | None:
    try:
        return int(mode.lstrip("~"), 8)
    except ValueError:
        return None


@check
def recording_access_rendered(ctx: FilesContext) -> Result:
    """Recording folders are closed to 'other'; NFS exports go to the site's media nodes (which record) only, root squashed."""
    if ctx.rec["mode"] == "none":
        return NotApplicable("recording.mode is none")
    out = []
    for h in ctx.plan.hosts:
        needed = _recording_dirs(ctx, h)
        f = ctx.of_host(h.name, TMPFILES)
        lines = _tmpfiles_entries(ctx.text(f)) if f else []
        for path in needed:
            if not any(fields[1] == path for fields, _ in lines):
                out.append(ctx.fail(f, 0, f"no tmpfiles entry makes {path} on {h.name}: its mode is left to chance",
                                    f"render 'd {path} 0750 root trunkline-rec -'", host=h.name, path=TMPFILES))
        watched = needed + [p for p in _all_recording_dirs(ctx) if p not in needed]
        for fields, n in lines:
            if not any(fields[1] == p or fields[1].startswith(p.rstrip("/") + "/") for p in watched):
                continue
            mode = _octal(fields[2]) if len(fields) > 2 and fields[2] != "-" else None
            if mode is None or mode & 0o007:
                shown = fields[2] if len(fields) > 2 else "(default)"
                out.append(ctx.fail(f, n, f"{fields[1]} has mode {shown}: others can read recordings" + (" (the default is 0755 for folders)" if mode is None else ""),
                                    f"render mode 0750 for {fields[1]}"))
    for f in ctx.named(EXPORTS):
        recorders = {h.address for h in ctx.plan.hosts if h.role == "media" and h.site == ctx.plan.host(f.host).site}
        for n, line in enumerate(ctx.text(f).splitlines(), 1):
            if line.lstrip().startswith("#") or not line.strip():
                continue
            for client, opts in re.findall(r"(\S+?)\(([^)]*)\)", line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ""):
                options = opts.split(",")
                if client not in recorders:
                    out.append(ctx.fail(f, n, f"exports recordings to {client}, not a media node of this site", "export to the site's media nodes only"))
                if "no_root_squash" in options or "insecure" in options or "root_squash" not in options:
                    out.append(ctx.fail(f, n, f"export to {client} has options {opts}: root on the client is root on the recordings", "render root_squash (and not insecure)"))
    return out


def _recording_set(root: ET.Element) -> dict[str, str]:
    """The variables the carrier extension sets (name -> value) before it hands the call on."""
    ext = _extension(root, "inbound")
    out = {}
    for app, data in _actions(ext) if ext is not None else []:
        if app == "set" and "=" in data:
            name, _, value = data.partition("=")
            out[name] = value
    return out


@check
def recording_rendered(ctx: FilesContext) -> Result:
    """Every call is recorded as rendered: the dialplan's carrier extension answers and starts
    record_session on the call's recording path before it hands the call to the IVR or a queue,
    and FreeSWITCH's recordings folder is the blueprint's store."""
    out = []
    mode = ctx.rec["mode"]
    why = "" if mode == "all" else f": recording.mode is {mode}"
    for f in ctx.named(FS_DIALPLAN):
        root = _xml(ctx, f, out)
        if root is None:
            continue
        ext = _extension(root, "inbound")
        line = ctx.line_of(f, r'extension name="inbound"')
        actions = _actions(ext) if ext is not None else []
        apps = [app for app, _ in actions]
        handed = next((i for i, app in enumerate(apps) if app in ("transfer", "bridge", "callcenter", "ivr", "respond", "hangup")), len(apps))
        started = next((i for i, (app, d) in enumerate(actions) if app == "record_session" and d == REC_PATH), None)
        if started is None or started > handed:
            out.append(ctx.fail(f, line, "the carrier extension does not start record_session on the call before it hands the call on" + why,
                                "set recording.mode: all; the template then renders record_session ${trunkline_recording}"))
        elif "answer" not in apps[:started]:
            out.append(ctx.fail(f, line, "record_session starts before the call is answered: it would record ringing, or nothing",
                                "render answer before record_session"))
    for f in ctx.named(FS_VARS):
        value, n = _fs_vars(ctx.text(f)).get("recordings_dir", ("", 0))
        if mode != "none" and value != ctx.rec["storage"]["path"]:
            out.append(ctx.fail(f, n, f"recordings_dir is {value or 'unset'}: recordings are not written to {ctx.rec['storage']['path']}",
                                f"render recordings_dir={ctx.rec['storage']['path']}"))
    if not ctx.named(FS_DIALPLAN):
        out.append(ctx.fail(None, 0, "no media node's dialplan is rendered: nothing records the calls", "add media nodes to the sites",
                            path=FS_DIALPLAN))
    return out


# the file formats FreeSWITCH writes a recording in, by the path's extension; opus: a wav that
# record_post_process_exec_api encodes with opusenc after the call
_OPUS_AFTER = re.compile(r"^bg_system:cd .* && opusenc --quiet --bitrate \d+ (\$\{trunkline_call_hash\}_\$\{uuid\})\.wav \1\.opus\b")


@check
def recordings_findable(ctx: FilesContext, formats: Iterable[str] = ("wav", "mp3", "opus"),
                        pattern_tokens: Iterable[str] = ("${trunkline_call_hash}",)) -> Result:
    """Recordings are replayable files whose names carry what finds one call again.

    Read from the dialplan's carrier extension: the path it records to (trunkline_recording, its
    tokens: strftime's %Y %m %d, ${trunkline_call_hash} for the carrier's Call-ID, ${uuid}), its
    format (the extension, or opus when opusenc encodes the wav after the call); and the SIP
    proxies' INVITE to the media nodes carries the Call-ID's hash that names the file."""
    if ctx.rec["mode"] == "none":
        return NotApplicable("recording.mode is none")
    out = []
    formats = list(formats)
    for f in ctx.named(FS_DIALPLAN):
        root = _xml(ctx, f, out)
        if root is None:
            continue
        sets = _recording_set(root)
        line = ctx.line_of(f, r'data="trunkline_recording_name=')
        name, path = sets.get("trunkline_recording_name", ""), sets.get("trunkline_recording", "")
        if not name or path.rpartition(".")[0] != "${trunkline_recording_name}":
            out.append(ctx.fail(f, line, "the carrier extension names no recording file (trunkline_recording_name, trunkline_recording)",
                                "render the recording path in the carrier extension"))
            continue
        fmt = path.rpartition(".")[2]
        if fmt == "wav" and _OPUS_AFTER.match(sets.get("record_post_process_exec_api", "")):
            fmt = "opus"
        if fmt not in formats:
            out.append(ctx.fail(f, line, f"recordings are written as {fmt}, not one of {', '.join(formats)}", f"set recording.format: {formats[0]}"))
        # the name as FreeSWITCH builds it: the variables the extension set put in place (trunkline_recording_day)
        full = re.sub(r"\$\{(\w+)\}", lambda m: sets.get(m.group(1), m.group(0)) if m.group(1).startswith("trunkline_recording") else m.group(0), name)
        missing = [t for t in pattern_tokens if t not in full]
        if missing:
            out.append(ctx.fail(f, line, f"the recording name {full} lacks {' '.join(missing)}: one call's recording cannot be found by its id and date",
                                f"render the recording name with {' '.join(pattern_tokens)}"))
        if not root.findall(".//extension[@name='inbound']/condition[@field='${sip_h_X-Trunkline-Call}'][@expression='^([0-9a-f]{32})$']"):
            out.append(ctx.fail(f, ctx.line_of(f, 'extension name="inbound"'), "the Call-ID hash from the proxy is not checked (32 hex digits) before it names a file",
                                "render the X-Trunkline-Call condition in the carrier extension"))
    for f in ctx.named(KAMAILIO_CFG):
        m = re.search(r"(?ms)^route\[TO_MEDIA\]\s*\{(.*?)^\}", ctx.text(f))
        body = m.group(1) if m else ""
        if 'remove_hf("X-Trunkline-Call");' not in body or 'append_hf("X-Trunkline-Call: $(ci{s.md5})\\r\\n");' not in body:
            out.append(ctx.fail(f, ctx.line_of(f, r"^route\[TO_MEDIA\]"), "the INVITE to the media nodes does not carry the hash of the carrier's Call-ID "
                                "(X-Trunkline-Call, a carrier's copy removed): recordings cannot be found by Call-ID",
                                'render remove_hf("X-Trunkline-Call") and append_hf("X-Trunkline-Call: $(ci{s.md5})\\r\\n") in route[TO_MEDIA]'))
    if not ctx.named(FS_DIALPLAN):
        return NotApplicable("no media node's dialplan is rendered")
    return out


def _recording_ages(ctx: FilesContext) -> Result | list[tuple]:
    """(file, line, age seconds or None) of the recordings path on every recording host."""
    if ctx.rec["mode"] == "none":
        return NotApplicable("recording.mode is none")
    if ctx.rec["storage"]["kind"] == "s3":
        return NotApplicable("recordings are in S3: the bucket's lifecycle rule is the AWS stack's (a cloud control checks it)")
    if ctx.rec["storage"]["kind"] == "oss":
        return NotApplicable("recordings are in OSS object storage, whose lifecycle rules trunkline does not build or read")
    path = ctx.rec["storage"]["path"]
    ages = []
    for f in ctx.named(TMPFILES):
        found = _tmpfiles_line(ctx.text(f), path)
        if found:
            fields, n = found
            ages.append((f, n, tmpfiles_age(fields[5]) if len(fields) > 5 else None))
        else:
            ages.append((f, 0, None))
    return ages


@check
def retention_enforced_rendered(ctx: FilesContext) -> Result:
    """Recordings are deleted when their retention ends (tmpfiles Age on the recordings folder)."""
    ages = _recording_ages(ctx)
    if isinstance(ages, NotApplicable):
        return ages
    keep = ctx.plan.sizing.retention_days
    out = []
    for f, n, age in ages:
        if age is None:
            out.append(ctx.fail(f, n, f"nothing deletes recordings: they outlive their {keep}-day retention",
                                f"render the Age of {ctx.rec['storage']['path']} as {keep}d (templates/recording/etc/tmpfiles.d/trunkline-recordings.conf.j2)"))
        elif age > keep * 86400:
            out.append(ctx.fail(f, n, f"recordings are deleted after {format_duration(age)}, later than the {keep}-day retention", f"render Age {keep}d"))
    return out


@check
def no_early_deletion_rendered(ctx: FilesContext, minimum: str = "3y") -> Result:
    """Nothing rendered deletes recordings before `minimum` (a tmpfiles Age shorter than that)."""
    ages = _recording_ages(ctx)
    if isinstance(ages, NotApplicable):
        return ages
    need = parse_duration(minimum)
    return [ctx.fail(f, n, f"recordings are deleted after {format_duration(age)}, before the {minimum} they must be kept",
                     f"render an Age of at least {need // 86400}d, or '-'")
            for f, n, age in ages if age is not None and age < need]


# --- logging, users, availability ---------------------------------------------------------------------


@check
def security_events_logged(ctx: FilesContext) -> Result:
    """The proxies log to syslog and log each refusal and flood block; the media nodes log each recording pause."""
    out = []
    for f in ctx.named(KAMAILIO_CFG):
        text = ctx.text(f)
        lines = text.splitlines()
        if not re.search(r"(?m)^log_stderror\s*=\s*no", text) or not re.search(r"(?m)^log_facility\s*=\s*LOG_\w+", text):
            out.append(ctx.fail(f, ctx.line_of(f, "^log_"), "Kamailio does not log to syslog (log_stderror=no, log_facility)", "render log_stderror=no and log_facility=LOG_LOCAL0"))
        for n, line in enumerate(lines, 1):
            if 'sl_send_reply("403"' in line and not any("xlog(" in lines[j] for j in range(max(0, n - 4), n - 1)):
                out.append(ctx.fail(f, n, "a refusal (403) is not logged", "render an xlog line before the 403 naming the source"))
        if ctx.plan.security["pike"]:
            m = re.search(r"pike_check_req\(\)(.*?)exit;", text, re.S)
            if not m or "xlog(" not in m.group(1):
                out.append(ctx.fail(f, ctx.line_of(f, "pike_check_req"), "a flood block is not logged", "render an xlog line where pike blocks a source"))
    for f in ctx.named(FS_DIALPLAN) if ctx.rec["pause_on_payment"] and ctx.rec["mode"] != "none" else []:
        root = _xml(ctx, f, out)
        ext = _extension(root, "payment") if root is not None else None
        actions = _actions(ext) if ext is not None else []
        for i, (app, _) in enumerate(actions):
            if app in ("record_session_mask", "record_session_unmask") and not any(a == "log" for a, _ in actions[i + 1:i + 2]):
                out.append(ctx.fail(f, ctx.line_of(f, app), f"{app} (the payment pause) is not logged", "render a log action (NOTICE) right after it"))
    for f in ctx.named(RTPENGINE):
        if "log-facility" not in _settings(ctx.text(f)):
            out.append(ctx.fail(f, 0, "rtpengine has no log-facility: its events are not in syslog", "render log-facility = local1"))
    if not ctx.named(KAMAILIO_CFG):
        return NotApplicable("no SIP proxy is rendered")
    return out


@check
def unique_users_rendered(ctx: FilesContext) -> Result:
    """Agents authenticate as themselves: calls need auth, a registration matches its user, agent names are unique."""
    out = []
    for f in ctx.named(FS_INTERNAL):
        root = _xml(ctx, f, out)
        if root is None:
            continue
        params = _xml_params(root)
        for name in ("auth-calls", "inbound-reg-force-matching-username"):
            if params.get(name) != "true":
                out.append(ctx.fail(f, ctx.line_of(f, f'name="{name}"'), f"{name} is {params.get(name, 'unset')}: calls are not tied to one authenticated user",
                                    f'render <param name="{name}" value="true"/>'))
    for f in ctx.named(FS_CALLCENTER):
        root = _xml(ctx, f, out)
        if root is None:
            continue
        seen: dict[str, int] = {}
        for a in root.iter("agent"):
            name = a.get("name", "")
            seen[name] = seen.get(name, 0) + 1
            if f"user/{name}@" not in a.get("contact", ""):
                out.append(ctx.fail(f, ctx.line_of(f, f'agent name="{re.escape(name)}"'), f"agent {name} rings another user's phone", "render contact user/<agent>@domain"))
        for name, count in seen.items():
            if count > 1:
                out.append(ctx.fail(f, ctx.line_of(f, f'agent name="{re.escape(name)}"'), f"agent name {name} is used {count} times", "give each agent its own name"))
    if not ctx.named(FS_INTERNAL):
        return NotApplicable("no media node is rendered")
    return out


@check
def hot_standby_rendered(ctx: FilesContext, min_media_nodes: int = 2) -> Result:
    """Every site's proxies are a VRRP pair holding the VIP, and its dispatcher has spare media nodes."""
    out = []
    for site in ctx.plan.sites:
        proxies = [ctx.plan.host(n) for n in site.proxies]
        if len(proxies) < 2:
            out.append(Fail(Place("file", file=KEEPALIVED, host=site.proxies[0] if site.proxies else site.name),
                            f"site {site.name} has one SIP proxy: no VRRP pair is rendered", "set the site's sip_proxy: {ha: pair} in the blueprint"))
        for h in proxies if len(proxies) >= 2 else []:
            f = ctx.of_host(h.name, KEEPALIVED)
            text = ctx.text(f) if f else ""
            other = [p.address for p in proxies if p.name != h.name]
            problems = [what for what, ok in (
                ("vrrp_instance", "vrrp_instance" in text),
                (f"the VIP {site.vip}", re.search(rf"virtual_ipaddress\s*\{{[^}}]*\b{re.escape(site.vip)}/", text) is not None),
                (f"the peer {', '.join(other)}", all(re.search(rf"unicast_peer\s*\{{[^}}]*\b{re.escape(a)}\b", text) for a in other)),
                ("a health check (track_script)", "track_script" in text),
            ) if not ok]
            if problems:
                out.append(ctx.fail(f, 0, f"keepalived.conf lacks {', '.join(problems)}", "render the VRRP instance for the pair",
                                    host=h.name, path=KEEPALIVED))
        local = next((d for d in ctx.plan.dispatcher_sets if d.site == site.name and d.purpose == "local"), None)
        for name in site.proxies:
            f = ctx.of_host(name, DISPATCHER)
            if not f or local is None:
                continue
            count = sum(1 for line in ctx.text(f).splitlines() if line.split()[:1] == [str(local.id)])
            if count < min_media_nodes:
                out.append(ctx.fail(f, 0, f"dispatcher set {local.id} has {count} media node(s): no spare when one fails",
                                    f"give site {site.name} media.nodes: auto or {min_media_nodes}+"))
    return out


# --- the firewall ------------------------------------------------------------------------------------

FIREWALL = "/etc/nftables.conf"


@check
def firewall_rendered(ctx: FilesContext) -> Result:
    """Each on-prem host's rendered ruleset drops what it does not name, lets a stranger reach no port but
    the media relay's RTP range, and lets in the SIP and RTP the plan sends the host (comply/nftables.py
    follows the rules as the kernel does, for probes from the plan)."""
    onprem = [h for h in ctx.plan.hosts if ctx.plan.site(h.site).kind == "onprem"]
    if not onprem:
        return NotApplicable("no on-prem host: a cloud site's firewall is its security groups")
    out = []
    for h in onprem:
        f = ctx.of_host(h.name, FIREWALL)
        if f is None:
            out.append(ctx.fail(None, 0, "no firewall is rendered for this host: everything it listens on is open",
                                "render templates/common/etc/nftables.conf.j2 for every on-prem host", host=h.name, path=FIREWALL))
            continue
        try:
            ruleset = parse_ruleset(ctx.text(f))
        except NftError as exc:
            out.append(ctx.fail(f, 0, f"the ruleset cannot be followed: {exc}", "render the firewall from its template"))
            continue
        for message, rule in violations(ruleset, ctx.plan, h):
            line = rule.line if rule else ctx.line_of(f, r"hook input .*policy")
            out.append(ctx.fail(f, line, message, "render the firewall from templates/common/etc/nftables.conf.j2 (policy drop; "
                                "SIP only from the trunks' peers and the site, RTP as the plan routes media)"))
    return out
