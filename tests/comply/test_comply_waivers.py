"""Waivers in InSpec style: a valid one hides a failure and says so; an expired one does not."""

from __future__ import annotations

import datetime as dt

import pytest

from comply_cases import BASE
from trunkline.comply.evaluate import comply
from trunkline.comply.waivers import load_waivers
from trunkline.errors import UsageError

TODAY = dt.date(2026, 6, 1)


def _waivers(tmp_path, text: str):
    path = tmp_path / "waivers.yaml"
    path.write_text(text)
    return path


def test_a_valid_waiver_hides_the_failure_and_keeps_it_in_the_report(tmp_path):
    w = _waivers(tmp_path, "baseline/admin-cidrs:\n  justification: VPN-only access, ticket SEC-7\n  expiration_date: 2026-06-01\n")
    report = comply(BASE, waivers_file=w, today=TODAY)
    r = report.result("baseline/admin-cidrs")
    assert r.status == "waived" and r.failures
    assert r.reason == "waived until 2026-06-01: VPN-only access, ticket SEC-7"
    assert not report.failed


def test_an_expired_waiver_no_longer_hides_the_failure_and_says_so(tmp_path):
    w = _waivers(tmp_path, "baseline/admin-cidrs:\n  justification: VPN-only access\n  expiration_date: 2026-05-31\n")
    report = comply(BASE, waivers_file=w, today=TODAY)
    r = report.result("baseline/admin-cidrs")
    assert r.status == "fail" and r.waiver_expired
    assert "waiver expired on 2026-05-31" in r.reason
    assert report.failed
    assert r.as_dict()["waiver"] == {"justification": "VPN-only access", "expiration_date": "2026-05-31", "expired": True}


def test_a_waiver_does_not_touch_a_passing_control(tmp_path):
    w = _waivers(tmp_path, "baseline/sip-tls-1.2:\n  justification: x\n  expiration_date: 2030-01-01\n")
    assert comply(BASE, waivers_file=w, today=TODAY).result("baseline/sip-tls-1.2").status == "pass"


@pytest.mark.parametrize("text, message", [
    ("baseline/no-such-control:\n  justification: x\n  expiration_date: 2030-01-01\n", "no such control"),
    ("baseline/admin-cidrs:\n  justification: x\n", "expiration_date is required"),
    ("baseline/admin-cidrs:\n  expiration_date: 2030-01-01\n", "justification is required"),
    ("baseline/admin-cidrs:\n  justification: x\n  expiration_date: next year\n", "is not a date"),
    ("baseline/admin-cidrs:\n  justification: x\n  expires: 2030-01-01\n", "unknown keys expires"),
    ("- baseline/admin-cidrs\n", "write a mapping"),
])
def test_a_waiver_file_with_a_mistake_is_bad_input(tmp_path, text, message):
    with pytest.raises(UsageError, match=message):
        load_waivers(_waivers(tmp_path, text))
