from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import host_support
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


@pytest.fixture
def umask_002() -> Iterator[None]:
    """The README's shared set-up: a umask of 002."""
    old = os.umask(0o002)
    yield
    os.umask(old)


@pytest.fixture
def shared(umask_002: None) -> Iterator[Path]:
    """A data folder another user can reach, shared (2770) with host_support.NOBODY's group."""
    with host_support.shared_folder(host_support.NOBODY) as data:
        yield data
