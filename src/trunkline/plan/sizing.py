"""Capacity sizing for a contact center: trunks, agents, bandwidth, storage, nodes, and the
pre-sales figures `trunkline size` prints (`presales`).

Pure functions, stdlib only, no I/O.  The queueing maths follows the classic
Erlang models:

* Erlang B  -- blocked calls are lost (SIP trunk / channel sizing).
* Erlang C  -- blocked calls wait in queue (agent sizing).

Erlang B is always evaluated with the recurrence
``B(0) = 1, B(n) = A*B(n-1) / (n + A*B(n-1))``.  The textbook form with
``A**N / N!`` overflows a float near N = 170, while the recurrence stays in
[0, 1] at every step, so it is stable for tens of thousands of channels.
Erlang C is derived from Erlang B for the same reason.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = [
    "CODECS",
    "RECORDING_FORMATS",
    "AgentSizing",
    "Codec",
    "average_speed_of_answer",
    "call_bandwidth_kbps",
    "erlang_b",
    "erlang_b_channels",
    "erlang_c",
    "erlang_c_agents",
    "media_nodes",
    "presales",
    "recording_storage_bytes",
    "service_level",
    "trunk_bandwidth_kbps",
    "trunk_holding_s",
]


# --------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Codec:
    """A voice codec at its usual packetisation interval (ptime)."""

    name: str
    bitrate_kbps: float
    ptime_ms: int
    payload_bytes: int  # RTP payload per packet at ``ptime_ms``


CODECS: dict[str, Codec] = {
    c.name: c
    for c in (
        Codec("PCMA", 64.0, 20, 160),
        Codec("PCMU", 64.0, 20, 160),
        # G.722 is 16 kHz audio but a 64 kbit/s stream, so it packs like G.711.
        Codec("G722", 64.0, 20, 160),
        Codec("G729", 8.0, 20, 20),
        # Opus is variable-rate; 24 kbit/s is a typical wideband VoIP setting.
        Codec("OPUS", 24.0, 20, 60),
        Codec("iLBC", 15.2, 20, 38),
        Codec("G726-32", 32.0, 20, 80),
    )
}

# Bytes per second of recorded mono audio.
RECORDING_FORMATS: dict[str, float] = {
    "wav": 16000.0,  # 16-bit linear PCM at 8 kHz
    "mp3": 4000.0,  # 32 kbit/s
    "opus": 2000.0,  # 16 kbit/s
    "g711": 8000.0,  # 8-bit companded at 8 kHz (64 kbit/s)
}

# Per-packet header bytes, one direction (RTP 12 + UDP 8 + IPv4 20).
_IP_OVERHEAD_BYTES = 12 + 8 + 20
# Ethernet header 14 + FCS 4; preamble and inter-frame gap are not counted,
# matching Cisco's "Voice Over IP - Per Call Bandwidth Consumption" (doc 7934).
_ETHERNET_OVERHEAD_BYTES = 18
_LAYER_OVERHEAD_BYTES = {
    "ip": _IP_OVERHEAD_BYTES,
    "ethernet": _IP_OVERHEAD_BYTES + _ETHERNET_OVERHEAD_BYTES,
}

# Rounding guard for ceil() of quotients such as 14 / (1 - 0.3), which can land
# a hair above an integer in binary floating point and cost a whole extra head.
_CEIL_EPS = 1e-9


# --------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------


def _check_number(name: str, value: float, *, minimum: float | None = None,
                  strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if minimum is not None:
        if strict and not value > minimum:
            raise ValueError(f"{name} must be > {minimum}, got {value!r}")
        if not strict and not value >= minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return float(value)


def _check_int(name: str, value: int, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def _ceil(x: float) -> int:
    return math.ceil(x - _CEIL_EPS)


# --------------------------------------------------------------------------
# Erlang B
# --------------------------------------------------------------------------


def _erlang_b_step(traffic: float, n: int, prev: float) -> float:
    """One step of the recurrence: B(n) from B(n-1)."""
    x = traffic * prev
    return x / (n + x)


def erlang_b(traffic: float, channels: int) -> float:
    """Blocking probability for ``traffic`` erlangs offered to ``channels`` trunks."""
    a = _check_number("traffic", traffic, minimum=0)
    n = _check_int("channels", channels)
    b = 1.0
    for k in range(1, n + 1):
        b = _erlang_b_step(a, k, b)
    return b


def erlang_b_channels(traffic: float, grade_of_service: float) -> int:
    """Smallest channel count whose blocking is <= ``grade_of_service``.

    Carries the recurrence upward, so the cost is O(N), not O(N^2).
    """
    a = _check_number("traffic", traffic, minimum=0)
    gos = _check_number("grade_of_service", grade_of_service)
    if not 0 < gos < 1:
        raise ValueError(f"grade_of_service must be between 0 and 1 (exclusive), got {gos!r}")
    if a == 0:
        return 0
    n, b = 0, 1.0
    while b > gos:
        n += 1
        b = _erlang_b_step(a, n, b)
    return n


# --------------------------------------------------------------------------
# Erlang C
# --------------------------------------------------------------------------


def _erlang_c_from_b(traffic: float, agents: int, b: float) -> float:
    # C = N*B / (N - A*(1-B)); valid only for a stable queue (N > A).
    return agents * b / (agents - traffic * (1.0 - b))


def _service_level_from_c(traffic: float, agents: int, c: float, aht_s: float,
                          answer_within_s: float) -> float:
    return 1.0 - c * math.exp(-(agents - traffic) * answer_within_s / aht_s)


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that a call has to wait.

    Returns 1.0 when ``agents <= traffic``: the queue never drains, so every
    call waits (the closed form would give a meaningless value there).
    """
    a = _check_number("traffic", traffic, minimum=0)
    n = _check_int("agents", agents)
    if n <= a:
        return 1.0
    return _erlang_c_from_b(a, n, erlang_b(a, n))


def service_level(traffic: float, agents: int, aht_s: float, answer_within_s: float) -> float:
    """Fraction of calls answered within ``answer_within_s`` seconds.

    0.0 when ``agents <= traffic`` (unstable queue).
    """
    a = _check_number("traffic", traffic, minimum=0)
    n = _check_int("agents", agents)
    aht = _check_number("aht_s", aht_s, minimum=0, strict=True)
    t = _check_number("answer_within_s", answer_within_s, minimum=0)
    if n <= a:
        return 0.0
    return _service_level_from_c(a, n, erlang_c(a, n), aht, t)


def average_speed_of_answer(traffic: float, agents: int, aht_s: float) -> float:
    """Mean wait in seconds over all calls (ASA); ``inf`` when ``agents <= traffic``."""
    a = _check_number("traffic", traffic, minimum=0)
    n = _check_int("agents", agents)
    aht = _check_number("aht_s", aht_s, minimum=0, strict=True)
    if n <= a:
        return math.inf
    return erlang_c(a, n) * aht / (n - a)


@dataclass(frozen=True)
class AgentSizing:
    """Result of :func:`erlang_c_agents`."""

    traffic_erlangs: float
    agents: int  # on the phones: the raw Erlang C answer
    scheduled: int  # rostered, after shrinkage (breaks, training, absence)
    service_level: float
    occupancy: float
    asa_s: float

    def as_dict(self) -> dict:
        return asdict(self)


def erlang_c_agents(calls_per_hour: float, aht_s: float, answer_within_s: float, target: float,
                    shrinkage: float = 0.0, max_occupancy: float = 1.0) -> AgentSizing:
    """Fewest agents meeting a service-level target and an occupancy ceiling.

    Example: 80 % of calls answered within 20 s is ``answer_within_s=20,
    target=0.8``.  Walks N upward from 1 while carrying the Erlang B
    recurrence, so sizing 10,000 agents costs 10,000 cheap steps.  Both
    service level and occupancy improve monotonically with N once N > A, so
    the first N that satisfies both is the minimum.
    """
    cph = _check_number("calls_per_hour", calls_per_hour, minimum=0)
    aht = _check_number("aht_s", aht_s, minimum=0, strict=True)
    t = _check_number("answer_within_s", answer_within_s, minimum=0)
    tgt = _check_number("target", target)
    if not 0 < tgt < 1:
        raise ValueError(f"target must be between 0 and 1 (exclusive), got {tgt!r}")
    shr = _check_number("shrinkage", shrinkage)
    if not 0 <= shr < 1:
        raise ValueError(f"shrinkage must be in [0, 1), got {shr!r}")
    occ_max = _check_number("max_occupancy", max_occupancy)
    if not 0 < occ_max <= 1:
        raise ValueError(f"max_occupancy must be in (0, 1], got {occ_max!r}")

    a = cph * aht / 3600.0
    if a == 0:
        return AgentSizing(0.0, 0, 0, 1.0, 0.0, 0.0)

    n, b = 0, 1.0
    while True:
        n += 1
        b = _erlang_b_step(a, n, b)
        if n <= a or a / n > occ_max:
            continue
        c = _erlang_c_from_b(a, n, b)
        sl = _service_level_from_c(a, n, c, aht, t)
        if sl >= tgt:
            return AgentSizing(
                traffic_erlangs=a,
                agents=n,
                scheduled=_ceil(n / (1.0 - shr)),
                service_level=sl,
                occupancy=a / n,
                asa_s=c * aht / (n - a),
            )


# --------------------------------------------------------------------------
# Bandwidth
# --------------------------------------------------------------------------


def _codec(codec: str) -> Codec:
    if isinstance(codec, str):
        for name, spec in CODECS.items():
            if name.casefold() == codec.casefold():
                return spec
    raise ValueError(f"unknown codec {codec!r}; known codecs: {', '.join(CODECS)}")


def call_bandwidth_kbps(codec: str, ptime_ms: int | None = None, layer: str = "ethernet") -> float:
    """Bandwidth of one direction of one call, in kbit/s, at ``layer``.

    ``layer="ip"`` counts payload + RTP/UDP/IPv4 headers; ``"ethernet"`` adds
    the 18-byte Ethernet header and FCS.  Changing ``ptime_ms`` changes the
    payload per packet but not the header per packet, which is why short
    ptimes cost more bandwidth.
    """
    spec = _codec(codec)
    if layer not in _LAYER_OVERHEAD_BYTES:
        raise ValueError(f"unknown layer {layer!r}; expected one of: {', '.join(_LAYER_OVERHEAD_BYTES)}")
    ptime = spec.ptime_ms if ptime_ms is None else _check_int("ptime_ms", ptime_ms, minimum=1)
    payload = spec.payload_bytes * ptime / spec.ptime_ms
    bits_per_packet = (payload + _LAYER_OVERHEAD_BYTES[layer]) * 8
    return bits_per_packet / ptime  # bits per ms == kbit/s


def trunk_holding_s(aht_s: float, asa_s: float, ivr_s: float = 0.0, after_call_work_s: float = 0.0,
                    max_wait_s: float | None = None) -> float:
    """Seconds one call holds a trunk channel: the IVR, the mean wait in queue (Erlang C's average speed
    of answer, at most max_wait_s, when the queue lets the caller go) and the handle time while the caller
    is on the line (the after-call work holds the agent, not the channel).

    Channels sized on the handle time alone come out below the agents on the phones: every caller
    waiting in queue holds a channel too.
    """
    aht = _check_number("aht_s", aht_s, minimum=0, strict=True)
    acw = _check_number("after_call_work_s", after_call_work_s, minimum=0)
    if acw >= aht:
        raise ValueError(f"after_call_work_s ({acw:g}) must be less than aht_s ({aht:g})")
    wait = _check_number("asa_s", asa_s, minimum=0)
    if max_wait_s is not None:
        wait = min(wait, _check_number("max_wait_s", max_wait_s, minimum=0))
    return _check_number("ivr_s", ivr_s, minimum=0) + wait + aht - acw


def trunk_bandwidth_kbps(channels: int, codec: str, headroom: float = 0.20) -> float:
    """Ethernet bandwidth for ``channels`` concurrent calls, one direction, plus headroom.

    The 20 % default headroom leaves room for signalling, RTCP and bursts.
    """
    n = _check_int("channels", channels)
    h = _check_number("headroom", headroom, minimum=0)
    return n * call_bandwidth_kbps(codec) * (1.0 + h)


# --------------------------------------------------------------------------
# Storage and compute
# --------------------------------------------------------------------------


def recording_storage_bytes(calls_per_day: float, aht_s: float, fmt: str, retention_days: int,
                            fraction_recorded: float = 1.0) -> int:
    """Bytes needed to keep ``retention_days`` of call recordings (mono)."""
    calls = _check_number("calls_per_day", calls_per_day, minimum=0)
    aht = _check_number("aht_s", aht_s, minimum=0)
    days = _check_int("retention_days", retention_days)
    frac = _check_number("fraction_recorded", fraction_recorded)
    if not 0 <= frac <= 1:
        raise ValueError(f"fraction_recorded must be in [0, 1], got {frac!r}")
    rate = None
    if isinstance(fmt, str):
        rate = RECORDING_FORMATS.get(fmt.lower())
    if rate is None:
        raise ValueError(f"unknown recording format {fmt!r}; known formats: {', '.join(RECORDING_FORMATS)}")
    return _ceil(calls * frac * aht * rate * days)


def media_nodes(concurrent_calls: int, calls_per_node: int) -> int:
    """Media servers needed: enough for the load plus one spare (N+1).

    With no calls there is still one node, so the service exists to take the
    first call.
    """
    calls = _check_int("concurrent_calls", concurrent_calls)
    per_node = _check_int("calls_per_node", calls_per_node, minimum=1)
    if calls == 0:
        return 1
    return -(-calls // per_node) + 1


# --------------------------------------------------------------------------
# Pre-sales figures (trunkline size)
# --------------------------------------------------------------------------


def presales(*, calls_per_hour: float | None = None, aht_s: float | None = None, erlangs: float | None = None,
             answer_within_s: float = 20, target: float = 0.8, grade_of_service: float = 0.01, codec: str = "PCMA",
             shrinkage: float = 0.0, max_occupancy: float = 1.0, ivr_s: float = 0.0,
             after_call_work_s: float = 0.0) -> dict:
    """The pre-sales figures: agents (Erlang C) from ``calls_per_hour`` and ``aht_s``, or only the
    trunk side from ``erlangs``; then channels (Erlang B), blocking and bandwidth for that traffic.

    With calls, the trunk traffic is the calls times the time each holds a channel (trunk_holding_s:
    IVR, mean wait, handle time without the after-call work), not the agents' traffic.

    Shares and times are rounded for reading.  For a trunk group alone (``erlangs``) the service level
    is the share of calls carried and the occupancy is how busy each channel is.
    """
    result: dict = {}
    if calls_per_hour is not None:
        if aht_s is None:
            raise ValueError("calls_per_hour needs aht_s")
        a = erlang_c_agents(calls_per_hour, aht_s, answer_within_s, target, shrinkage, max_occupancy)
        traffic = a.traffic_erlangs
        result.update(traffic_erlangs=round(traffic, 4), agents=a.agents, scheduled_agents=a.scheduled,
                      service_level=round(a.service_level, 4), occupancy=round(a.occupancy, 4), asa_s=round(a.asa_s, 2))
        held = trunk_holding_s(aht_s, a.asa_s, ivr_s, after_call_work_s)
        traffic = calls_per_hour * held / 3600.0
        result.update(trunk_holding_s=round(held, 2), trunk_traffic_erlangs=round(traffic, 4))
    elif erlangs is not None:
        traffic = erlangs
        result["traffic_erlangs"] = traffic
    else:
        raise ValueError("give calls_per_hour and aht_s, or erlangs")
    channels = erlang_b_channels(traffic, grade_of_service) if traffic > 0 else 0
    blocking = erlang_b(traffic, channels) if traffic > 0 else 0.0
    result.update(channels=channels, grade_of_service=grade_of_service, blocking=round(blocking, 6), codec=codec.upper(),
                  bandwidth_per_call_kbps=round(call_bandwidth_kbps(codec), 1),
                  bandwidth_kbps=round(trunk_bandwidth_kbps(channels, codec), 1))
    if "agents" not in result:
        result["service_level"] = round(1 - blocking, 6)
        result["occupancy"] = round(traffic * (1 - blocking) / channels, 4) if channels else 0.0
    return result
