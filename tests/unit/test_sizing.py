"""Tests for trunkline.plan.sizing, checked against published tables and examples.

Sources used (figures were recomputed here before being asserted):

* Lucent/Octel "Unified Messenger Concepts & Planning Guide" (101-1620-005),
  Table B-1 "Maximum busy hour traffic supported for a GOS of P.01"
  (ports -> Erlangs / CCS).
* "Carrier Grade Voice Over IP", 2nd ed., Appendix A "Table of Erlang B"
  (one decimal place).
* Standard two-decimal Erlang B tables: 1 % -> 10 ch 4.46 E, 20 ch 12.03 E,
  50 ch 37.90 E, 100 ch 84.06 E; 2 % -> 10 ch 5.08 E, 20 ch 13.18 E,
  50 ch 40.26 E, 100 ch 87.97 E.
* Westbay Engineers (erlang.com) Erlang B calculator manual, "How much
  traffic?": 15 lines at 1 % blocking carry 8.108 E.
* Westbay Engineers forum "Trunk Engineering": 1200/36 = 33.333 E at 1 %
  blocking needs 45 lines.
* Call Centre Helper "Erlang C formula - made simple" worked example, as
  reproduced in the pyworkforce README (rodrigo-arenas/pyworkforce):
  100 calls per 30 min, AHT 3 min, 80 % in 20 s, shrinkage 30 %, max
  occupancy 85 % -> 14 agents, 20 scheduled, SL 0.88835, occupancy 0.71429,
  waiting probability 0.17413.
* Cisco "Voice Over IP - Per Call Bandwidth Consumption" (doc 7934):
  G.711 20 ms 87.2 kbit/s, G.729 20 ms 31.2 kbit/s, G.726-32 20 ms
  55.2 kbit/s over Ethernet.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trunkline.plan.sizing import (
    CODECS,
    RECORDING_FORMATS,
    AgentSizing,
    average_speed_of_answer,
    call_bandwidth_kbps,
    erlang_b,
    erlang_b_channels,
    erlang_c,
    erlang_c_agents,
    media_nodes,
    presales,
    recording_storage_bytes,
    service_level,
    trunk_bandwidth_kbps,
    trunk_holding_s,
)

# --------------------------------------------------------------------------
# Independent oracles (textbook definitions, not the recurrence under test)
# --------------------------------------------------------------------------


def _erlang_b_exact(traffic: Fraction, channels: int) -> Fraction:
    """B = (A^N/N!) / sum_{k<=N} A^k/k!, in exact rational arithmetic."""
    terms = [traffic**k / math.factorial(k) for k in range(channels + 1)]
    return terms[-1] / sum(terms)


def _erlang_c_exact(traffic: Fraction, agents: int) -> Fraction:
    """C = (A^N/N! * N/(N-A)) / (sum_{k<N} A^k/k! + A^N/N! * N/(N-A))."""
    top = traffic**agents / math.factorial(agents) * agents / (agents - traffic)
    return top / (sum(traffic**k / math.factorial(k) for k in range(agents)) + top)


def _erlang_b_logspace(traffic: float, channels: int) -> float:
    """Erlang B via log-sum-exp of the Poisson terms; fine for huge N."""
    logs = [k * math.log(traffic) - math.lgamma(k + 1) for k in range(channels + 1)]
    top = max(logs)
    return math.exp(logs[-1] - top) / math.fsum(math.exp(x - top) for x in logs)


# --------------------------------------------------------------------------
# Erlang B against published tables
# --------------------------------------------------------------------------

# (channels, grade of service, published Erlangs rounded to 2 decimals)
STANDARD_TWO_DECIMAL_TABLE = [
    (10, 0.01, 4.46),
    (20, 0.01, 12.03),
    (50, 0.01, 37.90),
    (100, 0.01, 84.06),
    (10, 0.02, 5.08),
    (20, 0.02, 13.18),
    (50, 0.02, 40.26),
    (100, 0.02, 87.97),
]


@pytest.mark.parametrize(("channels", "gos", "published"), STANDARD_TWO_DECIMAL_TABLE)
def test_erlang_b_capacity_matches_published_two_decimal_table(channels, gos, published):
    # The exact capacity (largest A with B <= gos) rounds to the published
    # figure, so B crosses gos within half a unit of the last printed digit.
    assert erlang_b(published - 0.005, channels) <= gos < erlang_b(published + 0.005, channels)


@pytest.mark.parametrize(("channels", "gos", "published"), STANDARD_TWO_DECIMAL_TABLE)
def test_erlang_b_channels_inverts_published_two_decimal_table(channels, gos, published):
    assert erlang_b_channels(published - 0.005, gos) == channels
    assert erlang_b_channels(published + 0.005, gos) == channels + 1


# Lucent/Octel Table B-1, GOS P.01: ports -> CCS (1 Erlang = 36 CCS).  The CCS
# column is the capacity truncated to whole CCS, so CCS/36 must fit in the
# ports and (CCS+1)/36 must not.
OCTEL_P01_CCS = {4: 31, 8: 112, 12: 211, 16: 319, 20: 433, 24: 550, 28: 671, 32: 793,
                 36: 918, 40: 1044, 44: 1171, 48: 1299, 52: 1429, 56: 1559, 60: 1690,
                 64: 1821, 68: 1953, 72: 2086}


@pytest.mark.parametrize(("ports", "ccs"), sorted(OCTEL_P01_CCS.items()))
def test_erlang_b_matches_octel_p01_table_in_whole_ccs(ports, ccs):
    assert erlang_b(ccs / 36, ports) <= 0.01 < erlang_b((ccs + 1) / 36, ports)


# "Carrier Grade Voice Over IP" Appendix A, rows 5 and 9 (one decimal place).
CARRIER_GRADE_ROWS = [
    (5, 0.001, 0.8), (5, 0.01, 1.4), (5, 0.02, 1.7), (5, 0.05, 2.2),
    (9, 0.001, 2.6), (9, 0.01, 3.8), (9, 0.02, 4.3), (9, 0.05, 5.4),
]


@pytest.mark.parametrize(("channels", "gos", "published"), CARRIER_GRADE_ROWS)
def test_erlang_b_matches_carrier_grade_voip_one_decimal_table(channels, gos, published):
    assert erlang_b(published - 0.05, channels) <= gos < erlang_b(published + 0.05, channels)


def test_erlang_b_matches_westbay_15_lines_carry_8_108_erlangs_at_1_percent():
    assert erlang_b(8.108, 15) == pytest.approx(0.01, abs=5e-6)


def test_erlang_b_channels_matches_westbay_forum_45_lines_for_33_3_erlangs():
    assert erlang_b_channels(1200 / 36, 0.01) == 45


@pytest.mark.parametrize(("traffic", "channels"), [(1, 1), (2, 5), (4.5, 10), (48, 55), (30, 30)])
def test_erlang_b_equals_textbook_factorial_formula(traffic, channels):
    exact = _erlang_b_exact(Fraction(traffic), channels)
    assert erlang_b(traffic, channels) == pytest.approx(float(exact), rel=1e-12)


def test_erlang_b_single_trunk_is_a_over_one_plus_a():
    assert erlang_b(1.0, 1) == pytest.approx(0.5)
    assert erlang_b(3.0, 1) == pytest.approx(0.75)


def test_erlang_b_with_no_traffic_never_blocks_and_with_no_channels_always_blocks():
    assert erlang_b(0, 5) == 0.0
    assert erlang_b(4, 0) == 1.0
    assert erlang_b_channels(0, 0.01) == 0


def test_erlang_b_is_finite_and_accurate_at_10000_channels():
    b = erlang_b(9500, 10000)
    assert math.isfinite(b) and 0.0 <= b <= 1.0
    assert b == pytest.approx(_erlang_b_logspace(9500, 10000), rel=1e-9)


def test_erlang_b_channels_is_minimal_for_large_traffic():
    n = erlang_b_channels(9500, 0.01)
    assert erlang_b(9500, n) <= 0.01 < erlang_b(9500, n - 1)


@settings(max_examples=200, deadline=None)
@given(traffic=st.floats(min_value=0, max_value=3000, allow_nan=False),
       channels=st.integers(min_value=0, max_value=3000))
def test_erlang_b_is_a_probability_that_never_rises_with_more_channels(traffic, channels):
    b, b_next = erlang_b(traffic, channels), erlang_b(traffic, channels + 1)
    assert 0.0 <= b_next <= b <= 1.0


# --------------------------------------------------------------------------
# Erlang C
# --------------------------------------------------------------------------


def test_erlang_c_agents_matches_call_centre_helper_worked_example():
    # 100 calls per 30 min = 200/h; AHT 3 min = 180 s -> A = 10 E.
    result = erlang_c_agents(200, 180, 20, 0.80, shrinkage=0.30, max_occupancy=0.85)
    assert result.traffic_erlangs == pytest.approx(10.0)
    assert result.agents == 14
    assert result.scheduled == 20
    assert result.service_level == pytest.approx(0.8883500191794669, rel=1e-9)
    assert result.occupancy == pytest.approx(0.7142857142857143, rel=1e-12)


def test_erlang_c_waiting_probability_matches_call_centre_helper_worked_example():
    assert erlang_c(10.0, 14) == pytest.approx(0.1741319335950498, rel=1e-9)


def test_erlang_c_worked_example_one_agent_fewer_misses_the_target():
    # 13 agents give 79.6 % in 20 s, just short of 80 %: why the answer is 14.
    assert service_level(10.0, 13, 180, 20) < 0.80 <= service_level(10.0, 14, 180, 20)


@pytest.mark.parametrize(("traffic", "agents"), [(10, 11), (10, 14), (48, 55), (2, 3), (0.5, 1)])
def test_erlang_c_equals_textbook_formula(traffic, agents):
    # (48, 55) is the "360 calls per half hour, 4 min calls, 55 agents"
    # example from the Erlang-C step-by-step write-ups.
    exact = _erlang_c_exact(Fraction(traffic), agents)
    assert erlang_c(traffic, agents) == pytest.approx(float(exact), rel=1e-12)


def test_average_speed_of_answer_is_wait_probability_times_aht_over_spare_agents():
    # 360 calls / 30 min, AHT 240 s -> 48 E; with 55 agents.
    c = float(_erlang_c_exact(Fraction(48), 55))
    assert average_speed_of_answer(48, 55, 240) == pytest.approx(c * 240 / 7, rel=1e-12)


def test_service_level_is_one_minus_wait_probability_times_exponential_tail():
    c = float(_erlang_c_exact(Fraction(48), 55))
    expected = 1 - c * math.exp(-(55 - 48) * 15 / 240)
    assert service_level(48, 55, 240, 15) == pytest.approx(expected, rel=1e-12)


def test_overloaded_queue_means_everyone_waits_forever():
    assert erlang_c(10, 10) == 1.0
    assert erlang_c(10, 9) == 1.0
    assert service_level(10, 10, 180, 20) == 0.0
    assert average_speed_of_answer(10, 10, 180) == math.inf


def test_erlang_c_agents_respects_max_occupancy_cap():
    # Unconstrained, 48 E at 80/20 needs 54 agents (occupancy 88.9 %); an 85 %
    # cap forces ceil(48 / 0.85) = 57.
    assert erlang_c_agents(720, 240, 20, 0.80).agents == 54
    capped = erlang_c_agents(720, 240, 20, 0.80, max_occupancy=0.85)
    assert capped.agents == 57
    assert capped.occupancy <= 0.85


def test_erlang_c_agents_with_no_calls_needs_no_agents():
    result = erlang_c_agents(0, 180, 20, 0.8, shrinkage=0.3)
    assert (result.agents, result.scheduled) == (0, 0)


def test_erlang_c_agents_scheduled_divides_by_one_minus_shrinkage_without_float_overshoot():
    # 330 calls/h at 180 s needs 21 agents; 21 / (1 - 0.3) is 30 on paper but
    # 30.000000000000004 in floating point, which a bare ceil() makes 31.
    result = erlang_c_agents(330, 180, 20, 0.8, shrinkage=0.3)
    assert (result.agents, result.scheduled) == (21, 30)


def test_agent_sizing_as_dict_exposes_every_field():
    result = erlang_c_agents(200, 180, 20, 0.8)
    assert isinstance(result, AgentSizing)
    assert result.as_dict() == {
        "traffic_erlangs": result.traffic_erlangs,
        "agents": result.agents,
        "scheduled": result.scheduled,
        "service_level": result.service_level,
        "occupancy": result.occupancy,
        "asa_s": result.asa_s,
    }


def _is_minimal(calls_per_hour, aht_s, answer_within_s, target, max_occupancy=1.0):
    r = erlang_c_agents(calls_per_hour, aht_s, answer_within_s, target, max_occupancy=max_occupancy)
    a = r.traffic_erlangs
    meets = (service_level(a, r.agents, aht_s, answer_within_s) >= target
             and a / r.agents <= max_occupancy)
    prev = r.agents - 1
    prev_meets = (prev > a and service_level(a, prev, aht_s, answer_within_s) >= target
                  and a / prev <= max_occupancy)
    return r, meets and not prev_meets


def test_erlang_c_agents_is_minimal_near_10000_agents():
    # 117,600 calls/h at 300 s = 9,800 E.
    result, minimal = _is_minimal(117_600, 300, 20, 0.8)
    assert result.agents > 9800
    assert minimal


@settings(max_examples=150, deadline=None)
@given(calls_per_hour=st.floats(min_value=1, max_value=20_000),
       aht_s=st.floats(min_value=10, max_value=900),
       answer_within_s=st.floats(min_value=0, max_value=120),
       target=st.floats(min_value=0.05, max_value=0.99),
       max_occupancy=st.floats(min_value=0.5, max_value=1.0))
def test_erlang_c_agents_meets_target_and_one_fewer_does_not(
        calls_per_hour, aht_s, answer_within_s, target, max_occupancy):
    assume(calls_per_hour * aht_s / 3600 <= 3000)
    _, minimal = _is_minimal(calls_per_hour, aht_s, answer_within_s, target, max_occupancy)
    assert minimal


# --------------------------------------------------------------------------
# Bandwidth (Cisco doc 7934)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("codec", "ethernet", "ip"), [
    ("PCMU", 87.2, 80.0),
    ("PCMA", 87.2, 80.0),
    ("G729", 31.2, 24.0),
    ("G726-32", 55.2, 48.0),
])
def test_call_bandwidth_matches_cisco_per_call_table(codec, ethernet, ip):
    assert call_bandwidth_kbps(codec) == pytest.approx(ethernet, abs=1e-9)
    assert call_bandwidth_kbps(codec, layer="ip") == pytest.approx(ip, abs=1e-9)


def test_call_bandwidth_codec_lookup_is_case_insensitive():
    assert call_bandwidth_kbps("pcmu") == call_bandwidth_kbps("PCMU")
    assert call_bandwidth_kbps("ilbc") == call_bandwidth_kbps("iLBC")
    assert call_bandwidth_kbps("g726-32") == call_bandwidth_kbps("G726-32")


def test_call_bandwidth_shorter_ptime_costs_more_because_headers_repeat():
    # G.711 at 10 ms: 80 B payload + 58 B headers, 100 packets/s = 110.4 kbit/s.
    assert call_bandwidth_kbps("PCMU", ptime_ms=10) == pytest.approx(110.4)
    assert call_bandwidth_kbps("PCMU", 10) > call_bandwidth_kbps("PCMU", 20) > call_bandwidth_kbps("PCMU", 30)


def test_codec_table_payload_is_bitrate_times_ptime():
    for codec in CODECS.values():
        assert codec.payload_bytes == pytest.approx(codec.bitrate_kbps * codec.ptime_ms / 8)


def test_trunk_bandwidth_is_channels_times_per_call_plus_headroom():
    assert trunk_bandwidth_kbps(30, "PCMA") == pytest.approx(30 * 87.2 * 1.2)
    assert trunk_bandwidth_kbps(30, "G729", headroom=0) == pytest.approx(30 * 31.2)


# --------------------------------------------------------------------------
# Storage and nodes
# --------------------------------------------------------------------------


def test_recording_formats_are_bytes_per_second_of_their_bitrates():
    assert RECORDING_FORMATS["wav"] == 8000 * 2  # 8 kHz x 16-bit
    assert RECORDING_FORMATS["g711"] == 64_000 / 8
    assert RECORDING_FORMATS["mp3"] == 32_000 / 8
    assert RECORDING_FORMATS["opus"] == 16_000 / 8


def test_recording_storage_is_calls_times_duration_times_rate_times_days():
    # 1,000 calls/day x 300 s x 16,000 B/s x 90 days = 432 GB.
    assert recording_storage_bytes(1000, 300, "wav", 90) == 432_000_000_000
    assert recording_storage_bytes(1000, 300, "MP3", 90, fraction_recorded=0.5) == 54_000_000_000


@pytest.mark.parametrize(("concurrent", "per_node", "expected"), [
    (0, 50, 1), (1, 50, 2), (50, 50, 2), (51, 50, 3), (100, 50, 3), (101, 50, 4),
])
def test_media_nodes_is_ceiling_plus_one_spare(concurrent, per_node, expected):
    assert media_nodes(concurrent, per_node) == expected


# --------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("call", "message"), [
    (lambda: erlang_b(-1, 5), "traffic"),
    (lambda: erlang_b(float("nan"), 5), "traffic"),
    (lambda: erlang_b(1, -1), "channels"),
    (lambda: erlang_b(1, 2.5), "channels"),
    (lambda: erlang_b_channels(5, 0), "grade_of_service"),
    (lambda: erlang_b_channels(5, 1), "grade_of_service"),
    (lambda: erlang_c(5, -1), "agents"),
    (lambda: service_level(5, 6, 0, 20), "aht_s"),
    (lambda: average_speed_of_answer(5, 6, -1), "aht_s"),
    (lambda: erlang_c_agents(-1, 180, 20, 0.8), "calls_per_hour"),
    (lambda: erlang_c_agents(100, 0, 20, 0.8), "aht_s"),
    (lambda: erlang_c_agents(100, 180, 20, 0), "target"),
    (lambda: erlang_c_agents(100, 180, 20, 1), "target"),
    (lambda: erlang_c_agents(100, 180, 20, 0.8, shrinkage=1), "shrinkage"),
    (lambda: erlang_c_agents(100, 180, 20, 0.8, shrinkage=-0.1), "shrinkage"),
    (lambda: erlang_c_agents(100, 180, 20, 0.8, max_occupancy=0), "max_occupancy"),
    (lambda: erlang_c_agents(100, 180, 20, 0.8, max_occupancy=1.1), "max_occupancy"),
    (lambda: call_bandwidth_kbps("PCMU", layer="wifi"), "layer"),
    (lambda: call_bandwidth_kbps("PCMU", ptime_ms=0), "ptime_ms"),
    (lambda: trunk_bandwidth_kbps(-1, "PCMU"), "channels"),
    (lambda: recording_storage_bytes(10, 60, "flac", 30), "format"),
    (lambda: recording_storage_bytes(10, 60, "wav", 30, fraction_recorded=1.5), "fraction_recorded"),
    (lambda: recording_storage_bytes(10, 60, "wav", -1), "retention_days"),
    (lambda: media_nodes(10, 0), "calls_per_node"),
    (lambda: media_nodes(-1, 10), "concurrent_calls"),
    (lambda: trunk_holding_s(180, 5, after_call_work_s=180), "after_call_work_s"),
    (lambda: trunk_holding_s(180, -1), "asa_s"),
    (lambda: trunk_holding_s(180, 5, ivr_s=-1), "ivr_s"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_unknown_codec_error_lists_the_known_codecs():
    with pytest.raises(ValueError, match="AMR") as err:
        call_bandwidth_kbps("AMR")
    for name in CODECS:
        assert name in str(err.value)


def test_a_call_holds_a_trunk_for_the_ivr_the_wait_and_the_handle_time_without_wrap_up():
    assert trunk_holding_s(240, 12.5) == 252.5
    assert trunk_holding_s(240, 12.5, ivr_s=20, after_call_work_s=30) == 242.5
    assert trunk_holding_s(240, 400, max_wait_s=60) == 300  # the queue lets the caller go at max_wait


def test_presales_sizes_channels_on_the_trunk_traffic_not_the_agents():
    r = presales(calls_per_hour=1800, aht_s=240, ivr_s=20, after_call_work_s=30)
    held = trunk_holding_s(240, erlang_c_agents(1800, 240, 20, 0.8).asa_s, 20, 30)
    assert r["trunk_holding_s"] == round(held, 2) and r["traffic_erlangs"] == 120.0
    assert r["trunk_traffic_erlangs"] == round(1800 * held / 3600, 4) > 120.0
    assert r["channels"] == erlang_b_channels(1800 * held / 3600, 0.01) > erlang_b_channels(120.0, 0.01)


def test_trunk_traffic_matches_the_westbay_call_centre_worked_example():
    """erlang.com (Westbay Engineers), "Call Center Design": the trunks carry the calls' duration plus the
    average delay in queue, wrap-up excluded: BHT = (160 s + 25 s) x 350 / 3600 = 17.986 E. Erlang B
    tables at 1 % blocking: 27 lines carry 17.80 E, 28 carry 18.64 E, so it needs 28."""
    held = trunk_holding_s(180, 25, after_call_work_s=20)  # 160 s on the line, 20 s of wrap-up
    assert held == 185 and round(350 * held / 3600, 3) == 17.986
    assert erlang_b_channels(350 * held / 3600, 0.01) == 28
    assert erlang_b_channels(350 * 180 / 3600, 0.01) == 27  # on the handle time (17.5 E) it would be one short
