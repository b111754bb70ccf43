"""The carrier's call generator in the lab: FreeSWITCH calling the center the way a carrier's SBC would.

SIPp cannot encrypt media, so calls that must carry DTMF and audio over SRTP come from a FreeSWITCH
of their own, started in the trunk's carrier namespace on the trunk's first peer address with a
small config written here (not the center's render): one Sofia profile "carrier", the event socket
on 127.0.0.1 of that namespace with a random password, and only the modules a caller needs.

A call is `bgapi originate` over the event socket with an inline dialplan made per call: play the
audio (a 1 kHz tone, silence or a wav) until `dtmf_at_s` after answer, send the digits as RFC 2833
events (send_dtmf; 'w' is a 0.5 s pause), play on until `hold_s`, hang up. What happened is read
from the channel's CHANNEL_HANGUP_COMPLETE event (times, SIP status, cause, Call-ID, SRTP suite,
RTP counters) and from the send_dtmf application's completion, so a CallResult says what was done,
not what was asked.

TLS: the caller checks the proxy's certificate chain against a CA (the lab CA), as a carrier would
(tls-verify-policy out; not subjects_out: sofia-sip 1.13 looks for SAN entries named "IP" where
OpenSSL 3 names them "IP Address", so an address SAN never matches). The lab's caller holds its
trunk's certificate from the lab CA (pki.make_lab_pki) and listens for TLS on sip_port + 1: the
center's BYE comes on a connection the proxy opens to the caller's Contact. A trunk with mutual TLS
(tls.ca) needs the carrier's own certificate (`client=`), which the lab does not hold: the edge drops
that carrier's calls without one, over TCP as well.

`start_caller(ns, address, where, target=..., port=...)` is the caller on its own (any namespace,
any target: tests call a standalone media node with it); `carrier_caller(state, plan, trunk)` is
the lab's. Every wait is bounded; FreeSWITCH is stopped by its PID.
"""

from __future__ import annotations

import ctypes
import math
import secrets
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid as uuidlib
import wave
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from xml.sax.saxutils import quoteattr

from trunkline.plan.topology import FREESWITCH_RTP_PORTS, SIP_PORT, SIP_TLS_PORT, Plan
from trunkline.targets.lab.shell import in_ns
from trunkline.targets.lab.state import LabError, LabState, carrier_ns

EVENT_SOCKET_PORT = 8021
START_TIMEOUT_S = 30  # measured about 1.5 s with the DTLS key kept (see `certs`), 5-8 s without
MAX_CALLS = 500  # one calls() run
MAX_RATE = 200.0  # new calls per second
MAX_RUN_S = 900  # a calls() run, from the first INVITE to the last hangup
SRTP_SUITE = "AES_CM_128_HMAC_SHA1_80"
CODECS = "PCMA,PCMU"
_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+@:;/=#*")


@dataclass
class CallResult:
    uuid: str
    sip_call_id: str
    answered: bool
    sip_status: int | None  # the INVITE's final status (200 when answered)
    hangup_cause: str
    started_at: float  # epoch seconds
    answered_at: float | None
    ended_at: float
    dtmf_sent: str  # digits the send_dtmf step actually ran with ('' when it never ran)
    headers: dict[str, str]  # X- headers the INVITE carried
    srtp: str = ""  # the SRTP suite negotiated, '' for plain RTP
    disposition: str = ""  # who ended it (sip_hangup_disposition): send_bye = the caller, recv_bye = the far end, ...
    rtp: dict[str, float] = field(default_factory=dict)  # FreeSWITCH's RTP statistics: in/out packets, flaws (lost), jitter variance, ...
    note: str = ""
    sip_phrase: str = ""  # a failed INVITE's reason phrase, as the far end (or the caller's own stack) gave it


class _EventSocket:
    """A minimal FreeSWITCH event socket client: one connection, one reader thread."""

    def __init__(self, sock: socket.socket, password: str):
        self.sock = sock
        self.buf = b""
        self.lock = threading.Lock()  # one command and its reply at a time
        self.replies: list[str] = []
        self.reply_ready = threading.Condition()
        self.events = threading.Condition()  # notified on every event
        self.by_uuid: dict[str, list[dict]] = {}
        self.jobs: dict[str, str] = {}
        sock.settimeout(5)
        head, _ = self._read()
        if head.get("Content-Type") != "auth/request":
            raise LabError(f"the caller's event socket did not ask for a password: {head}")
        self._send(f"auth {password}")
        head, _ = self._read()
        if not head.get("Reply-Text", "").startswith("+OK"):
            raise LabError(f"the caller's event socket refused the password: {head.get('Reply-Text')}")
        self._send("event plain CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE CHANNEL_EXECUTE_COMPLETE BACKGROUND_JOB")
        self._read()
        sock.settimeout(None)
        self.closed = False
        self.reader = threading.Thread(target=self._loop, daemon=True)
        self.reader.start()

    def _send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\n\n")

    def _read(self) -> tuple[dict[str, str], str]:
        while b"\n\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("event socket closed")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\n\n", 1)
        head = dict(line.split(": ", 1) for line in raw.decode().splitlines() if ": " in line)
        n = int(head.get("Content-Length", 0))
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("event socket closed")
            self.buf += chunk
        body, self.buf = self.buf[:n].decode(errors="replace"), self.buf[n:]
        return head, body

    def _loop(self) -> None:
        try:
            while True:
                head, body = self._read()
                kind = head.get("Content-Type")
                if kind in ("api/response", "command/reply"):
                    with self.reply_ready:
                        self.replies.append(body if kind == "api/response" else head.get("Reply-Text", ""))
                        self.reply_ready.notify_all()
                elif kind == "text/event-plain":
                    self._event(body)
        except (OSError, EOFError, ValueError):
            pass
        finally:
            self.closed = True
            with self.events:
                self.events.notify_all()
            with self.reply_ready:
                self.reply_ready.notify_all()

    def _event(self, body: str) -> None:
        text, _, rest = body.partition("\n\n")
        ev = {k: urllib.parse.unquote(v) for k, v in
              (line.split(": ", 1) for line in text.splitlines() if ": " in line)}
        with self.events:
            if ev.get("Event-Name") == "BACKGROUND_JOB":
                self.jobs[ev.get("Job-UUID", "")] = rest.strip()
            elif "Unique-ID" in ev:
                self.by_uuid.setdefault(ev["Unique-ID"], []).append(ev)
            self.events.notify_all()

    def command(self, line: str, timeout: float = 10) -> str:
        """`api ...` or `bgapi ...`: the reply's body (api) or Reply-Text (bgapi)."""
        with self.lock:
            with self.reply_ready:
                try:
                    if self.closed:
                        raise OSError("closed")
                    self._send(line)
                except OSError:
                    self.close()
                    raise LabError(f"the caller's FreeSWITCH is gone (its event socket is closed): {line.split()[:2]}") from None
                deadline = time.monotonic() + timeout
                while not self.replies:
                    if self.closed or not self.reply_ready.wait(max(0.0, deadline - time.monotonic())):
                        if self.closed or time.monotonic() >= deadline:
                            self.close()  # a late reply would answer the next command
                            raise LabError(f"the caller's FreeSWITCH did not answer {line.split()[:2]} within {timeout} s")
                return self.replies.pop(0)

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
        except OSError:
            pass


def _in_netns(ns: str | None, fn):
    """fn() run in a thread that entered namespace ns: sockets it makes stay in ns after the thread
    ends (setns(CLONE_NEWNET) changes only the calling thread, so this process never leaves its own)."""
    out: dict = {}

    def work():
        try:
            if ns:
                libc = ctypes.CDLL(None, use_errno=True)
                with open(f"/run/netns/{ns}") as f:
                    if libc.setns(f.fileno(), 0x40000000) != 0:  # CLONE_NEWNET
                        raise OSError(ctypes.get_errno(), f"setns {ns}")
            out["value"] = fn()
        except OSError as exc:
            out["error"] = exc

    t = threading.Thread(target=work)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def _free_port(ns: str | None) -> int:
    """A TCP port free on 127.0.0.1 of ns now (another caller in the same namespace holds 8021)."""
    def pick():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    return _in_netns(ns, pick)


def config_xml(address: str, password: str, *, sip_port: int = SIP_PORT, event_socket_port: int = EVENT_SOCKET_PORT,
               tls_dir: Path | None = None, log_dir: Path) -> str:
    """The caller's whole freeswitch.xml: no include, no stock file."""
    a = quoteattr
    tls = "" if tls_dir is None else f"""
        <param name="tls" value="true"/>
        <param name="tls-bind-params" value="transport=tls"/>
        <param name="tls-sip-port" value="{sip_port + 1}"/>
        <param name="tls-cert-dir" value={a(str(tls_dir))}/>
        <param name="tls-version" value="tlsv1.2,tlsv1.3"/>
        <param name="tls-verify-policy" value="out"/>
        <param name="tls-verify-depth" value="2"/>"""
    return f"""<?xml version="1.0"?>
<document type="freeswitch/xml">
  <section name="configuration" description="trunkline lab caller">
    <configuration name="switch.conf" description="Core">
      <settings>
        <param name="max-sessions" value="{2 * MAX_CALLS}"/>
        <param name="sessions-per-second" value="{int(MAX_RATE) * 2}"/>
        <param name="loglevel" value="info"/>
        <param name="rtp-start-port" value="{FREESWITCH_RTP_PORTS[0]}"/>
        <param name="rtp-end-port" value="{FREESWITCH_RTP_PORTS[1]}"/>
        <param name="dump-cores" value="no"/>
      </settings>
    </configuration>
    <configuration name="modules.conf" description="Modules">
      <modules>
        <load module="mod_console"/>
        <load module="mod_logfile"/>
        <load module="mod_event_socket"/>
        <load module="mod_sofia"/>
        <load module="mod_commands"/>
        <load module="mod_dptools"/>
        <load module="mod_dialplan_xml"/>
        <load module="mod_sndfile"/>
        <load module="mod_native_file"/>
        <load module="mod_tone_stream"/>
      </modules>
    </configuration>
    <configuration name="console.conf" description="Console Logger">
      <mappings><map name="all" value="console,info,notice,warning,err,crit,alert"/></mappings>
      <settings><param name="colorize" value="false"/><param name="loglevel" value="info"/></settings>
    </configuration>
    <configuration name="logfile.conf" description="File Logging">
      <profiles><profile name="default">
        <settings><param name="logfile" value={a(str(log_dir / "freeswitch.log"))}/><param name="uuid" value="true"/></settings>
        <mappings><map name="all" value="info,notice,warning,err,crit,alert"/></mappings>
      </profile></profiles>
    </configuration>
    <configuration name="event_socket.conf" description="Socket Client">
      <settings>
        <param name="nat-map" value="false"/>
        <param name="listen-ip" value="127.0.0.1"/>
        <param name="listen-port" value="{event_socket_port}"/>
        <param name="password" value={a(password)}/>
      </settings>
    </configuration>
    <configuration name="sofia.conf" description="sofia Endpoint">
      <global_settings><param name="log-level" value="0"/></global_settings>
      <profiles>
        <profile name="carrier">
          <domains/>
          <settings>
            <param name="sip-ip" value="{address}"/>
            <param name="rtp-ip" value="{address}"/>
            <param name="ext-sip-ip" value="{address}"/>
            <param name="ext-rtp-ip" value="{address}"/>
            <param name="sip-port" value="{sip_port}"/>
            <param name="context" value="caller"/>
            <param name="dialplan" value="XML"/>
            <param name="auth-calls" value="false"/>
            <param name="dtmf-type" value="rfc2833"/>
            <param name="rfc2833-pt" value="101"/>
            <param name="inbound-codec-prefs" value="{CODECS}"/>
            <param name="outbound-codec-prefs" value="{CODECS}"/>
            <param name="rtp-timer-name" value="soft"/>
            <param name="manage-presence" value="false"/>
            <param name="sip-trace" value="no"/>{tls}
          </settings>
        </profile>
      </profiles>
    </configuration>
  </section>
  <section name="dialplan" description="a carrier's caller takes no calls">
    <context name="caller">
      <extension name="no-inbound">
        <condition field="destination_number" expression="^">
          <action application="respond" data="403 Forbidden"/>
        </condition>
      </extension>
    </context>
  </section>
</document>
"""


def _audio(audio: str, ms: int) -> list[str]:
    """Inline dialplan steps that play `audio` for about ms milliseconds."""
    if ms <= 0:
        return []
    if audio == "tone":
        return [f"playback:tone_stream://%({ms},0,1000)"]
    if audio == "silence":
        return [f"playback:silence_stream://{ms}"]
    path = Path(audio)
    with wave.open(str(path)) as w:
        length_ms = max(1, int(1000 * w.getnframes() / w.getframerate()))
    # a wav is played whole, repeated to cover the time; FreeSWITCH's playback timeout counts whole seconds (> 1)
    repeats = math.ceil(ms / length_ms)
    steps = [f"set:playback_timeout_sec={max(2, math.ceil(ms / 1000))}"] if repeats > 1 or ms < length_ms else []
    return steps + ["playback:file_string://" + "!".join([str(path)] * repeats)]


def _number(text: str) -> int | float | None:
    """A channel variable's number (FreeSWITCH writes counters as integers, jitter and MOS with decimals)."""
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return None
        return value if math.isfinite(value) else None


def _check(text: str, what: str) -> str:
    if not text or not set(text) <= _SAFE:
        raise ValueError(f"{what} {text!r}: use letters, digits and -_.+@:;/=#* only")
    return text


class Caller:
    """A running caller: call() one call, calls() many at once."""

    def __init__(self, esl: _EventSocket, *, target: str, port: int, transport: str, srtp: bool, number: str,
                 root: Path, pid: int, tls: bool):
        self.esl, self.target, self.port, self.transport, self.srtp = esl, target, port, transport, srtp
        self.default_number, self.root, self.pid, self.tls = number, root, pid, tls
        self.started_s = 0.0

    @property
    def log(self) -> str:
        path = self.root / "log" / "freeswitch.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def api(self, command: str, timeout: float = 10) -> str:
        return self.esl.command(f"api {command}", timeout)

    def _originate(self, number: str = "", *, dtmf: str = "", dtmf_at_s: float = 3.0, hold_s: float = 8.0,
                   audio: str = "tone", headers: dict[str, str] | None = None, transport: str | None = None,
                   answer_timeout_s: float = 20.0, media_timeout_s: float = 0) -> dict:
        """Send one originate (the arguments of call()); returns what _collect() needs."""
        number = number or self.default_number
        transport = transport or self.transport
        if transport not in ("udp", "tcp", "tls"):
            raise ValueError(f"transport {transport!r}: udp, tcp or tls")
        if transport == "tls" and not self.tls:
            raise ValueError("this caller was started without TLS (no CA to verify the far end with)")
        port = self.port  # udp and tcp share a port; tls has its own
        if (transport == "tls") != (self.transport == "tls"):
            port = SIP_TLS_PORT if transport == "tls" else SIP_PORT
        uuid = str(uuidlib.uuid4())
        sent_headers = {(k if k.lower().startswith("x-") else f"X-{k}"): _check(v, "header value")
                        for k, v in (headers or {}).items()}
        variables = [f"origination_uuid={uuid}", f"sip_invite_call_id={uuid}", "ignore_early_media=true",
                     f"originate_timeout={max(1, math.ceil(answer_timeout_s))}"]
        if self.srtp:
            variables.append(f"rtp_secure_media=mandatory:{SRTP_SUITE}")
        if media_timeout_s:  # no RTP from the far end for this long: FreeSWITCH ends the call, cause MEDIA_TIMEOUT
            variables.append(f"media_timeout={int(media_timeout_s * 1000)}")
        variables += [f"sip_h_{_check(k, 'header name')}={v}" for k, v in sent_headers.items()]
        hold_ms, dtmf_ms = int(hold_s * 1000), int(dtmf_at_s * 1000)
        if dtmf:
            _check(dtmf, "dtmf")
            steps = _audio(audio, min(dtmf_ms, hold_ms)) + [f"send_dtmf:{dtmf}"] + _audio(audio, hold_ms - dtmf_ms)
        else:
            steps = _audio(audio, hold_ms)
        steps.append("hangup:NORMAL_CLEARING")
        if any("|" in s or " " in s for s in steps):
            raise ValueError(f"audio {audio!r}: a path without spaces or '|'")
        dial = (f"{{{','.join(variables)}}}sofia/carrier/{_check(number, 'number')}@{self.target}:{port}"
                f";transport={transport}")
        job = str(uuidlib.uuid4())
        started = time.time()
        reply = self.esl.command(f"bgapi originate {dial} m:|:{'|'.join(steps)} inline\nJob-UUID: {job}")
        return {"uuid": uuid, "job": job, "started": started, "reply": reply, "headers": sent_headers,
                "deadline": time.monotonic() + answer_timeout_s + hold_s + 20}

    def _result(self, c: dict) -> CallResult | None:
        """The call's result once it is over, else None."""
        evs = self.esl.by_uuid.get(c["uuid"], [])
        done = next((e for e in evs if e.get("Event-Name") == "CHANNEL_HANGUP_COMPLETE"), None)
        job = self.esl.jobs.get(c["job"])
        if c["reply"].startswith("-ERR") or (job and job.startswith("-ERR")):
            c.setdefault("failed", time.monotonic())  # its hangup event, if a channel was made, follows soon
        if done is None and not self.esl.closed and time.monotonic() < min(c["deadline"], c.get("failed", math.inf) + 2):
            return None
        dtmf = next((e.get("Application-Data", "") for e in evs if e.get("Event-Name") == "CHANNEL_EXECUTE_COMPLETE"
                     and e.get("Application") == "send_dtmf"), "")
        if done is None:
            cause = (job or c["reply"]).removeprefix("-ERR").strip() if "failed" in c else "UNKNOWN"
            note = "" if "failed" in c else ("the caller's FreeSWITCH stopped during this call" if self.esl.closed
                                             else "the caller's FreeSWITCH reported no end of this call by its deadline")
            c["stuck"] = "failed" not in c  # maybe still up: _wait ends it, so that nothing outlives its bound
            answer = next((e for e in evs if e.get("Event-Name") == "CHANNEL_ANSWER"), None)
            answered_at = int(answer["Event-Date-Timestamp"]) / 1e6 if answer else None
            return CallResult(c["uuid"], c["uuid"], answer is not None, 200 if answer else None, cause or "UNKNOWN",
                              c["started"], answered_at, time.time(), dtmf, c["headers"], note=note)
        v = lambda name, default="": done.get(f"variable_{name}", default)  # noqa: E731
        epoch = lambda name: int(v(name, "0") or 0) / 1e6  # noqa: E731
        answered = epoch("answer_uepoch") > 0
        status = v("sip_invite_failure_status") or v("sip_term_status")
        rtp = {k.removeprefix("variable_rtp_audio_"): _number(x) for k, x in done.items()
               if k.startswith("variable_rtp_audio_") and _number(x) is not None}
        return CallResult(
            uuid=c["uuid"], sip_call_id=v("sip_call_id", c["uuid"]), answered=answered,
            sip_status=200 if answered else (int(status) if status.isdigit() else None),
            hangup_cause=done.get("Hangup-Cause", v("hangup_cause")), started_at=epoch("start_uepoch") or c["started"],
            answered_at=epoch("answer_uepoch") if answered else None, ended_at=epoch("end_uepoch") or time.time(),
            dtmf_sent=dtmf, headers={k: v(f"sip_h_{k}") for k in c["headers"] if v(f"sip_h_{k}")},
            srtp=v("rtp_has_crypto"), disposition=v("sip_hangup_disposition"),
            rtp=rtp, sip_phrase="" if answered else v("sip_invite_failure_phrase"))

    def _collect(self, pending: dict[str, dict], on_result, wait_s: float) -> None:
        """Hand every ended call of `pending` (uuid -> originate) to on_result and drop it; waits up
        to wait_s for an event when none has ended."""
        with self.esl.events:  # the reader thread waits for it: no command is sent while holding it
            ready = [(c, r) for c in pending.values() if (r := self._result(c)) is not None]
            if not ready and wait_s > 0:
                self.esl.events.wait(wait_s)
        for c, r in ready:
            del pending[c["uuid"]]
            self.esl.by_uuid.pop(c["uuid"], None)
            if c.get("stuck"):
                try:
                    self.esl.command(f"bgapi uuid_kill {c['uuid']}")
                except LabError:
                    pass  # the caller's FreeSWITCH is gone, and its calls with it
            on_result(r)

    def _drive(self, rate: float, more, on_result, kw: dict) -> list[str]:
        """Place calls `rate` per second while more(placed, elapsed_s) is true, hand each result to
        on_result as its call ends, and return when every call placed has ended (each is bounded by
        its own deadline). Returns the uuids in the order placed."""
        t0, placed, pending = time.monotonic(), [], {}
        while True:
            now = time.monotonic()
            placing = more(len(placed), now - t0)
            next_at = t0 + len(placed) / rate
            if placing and now >= next_at:
                c = self._originate(**kw)
                pending[c["uuid"]] = c
                placed.append(c["uuid"])
                continue
            if not placing and not pending:
                return placed
            self._collect(pending, on_result, min(0.5, next_at - now) if placing else 0.5)

    def call(self, number: str = "", *, dtmf: str = "", dtmf_at_s: float = 3.0, hold_s: float = 8.0,
             audio: str = "tone", headers: dict[str, str] | None = None, transport: str | None = None,
             answer_timeout_s: float = 20.0, media_timeout_s: float = 0) -> CallResult:
        """One call, to its end (bounded: answer_timeout_s + hold_s + 20 s). media_timeout_s: end the
        call (cause MEDIA_TIMEOUT) when no RTP came for that long; 0: never."""
        return self.calls(1, 1.0, number=number, dtmf=dtmf, dtmf_at_s=dtmf_at_s, hold_s=hold_s, audio=audio,
                          headers=headers, transport=transport, answer_timeout_s=answer_timeout_s,
                          media_timeout_s=media_timeout_s)[0]

    def calls(self, n: int, rate: float, **kw) -> list[CallResult]:
        """n calls started `rate` per second, up at once (kw: call()'s arguments); one result per call, in start order."""
        if not 1 <= n <= MAX_CALLS or not 0 < rate <= MAX_RATE:
            raise ValueError(f"calls(n={n}, rate={rate}): 1 <= n <= {MAX_CALLS}, 0 < rate <= {MAX_RATE:g}")
        hold = kw.get("hold_s", 8.0) + kw.get("answer_timeout_s", 20.0)
        if n / rate + hold + 20 > MAX_RUN_S:
            raise ValueError(f"{n} calls at {rate:g}/s held {hold:g} s take longer than {MAX_RUN_S} s")
        results: dict[str, CallResult] = {}
        order = self._drive(rate, lambda placed, _: placed < n, lambda r: results.__setitem__(r.uuid, r), kw)
        return [results[u] for u in order]

    def stream(self, rate: float, seconds: float, on_result, stop: threading.Event | None = None, **kw) -> int:
        """New calls `rate` per second for `seconds` (or until `stop` is set), each held as call()
        holds it (kw: call()'s arguments); on_result(CallResult) as each call ends, from this thread.
        Returns when every call placed has ended; the number placed."""
        hold = kw.get("hold_s", 8.0) + kw.get("answer_timeout_s", 20.0)
        if not 0 < rate <= MAX_RATE or not 0 < seconds or seconds + hold + 20 > MAX_RUN_S:
            raise ValueError(f"stream(rate={rate}, seconds={seconds}): 0 < rate <= {MAX_RATE:g}, and new calls "
                             f"for at most {MAX_RUN_S} s less the hold ({hold:g} s) and 20 s")
        return len(self._drive(rate, lambda _, elapsed: elapsed < seconds and not (stop and stop.is_set()),
                               on_result, kw))

    def up(self) -> int:
        """Calls answered and not yet ended, as the caller's events say now."""
        with self.esl.events:
            return sum(1 for evs in self.esl.by_uuid.values()
                       if any(e.get("Event-Name") == "CHANNEL_ANSWER" for e in evs)
                       and not any(e.get("Event-Name") == "CHANNEL_HANGUP_COMPLETE" for e in evs))


def _write_tls(tls_dir: Path, ca: Path, client: tuple[Path, Path] | None) -> None:
    """cafile.pem (whom the caller trusts) and agent.pem (the certificate it presents: as a client when
    the far end asks, and as the TLS server the proxy connects to for the center's requests in a call).

    Without a certificate agent.pem holds none: mod_sofia only needs the file to exist (else
    it makes a self-signed tls.pem), and sofia-sip then runs TLS without a certificate of its own, so
    the caller presents none, as a carrier without mutual TLS does. A self-signed one would fail the
    handshake with an edge that checks the certificates it is shown (tls.cfg verify_certificate)."""
    tls_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ca, tls_dir / "cafile.pem")
    if client:
        cert, key = client
        pem = Path(cert).read_bytes().rstrip(b"\n") + b"\n" + Path(key).read_bytes()
    else:
        pem = b"# no client certificate: this carrier presents none\n"
    (tls_dir / "agent.pem").write_bytes(pem)
    (tls_dir / "agent.pem").chmod(0o600)


@contextmanager
def start_caller(ns: str, address: str, where: Path, *, target: str, port: int, transport: str = "udp",
                 srtp: bool = False, number: str = "1000", ca: Path | None = None,
                 client: tuple[Path, Path] | None = None, certs: Path | None = None,
                 sip_port: int = SIP_PORT) -> Iterator[Caller]:
    """A caller in namespace `ns` on `address`, calling `target`:`port` until the block ends.

    `ca`: the CA that signs the target's TLS certificate (needed for tls); `client`: (cert, key)
    to present for mutual TLS; `sip_port` (and sip_port + 1 for TLS): where the caller listens.
    The event socket takes 8021, or a free port when another caller holds it. `certs`: a folder keeping FreeSWITCH's DTLS key between starts
    (making it is seconds of CPU), filled at the first start."""
    from trunkline import freeswitch

    if transport == "tls" and ca is None:
        raise ValueError("a TLS caller needs the CA that signed the target's certificate")
    exe = freeswitch.launcher()
    if exe is None:
        raise LabError(f"FreeSWITCH is not installed under {freeswitch.PREFIX}; install it with {freeswitch.INSTALL_HINT}")
    root = Path(where) / f"caller-{secrets.token_hex(4)}"
    argv = freeswitch.command(root, exe)
    (root / "conf").mkdir(parents=True)
    password = secrets.token_urlsafe(18)
    tls_dir = root / "tls" if ca else None
    if tls_dir:
        _write_tls(tls_dir, ca, client)
    es_port = EVENT_SOCKET_PORT
    try:
        _in_netns(ns, lambda: socket.create_connection(("127.0.0.1", es_port), 1).close())
        es_port = _free_port(ns)
    except OSError:
        pass  # 8021 is free
    (root / "conf" / "freeswitch.xml").write_text(
        config_xml(address, password, sip_port=sip_port, event_socket_port=es_port, tls_dir=tls_dir, log_dir=root / "log"))
    if certs and certs.exists():
        shutil.copytree(certs, root / "cert")
    t0 = time.monotonic()
    # `ip netns exec` execs FreeSWITCH: this PID is FreeSWITCH's
    proc = subprocess.Popen(in_ns(ns, argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    esl = None
    try:
        while True:
            if proc.poll() is not None:
                tail = "\n".join((root / "log" / "freeswitch.log").read_text(errors="replace").splitlines()[-20:]) \
                    if (root / "log" / "freeswitch.log").exists() else ""
                raise LabError(f"the caller's FreeSWITCH exited with {proc.returncode}:\n{tail}")
            if time.monotonic() - t0 > START_TIMEOUT_S:
                raise LabError(f"the caller's FreeSWITCH was not ready within {START_TIMEOUT_S} s (log: {root}/log)")
            try:
                esl = esl or _EventSocket(_in_netns(ns, lambda: socket.create_connection(("127.0.0.1", es_port), 2)), password)
                status = ["\t".join(line.split()) for line in esl.command("api sofia status").splitlines()]
                if any(row.startswith("carrier\tprofile") and "RUNNING" in row for row in status):
                    break
            except (OSError, EOFError):
                esl = None
            time.sleep(0.2)
        caller = Caller(esl, target=target, port=port, transport=transport, srtp=srtp, number=number, root=root,
                        pid=proc.pid, tls=tls_dir is not None)
        caller.started_s = time.monotonic() - t0
        if certs and not certs.exists() and (root / "cert").exists():
            shutil.copytree(root / "cert", certs)
        yield caller
    finally:
        if esl is not None:
            try:
                esl.command("api hupall NORMAL_CLEARING", timeout=3)
            except LabError:
                pass
            esl.close()
        freeswitch.stop(proc)


@contextmanager
def carrier_caller(state: LabState, plan: Plan, trunk: str | None = None, *,
                   client: tuple[Path, Path] | None = None) -> Iterator[Caller]:
    """The lab's caller for a trunk (default: the first): on its first peer address in its carrier
    namespace, calling the VIP of its first site over its transport, SRTP when the blueprint requires it.

    `client`: the carrier's (cert, key), needed for a trunk with mutual TLS (tls.ca). Else a TLS
    caller holds the certificate the lab CA made for its trunk: the proxy connects to the caller's
    Contact for requests within a call (the center's BYE) and checks it, as it would a carrier's."""
    t = next((x for x in plan.trunks if x.name == trunk), None) if trunk else plan.trunks[0]
    if t is None:
        raise LabError(f"no trunk named {trunk!r} in {plan.center}: {', '.join(x.name for x in plan.trunks)}")
    site = plan.site(t.sites[0])
    if t.transport == "tls" and (t.tls_verify or t.tls_ca_ref) and client is None:
        # the edge drops such a carrier's calls over TCP too (route ALLOWLIST): a fallback would only time out
        raise LabError(f"trunk {t.name} requires mutual TLS (tls.ca): give carrier_caller the carrier's client "
                       "certificate, client=(cert, key), signed by that CA")
    pki = state.dir / "pki"
    if t.transport == "tls" and client is None and (pki / f"carrier-{t.name}.crt").exists():
        client = (pki / f"carrier-{t.name}.crt", pki / f"carrier-{t.name}.key")  # its SBC's own (lab CA)
    with start_caller(carrier_ns(plan.center, t.name), t.peers[0], state.dir, target=site.vip, port=t.port,
                      transport=t.transport, srtp=plan.security.get("srtp") == "required",
                      ca=pki / "ca.crt" if t.transport == "tls" else None, client=client,
                      certs=state.dir / "caller-cert") as caller:
        yield caller
