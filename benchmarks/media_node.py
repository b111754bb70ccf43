"""Concurrent calls with audio that one FreeSWITCH media node carries on this machine, with the
CPU each call costs, next to the plan's calls_per_node (the blueprint default: 200).

One media node of the blueprint runs on its rendered files (trunkline.freeswitch.standalone_node:
its own namespace, the site's SIP proxy address in a second one). SIPp, from the proxy's address,
places calls to the node's external profile (port 5080) for a queue: FreeSWITCH answers, puts the
caller in the mod_callcenter queue (no agent is logged in) and plays music on hold, while SIPp
sends G.711 A-law speech for the whole call. So each call is decoded, mixed against the hold
stream and encoded, both ways, every 20 ms.

Concurrency is stepped up (--steps); each step places N calls at --rate per second, holds them
--hold seconds, and ends them. A step passes when every call was answered and ended by a BYE that
FreeSWITCH accepted, and the audio FreeSWITCH received lost at most 0.1 % of its packets. Loss and
MOS are FreeSWITCH's own per-call RTP statistics, read from the event socket (the channel variables
of every CHANNEL_HANGUP_COMPLETE event), not estimated: lost = rtp_audio_in_flaw_total (gaps in the
RTP sequence numbers), late = rtp_audio_in_skip_packet_count (20 ms ticks at which no packet was
there, so FreeSWITCH played comfort noise; one per call at its start is normal), MOS =
rtp_audio_in_mos. CPU: FreeSWITCH's and SIPp's own, per call-second of the
steady window (every call up), and the machine's share of 2 cores.

SIPp cannot encrypt media, so the blueprint's SRTP is set to optional for this run (plain RTP to
the node). Recording is the media node's (FreeSWITCH records the caller's channel): with --record
every step runs twice, without and then with every call recorded in the blueprint's format
(uuid_record, once all calls are up, what the on-demand mode does and the same media bug as
record_session; opus is written as wav here, its opusenc after hangup is not in the window), and
the recordings are counted on the node's disk. Bounded: at most --max-seconds in all, each step at
most its own time + 60 s.

    sudo .venv/bin/python benchmarks/media_node.py [BLUEPRINT] [--steps 25,50,100,200,300] [--hold 30] [--record] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from _lab import DEFAULT

from trunkline import freeswitch
from trunkline.center import load as load_center
from trunkline.plan.topology import MEDIA_SIP_PORT
from trunkline.targets.calls import scenario

_HZ = os.sysconf("SC_CLK_TCK")
LOSS_LIMIT = 0.001
SETS = ("spec.security.srtp=optional",)  # SIPp sends plain RTP (see the docstring)

# Connects to the node's event socket (loopback, inside its namespace) and logs in: frame() reads
# one reply or event; a script that starts with it ends by itself after `seconds`.
ESL_CONNECT = r"""
import json, socket, sys, time, urllib.parse
port, password, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
deadline = time.monotonic() + seconds
s = socket.create_connection(("127.0.0.1", port), timeout=5)
buf = b""
def frame():
    global buf
    while b"\n\n" not in buf:
        if time.monotonic() > deadline:
            raise SystemExit
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            raise SystemExit
        buf += chunk
    head, buf = buf.split(b"\n\n", 1)
    headers = dict(line.split(": ", 1) for line in head.decode().splitlines() if ": " in line)
    n = int(headers.get("Content-Length", 0))
    while len(buf) < n:
        buf += s.recv(65536)
    body, buf = buf[:n], buf[n:]
    return headers, body.decode(errors="replace")
frame()
s.sendall(("auth " + password + "\n\n").encode()); frame()
"""

# Subscribes to CHANNEL_HANGUP_COMPLETE and writes one JSON line per call with FreeSWITCH's RTP statistics.
ESL_LISTENER = ESL_CONNECT + r"""
out = sys.argv[4]
KEEP = ("Unique-ID", "Hangup-Cause", "variable_sip_term_status", "variable_billsec", "variable_rtp_audio_in_packet_count",
        "variable_rtp_audio_in_skip_packet_count", "variable_rtp_audio_in_mos", "variable_rtp_audio_out_packet_count",
        "variable_rtp_audio_in_jitter_max_variance", "variable_rtp_audio_in_flaw_total")
s.sendall(b"event plain CHANNEL_HANGUP_COMPLETE\n\n"); frame()
s.settimeout(1)
with open(out, "a") as f:
    while True:
        headers, body = frame()
        if headers.get("Content-Type") != "text/event-plain":
            continue
        event = {k: urllib.parse.unquote(v) for k, v in (l.split(": ", 1) for l in body.splitlines() if ": " in l)}
        f.write(json.dumps({k: event.get(k) for k in KEEP}) + "\n")
        f.flush()
"""

# Starts a recording of every channel up on the node, over one connection; prints how many started.
ESL_RECORD_ALL = ESL_CONNECT + r"""
folder, ext = sys.argv[4], sys.argv[5]
def api(cmd):
    s.sendall(("api " + cmd + "\n\n").encode())
    while True:
        headers, body = frame()
        if headers.get("Content-Type") == "api/response":
            return body
rows = json.loads(api("show channels as json") or "{}").get("rows") or []
print(sum("+OK" in api(f"uuid_record {r['uuid']} start {folder}/{r['uuid']}.{ext}") for r in rows))
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpu_s(pid: int) -> float:
    """CPU seconds a process (all its threads) has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _HZ


def machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / _HZ, sum(values) / _HZ


def speech(path: Path, seconds: int = 10) -> Path:
    """A speech-like test signal (200 Hz voice with a 3 Hz syllable envelope), raw A-law, 8 kHz."""
    n = 8000 * seconds
    pcm = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 200 * i / 8000) * (0.55 + 0.45 * math.sin(2 * math.pi * 3 * i / 8000))))
                   for i in range(n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # audioop: in the standard library up to 3.12
        import audioop

        path.write_bytes(audioop.lin2alaw(pcm, 2))
    return path


def sipp_counts(run_dir: Path) -> dict:
    files = sorted(run_dir.glob("*_.csv"))
    if not files:
        return {}
    rows = list(csv.reader(files[-1].open(), delimiter=";"))
    return dict(zip(rows[0], rows[-1])) if len(rows) > 1 else {}


def record_all(node, folder: str, ext: str) -> int:
    """Start recording every call up on the node; how many started."""
    out = subprocess.run(["ip", "netns", "exec", node.ns, sys.executable, "-c", ESL_RECORD_ALL,
                          str(freeswitch.EVENT_SOCKET_PORT), node.password(), "60", folder, ext],
                         capture_output=True, text=True, timeout=60)
    return int(out.stdout.strip() or 0)


def step(node, queue: str, calls: int, rate: float, hold_s: int, work: Path, events: Path, record: str = "") -> dict:
    """One step; `record`: the extension to record every call in ('' for none)."""
    run = work / f"step-{calls}{'-rec' if record else ''}"
    run.mkdir()
    folder = f"/var/tmp/trunkline-bench/{run.name}"
    (run / "uac.xml").write_text(scenario(node.plan, audio=True, stream=str(work / "speech.al")))
    seen_before = len(events.read_text().splitlines()) if events.exists() else 0
    ramp_s = calls / rate
    budget = ramp_s + hold_s + 30
    argv = ["sipp", f"{node.address}:{MEDIA_SIP_PORT}", "-sf", "uac.xml", "-s", queue, "-i", node.peer_address, "-p", "0",
            "-t", "u1", "-r", str(rate), "-rp", "1000", "-m", str(calls), "-l", str(calls), "-d", str(hold_s * 1000),
            "-timeout", f"{int(budget)}s", "-timeout_error", "-nostdin", "-nd", "-max_socket", "20000",
            "-trace_stat", "-fd", "1", "-mp", "20000", "-rtp_threadtasks", "50"]
    with open(run / "sipp.log", "wb") as out:
        proc = subprocess.Popen(["ip", "netns", "exec", node.peer_ns, *argv], cwd=run, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    fs0 = sipp0 = None
    started = time.monotonic()
    # the steady window: every call placed, none ended yet
    steady_at, steady_end = started + ramp_s + 2, started + ramp_s + hold_s - 2
    window = {}
    while proc.poll() is None and time.monotonic() < started + budget + 60:
        now = time.monotonic()
        if record and "recording" not in window and now >= steady_at - 1:
            window["recording"] = record_all(node, folder, record)
            steady_at = max(steady_at, time.monotonic() + 0.5)  # the window starts once every recording runs
            continue
        if fs0 is None and now >= steady_at:
            fs0, sipp0, m0 = cpu_s(node.pid), cpu_s(proc.pid), machine_busy_s()
            up = node.api("show channels count").strip().splitlines()
            window["channels"] = int(up[-1].split()[0]) if up and up[-1].split()[0].isdigit() else 0
            t0 = now
        if fs0 is not None and "seconds" not in window and now >= steady_end:
            m1 = machine_busy_s()
            window.update(seconds=now - t0, freeswitch_cpu_s=cpu_s(node.pid) - fs0, sipp_cpu_s=cpu_s(proc.pid) - sipp0,
                          machine_busy=(m1[0] - m0[0]) / max(1e-9, m1[1] - m0[1]))
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()  # our own child, by its PID
        proc.wait()
    stats = sipp_counts(run)
    deadline = time.monotonic() + 10  # the last hangup events
    while time.monotonic() < deadline:
        mine = [json.loads(line) for line in events.read_text().splitlines()[seen_before:]] if events.exists() else []
        if len(mine) >= int(stats.get("SuccessfulCall(C)", 0) or 0):
            break
        time.sleep(0.5)
    packets = sum(int(e["variable_rtp_audio_in_packet_count"] or 0) for e in mine)
    lost = sum(int(e["variable_rtp_audio_in_flaw_total"] or 0) for e in mine)  # sequence-number gaps
    late = sum(int(e["variable_rtp_audio_in_skip_packet_count"] or 0) for e in mine)  # 20 ms ticks with no packet
    mos = [float(e["variable_rtp_audio_in_mos"]) for e in mine if e.get("variable_rtp_audio_in_mos")]
    ok, failed = int(stats.get("SuccessfulCall(C)", 0) or 0), int(stats.get("FailedCall(C)", 0) or 0)
    call_s = calls * window.get("seconds", 0) if window.get("seconds") else 0
    row = {
        "calls": calls, "succeeded": ok, "failed": failed + max(0, calls - ok - failed),
        "up_at_once": window.get("channels", 0), "events": len(mine),
        "rtp_in_packets": packets, "rtp_in_lost": lost, "loss": lost / max(1, packets + lost), "rtp_in_late_ticks": late,
        "mos_min": min(mos) if mos else None, "mos_mean": sum(mos) / len(mos) if mos else None,
        "freeswitch_cpu_ms_per_call_s": 1000 * window.get("freeswitch_cpu_s", 0) / call_s if call_s else None,
        "sipp_cpu_ms_per_call_s": 1000 * window.get("sipp_cpu_s", 0) / call_s if call_s else None,
        "freeswitch_cores": window.get("freeswitch_cpu_s", 0) / window["seconds"] if window.get("seconds") else None,
        "machine_busy": window.get("machine_busy"),
    }
    row["passed"] = row["failed"] == 0 and row["events"] >= ok and row["loss"] <= LOSS_LIMIT and packets > 0
    row["recording"] = record or "off"
    if record:
        on_disk = node.root / "var.upper" / folder.removeprefix("/var/")
        files = [f for f in on_disk.glob(f"*.{record}") if f.stat().st_size > 0] if on_disk.exists() else []
        row.update(recordings_started=window.get("recording", 0), recordings_on_disk=len(files))
        row["passed"] = row["passed"] and len(files) == ok
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("blueprint", nargs="?", default=str(DEFAULT))
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--steps", default="25,50,100,150,200,300,400")
    ap.add_argument("--hold", type=int, default=30, help="seconds each call lasts")
    ap.add_argument("--rate", type=float, default=20, help="new calls per second while a step ramps up")
    ap.add_argument("--max-seconds", type=int, default=1200)
    ap.add_argument("--record", action="store_true", help="run each step again with every call recorded")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        log("benchmarks/media_node.py needs root (network namespaces)")
        return 2
    if freeswitch.launcher() is None:
        log(f"FreeSWITCH is not installed under {freeswitch.PREFIX}: {freeswitch.INSTALL_HINT}")
        return 2
    plan = load_center(args.blueprint, [*SETS, *args.sets]).plan
    host = next(h for h in plan.hosts if h.role == "media")
    queue = plan.queues[0]["name"] if plan.queues else "support"
    per_node = plan.site(host.site).calls_per_node
    steps = [int(s) for s in args.steps.split(",")]
    rows = []
    end = time.monotonic() + args.max_seconds
    with tempfile.TemporaryDirectory(prefix="trunkline-media-node-") as tmp:
        work = Path(tmp)
        speech(work / "speech.al")
        events = work / "events.jsonl"
        with freeswitch.standalone_node(plan, host.name, work / "node") as node:
            log(f"{host.name}: FreeSWITCH up in {node.started_s:.1f} s; calls to queue {queue!r}, {args.hold} s each")
            listener = subprocess.Popen(["ip", "netns", "exec", node.ns, sys.executable, "-c", ESL_LISTENER,
                                         str(freeswitch.EVENT_SOCKET_PORT), node.password(), str(args.max_seconds + 120), str(events)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(1)
                ext = "wav" if plan.recording["format"] == "opus" else plan.recording["format"]
                runs = [(calls, rec) for calls in steps for rec in ([""] + ([ext] if args.record else []))]
                for calls, rec in runs:
                    if time.monotonic() + calls / args.rate + args.hold + 60 > end:
                        log(f"stopping before {calls} calls: --max-seconds {args.max_seconds} would pass")
                        break
                    row = step(node, queue, calls, args.rate, args.hold, work, events, rec)
                    rows.append(row)
                    log(f"{calls:>4} calls{', recorded' if rec else ''}: {'pass' if row['passed'] else 'FAIL'}  up at once "
                        f"{row['up_at_once']}, failed {row['failed']}, loss {100 * row['loss']:.3f} %, "
                        f"FreeSWITCH {row['freeswitch_cpu_ms_per_call_s'] or 0:.2f} ms CPU per call-second"
                        + (f", {row['recordings_on_disk']} recordings on disk" if rec else ""))
                    if not row["passed"]:
                        break
                    time.sleep(3)  # the node settles between steps
                complained = freeswitch.complaints(node.log)
            finally:
                listener.terminate()
                listener.wait(10)
    best = max((r["calls"] for r in rows if r["passed"] and r["recording"] == "off"), default=0)
    best_rec = max((r["calls"] for r in rows if r["passed"] and r["recording"] != "off"), default=0)
    summary = {"blueprint": args.blueprint, "host": host.name, "hold_s": args.hold, "calls_per_node_planned": per_node,
               "highest_passing": best, "highest_passing_recorded": best_rec if args.record else None, "steps": rows, "freeswitch_complaints": complained[:20]}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"media node {host.name} of {Path(args.blueprint).name} (SRTP optional: SIPp sends plain G.711 A-law), "
          f"{args.hold} s calls into queue {queue!r} with music on hold")
    print(f"{'calls':>6} {'record':>6} {'result':>6} {'up':>5} {'failed':>6} {'RTP in':>9} {'lost':>6} {'loss %':>7} {'MOS min':>7} "
          f"{'late':>6} {'FS ms/call-s':>12} {'SIPp ms/call-s':>14} {'FS cores':>8} {'machine':>7}")
    for r in rows:
        f = lambda v, spec: format(v, spec) if v is not None else "-"
        print(f"{r['calls']:>6} {r['recording']:>6} {'pass' if r['passed'] else 'FAIL':>6} {r['up_at_once']:>5} {r['failed']:>6} {r['rtp_in_packets']:>9} "
              f"{r['rtp_in_lost']:>6} {100 * r['loss']:>7.3f} {f(r['mos_min'], '>7.2f')} {r['rtp_in_late_ticks']:>6} {f(r['freeswitch_cpu_ms_per_call_s'], '>12.2f')} "
              f"{f(r['sipp_cpu_ms_per_call_s'], '>14.2f')} {f(r['freeswitch_cores'], '>8.2f')} {f(r['machine_busy'], '>7.0%')}")
    for r in rows:  # recording's cost: the recorded step against the same step without, in this run
        plain = next((p for p in rows if p["calls"] == r["calls"] and p["recording"] == "off"), None)
        if r["recording"] != "off" and plain and plain["freeswitch_cpu_ms_per_call_s"] and r["freeswitch_cpu_ms_per_call_s"]:
            print(f"{r['calls']} calls recorded as {r['recording']}: {r['freeswitch_cpu_ms_per_call_s'] / plain['freeswitch_cpu_ms_per_call_s']:.2f}x "
                  f"FreeSWITCH's CPU per call-second; {r['recordings_on_disk']} of {r['succeeded']} recordings on disk")
    print(f"highest passing concurrency: {best}{f', {best_rec} recorded' if args.record else ''} (the plan's calls_per_node: {per_node}); "
          f"FreeSWITCH log lines that complain: {len(complained)}")
    for line in complained[:5]:
        print(f"  {line}")
    print("ms/call-s: CPU milliseconds per second of one call in the steady window (all calls up); "
          "cores: FreeSWITCH's CPU seconds per second; machine: busy share of both cores (SIPp shares them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
