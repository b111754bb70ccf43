"""The kamailio.cfg reader and its routing interpreter (comply/kamcfg.py): the preprocessor, the grammar,
paths through routes, and agreement with the real Kamailio on the same scripts and requests."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from contextlib import contextmanager

import pytest

from trunkline.comply.files import invite, sdp_offer
from trunkline.comply.kamcfg import KamailioCfgError, Request, parse_kamailio, run_request

HEAD = "#!KAMAILIO\n"


def replies(cfg_text: str, req: Request) -> set:
    """The first reply of every path (None: no reply)."""
    return {o.replies[0] if o.replies else None for o in run_request(parse_kamailio(cfg_text), req)}


def test_ifdef_else_and_defines_are_applied_as_the_preprocessor_does():
    cfg = parse_kamailio(HEAD + "#!define WITH_A\n#!define CODE 488\n#!ifdef WITH_A\nloadmodule \"pike.so\"\n#!else\n"
                         "loadmodule \"htable.so\"\n#!endif\n#!ifndef WITH_A\nmodparam(\"pike\", \"x\", 1)\n#!endif\n"
                         "request_route {\n\tsl_send_reply(CODE, \"x\"); # a comment { with a brace\n}\n")
    assert set(cfg.modules) == {"pike"} and cfg.modparam("pike", "x") is None
    assert {o.replies for o in run_request(cfg, Request("INVITE", "192.0.2.1"))} == {(488,)}


def test_and_binds_tighter_than_or_and_short_circuits():
    text = HEAD + 'request_route {\n if (0 && is_method("INVITE") || is_method("OPTIONS")) { sl_send_reply("403", "x"); exit; }\n sl_send_reply("200", "x");\n}\n'
    assert replies(text, Request("INVITE", "192.0.2.1")) == {200}
    assert replies(text, Request("OPTIONS", "192.0.2.1")) == {403}


def test_a_function_the_interpreter_does_not_know_is_followed_both_ways():
    text = HEAD + 'request_route {\n if (allow_source_address("1")) { t_relay(); exit; }\n sl_send_reply("403", "x");\n}\n'
    outcomes = run_request(parse_kamailio(text), Request("INVITE", "192.0.2.1"))
    assert {(o.relayed, o.replies) for o in outcomes} == {(True, ()), (False, (403,))}


def test_routes_return_to_their_caller_and_exit_ends_the_script():
    text = HEAD + ('request_route {\n route(A);\n sl_send_reply("200", "x");\n}\n'
                   'route[A] {\n if (is_method("OPTIONS")) { exit; }\n return;\n sl_send_reply("500", "never");\n}\n')
    assert replies(text, Request("INVITE", "192.0.2.1")) == {200}
    assert replies(text, Request("OPTIONS", "192.0.2.1")) == {None}


def test_a_call_to_a_route_that_does_not_exist_is_an_error():
    with pytest.raises(KamailioCfgError, match=r"route\(NOPE\) is called but not defined"):
        run_request(parse_kamailio(HEAD + "request_route {\n route(NOPE);\n}\n"), Request("INVITE", "192.0.2.1"))


def test_an_unclosed_block_is_an_error_naming_its_line():
    with pytest.raises(KamailioCfgError, match="line 2: block is not closed"):
        parse_kamailio(HEAD + "request_route {\n if (1) {\n")


# --- agreement with Kamailio itself --------------------------------------------------------------

KAMAILIO = shutil.which("kamailio") or ("/usr/sbin/kamailio" if os.path.exists("/usr/sbin/kamailio") else None)
MODULES = ("pv", "sl", "textops", "xlog", "sdpops")
SCRIPTS = {
    "srtp from the m= lines into an AVP": '''
    if (!sdp_transport("$avp(t)") || !($avp(t) == "RTP/SAVP" || $avp(t) == "RTP/SAVPF")) { sl_send_reply("488", "x"); exit; }
    sl_send_reply("200", "x");''',
    "sdp_transport into a $var (not an AVP)": '''
    if (!sdp_transport("$var(t)") || !($var(t) == "RTP/SAVP")) { sl_send_reply("488", "x"); exit; }
    sl_send_reply("200", "x");''',
    "RTP/SAVP anywhere in the body": '''
    if (has_body("application/sdp") && !search_body("RTP/SAVP")) { sl_send_reply("488", "x"); exit; }
    sl_send_reply("200", "x");''',
    "a 488 rule behind 0 &&": '''
    if (0 && has_body("application/sdp") && !search_body("RTP/SAVP")) { sl_send_reply("488", "x"); exit; }
    sl_send_reply("200", "x");''',
    "a 488 rule under if (false)": '''
    if (false) { sl_send_reply("488", "x"); exit; }
    sl_send_reply("200", "x");''',
    "scanners by lower-cased User-Agent": '''
    if ($(ua{s.tolower}) =~ "friendly-scanner|sipvicious|sipcli") { exit; }
    sl_send_reply("200", "x");''',
    "a keepalive answered before the allow-list": '''
    if (is_method("OPTIONS") && $rU == $null) { sl_send_reply("200", "x"); exit; }
    if ($si != "192.0.2.10") { exit; }
    sl_send_reply("202", "x");''',
}
REQUESTS = {
    "plain RTP": invite("127.0.0.1", sdp_offer("127.0.0.1", "RTP/AVP")),
    "plain RTP mentioning RTP/SAVP": invite("127.0.0.1", sdp_offer("127.0.0.1", "RTP/AVP", mention=True)),
    "SRTP": invite("127.0.0.1", sdp_offer("127.0.0.1", "RTP/SAVP")),
    "a scanner's INVITE": invite("127.0.0.1", sdp_offer("127.0.0.1", "RTP/SAVP"), agent="Friendly-Scanner"),
    "a scanner's OPTIONS": Request("OPTIONS", "127.0.0.1", headers=(("User-Agent", "sipvicious"),), ruri_user=None),
}


def _wire(req: Request, port: int, local: int) -> bytes:
    branch = uuid.uuid4().hex
    ruri = f"sip:{req.ruri_user}@127.0.0.1:{port}" if req.ruri_user else f"sip:127.0.0.1:{port}"
    head = [f"{req.method} {ruri} SIP/2.0", f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{branch}",
            f"From: <sip:probe@127.0.0.1>;tag={branch[:8]}", f"To: <{ruri}>", f"Call-ID: {branch}@comply", f"CSeq: 1 {req.method}",
            "Max-Forwards: 70", *[f"{k}: {v}" for k, v in req.headers]]
    if req.body:
        head.append(f"Content-Type: {req.content_type}")
    head.append(f"Content-Length: {len(req.body.encode())}")
    return ("\r\n".join(head) + "\r\n\r\n" + req.body).encode()


@contextmanager
def _kamailio_in_scratch_namespace(cfgs: dict[int, str], tmp_path):
    """Each cfg on its own loopback port, in a network namespace made (and removed) here."""
    ns = f"tl-comply-kam-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    procs = []
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        for port, text in cfgs.items():
            path = tmp_path / f"k{port}.cfg"
            path.write_text(text)
            procs.append(subprocess.Popen(["ip", "netns", "exec", ns, KAMAILIO, "-f", str(path), "-DD", "-E", "-n", "1", "-m", "32", "-M", "8"],
                                          stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"k{port}.log", "w")))
        yield ns
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", ns], check=False)


@pytest.mark.skipif(os.geteuid() != 0 or KAMAILIO is None, reason="needs root (a scratch network namespace) and kamailio")
def test_the_interpreter_answers_as_kamailio_does(tmp_path):
    ports = {5200 + i: name for i, name in enumerate(SCRIPTS)}
    cfgs = {port: (HEAD + "debug=1\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:%d\n" % port
                   + "".join(f'loadmodule "{m}.so"\n' for m in MODULES) + "request_route {" + SCRIPTS[name] + "\n}\n")
            for port, name in ports.items()}
    code = ("import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(1.0);s.bind(('127.0.0.1',0))\n"
            "sys.stdout.write(str(s.getsockname()[1])+'\\n');sys.stdout.flush()\n"
            "for line in sys.stdin.buffer:\n"
            " port,data=line.split(b' ',1);s.sendto(bytes.fromhex(data.decode()),('127.0.0.1',int(port)))\n"
            " try: r=s.recv(65535).split(b'\\r\\n')[0].split(b' ')[1].decode()\n"
            " except OSError: r='-'\n"
            " sys.stdout.write(r+'\\n');sys.stdout.flush()\n")
    disagree = []
    with _kamailio_in_scratch_namespace(cfgs, tmp_path) as ns:
        time.sleep(1.5)
        client = subprocess.Popen(["ip", "netns", "exec", ns, "python3", "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            local = int(client.stdout.readline())
            for port, name in ports.items():
                model = parse_kamailio(cfgs[port])
                for what, req in REQUESTS.items():
                    client.stdin.write(f"{port} {_wire(req, port, local).hex()}\n")
                    client.stdin.flush()
                    real = client.stdout.readline().strip()
                    real = None if real == "-" else int(real)
                    ours = {o.replies[0] if o.replies else None for o in run_request(model, req)}
                    if ours != {real}:
                        disagree.append((name, what, real, ours))
        finally:
            client.stdin.close()
            client.wait(timeout=10)
    assert not disagree, disagree
