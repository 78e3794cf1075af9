"""The suite passes on any date: the parts that show or store dates run again a year and
more from today, under Debian's faketime (libfaketime moves every clock of the process and
of the processes it starts)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The tests of what shows or stores a date, that run in-process: a subprocess waited for
# with a timeout sleeps, and time.sleep fails (EINVAL) under libfaketime 0.9.10 when the
# monotonic clock is left alone.
DATED = ["tests/test_tui_snapshots.py", "tests/test_export.py"]


def _faketime() -> str:
    found = shutil.which("faketime")
    if found is None:
        message = "the any-date test needs faketime (Debian/Ubuntu: apt-get install faketime)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{message}; .ci/run installs it, and CI must not skip this test")
        pytest.skip(message)
    return found


@pytest.mark.parametrize("offset", ["+400d", "-3y"])
def test_dated_tests_pass_on_another_day(offset: str, tmp_path: Path) -> None:
    faketime = _faketime()
    env = {**os.environ, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    probe = subprocess.run(
        [faketime, "-f", offset, sys.executable, "-c", "import time; print(int(time.time()))"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    real = int(
        subprocess.run(
            [sys.executable, "-c", "import time; print(int(time.time()))"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )
    assert abs(int(probe.stdout) - real) > 300 * 86400, "faketime did not move the clock"
    result = subprocess.run(
        [
            faketime,
            "-f",
            offset,
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'run'}",
            *DATED,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        # Only the calendar moves: libfaketime's monotonic clock stalls the timed waits of
        # threads (the app's live worker), and no date is read from it.
        env=env,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
