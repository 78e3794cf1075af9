"""No traceback on anyone's screen: bytes that are not UTF-8 are read as U+FFFD, and any other
unexpected error ends in one sentence on the screen and a full report in a log file under the
data folder, with the app going on where it can and what was typed kept."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from textual.widgets import Input
from tui_support import app_for, demo_sessions, fix_world, settle

from therapy.model import Phase
from therapy.tui.app import TherapyApp
from therapy.tui.driver import LenientDriver, stdin_decoder
from therapy.tui.widgets.prompt import TextPrompt

SIZE = (120, 36)
BAD = b"\xff\xfe\xc3"  # what `tmux send-keys -H ff fe c3` types: no UTF-8 at all


def notes(app: TherapyApp) -> list[str]:
    return [n.message for n in app._notifications]


async def wait(pilot, check, what: str, rounds: int = 500) -> None:  # type: ignore[no-untyped-def]
    for _ in range(rounds):
        if check():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"waited in vain: {what}")


async def open_form(pilot, text: str) -> Input:  # type: ignore[no-untyped-def]
    await pilot.press("a", *text)
    answer = pilot.app.screen.query_one("#answer", Input)
    await wait(pilot, lambda: answer.value == text, f"{text!r} typed")
    return answer


# -- bytes that are not UTF-8 ----------------------------------------------------------------


def test_the_decoder_reads_bytes_that_are_not_utf8_as_replacement_characters() -> None:
    decode = stdin_decoder()
    assert decode(BAD, False) == "\ufffd\ufffd"  # c3 may begin a character: kept for the next
    assert decode(b"\xa9!", False) == "\u00e9!"  # ...which it does here: é
    assert decode(b"x\xc3", False) == "x"
    assert decode(b" y", False) == "\ufffd y"  # ...and here not
    assert decode(b"\xc3", True) == "\ufffd"


async def test_bad_bytes_typed_into_a_form_through_the_driver_keep_the_card(
    data_dir: Path, monkeypatch
) -> None:
    """The driver's own input thread reads the bytes from a pipe, as it reads a terminal."""
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTSTP, signal.SIGCONT)}
    reading, writing = os.pipe()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        answer = await open_form(pilot, "They")
        driver = LenientDriver(app)  # (it sets ctrl+z handlers: put back below)
        driver.fileno = reading
        thread = threading.Thread(target=driver._run_input_thread, daemon=True)
        thread.start()
        try:
            os.write(writing, b" " + BAD + b" never call")
            typed = "They \ufffd\ufffd\ufffd never call"
            await wait(pilot, lambda: answer.value == typed, "the bytes read as U+FFFD")
        finally:
            driver.exit_event.set()
            thread.join(10)
            os.close(writing)
            os.close(reading)
            for number, handler in handlers.items():
                signal.signal(number, handler)
        assert not thread.is_alive()
        assert app.is_running and isinstance(app.screen, TextPrompt)
        await pilot.press("enter")
        await settle(pilot)
    assert sessions.board(code).complaints[-1].text == typed


async def test_ctrl_c_says_how_to_quit_in_plain_words(data_dir: Path, monkeypatch) -> None:
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+c")
        await wait(pilot, lambda: notes(app), "the hint")
    assert notes(app) == ["Press ctrl+q to quit the app"]
