"""No traceback on anyone's screen: bytes that are not UTF-8 are read as U+FFFD, and any other
unexpected error ends in one sentence on the screen and a full report in a log file under the
data folder, with the app going on where it can and what was typed kept."""

from __future__ import annotations

from pathlib import Path

from tui_support import app_for, demo_sessions, fix_world, settle

from therapy.model import Phase
from therapy.tui.app import TherapyApp

SIZE = (120, 36)


def notes(app: TherapyApp) -> list[str]:
    return [n.message for n in app._notifications]


async def wait(pilot, check, what: str, rounds: int = 500) -> None:  # type: ignore[no-untyped-def]
    for _ in range(rounds):
        if check():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"waited in vain: {what}")


async def test_ctrl_c_says_how_to_quit_in_plain_words(data_dir: Path, monkeypatch) -> None:
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+c")
        await wait(pilot, lambda: notes(app), "the hint")
    assert notes(app) == ["Press ctrl+q to quit the app"]
