"""The recording store's retention job deletes what is past the blueprint's period, never younger recordings."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from trunkline.paths import ANSIBLE

SCRIPT = ANSIBLE / "roles" / "recording_storage" / "files" / "trunkline-retention"
DAY = 86400


def run(store: Path, days: str, tmp_path: Path) -> subprocess.CompletedProcess:
    settings = tmp_path / "settings"
    settings.write_text(f"TRUNKLINE_RETENTION_DIR={store}\nTRUNKLINE_RETENTION_DAYS={days}\n")
    return subprocess.run(["sh", str(SCRIPT)], env={**os.environ, "TRUNKLINE_RETENTION_SETTINGS": str(settings)},
                          capture_output=True, text=True, timeout=60)


def recording(store: Path, name: str, age_days: float) -> Path:
    path = store / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"ID3")
    then = time.time() - age_days * DAY
    os.utime(path, (then, then))
    return path


@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "recordings"


def test_recordings_past_the_retention_period_are_deleted(store, tmp_path):
    old = recording(store, "2019/01/02/call-a.mp3", 31.5)
    assert run(store, "30", tmp_path).returncode == 0
    assert not old.exists()


def test_a_recording_inside_the_retention_period_is_kept_even_on_its_last_day(store, tmp_path):
    young = [recording(store, "a.mp3", 1), recording(store, "b.mp3", 29.9), recording(store, "c.mp3", 30.9)]
    assert run(store, "30", tmp_path).returncode == 0
    assert all(p.exists() for p in young)


@pytest.mark.parametrize("days", ["", "0", "-5", "30d", "1e3"])
def test_a_bad_retention_setting_deletes_nothing(store, tmp_path, days):
    old = recording(store, "a.mp3", 4000)
    result = run(store, days, tmp_path)
    assert result.returncode != 0 and "nothing deleted" in result.stderr
    assert old.exists()
