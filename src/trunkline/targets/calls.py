"""Real calls through a lab center: SIPp as the carrier, bounded in count and time.

The carrier namespace of a trunk sends INVITEs from the trunk's peer address to the VIP of the
site that terminates it; Kamailio dispatches them to the media nodes (SIPp answering in
FreeSWITCH's place). SIPp's own statistics and response-time trace are the measurement.
"""

from __future__ import annotations

import csv
import math
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from trunkline.plan.topology import SIP_PORT, SIP_TLS_PORT, Plan
from trunkline.targets.lab import SIPP_DIR, SIPP_SOCKET_BUFFER, LabError, LabState, carrier_ns, in_ns, ns_name

MAX_CALLS = 200_000  # a load run is bounded however it is asked
MAX_RATE = 20_000  # SIPp UAC -> UAS directly carried 15,000/s on 2 cores; the edge benchmark ramps past it
MAX_SECONDS = 900
SDES_KEY = "inline:dHJ1bmtsaW5lIGxhYiBTREVTIGtleSwgMzAgQiEh"  # lab only: SIPp sends no SRTP itself


@dataclass
class CallReport:
    trunk: str
    target: str
    transport: str
    rate: float
    attempted: int
    succeeded: int
    failed: int
    retransmissions: int
    seconds: float
    response_ms: dict = field(default_factory=dict)  # p50, p90, p99, max of INVITE -> 200 OK
    failures: dict = field(default_factory=dict)  # SIP status or reason -> count
    log_dir: str = ""
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.attempted > 0 and self.failed == 0

    def as_dict(self) -> dict:
        return asdict(self) | {"ok": self.ok}


def scenario(plan: Plan, audio: bool, stream: str | None = None, codecs: list[str] = ("PCMA",)) -> str:
    """The carrier's UAC scenario. `audio`: plain RTP from a recording of G.711 speech (about 8 s);
    `stream`: instead, a raw A-law file (8 kHz) sent in a loop for as long as the call lasts.
    `codecs`: the trunk's; PCMA is offered where it is among them, else PCMU (FreeSWITCH refuses an
    offer without the trunk's codec with 488), then with no audio: the speech SIPp sends is A-law."""
    text = (SIPP_DIR / "uac.xml").read_text()
    if "PCMA" not in codecs and "PCMU" in codecs:
        text = text.replace("@PROFILE@ 8 101", "@PROFILE@ 0 101").replace("a=rtpmap:8 PCMA/8000", "a=rtpmap:0 PCMU/8000")
        audio, stream = False, None
    srtp = plan.security["srtp"] == "required"
    text = text.replace("@PROFILE@", "RTP/SAVP" if srtp else "RTP/AVP")
    text = text.replace("@CRYPTO@", f"      a=crypto:1 AES_CM_128_HMAC_SHA1_80 {SDES_KEY}\n" if srtp else "")
    # SIPp cannot encrypt media: with SRTP required the calls carry none
    if not audio or srtp:
        media = ""
    elif stream:
        media = f'  <nop><action><exec rtp_stream="{stream},-1,8"/></action></nop>'
    else:
        media = '  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/></action></nop>'
    return text.replace("@MEDIA@", media)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    values = sorted(values)
    k = max(0, min(len(values) - 1, math.ceil(q * len(values)) - 1))
    return values[k]


def _last_stats(run_dir: Path) -> dict:
    files = sorted(run_dir.glob("*_.csv"))
    if not files:
        raise LabError(f"SIPp wrote no statistics in {run_dir}; see sipp.log there")
    rows = list(csv.reader(files[-1].open(), delimiter=";"))
    header, last = rows[0], rows[-1]
    return dict(zip(header, last))


def _counts(run_dir: Path, asked: int) -> dict:
    """The counts of the statistics SIPp has written so far (every second with -fd 1)."""
    try:
        stats = _last_stats(run_dir)
    except (LabError, OSError, IndexError, csv.Error):
        stats = {}
    num = lambda key: int(stats[key]) if str(stats.get(key, "")).isdigit() else 0
    return {"asked": asked, "created": num("TotalCallCreated"), "succeeded": num("SuccessfulCall(C)"),
            "failed": num("FailedCall(C)")}


def _rtt_values(run_dir: Path) -> list[float]:
    out = []
    for f in run_dir.glob("*_rtt.csv"):
        for row in csv.reader(f.open(), delimiter=";"):
            if len(row) >= 3 and row[1].replace(".", "", 1).isdigit():
                out.append(float(row[1]))
    return out


def place_calls(state: LabState, plan: Plan, rate: float, calls: int, trunk: str | None = None,
                transport: str | None = None, hold_ms: int = 1000, audio: bool = True, timeout_s: float | None = None,
                target: str | None = None, progress: Callable[[dict], None] | None = None,
                source: str | None = None) -> CallReport:
    """Bounded call run from a trunk's carrier namespace; `target` (ADDR:PORT) bypasses the VIP,
    e.g. straight to a media node for a baseline; `source` (a plan host) sends from that host's
    namespace and address instead of the carrier's, e.g. a proxy's test call pinned to one media
    node (the node admits only its proxies). `progress` gets SIPp's counts about once a second
    while the run lasts (created, succeeded, failed, of the calls asked)."""
    if not 0 < calls <= MAX_CALLS:
        raise LabError(f"--calls must be between 1 and {MAX_CALLS}")
    if not 0 < rate <= MAX_RATE:
        raise LabError(f"--rate must be between 0 and {MAX_RATE} calls per second")
    t = next((x for x in plan.trunks if x.name == trunk), None) if trunk else plan.trunks[0]
    if t is None:
        raise LabError(f"no trunk {trunk!r}; trunks are {', '.join(x.name for x in plan.trunks)}")
    note = ""
    if transport == "tls":
        raise LabError("Debian's SIPp is built without TLS, so lab calls cannot use it; use --transport udp or tcp "
                       "(the TLS listener on 5061 and its certificate are checked by trunkline verify)")
    if not transport:
        transport = "udp" if t.transport == "tls" else t.transport
        if t.transport == "tls":
            note = (f"trunk {t.name} is TLS; Debian's SIPp has no TLS, so these calls use UDP to the same Kamailio "
                    "(TLS on 5061 is checked by trunkline verify)")
    site = plan.site(t.sites[0])
    if target is None and rate > site.edge_cps:
        note = (note + "; " if note else "") + (
            f"the edge of {site.name} is sized for {site.edge_cps} new calls/s (sip_proxy.max_cps in the blueprint); "
            f"at {rate:g}/s Kamailio may run out of shared memory: bring the lab up with --set "
            f"spec.sites[{[s.name for s in plan.sites].index(site.name)}].sip_proxy.max_cps={math.ceil(rate)}")
    port = SIP_TLS_PORT if transport == "tls" else SIP_PORT
    budget = timeout_s or min(MAX_SECONDS, calls / rate + hold_ms / 1000 + 30)
    (state.dir / "calls").mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=state.dir / "calls"))  # two runs a second apart
    (run_dir / "uac.xml").write_text(scenario(plan, audio, codecs=t.codecs))
    if audio and "PCMA" not in t.codecs and "PCMU" in t.codecs:
        note = (note + "; " if note else "") + f"trunk {t.name} takes PCMU, not PCMA: its calls carry no audio (SIPp's recorded speech is A-law)"
    target = target or f"{site.vip}:{port}"
    address, ns = (plan.host(source).address, ns_name(plan.center, source)) if source else (t.peers[0], carrier_ns(plan.center, t.name))
    argv = ["sipp", target, "-sf", "uac.xml", "-s", "8000", "-i", address, "-p", "0",
            "-t", {"udp": "u1", "tcp": "t1", "tls": "l1"}[transport], "-r", str(rate), "-rp", "1000",
            "-m", str(calls), "-l", str(max(100, int(rate * (hold_ms / 1000 + 5)))), "-d", str(hold_ms),
            "-timeout", f"{int(budget)}s", "-timeout_error", "-nostdin", "-nd", "-max_socket", "20000", "-buff_size", str(SIPP_SOCKET_BUFFER),
            "-trace_stat", "-fd", "1", "-trace_rtt", "-rtt_freq", "1", "-trace_err", "-trace_screen",
            "-mp", "40000"]
    start = time.monotonic()
    with open(run_dir / "sipp.log", "wb") as log:
        proc = subprocess.Popen(in_ns(ns, argv), cwd=run_dir, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = start + budget + 30
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()  # our own child, by its PID
                proc.wait()
                break
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                if progress:
                    progress(_counts(run_dir, calls))
    seconds = time.monotonic() - start
    stats = _last_stats(run_dir)
    ok = int(stats.get("SuccessfulCall(C)", 0))
    failed = int(stats.get("FailedCall(C)", 0))
    attempted = int(stats.get("TotalCallCreated", ok + failed))
    failures = {k.removeprefix("Failed").removesuffix("(C)"): int(v) for k, v in stats.items()
                if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)" and v.isdigit() and int(v)}
    # calls still open when the run's time ran out count as failed
    unfinished = max(0, attempted - ok - failed)
    if unfinished:
        failures["Unfinished"] = unfinished
    rtts = _rtt_values(run_dir)
    return CallReport(
        trunk=t.name, target=target, transport=transport, rate=rate, attempted=attempted,
        succeeded=ok, failed=failed + unfinished, retransmissions=int(stats.get("Retransmissions(C)", 0)),
        seconds=round(seconds, 2),
        response_ms={"p50": percentile(rtts, 0.5), "p90": percentile(rtts, 0.9), "p99": percentile(rtts, 0.99),
                     "max": max(rtts) if rtts else math.nan, "samples": len(rtts)},
        failures=failures, log_dir=str(run_dir), note=note,
    )
