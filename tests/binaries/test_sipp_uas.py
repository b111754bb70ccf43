"""The lab's media-node stand-in (SIPp with trunkline's UAS scenario) behaves like a UA where
the edge depends on it: it answers OPTIONS probes, and a BYE retransmitted because its 200 was
late gets the 200 again instead of being dropped as a "dead call" (which made Kamailio answer
the caller's BYE with 408 under load). Loopback only; SIPp is ended by its PID."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid

import pytest

from trunkline.targets.lab import SIPP_DIR

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="sip-tester is not installed (make deps)")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def uas(tmp_path):
    port = _free_udp_port()
    proc = subprocess.Popen(["sipp", "-sf", str(SIPP_DIR / "uas.xml"), "-i", "127.0.0.1", "-p", str(port), "-nostdin", "-nd",
                             "-trace_err", "-error_file", str(tmp_path / "errors.log")],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        _wait_until_answering(sock, ("127.0.0.1", port))
        sock.settimeout(2)
        yield sock, ("127.0.0.1", port)
    finally:
        sock.close()
        proc.terminate()  # our own child, by its PID
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _request(sock, method: str, call_id: str, cseq: int, to_tag: str = "", body: str = "") -> bytes:
    host, port = sock.getsockname()
    to = "<sip:8000@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    lines = [f"{method} sip:8000@127.0.0.1 SIP/2.0", f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK-{method}-{cseq}-{call_id}",
             f"From: <sip:carrier@{host}>;tag=caller", f"To: {to}", f"Call-ID: {call_id}",
             f"CSeq: {cseq} {method}", f"Contact: <sip:carrier@{host}:{port}>", "Max-Forwards: 70"]
    if body:
        lines.append("Content-Type: application/sdp")
    lines += [f"Content-Length: {len(body)}", "", body]
    return "\r\n".join(lines).encode()


def _replies(sock, until: str, deadline_s: float = 3) -> list[str]:
    """Replies received until one whose status line starts with `until` (e.g. "SIP/2.0 200")."""
    out, end = [], time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            data = sock.recv(65535).decode()
        except TimeoutError:
            break
        out.append(data)
        if data.startswith(until):
            return out
    raise AssertionError(f"no {until!r} from the stand-in; got {[m.splitlines()[0] for m in out]}")


def _wait_until_answering(sock, addr, seconds: float = 10) -> None:
    """SIPp binds its port a moment after it starts: probe with OPTIONS, as the lab does."""
    sock.settimeout(0.2)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sock.sendto(_request(sock, "OPTIONS", uuid.uuid4().hex, 1), addr)
        try:
            if sock.recv(65535).startswith(b"SIP/2.0 200"):
                return
        except TimeoutError:
            continue
    raise AssertionError(f"SIPp did not answer on {addr} within {seconds} s")


SDP = "v=0\r\no=c 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8\r\n"


def test_the_stand_in_answers_options_probes(uas):
    sock, addr = uas
    call_id = uuid.uuid4().hex
    sock.sendto(_request(sock, "OPTIONS", call_id, 1), addr)
    assert f"Call-ID: {call_id}" in _replies(sock, "SIP/2.0 200")[-1]


def test_a_retransmitted_bye_gets_the_200_again(uas):
    sock, addr = uas
    call_id = uuid.uuid4().hex
    sock.sendto(_request(sock, "INVITE", call_id, 1, body=SDP), addr)
    ok = _replies(sock, "SIP/2.0 200")[-1]
    to_tag = next(line.split("tag=", 1)[1].strip() for line in ok.splitlines() if line.lower().startswith("to:"))
    sock.sendto(_request(sock, "ACK", call_id, 1, to_tag), addr)
    bye = _request(sock, "BYE", call_id, 2, to_tag)
    sock.sendto(bye, addr)
    first = _replies(sock, "SIP/2.0 200")[-1]
    assert "CSeq: 2 BYE" in first
    # the same BYE again, as a proxy retransmits it when the 200 was lost or late
    time.sleep(0.6)
    sock.sendto(bye, addr)
    again = _replies(sock, "SIP/2.0 200")[-1]
    assert "CSeq: 2 BYE" in again and f"Call-ID: {call_id}" in again
