"""Progress of a call run: SIPp's running statistics read while it runs, shown on stderr."""

from __future__ import annotations

from trunkline.cli.lab import _call_progress
from trunkline.targets.calls import _counts

# the first columns of SIPp 3.6's -trace_stat file (semicolon separated, one row a period)
HEADER = ("StartTime;LastResetTime;CurrentTime;ElapsedTime(P);ElapsedTime(C);TargetRate;CallRate(P);CallRate(C);"
          "IncomingCall(P);IncomingCall(C);OutgoingCall(P);OutgoingCall(C);TotalCallCreated;CurrentCall;"
          "SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);")


def _row(created: int, ok: int, failed: int) -> str:
    return (f"2026-12-01\t10:00:00.0;2026-12-01\t10:00:00.0;2026-12-01\t10:00:05.0;00:00:01;00:00:05;20;20;20;"
            f"0;0;20;{created};{created};{created - ok - failed};5;{ok};0;{failed};")


def test_counts_are_the_last_period_sipp_wrote(tmp_path):
    (tmp_path / "uac_123_.csv").write_text("\n".join([HEADER, _row(20, 10, 0), _row(100, 80, 2)]) + "\n")
    assert _counts(tmp_path, 200) == {"asked": 200, "created": 100, "succeeded": 80, "failed": 2}


def test_counts_before_sipp_wrote_a_period_are_zero(tmp_path):
    assert _counts(tmp_path, 50) == {"asked": 50, "created": 0, "succeeded": 0, "failed": 0}
    (tmp_path / "uac_1_.csv").write_text(HEADER + "\n2026-12-01\t10:00:00.0;2026-")  # a row half written
    assert _counts(tmp_path, 50)["created"] == 0


def test_off_a_terminal_progress_is_a_plain_line_on_stderr_every_few_seconds(capsys):
    with _call_progress(200, every_s=3600) as show:
        show({"asked": 200, "created": 40, "succeeded": 30, "failed": 1})
        show({"asked": 200, "created": 60, "succeeded": 50, "failed": 1})  # within the period: not shown
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["calls: 40 of 200 placed, 30 succeeded, 1 failed"]
