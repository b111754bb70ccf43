"""The hardened edge, proven with real traffic in the lab (issue 11, section 5).

One lab of acme-bank for the module, with carrier-b declaring its CA (mutual TLS). Single SIP
requests are raw UDP built here and sent from a namespace (lab.sip_send); TLS from openssl
s_client and Python's ssl module inside the carriers' namespaces. "No answer" means nothing came
back within the wait while the same edge answered a legitimate request at once.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from trunkline.targets import lab
from trunkline.targets.lab.media import fs_api, log as media_log

from shared import ROOT

ACME = ROOT / "blueprints" / "acme-bank.yaml"
CLI = [sys.executable, "-m", "trunkline.cli"]
SDES = "inline:dHJ1bmtsaW5lIGxhYiBTREVTIGtleSwgMzAgQiEh"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (CI and make test run as root)")


def _carrier_pki(out: Path) -> dict[str, Path]:
    """A carrier's own CA and the client certificate its SBC presents."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    life = dict(not_valid_before=now - datetime.timedelta(minutes=5), not_valid_after=now + datetime.timedelta(days=1))

    def build(subject, issuer, key, sign_key, ca):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(life["not_valid_before"])
             .not_valid_after(life["not_valid_after"]).add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        return b.sign(sign_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "carrier-b test CA")])
    ca = build(ca_name, ca_name, ca_key, ca_key, True)
    cert = build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sbc.carrier-b.example")]), ca_name, key, ca_key, False)
    paths = {"ca": out / "carrier-b-ca.crt", "cert": out / "sbc.crt", "key": out / "sbc.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    """acme-bank up, carrier-b with mutual TLS; always taken down."""
    pki = _carrier_pki(tmp_path_factory.mktemp("carrier-b"))
    # the recordings in a folder of the media nodes' own /var overlay: the machine's /var shows through
    # it, and a /var/spool/trunkline the machine has (0750 root) would keep FreeSWITCH from recording
    result = subprocess.run([*CLI, "up", str(ACME), "--json", "--set", f"spec.trunks[1].tls.ca=file:{pki['ca']}",
                             "--set", "spec.recording.storage.path=/var/spool/trunkline-lab/recordings"],
                            capture_output=True, text=True, timeout=240, cwd=ROOT)
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        state = lab.LabState.load("acme-bank")
        yield state, state.plan(), pki
    finally:
        subprocess.run([*CLI, "down", "--center", "acme-bank"], capture_output=True, timeout=180, cwd=ROOT)


def _carrier(plan, i=0):
    t = plan.trunks[i]
    return lab.carrier_ns(plan.center, t.name), t.peers[0]


def _vip(plan):
    return plan.site("sh-dc1").vip


def _request(method, ruri, src, *, ua="carrier-sbc", body="", ctype="application/sdp", extra="", cseq=1,
             call_id=None, from_tag=None, to="", to_tag=None) -> str:
    call_id = call_id or f"{uuid.uuid4().hex}@{src}"
    from_tag = from_tag or uuid.uuid4().hex[:10]
    to_hdr = f"<{to or ruri}>" + (f";tag={to_tag}" if to_tag else "")
    lines = [f"{method} {ruri} SIP/2.0", f"Via: SIP/2.0/UDP {src}:{{port}};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport",
             "Max-Forwards: 70", f"From: <sip:caller@{src}>;tag={from_tag}", f"To: {to_hdr}", f"Call-ID: {call_id}",
             f"CSeq: {cseq} {method}", f"Contact: <sip:caller@{src}:{{port}}>", f"User-Agent: {ua}"]
    lines += [x for x in extra.split("\n") if x]
    if body:
        lines.append(f"Content-Type: {ctype}")
    lines.append(f"Content-Length: {len(body.encode())}")
    return "\r\n".join(lines) + "\r\n\r\n" + body


def _sdp(src, profile="RTP/SAVP", extra=""):
    crypto = f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 {SDES}\r\n" if "SAVP" in profile else ""
    return (f"v=0\r\no=carrier 1 1 IN IP4 {src}\r\ns=call\r\nc=IN IP4 {src}\r\nt=0 0\r\n{extra}"
            f"m=audio 40000 {profile} 8\r\n{crypto}a=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n")


def _status(messages: list[str]) -> list[int]:
    return [int(m.split(" ", 2)[1]) for m in messages if m.startswith("SIP/2.0 ")]


def _options_answered(plan, ns, src) -> bool:
    """The control: the same edge answers a carrier's keepalive, sent the same way, at once."""
    return _status(lab.sip_send(ns, src, _vip(plan), _request("OPTIONS", f"sip:{_vip(plan)}", src))) == [200]


def _head(msg: str) -> str:
    """The start line and headers (sip_send's text has its line ends as \\n)."""
    return msg.replace("\r\n", "\n").split("\n\n", 1)[0]


def _headers(msg: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in _head(msg).split("\n")[1:]:
        name, _, value = line.partition(":")
        out.setdefault(name.strip().lower(), []).append(value.strip())
    return out


class Call:
    """A call from carrier-a's peer through the VIP to a media node, answered and acknowledged."""

    def __init__(self, plan):
        self.plan, (self.ns, self.src) = plan, _carrier(plan)
        self.call_id, self.from_tag = f"{uuid.uuid4().hex}@{self.src}", uuid.uuid4().hex[:10]
        self.ruri = f"sip:100@{_vip(plan)}"
        answers = lab.sip_send(self.ns, self.src, _vip(plan), _request(
            "INVITE", self.ruri, self.src, body=_sdp(self.src), call_id=self.call_id, from_tag=self.from_tag), timeout=5)
        assert _status(answers)[-1:] == [200], answers
        self.ok = answers[-1]
        h = _headers(self.ok)
        self.to_tag = re.search(r";tag=([^;>\s]+)", h["to"][0])[1]
        self.contact = re.search(r"<([^>]+)>", h["contact"][0])[1]
        # the UAC's route set: the Record-Route entries of the answer, last first
        rr = [u for v in h.get("record-route", []) for u in re.findall(r"<[^>]+>", v)]
        self.route = "Route: " + ", ".join(reversed(rr)) if rr else ""
        self.cseq = 1
        self.in_dialog("ACK", timeout=0.3)

    def in_dialog(self, method, body="", ctype="application/sdp", timeout=3.0):
        self.cseq += method != "ACK"
        msg = _request(method, self.contact, self.src, body=body, ctype=ctype, extra=self.route, call_id=self.call_id,
                       from_tag=self.from_tag, to=self.ruri, to_tag=self.to_tag, cseq=self.cseq if method != "ACK" else 1)
        return lab.sip_send(self.ns, self.src, _vip(self.plan), msg, timeout=timeout)

    def from_media_node(self, method, body="", ctype="application/sdp"):
        """A request of the media node's side of the dialog, as FreeSWITCH sends it."""
        media = self.plan.hosts_of("sh-dc1", "media")[0]
        msg = _request(method, f"sip:caller@{self.src}", media.address, body=body, ctype=ctype, call_id=self.call_id,
                       from_tag=self.to_tag, to=f"sip:caller@{self.src}", to_tag=self.from_tag, cseq=100 + self.cseq)
        return lab.sip_send(lab.ns_name(self.plan.center, media.name), media.address, _vip(self.plan), msg, timeout=3)

    def hang_up(self):
        self.in_dialog("BYE")


def _rtpengine_log(state, plan) -> str:
    return "".join(Path(p.log).read_text(errors="replace") for p in state.processes if p.name == "rtpengine")


def _recording_channel(state, plan, call_id, timeout=10.0) -> tuple[str, str, str]:
    """(media node, channel uuid, recording path) of a call on sh-dc1's media nodes, once FreeSWITCH records it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for h in plan.hosts_of("sh-dc1", "media"):
            for row in json.loads(fs_api(state, h.name, "show channels as json").strip() or "{}").get("rows") or []:
                if fs_api(state, h.name, f"uuid_getvar {row['uuid']} sip_call_id").strip() == call_id:
                    path = fs_api(state, h.name, f"uuid_getvar {row['uuid']} trunkline_recording").strip()
                    if path.startswith("/") and path in fs_api(state, h.name, f"uuid_buglist {row['uuid']}"):
                        return h.name, row["uuid"], path
        time.sleep(0.2)
    raise AssertionError(f"no recording of call {call_id} on the media nodes of sh-dc1 within {timeout} s")


# --- the claims -----------------------------------------------------------------------------


def test_kamailio_drops_scanners_options_and_invite_without_an_answer(edge):
    state, plan, _ = edge
    ns, src = _carrier(plan)  # from an allowed source: only the User-Agent gives the scanner away
    vip = _vip(plan)
    options = _request("OPTIONS", f"sip:{vip}", src, ua="friendly-scanner", body="")
    invite = _request("INVITE", f"sip:100@{vip}", src, ua="sipvicious 0.3.4", body=_sdp(src))
    assert lab.sip_send(ns, src, vip, options) == []
    assert lab.sip_send(ns, src, vip, invite) == []
    assert _options_answered(plan, ns, src)


def test_kamailio_gives_a_stranger_no_answer_to_invite_or_options(edge):
    state, plan, _ = edge
    stranger, vip = lab.stranger_ns(plan.center), _vip(plan)
    assert lab.sip_send(stranger, lab.STRANGER, vip, _request("INVITE", f"sip:100@{vip}", lab.STRANGER, body=_sdp(lab.STRANGER))) == []
    assert lab.sip_send(stranger, lab.STRANGER, vip, _request("OPTIONS", f"sip:{vip}", lab.STRANGER)) == []
    # the stranger does reach the proxy (routed both ways), which is up and answers a carrier
    connect = "import socket,sys; socket.create_connection((sys.argv[1], 5061), 2, (sys.argv[2], 0))"
    assert subprocess.run(lab.in_ns(stranger, [sys.executable, "-c", connect, vip, lab.STRANGER]), timeout=20).returncode == 0
    assert _options_answered(plan, *_carrier(plan))


def test_plain_rtp_offer_that_mentions_rtp_savp_elsewhere_gets_488(edge):
    state, plan, _ = edge
    ns, src = _carrier(plan)
    vip = _vip(plan)
    # RTP/SAVP in the session name and an attribute, but the only m= line is plain RTP/AVP
    sdp = _sdp(src, "RTP/AVP").replace("s=call", "s=RTP/SAVP").replace("t=0 0\r\n", "t=0 0\r\na=tool:RTP/SAVP\r\n")
    answers = lab.sip_send(ns, src, vip, _request("INVITE", f"sip:100@{vip}", src, body=sdp), timeout=3)
    assert _status(answers)[-1:] == [488], answers


def test_a_carriers_pause_request_reaches_nothing_that_pauses_the_recording(edge):
    """FreeSWITCH on the media node records the call and only its payment extension masks it; the
    edge controls no recording. The old design's pause request (an in-dialog INFO,
    application/x-trunkline-recording) from a carrier passes the edge like any in-dialog request and
    changes nothing: the recording's media bug is still on the channel, nothing logged a mask, and
    rtpengine logged nothing about recording. (tests/lab/test_recordings.py hears it: the tone stays
    in the whole file.)"""
    state, plan, _ = edge
    call = Call(plan)
    try:
        host, channel, path = _recording_channel(state, plan, call.call_id)
        call.in_dialog("INFO", body="pause", ctype="application/x-trunkline-recording")
        time.sleep(1.0)
        assert path in fs_api(state, host, f"uuid_buglist {channel}")
        assert not [line for line in media_log(state, host).splitlines() if channel in line and "recording masked" in line]
        assert not [line for line in _rtpengine_log(state, plan).splitlines() if call.call_id in line and "recording" in line.lower()]
    finally:
        call.hang_up()


def test_carrier_sees_no_address_of_the_sites_hosts_in_the_answers_headers(edge):
    state, plan, _ = edge
    call = Call(plan)
    try:
        head = _head(call.ok)  # the SDP names the media relay, which carriers must reach
        inside = [h.address for h in plan.hosts if h.site == "sh-dc1"]
        assert [a for a in inside if re.search(rf"{re.escape(a)}(?!\d)", head)] == [], head
    finally:
        call.hang_up()


def _s_client(plan, ns, flags: str) -> str:
    cmd = f"timeout 5 openssl s_client -connect {_vip(plan)}:5061 {flags} -brief </dev/null 2>&1"
    return subprocess.run(lab.in_ns(ns, ["sh", "-c", cmd]), capture_output=True, text=True, timeout=20).stdout


def test_tls_1_0_is_refused_on_5061(edge):
    state, plan, _ = edge
    ns, _ = _carrier(plan)
    assert "Protocol version: TLSv1.2" in _s_client(plan, ns, "-tls1_2")
    out = _s_client(plan, ns, "-tls1 -cipher DEFAULT@SECLEVEL=0")
    assert "CONNECTION ESTABLISHED" not in out and re.search(r"(?i)alert|handshake failure|no protocols", out), out


def test_null_ciphers_are_refused_on_5061(edge):
    state, plan, _ = edge
    ns, _ = _carrier(plan)
    assert "CONNECTION ESTABLISHED" in _s_client(plan, ns, "-tls1_2")
    out = _s_client(plan, ns, "-tls1_2 -cipher eNULL@SECLEVEL=0")
    assert "CONNECTION ESTABLISHED" not in out, out


_TLS_OPTIONS = r"""
import socket, ssl, sys, uuid
src, vip, cert, key = sys.argv[1:5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
if cert:
    ctx.load_cert_chain(cert, key)
raw = socket.socket(); raw.settimeout(3); raw.bind((src, 0)); raw.connect((vip, 5061))
try:
    s = ctx.wrap_socket(raw)
    port, b = s.getsockname()[1], uuid.uuid4().hex
    s.sendall((f"OPTIONS sip:{vip}:5061;transport=tls SIP/2.0\r\nVia: SIP/2.0/TLS {src}:{port};branch=z9hG4bK{b}\r\n"
               f"From: <sip:probe@{src}>;tag={b[:8]}\r\nTo: <sip:{vip}>\r\nCall-ID: {b}@tls\r\nCSeq: 1 OPTIONS\r\n"
               "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode())
    print(s.recv(4096).decode(errors="replace").split("\r\n")[0])
except (OSError, ssl.SSLError) as exc:
    print("no answer:", type(exc).__name__, exc)
"""


def _tls_options(plan, ns, src, cert="", key="") -> str:
    return subprocess.run(lab.in_ns(ns, [sys.executable, "-c", _TLS_OPTIONS, src, _vip(plan), str(cert), str(key)]),
                          capture_output=True, text=True, timeout=20).stdout.strip()


def test_a_carrier_with_a_declared_ca_and_no_client_certificate_is_refused(edge):
    state, plan, pki = edge
    ns, src = _carrier(plan, 1)  # carrier-b declares its CA
    # the handshake completes (other TLS carriers here present no certificate) but the request is dropped
    assert _tls_options(plan, ns, src) == "no answer: TimeoutError The read operation timed out"
    # with the certificate its CA signed, the same request is answered
    assert _tls_options(plan, ns, src, pki["cert"], pki["key"]) == "SIP/2.0 200 OK"


def test_pike_bans_a_flooding_stranger(edge):
    """A burst from the stranger over security.pike_requests in 2 s: Kamailio's pike bans the source
    (route[FLOOD]) and runs the nft command that fills sip_banned (the lab loads no nftables, so only
    Kamailio's own ban and log line are seen here; tests/render loads the set and runs the command)."""
    state, plan, _ = edge
    stranger, vip = lab.stranger_ns(plan.center), _vip(plan)
    burst = plan.security["pike_requests"] * 2  # bounded: twice the threshold, once
    flood = ("import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind((sys.argv[1],0))\n"
             "for i in range(int(sys.argv[3])):\n"
             " s.sendto(f'OPTIONS sip:{sys.argv[2]} SIP/2.0\\r\\nVia: SIP/2.0/UDP {sys.argv[1]}:5060;branch=z9hG4bKflood{i}\\r\\n"
             "From: <sip:f@{sys.argv[1]}>;tag={i}\\r\\nTo: <sip:{sys.argv[2]}>\\r\\nCall-ID: flood{i}\\r\\nCSeq: 1 OPTIONS\\r\\n"
             "Max-Forwards: 70\\r\\nContent-Length: 0\\r\\n\\r\\n'.encode(),(sys.argv[2],5060))\n")
    subprocess.run(lab.in_ns(stranger, [sys.executable, "-c", flood, lab.STRANGER, vip, str(burst)]), check=True, timeout=20)
    holder = lab.vip_holders(plan.center, plan, "sh-dc1")[0]
    log = Path(next(p.log for p in state.processes if p.name == "kamailio" and p.host == holder))
    lab.wait_until("pike to ban the stranger", lambda: f"pike bans {lab.STRANGER} for 300 s" in log.read_text(errors="replace"), 5, 0.1)
