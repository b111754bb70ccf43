"""Steady load with audio through a lab center, telling failed calls from dropped ones.

The carrier's caller (caller.py: FreeSWITCH in the trunk's carrier namespace, over the trunk's
transport, SRTP when the blueprint requires it) places `rate` new calls a second for `seconds`, each
held `hold_s` with G.711 audio both ways: the caller plays a 1 kHz tone; the center answers as it
answers any carrier call (recording as the blueprint says, its IVR, then queue music or a lab agent,
who sends back what it hears). rtpengine relays every packet, re-keying SRTP. Each call ends as:

  ok       answered, held its time, ended by the caller's BYE with NORMAL_CLEARING;
  failed   never established: refused (e.g. 503 with no media node in rotation) or not answered;
  dropped  established, then ended otherwise: the center hung up first, the media stopped (no RTP
           for MEDIA_TIMEOUT_S, FreeSWITCH ends the call with MEDIA_TIMEOUT), another cause.

RTP, per call, from the caller's own FreeSWITCH statistics of the audio it received back through the
center (node, rtpengine, edge), read from its CHANNEL_HANGUP_COMPLETE event: packets
(rtp_audio_in_packet_count), lost (rtp_audio_in_flaw_total: gaps in the sequence numbers) and jitter
as the standard deviation of the packets' interarrival time (the square root of
rtp_audio_in_jitter_max_variance: ms², timed in whole milliseconds as FreeSWITCH reads each packet;
the call's highest). Counted, not estimated. The other
direction is counted by the media node and is not read here.

`Load` runs in a thread of its own (the rollout keeps it going while it changes hosts): start(),
snapshot() for the live counts, stop() to place no more calls, join() for the LoadReport: each
second (calls started, established, ok, failed and dropped by the second they ended in, calls up at
the end of the second, RTP of the calls that ended in it) and the totals.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

from trunkline.plan.topology import Plan
from trunkline.targets.lab.caller import MAX_RATE, MAX_RUN_S, SRTP_SUITE, CallResult, carrier_caller
from trunkline.targets.lab.media import version
from trunkline.targets.lab.state import LabError, LabState

MEDIA_TIMEOUT_S = 5.0  # no RTP from the center for this long: the call is dropped (longer than any pause the center's media makes)
ANSWER_TIMEOUT_S = 15.0
DEFAULT_HOLD_S = 30
MAX_HOLD_S = 600
EARLY_S = 1.0  # a call the caller ended more than this before its hold was cut short


@dataclass
class LoadSecond:
    t: int  # seconds since the first call, this second's start
    started: int = 0
    established: int = 0
    ok: int = 0
    failed: int = 0
    dropped: int = 0
    up: int = 0  # established and not ended at the end of the second
    rtp_packets: int = 0
    rtp_lost: int = 0


@dataclass
class LoadReport:
    center: str
    site: str
    trunk: str
    target: str
    caller: str  # what placed the calls
    rate: float
    hold_s: float
    seconds: float
    chosen: str  # how rate and hold were chosen
    started_at: float = 0.0  # epoch of the first call
    took_s: float = 0.0
    attempted: int = 0
    established: int = 0
    completed: int = 0
    failed: int = 0
    dropped: int = 0
    max_up: int = 0
    failures: dict = field(default_factory=dict)  # reason -> calls
    drops: dict = field(default_factory=dict)
    rtp: dict = field(default_factory=dict)
    timeline: list[LoadSecond] = field(default_factory=list)
    stopped: str = ""  # why new calls stopped before --seconds ('' when they ran their time)

    @property
    def ok(self) -> bool:
        return self.attempted > 0 and self.failed == 0 and self.dropped == 0

    def as_dict(self) -> dict:
        return asdict(self) | {"ok": self.ok}


def outcome(r: CallResult, hold_s: float) -> tuple[str, str]:
    """("ok" | "failed" | "dropped", why) of one call of a load run."""
    if not r.answered:
        status = f"{r.sip_status} " if r.sip_status else ""
        return "failed", f"{status}{r.hangup_cause}".strip() or "no answer"
    held = r.ended_at - (r.answered_at or r.ended_at)
    if r.hangup_cause == "MEDIA_TIMEOUT":
        return "dropped", f"media stopped (no RTP for {MEDIA_TIMEOUT_S:g} s)"
    if r.note:
        return "dropped", r.note
    if r.disposition != "send_bye":
        return "dropped", f"ended by the center ({r.disposition or 'no BYE'}, {r.hangup_cause})"
    if r.hangup_cause != "NORMAL_CLEARING":
        return "dropped", r.hangup_cause
    if held < hold_s - EARLY_S:
        return "dropped", "cut short"
    return "ok", ""


def jitter_ms(r: CallResult) -> float | None:
    variance = r.rtp.get("in_jitter_max_variance")
    return math.sqrt(variance) if variance else None


def default_load(plan: Plan, trunk: str | None = None, hold_s: float | None = None) -> tuple[float, float, float, str]:
    """(rate, hold_s, seconds, why): a load that keeps the busy hour's calls of the trunk's site up
    (the plan's concurrent_calls, at most what the lab's media nodes are sized for), every call held
    `hold_s`, new calls for twice the hold (the second half at full load)."""
    t = _trunk(plan, trunk)
    site = plan.site(t.sites[0])
    hold = hold_s or DEFAULT_HOLD_S
    nodes = len(plan.hosts_of(site.name, "media"))
    up = min(site.concurrent_calls, nodes * site.calls_per_node)
    rate = math.ceil(10 * up / hold) / 10
    why = (f"site {site.name}: {site.concurrent_calls} calls up at once in the busy hour (plan)"
           + (f", {up} on the lab's {nodes} media nodes" if up < site.concurrent_calls else "")
           + f": {rate:g} new calls/s held {hold:g} s keep {round(rate * hold)} up from {hold:g} s on")
    return rate, hold, 2 * hold, why


def longest_seconds(hold_s: float) -> float:
    """The longest time new calls may start for, each held hold_s: a run ends within the caller's MAX_RUN_S."""
    return MAX_RUN_S - hold_s - ANSWER_TIMEOUT_S - 20


def _trunk(plan: Plan, name: str | None):
    t = next((x for x in plan.trunks if x.name == name), None) if name else (plan.trunks[0] if plan.trunks else None)
    if t is None:
        raise LabError(f"no trunk {name!r} in {plan.center}" + (f": {', '.join(x.name for x in plan.trunks)}" if plan.trunks else ""))
    return t


class Load:
    """A load run in its own thread: start(), snapshot(), stop(), join() -> LoadReport."""

    def __init__(self, state: LabState, plan: Plan, rate: float, hold_s: float, seconds: float,
                 trunk: str | None = None, chosen: str = "asked"):
        t = _trunk(plan, trunk)
        if not 0 < rate <= MAX_RATE:
            raise LabError(f"--rate {rate:g}: between 0 and {MAX_RATE:g} new calls per second")
        if not 1 <= hold_s <= MAX_HOLD_S:
            raise LabError(f"--hold {hold_s:g}: between 1 and {MAX_HOLD_S} s")
        longest = longest_seconds(hold_s)
        if not 1 <= seconds <= longest:
            raise LabError(f"--seconds {seconds:g}: between 1 and {longest:g} (a run ends within {MAX_RUN_S} s)")
        first = plan.queues[0] if plan.queues else None
        if first and hold_s > first["max_wait"]:
            # a caller nobody answers leaves the queue at max_wait, and the center ends the call: a drop here
            raise LabError(f"--hold {hold_s:g}: the calls end in queue {first['name']}, which lets a caller go after "
                           f"its max_wait of {first['max_wait']} s; hold at most {first['max_wait']} s")
        if state.media != "freeswitch":
            raise LabError("a load with audio needs FreeSWITCH on the media nodes (this lab runs the SIPp stand-in: "
                           f"{state.media_note}); trunkline call places calls without audio")
        self.state, self.plan, self.trunk = state, plan, t
        srtp = plan.security.get("srtp") == "required"
        site = plan.site(t.sites[0])
        self.report = LoadReport(
            center=plan.center, site=site.name, trunk=t.name, target=f"{site.vip}:{t.port} ({t.transport})",
            caller=(f"{version()} as the carrier of trunk {t.name} (its namespace, peer {t.peers[0]}), "
                    f"{'SRTP ' + SRTP_SUITE if srtp else 'plain RTP'}, G.711 both ways (a 1 kHz tone out)"),
            rate=rate, hold_s=hold_s, seconds=seconds, chosen=chosen)
        self.results: list[CallResult] = []
        self.failure_log: list[str] = []  # the caller's log lines of the calls that failed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._caller = None
        self._error: BaseException | None = None
        self._ready = threading.Event()
        self._t0 = 0.0
        self._stop_reason = ""

    def start(self) -> "Load":
        """Start the caller and the calls; returns once the caller runs (its first call is placed next)."""
        self._thread = threading.Thread(target=self._run, name="trunkline-load", daemon=True)
        self._thread.start()
        self._ready.wait(60)
        if self._error:
            self._thread.join()
            raise self._error
        return self

    def _run(self) -> None:
        try:
            with carrier_caller(self.state, self.plan, self.trunk.name) as caller:
                self._caller = caller
                self._t0 = time.time()
                self._ready.set()
                caller.stream(self.report.rate, self.report.seconds, self.results.append, stop=self._stop,
                              hold_s=self.report.hold_s, answer_timeout_s=ANSWER_TIMEOUT_S,
                              media_timeout_s=MEDIA_TIMEOUT_S)
                # why the failed calls failed, in the caller's own words: its log goes with it
                failed = {r.uuid for r in self.results if not r.answered}
                if failed:
                    self.failure_log = [x for x in caller.log.splitlines()
                                        if any(u in x for u in failed) or "[ERR]" in x or "[WARNING]" in x][-300:]
        except BaseException as exc:  # noqa: BLE001: handed to the thread that joins
            self._error = exc
        finally:
            self._caller = None
            self._ready.set()

    @property
    def caller_pid(self) -> int | None:
        """The caller's FreeSWITCH, while it runs (its CPU is the load's, not the center's)."""
        caller = self._caller
        return caller.pid if caller else None

    def running(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    def snapshot(self) -> dict:
        """Counts so far: seconds since the first call, ended calls by outcome, calls up now."""
        kinds = Counter(outcome(r, self.report.hold_s)[0] for r in list(self.results))
        caller = self._caller
        return {"t": round(time.time() - self._t0, 1) if self._t0 else 0.0, "ended": sum(kinds.values()),
                "ok": kinds["ok"], "failed": kinds["failed"], "dropped": kinds["dropped"],
                "up": caller.up() if caller else 0}

    def stop(self, why: str = "asked") -> None:
        """Place no more calls; those up end at their hold."""
        if not self._stop.is_set():
            self._stop_reason = why
        self._stop.set()

    def join(self, timeout: float | None = None) -> LoadReport:
        if self._thread:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise LabError("the load did not end within its bound")
        if self._error:
            raise self._error if isinstance(self._error, Exception) else LabError(str(self._error))
        if self._stop.is_set() and self._t0 and time.time() - self._t0 < self.report.seconds:
            self.report.stopped = self._stop_reason
        return summarize(self.report, self.results, self._t0)

    def run(self, progress=None, every_s: float = 1.0) -> LoadReport:
        """start(), then progress(snapshot) about every `every_s` until the calls have ended; join()."""
        self.start()
        try:
            while self.running():
                self._thread.join(every_s)
                if progress and self.running():
                    progress(self.snapshot())
        except KeyboardInterrupt:
            self.stop("interrupted")  # the calls up end at their hold; nothing is left behind
        return self.join()


def summarize(report: LoadReport, results: list[CallResult], t0: float) -> LoadReport:
    """Fill the totals and the per-second timeline of `report` from the calls' results."""
    hold = report.hold_s
    sorted_results = sorted(results, key=lambda r: r.started_at)
    t0 = min([t0] + [r.started_at for r in sorted_results]) if sorted_results else t0
    end = max([r.ended_at for r in sorted_results], default=t0)
    seconds = [LoadSecond(t=i) for i in range(int(end - t0) + 1)]
    at = lambda epoch: seconds[min(len(seconds) - 1, max(0, int(epoch - t0)))]  # noqa: E731
    failures, drops = Counter(), Counter()
    packets = lost = silent = 0
    jitters = []
    for r in sorted_results:
        at(r.started_at).started += 1
        if r.answered_at:
            at(r.answered_at).established += 1
        kind, why = outcome(r, hold)
        second = at(r.ended_at)
        setattr(second, kind, getattr(second, kind) + 1)
        if kind == "failed":
            failures[why] += 1
        elif kind == "dropped":
            drops[why] += 1
        if r.answered:
            n, gaps = int(r.rtp.get("in_packet_count", 0)), int(r.rtp.get("in_flaw_total", 0))
            packets, lost = packets + n, lost + gaps
            second.rtp_packets += n
            second.rtp_lost += gaps
            silent += n == 0
            if (j := jitter_ms(r)) is not None:
                jitters.append(j)
    answered = [(r.answered_at, r.ended_at) for r in sorted_results if r.answered_at]
    for s in seconds:
        edge = t0 + s.t + 1
        s.up = sum(1 for a, e in answered if a < edge <= e)
    report.started_at = round(t0, 3)
    report.took_s = round(end - t0, 1)
    report.attempted = len(sorted_results)
    report.established = len(answered)
    report.failed = sum(s.failed for s in seconds)
    report.dropped = sum(s.dropped for s in seconds)
    report.completed = sum(s.ok for s in seconds)
    report.max_up = max((s.up for s in seconds), default=0)
    report.failures, report.drops = dict(failures.most_common()), dict(drops.most_common())
    report.rtp = {"packets": packets, "lost": lost, "loss": round(lost / (packets + lost), 6) if packets + lost else None,
                  "calls_without_audio": silent,
                  "jitter_ms_mean": round(sum(jitters) / len(jitters), 2) if jitters else None,
                  "jitter_ms_max": round(max(jitters), 2) if jitters else None,
                  "measured_by": "the caller's FreeSWITCH, audio received back through the center "
                                 "(rtp_audio_in_packet_count, rtp_audio_in_flaw_total, rtp_audio_in_jitter_max_variance)"}
    report.timeline = seconds
    return report
