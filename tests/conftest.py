from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from therapy.service import Sessions
from therapy.store import Attendance, Store

NOW = "2026-11-27T10:00:00+00:00"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every test runs at one moment, and so do the processes it starts (they inherit
    THERAPY_NOW): nothing depends on the day the suite runs."""
    monkeypatch.setenv("THERAPY_NOW", NOW)
    monkeypatch.setenv("TZ", "UTC")  # today is a local date: the same on every machine
    time.tzset()
    yield NOW
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def attending() -> Iterator[list[Attendance]]:
    """Presence held for the duration of a test, as other people's processes would."""
    held: list[Attendance] = []
    yield held
    for attendance in held:
        attendance.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def sessions(data_dir: Path) -> Sessions:
    return Sessions(Store(data_dir))


@pytest.fixture
def code(sessions: Sessions) -> str:
    return sessions.create("Q3 lead handoff", ["Sales", "Marketing"]).code


@pytest.fixture(autouse=True)
def no_crash_report(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An app that survives an unexpected error only tells it on screen and in a log under
    the data folder; a test that left such a log failed, whatever else it checked."""
    yield
    if request.path.name == "test_crash.py":  # where errors are made on purpose
        return
    reports = sorted(tmp_path.rglob("logs/therapy-*.log"))
    if reports:
        pytest.fail(f"the app logged an unexpected error: {reports[0].read_text()[-2000:]}")
