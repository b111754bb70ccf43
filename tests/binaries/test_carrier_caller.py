"""The carrier's FreeSWITCH caller (trunkline.targets.lab.caller) against one real media node.

No lab: freeswitch.standalone_node runs acme-bank's sh-dc1-media1 on its rendered files in a
namespace whose peer namespace holds a SIP proxy address of the site; the caller runs in that peer
namespace on that address and calls the node's external profile (5080) directly, as the proxies
would. acme-bank requires SRTP, so the node refuses plain RTP and the caller offers SDES.
Every wait is bounded; both FreeSWITCHes are stopped by their PIDs and the namespaces removed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import wave
from pathlib import Path

import pytest

from trunkline import freeswitch
from trunkline.center import load as load_center
from trunkline.plan.topology import MEDIA_SIP_PORT
from trunkline.targets.lab.caller import MAX_CALLS, SRTP_SUITE, Caller, start_caller

from shared import ROOT, cannot_run, needs_freeswitch

ACME = ROOT / "blueprints" / "acme-bank.yaml"
NODE = "sh-dc1-media1"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    needs_freeswitch()
    if os.geteuid() != 0:
        cannot_run("network namespaces need root")
    plan = load_center(ACME).plan
    with freeswitch.standalone_node(plan, NODE, tmp_path_factory.mktemp("node")) as n:
        yield n


@pytest.fixture(scope="module")
def caller(node, tmp_path_factory):
    where = tmp_path_factory.mktemp("caller")
    t0 = time.monotonic()
    with start_caller(node.peer_ns, node.peer_address, where, target=node.address, port=MEDIA_SIP_PORT,
                      srtp=True, certs=where / "kept-cert") as c:
        print(f"caller ready {c.started_s:.1f} s after start ({time.monotonic() - t0:.1f} s with its config)")
        yield c


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _node_lines(node, uuid: str) -> list[str]:
    """The node's log lines of the channel whose INVITE carried this Call-ID."""
    log = node.log
    m = re.search(rf"^(\S+) .*call-id: {re.escape(uuid)}$", log, re.M)
    assert m, f"the node logged no INVITE with Call-ID {uuid}"
    return [line for line in log.splitlines() if line.startswith(m.group(1))]


def test_an_srtp_call_is_answered_and_its_dtmf_moves_the_ivr(node, caller):
    cpu0, t0 = _cpu_s(caller.pid), time.monotonic()
    r = caller.call(dtmf="1", dtmf_at_s=2.0, hold_s=4.0, headers={"X-Trunkline-Test": "ivr-1"})
    assert time.monotonic() - t0 < 15
    assert r.answered and r.sip_status == 200 and r.hangup_cause == "NORMAL_CLEARING", r
    assert r.disposition == "send_bye"  # the caller hung up at hold_s
    assert r.sip_call_id == r.uuid and r.headers == {"X-Trunkline-Test": "ivr-1"}
    assert r.srtp == SRTP_SUITE  # SDES negotiated: the node requires SRTP (acme-bank srtp: required)
    assert r.started_at <= r.answered_at < r.ended_at and 3.5 < r.ended_at - r.answered_at < 6
    assert r.dtmf_sent == "1"
    assert r.rtp["out_dtmf_packet_count"] > 0 and r.rtp["out_media_packet_count"] > 150  # RFC 2833 events, 20 ms audio
    assert r.rtp["in_media_packet_count"] > 0
    lines = "\n".join(_node_lines(node, r.uuid))
    # the node has no inband detector on this profile: a digit it receives came as RFC 2833 events
    assert "RECV DTMF 1:" in lines
    assert "Transfer sofia/external/" in lines and "to XML[cards@trunkline]" in lines  # IVR main, option 1: cards
    print(f"one call of {r.ended_at - r.started_at:.1f} s: {_cpu_s(caller.pid) - cpu0:.2f} s of the caller's CPU")


def test_a_wav_over_tcp_with_a_pause_between_two_digits(node, caller, tmp_path):
    wav = tmp_path / "one-second.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\x00\x10" * 8000)
    r = caller.call(dtmf="3w1", dtmf_at_s=1.0, hold_s=3.0, audio=str(wav), transport="tcp")
    assert r.answered and r.dtmf_sent == "3w1" and r.disposition == "send_bye", r
    assert 3.0 <= r.ended_at - r.answered_at < 5.5  # a wav plays whole, in whole seconds
    got = [(m.group(4), 3600 * int(m.group(1)) + 60 * int(m.group(2)) + float(m.group(3))) for m in
           re.finditer(r" (\d\d):(\d\d):(\d\d\.\d+) .*RECV DTMF (\d):", "\n".join(_node_lines(node, r.uuid)))]
    assert [d for d, _ in got] == ["3", "1"] and got[1][1] - got[0][1] >= 0.5, got


def _in_order(keyed: str, got: str) -> bool:
    """Every digit of `keyed` is in `got`, in order (`got` may hold more)."""
    rest = iter(got)
    return all(d in rest for d in keyed)


def test_a_card_number_keyed_over_srtp_arrives_digit_for_digit(node, caller):
    """Ten calls key option 1 (the cards queue) and a card number over SRTP: the node reads every
    digit, in order. A stray digit the node reads besides (a known defect, below) is reported as xfail."""
    keyed = "1ww4111111111111111#"
    digits = keyed.replace("w", "")
    results = caller.calls(10, 3.0, dtmf=keyed, dtmf_at_s=1.0, hold_s=9.0)
    got = {r.uuid: "".join(re.findall(r"RECV DTMF (.):", "\n".join(_node_lines(node, r.uuid)))) for r in results}
    assert all(r.answered and r.dtmf_sent == keyed for r in results), results
    assert all(_in_order(digits, d) for d in got.values()), got
    stray = {u: d for u, d in got.items() if d != digits}
    if stray:
        # FreeSWITCH 1.10.12 over SRTP (not plain RTP): a digit never keyed ('0', '8', 'D', ...) about
        # 40 ms after a real one, in most runs of ten calls; suspected: switch_rtp.c goes on with a
        # telephone-event packet whose srtp_unprotect failed instead of dropping it
        pytest.xfail(f"{len(stray)} of {len(got)} calls read stray digits: {sorted(stray.values())}")


def test_plain_rtp_offered_to_a_node_that_requires_srtp_is_refused_with_488(node, caller, tmp_path):
    with start_caller(node.peer_ns, node.peer_address, tmp_path, target=node.address, port=MEDIA_SIP_PORT,
                      srtp=False, certs=caller.root.parent / "kept-cert", sip_port=5070) as plain:
        r = plain.call(hold_s=2.0)
    assert not r.answered and r.sip_status == 488 and r.hangup_cause == "INCOMPATIBLE_DESTINATION", r
    assert r.answered_at is None and r.dtmf_sent == ""


def test_a_far_end_that_never_answers_fails_within_the_answer_timeout(node, caller):
    caller_target = caller.target
    caller.target = "10.10.0.99"  # in the node's subnet, held by nobody
    try:
        t0 = time.monotonic()
        r = caller.call(dtmf="1", hold_s=2.0, answer_timeout_s=3)
        took = time.monotonic() - t0
    finally:
        caller.target = caller_target
    assert not r.answered and r.answered_at is None and r.dtmf_sent == "", r
    assert r.hangup_cause in ("NO_ANSWER", "RECOVERY_ON_TIMER_EXPIRE", "NO_ROUTE_DESTINATION", "DESTINATION_OUT_OF_ORDER",
                              "ALLOTTED_TIMEOUT", "NO_USER_RESPONSE"), r
    assert took < 3 + 5


def test_calls_start_at_the_rate_and_are_up_together(node, caller):
    n, rate = 6, 3.0
    cpu0 = _cpu_s(caller.pid)
    results = caller.calls(n, rate, hold_s=4.0, dtmf="0", dtmf_at_s=1.0)
    cpu = _cpu_s(caller.pid) - cpu0
    assert len(results) == n and len({r.sip_call_id for r in results}) == n
    assert all(r.answered and r.srtp == SRTP_SUITE and r.dtmf_sent == "0" for r in results), results
    starts = sorted(r.started_at for r in results)
    assert (n - 1) / rate - 0.5 < starts[-1] - starts[0] < (n - 1) / rate + 1.0
    # each call is held 4 s and a new one starts every 1/3 s: the last ones overlap the first
    assert max(r.answered_at for r in results) < min(r.ended_at for r in results)
    seconds = sum(r.ended_at - r.answered_at for r in results)
    print(f"{n} calls at {rate:g}/s: caller CPU {cpu:.2f} s for {seconds:.0f} call-seconds "
          f"({1000 * cpu / seconds:.1f} ms CPU per call-second)")


def test_a_caller_that_dies_mid_call_reports_it_at_once(node, caller, tmp_path):
    with start_caller(node.peer_ns, node.peer_address, tmp_path, target=node.address, port=MEDIA_SIP_PORT,
                      srtp=True, certs=caller.root.parent / "kept-cert", sip_port=5072) as doomed:
        threading.Timer(2.0, os.kill, (doomed.pid, signal.SIGKILL)).start()
        t0 = time.monotonic()
        r = doomed.call(hold_s=30.0)
    # answered, then ended by no one: what a load run counts as dropped
    assert time.monotonic() - t0 < 6 and r.answered and "stopped during this call" in r.note and not r.disposition, r


def test_calls_refuses_runs_beyond_its_bounds():
    idle = Caller(None, target="192.0.2.1", port=5060, transport="udp", srtp=False, number="1000", root=Path("/nonexistent"),
                  pid=0, tls=False)
    for n, rate in ((MAX_CALLS + 1, 10), (0, 1), (10, 0), (10, 1000)):
        with pytest.raises(ValueError):
            idle.calls(n, rate)
    with pytest.raises(ValueError):
        idle.calls(450, 0.5, hold_s=8)  # 900 s of starts: longer than a run may take


def test_the_callers_event_socket_listens_on_loopback_only(node, caller):
    listening = subprocess.run(["ip", "netns", "exec", node.peer_ns, "ss", "-Hltn"], capture_output=True, text=True,
                               timeout=10).stdout
    assert "127.0.0.1:8021" in listening and f"{node.peer_address}:8021" not in listening and "*:8021" not in listening
