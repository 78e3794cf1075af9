"""A relative phase move (next, back) says which phase it was worked out from: two moves
made from the same phase at once move the session once, never twice."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tui_support import app_for, demo_sessions, fix_world, settle, wait

from therapy.model import PHASES, Phase, TherapyError
from therapy.service import Sessions
from therapy.tui.commands import next_phase, previous_phase
from therapy.tui.widgets.phase_screen import PhaseScreen

SIZE = (120, 36)
DEADLINE = 30.0  # seconds: processes that have not queued or ended by then never will


# -- the service -------------------------------------------------------------------------


def test_a_move_from_a_phase_the_session_has_left_is_refused(sessions: Sessions, code: str) -> None:
    sessions.set_phase(code, "vent")
    with pytest.raises(TherapyError) as refused:
        sessions.set_phase(code, "next", from_phase=Phase.CHECK_IN)
    assert str(refused.value) == "The session moved to vent already; nothing was changed."
    with pytest.raises(TherapyError, match="moved to vent already"):
        sessions.set_phase(code, "back", from_phase=Phase.DIAGNOSE)
    assert sessions.session(code).phase is Phase.VENT
    assert sessions.set_phase(code, "next", from_phase=Phase.VENT).phase is Phase.DIAGNOSE
    assert sessions.set_phase(code, "back", from_phase=Phase.DIAGNOSE).phase is Phase.VENT


def test_a_move_by_name_needs_no_origin(sessions: Sessions, code: str) -> None:
    """Naming the phase says where to go whatever happened meanwhile: twice is once."""
    assert sessions.set_phase(code, "diagnose").phase is Phase.DIAGNOSE
    assert sessions.set_phase(code, "diagnose").phase is Phase.DIAGNOSE


# -- the shell: real processes at once ------------------------------------------------------


def waiting_on(lock: Path) -> int:
    """How many processes wait in the kernel's queue for this flock (/proc/locks)."""
    inode = f":{os.stat(lock).st_ino} "
    return sum(" -> FLOCK " in line and inode in line for line in Path("/proc/locks").open())


def start_moves(data_dir: Path, code: str, where: str) -> list[subprocess.Popen[str]]:
    argv = [sys.executable, "-m", "therapy.cli", "--data-dir", str(data_dir), "phase", code]
    return [
        subprocess.Popen([*argv, where], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux's /proc/locks")
def test_two_shells_moving_next_at_once_never_skip_a_phase(
    data_dir: Path, sessions: Sessions, code: str
) -> None:
    """Both `therapy phase C next` read the phase, then queue for the session's lock, held
    here until both wait in it: each round they race as closely as two shells can."""
    lock = data_dir / "sessions" / code / "lock"
    rounds = [*PHASES[:-1], *PHASES[:-1]]  # every phase with a next one, twice
    for start in rounds:
        sessions.set_phase(code, start.value)
        processes: list[subprocess.Popen[str]] = []
        try:
            with sessions.batch(code):  # the lock, held: changes nothing
                processes = start_moves(data_dir, code, "next")
                deadline = time.monotonic() + DEADLINE
                while waiting_on(lock) < 2:
                    ended = [p.args for p in processes if p.poll() is not None]
                    assert not ended, f"a move ended without queueing: {ended}"
                    assert time.monotonic() < deadline, "the moves never queued for the lock"
                    time.sleep(0.01)
            said = [p.communicate(timeout=DEADLINE) for p in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        after = PHASES[start.order + 1]
        assert sessions.session(code).phase is after, f"from {start}: a phase was skipped"
        codes = sorted(p.returncode for p in processes)
        assert codes == [0, 1], said
        (moved, _), (_, refused) = sorted(said, key=lambda out: out[0] == "")
        assert moved == f"{after.value}\n"
        assert (
            refused == f"Error: The session moved to {after.value} already; nothing was changed.\n"
        )


def test_the_shell_moves_from_the_phase_it_read(data_dir: Path, code: str) -> None:
    argv = [sys.executable, "-m", "therapy.cli", "--data-dir", str(data_dir), "phase", code]
    moved = subprocess.run([*argv, "next"], capture_output=True, text=True, timeout=60)
    assert (moved.returncode, moved.stdout) == (0, "vent\n")
    back = subprocess.run([*argv, "back"], capture_output=True, text=True, timeout=60)
    assert (back.returncode, back.stdout) == (0, "check-in\n")


# -- the app: the phase its screen shows ------------------------------------------------------


def notes(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.message for n in app._notifications]


@pytest.mark.parametrize("how", ["key", "palette"])
async def test_the_app_moves_from_the_phase_its_screen_shows(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code)
    asked: list[tuple[str, Phase | None]] = []
    set_phase = sessions.set_phase

    def spy(code: str, target: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append((target, kwargs.get("from_phase")))
        return set_phase(code, target, *args, **kwargs)

    monkeypatch.setattr(sessions, "set_phase", spy)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.live is not None
        app.live.stop()  # the screen keeps showing vent: nothing tells it of the move below
        await pilot.pause(0.3)
        set_phase(code, "diagnose")  # another facilitator, or the shell, moved on meanwhile
        assert isinstance(app.screen, PhaseScreen) and app.screen.view.phase is Phase.VENT

        if how == "key":
            await pilot.press("ctrl+n")
        else:
            next_phase(app)
        said = "The session moved to diagnose already; nothing was changed."
        await wait(pilot, lambda: said in notes(app), "the refusal")
        assert asked == [("next", Phase.VENT)]
        assert sessions.session(code).phase is Phase.DIAGNOSE  # not on to vote

        if how == "key":
            await pilot.press("ctrl+b")
        else:
            previous_phase(app)
        await wait(pilot, lambda: notes(app).count(said) == 2, "the second refusal")
        assert asked[-1] == ("back", Phase.VENT)
        assert sessions.session(code).phase is Phase.DIAGNOSE  # not back to vent
