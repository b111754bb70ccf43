"""trunkline load without a lab: how a call's end is told (ok, failed, dropped), the per-second
timeline and totals, the default load from the plan, and the bounds a run is refused outside of.
The CallResults are shaped as the caller's FreeSWITCH reports them (values from a run through
acme-bank's lab: 20 s calls, SRTP, 50 packets a second)."""

from __future__ import annotations

import pytest

from trunkline.center import load as load_center
from trunkline.targets.lab.caller import CallResult
from trunkline.targets.lab.load import MEDIA_TIMEOUT_S, Load, LoadReport, default_load, outcome, summarize
from trunkline.targets.lab.state import LabError, LabState

from shared import ROOT

T0 = 1_796_169_000.0
RTP = {"in_packet_count": 994, "in_media_packet_count": 994, "in_skip_packet_count": 7, "in_flaw_total": 0,
       "out_packet_count": 1000, "in_jitter_max_variance": 16.0, "in_mos": 4.5}


def result(start: float, *, answered: bool = True, held: float = 20.0, cause: str = "NORMAL_CLEARING",
           disposition: str = "send_bye", status: int | None = None, rtp: dict | None = None, note: str = "") -> CallResult:
    answered_at = start + 0.2 if answered else None
    ended = (answered_at + held) if answered else start + 15.0
    return CallResult(uuid=f"u{start}", sip_call_id=f"u{start}", answered=answered, sip_status=200 if answered else status,
                      hangup_cause=cause, started_at=start, answered_at=answered_at, ended_at=ended, dtmf_sent="",
                      headers={}, srtp="AES_CM_128_HMAC_SHA1_80", disposition=disposition,
                      rtp=dict(RTP if rtp is None else rtp), note=note)


def test_a_call_held_its_time_and_ended_by_the_caller_is_ok():
    assert outcome(result(T0), 20) == ("ok", "")


def test_a_call_never_answered_failed_with_its_status():
    assert outcome(result(T0, answered=False, status=503, cause="NORMAL_TEMPORARY_FAILURE", rtp={}), 20) == \
        ("failed", "503 NORMAL_TEMPORARY_FAILURE")
    assert outcome(result(T0, answered=False, cause="RECOVERY_ON_TIMER_EXPIRE", rtp={}), 20) == \
        ("failed", "RECOVERY_ON_TIMER_EXPIRE")


def test_a_call_whose_media_stopped_is_dropped():
    r = result(T0, held=9.0, cause="MEDIA_TIMEOUT", rtp={**RTP, "in_packet_count": 200})
    assert outcome(r, 20) == ("dropped", f"media stopped (no RTP for {MEDIA_TIMEOUT_S:g} s)")


def test_a_call_the_center_ended_first_is_dropped():
    kind, why = outcome(result(T0, held=7.0, disposition="recv_bye"), 20)
    assert kind == "dropped" and "ended by the center (recv_bye" in why


def test_a_call_cut_short_or_ended_with_another_cause_is_dropped():
    assert outcome(result(T0, held=12.0), 20) == ("dropped", "cut short")
    assert outcome(result(T0, cause="DESTINATION_OUT_OF_ORDER"), 20) == ("dropped", "DESTINATION_OUT_OF_ORDER")
    assert outcome(result(T0, note="the caller's FreeSWITCH stopped during this call"), 20)[0] == "dropped"


def _report() -> LoadReport:
    return LoadReport(center="acme-bank", site="sh-dc1", trunk="carrier-a", target="10.10.0.2:5061 (tls)", caller="test",
                      rate=2, hold_s=20, seconds=2, chosen="asked")


def test_the_timeline_counts_each_call_in_the_second_it_started_was_established_and_ended():
    calls = [result(T0), result(T0 + 0.5), result(T0 + 1.0, answered=False, status=503, cause="NORMAL_TEMPORARY_FAILURE", rtp={}),
             result(T0 + 1.5, held=9.0, cause="MEDIA_TIMEOUT", rtp={**RTP, "in_packet_count": 400, "in_flaw_total": 6})]
    r = summarize(_report(), calls, T0)
    assert (r.attempted, r.established, r.completed, r.failed, r.dropped) == (4, 3, 2, 1, 1)
    s = r.timeline
    assert [x.started for x in s[:2]] == [2, 2]
    assert s[0].established == 2 and s[1].established == 1
    assert s[16].failed == 1  # not answered within 15 s of its INVITE (second 1 + 15)
    assert s[10].dropped == 1 and s[20].ok == 2
    assert s[0].up == 2 and s[1].up == 3 and s[11].up == 2 and s[20].up == 0
    assert r.max_up == 3
    assert r.failures == {"503 NORMAL_TEMPORARY_FAILURE": 1} and r.drops == {f"media stopped (no RTP for {MEDIA_TIMEOUT_S:g} s)": 1}
    assert r.rtp["packets"] == 994 * 2 + 400 and r.rtp["lost"] == 6
    assert r.rtp["loss"] == round(6 / (994 * 2 + 406), 6)
    assert r.rtp["jitter_ms_max"] == 4.0  # sqrt of 16 ms^2
    assert not r.ok


def test_a_run_of_only_completed_calls_is_ok():
    r = summarize(_report(), [result(T0), result(T0 + 0.5)], T0)
    assert r.ok and r.rtp["calls_without_audio"] == 0 and r.as_dict()["ok"] is True


def test_the_default_load_keeps_the_busy_hour_up():
    plan = load_center(ROOT / "blueprints" / "acme-bank.yaml").plan
    rate, hold, seconds, why = default_load(plan)
    site = plan.site(plan.trunks[0].sites[0])
    assert hold == 30 and seconds == 60
    assert rate * hold >= site.concurrent_calls and (rate - 0.1) * hold < site.concurrent_calls
    assert f"{site.concurrent_calls} calls up at once" in why


@pytest.fixture
def acme_state(tmp_path):
    plan = load_center(ROOT / "blueprints" / "acme-bank.yaml").plan
    return LabState(center=plan.center, media="freeswitch", ready=True), plan


@pytest.mark.parametrize("rate, hold, seconds, words", [
    (0, 30, 60, "--rate"), (500, 30, 60, "--rate"), (5, 0.5, 60, "--hold"), (5, 30, 5000, "--seconds"),
    (5, 301, 60, "max_wait of 300 s"),
])
def test_a_run_outside_its_bounds_is_refused(acme_state, rate, hold, seconds, words):
    state, plan = acme_state
    with pytest.raises(LabError, match=words):
        Load(state, plan, rate, hold, seconds)


def test_a_load_with_audio_needs_freeswitch_on_the_media_nodes(acme_state):
    state, plan = acme_state
    state.media, state.media_note = "sipp", "asked for"
    with pytest.raises(LabError, match="needs FreeSWITCH"):
        Load(state, plan, 5, 30, 60)


def test_an_unknown_trunk_is_refused(acme_state):
    state, plan = acme_state
    with pytest.raises(LabError, match="no trunk 'nope'"):
        Load(state, plan, 5, 30, 60, trunk="nope")
