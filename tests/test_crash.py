"""No traceback on anyone's screen: bytes that are not UTF-8 are read as U+FFFD, and any other
unexpected error ends in one sentence on the screen and a full report in a log file under the
data folder, with the app going on where it can and what was typed kept."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from ssh_support import therapy_script, tmux_server
from textual.widgets import Input
from tui_support import app_for, demo_sessions, fix_world, settle, wait

from therapy.limits import TERMINAL_ROWS
from therapy.model import Phase
from therapy.service import Sessions
from therapy.tui import crash
from therapy.tui.app import TherapyApp
from therapy.tui.driver import LenientDriver, stdin_decoder
from therapy.tui.widgets.cards import CardList
from therapy.tui.widgets.phase_screen import PhaseScreen
from therapy.tui.widgets.prompt import TextPrompt

SIZE = (120, 36)
BAD = b"\xff\xfe\xc3"  # what `tmux send-keys -H ff fe c3` types: no UTF-8 at all


class Bug(Exception):
    """Stands for a mistake in the app's code."""


def notes(app: TherapyApp) -> list[str]:
    return [n.message for n in app._notifications]


def logs(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "logs").glob("therapy-*.log"))


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


def test_the_app_reads_a_terminal_with_the_lenient_driver(sessions: Sessions) -> None:
    if os.name == "nt":
        pytest.skip("Windows has its own driver")
    assert TherapyApp(sessions).driver_class is LenientDriver


@contextmanager
def driver_reading(app: TherapyApp) -> Iterator[tuple[int, threading.Thread]]:
    """The app's driver reading a pipe in its own input thread, as it reads a terminal: the
    pipe's end to write to, and the thread, stopped (and the pipe closed) on leaving."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTSTP, signal.SIGCONT)}
    reading, writing = os.pipe()
    driver = LenientDriver(app)  # (it sets ctrl+z handlers: put back below)
    driver.fileno = reading
    thread = threading.Thread(target=driver._run_input_thread, daemon=True)
    thread.start()
    try:
        yield writing, thread
    finally:
        driver.exit_event.set()
        thread.join(10)
        os.close(writing)
        os.close(reading)
        for number, handler in handlers.items():
            signal.signal(number, handler)


async def test_bad_bytes_typed_into_a_form_through_the_driver_keep_the_card(
    data_dir: Path, monkeypatch
) -> None:
    """The driver's own input thread reads the bytes from a pipe, as it reads a terminal."""
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        answer = await open_form(pilot, "They")
        with driver_reading(app) as (writing, thread):
            os.write(writing, b" " + BAD + b" never call")
            typed = "They \ufffd\ufffd\ufffd never call"
            await wait(pilot, lambda: answer.value == typed, "the bytes read as U+FFFD")
        assert not thread.is_alive()
        assert app.is_running and isinstance(app.screen, TextPrompt)
        await pilot.press("enter")
        await settle(pilot)
    assert sessions.board(code).complaints[-1].text == typed
    assert not (data_dir / "logs").exists()  # nothing went wrong


async def test_a_resize_report_typed_as_keys_is_clamped_by_the_driver(
    data_dir: Path, monkeypatch
) -> None:
    """Textual takes an in-band resize report (CSI 48;rows;cols;..t) from the keys as it
    comes: a client of therapy serve's SSH door can type one for a 5000-row screen. The
    driver hands the app a size of TERMINAL_ROWS at most (and as many columns as asked)."""
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        with driver_reading(app) as (writing, _):
            os.write(writing, b"\x1b[48;5000;90;0;0t")
            wanted = (90, TERMINAL_ROWS)
            await wait(pilot, lambda: tuple(app.size) == wanted, "the size was never taken")


# -- other unexpected errors -----------------------------------------------------------------


async def test_a_failing_key_action_is_one_sentence_and_the_form_keeps_its_text(
    data_dir: Path, monkeypatch
) -> None:
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.VENT)

    def broken_cancel(prompt: TextPrompt) -> None:
        raise Bug("escape went wrong")

    monkeypatch.setattr(TextPrompt, "action_cancel", broken_cancel)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        answer = await open_form(pilot, "They never call back")
        await pilot.press("escape")
        await wait(pilot, lambda: notes(app), "the error said")
        (log,) = logs(data_dir)
        assert notes(app) == [
            f"Something unexpected went wrong; the app goes on, and the details are in {log}."
        ]
        report = log.read_text()
        assert "Traceback (most recent call last)" in report
        assert "broken_cancel" in report and "Bug: escape went wrong" in report
        assert report.startswith("== 2026-11-27T10:00:00+00:00 · facilitator of session ")
        # the app goes on: the form is there with its text, and enter adds the card
        assert app.is_running and app.screen.query_one("#answer", Input) is answer
        assert answer.value == "They never call back"
        await pilot.press("enter")
        await settle(pilot)
    assert sessions.board(code).complaints[-1].text == "They never call back"


async def test_a_failing_handler_of_the_app_costs_one_view_not_the_app(
    data_dir: Path, monkeypatch
) -> None:
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PhaseScreen)
        cards = screen.query_one("#side-0", CardList)
        before = cards.option_count
        failing = True
        show = type(screen).show_body

        def show_once_broken(self, view) -> None:  # type: ignore[no-untyped-def]
            if failing:
                raise Bug("this view cannot be shown")
            show(self, view)

        monkeypatch.setattr(type(screen), "show_body", show_once_broken)
        sessions.add_complaint(code, "Sales", "Leads arrive without a phone number")
        await wait(pilot, lambda: notes(app), "the error said")
        assert "Bug: this view cannot be shown" in logs(data_dir)[0].read_text()
        failing = False
        sessions.add_complaint(code, "Sales", "Nobody reads the campaign brief")
        await settle(pilot)
        assert app.is_running and app.screen is screen  # the next view shows on the same screen
        assert cards.option_count == before + 2
        assert len(notes(app)) == 1


async def test_an_app_that_cannot_go_on_says_so_in_one_sentence(
    data_dir: Path, monkeypatch, capsys
) -> None:
    """A form's own handler failed: Textual has stopped that screen's message loop."""
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.VENT)

    def broken_dismiss(prompt: TextPrompt, answer: str | None = None) -> None:
        raise Bug("the form went wrong")

    monkeypatch.setattr(TextPrompt, "dismiss", broken_dismiss)  # run by the form's handler
    app = app_for(sessions, code)
    with pytest.raises(Bug):  # run_test raises it, as Textual does, for the tests' sake
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await open_form(pilot, "x")
            await pilot.press("enter")
            await wait(pilot, lambda: app._exit, "the app ending")
    assert app.return_code == 1
    (log,) = logs(data_dir)
    assert "Bug: the form went wrong" in log.read_text()
    said = "".join(capsys.readouterr().err.splitlines()).strip()  # as wrapped to the width
    assert said == (
        f"therapy stopped after an unexpected error; the details are in {log}. "
        "Start it again to go on."
    )


async def test_when_the_input_thread_fails_the_app_ends_in_one_sentence(
    data_dir: Path, monkeypatch, capsys
) -> None:
    """Without its input thread (here: stdin is gone) the app cannot go on; Textual's own
    handler of that (panic, with a Rich traceback) leads to the sentence and the log too."""
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTSTP, signal.SIGCONT)}
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        driver = LenientDriver(app)
        for number, handler in handlers.items():
            signal.signal(number, handler)
        driver.fileno = -1  # no file at all: the thread fails at once
        thread = threading.Thread(target=driver._run_input_thread, daemon=True)
        thread.start()
        thread.join(10)
        await wait(pilot, lambda: app._exit, "the app ending")
    assert app.return_code == 1
    (log,) = logs(data_dir)
    assert "Traceback" in log.read_text() and "run_input_thread" in log.read_text()
    said = "".join(capsys.readouterr().err.splitlines()).strip()
    assert said == (
        f"therapy stopped after an unexpected error; the details are in {log}. "
        "Start it again to go on."
    )


async def test_a_locked_down_account_is_not_told_the_servers_paths(
    data_dir: Path, monkeypatch
) -> None:
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.VENT)

    def broken_help(app: TherapyApp) -> None:
        raise Bug(str(data_dir))

    monkeypatch.setattr(TherapyApp, "action_help", broken_help)
    app = TherapyApp(sessions, code, cursor_blink=False, restricted=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await wait(pilot, lambda: notes(app), "the error said")
    (said,) = notes(app)
    assert str(data_dir) not in said
    assert said.endswith(f"the details are in logs/{logs(data_dir)[0].name} in the data folder.")


def test_the_report_stays_in_the_data_folder(tmp_path: Path) -> None:
    data_dir, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    data_dir.mkdir()
    elsewhere.mkdir()
    (data_dir / "logs").symlink_to(elsewhere)
    saved = crash.save_report(data_dir, "2026-11-27T10:00:00+00:00", "test", "details", False)
    assert saved.startswith("the details could not be saved")
    assert list(elsewhere.iterdir()) == []

    (data_dir / "logs").unlink()
    (data_dir / "logs").mkdir()
    (data_dir / "logs" / Path(crash.log_name()).name).symlink_to(elsewhere / "file")
    crash.save_report(data_dir, "2026-11-27T10:00:00+00:00", "test", "details", False)
    assert list(elsewhere.iterdir()) == []


async def test_ctrl_c_says_how_to_quit_in_plain_words(data_dir: Path, monkeypatch) -> None:
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+c")
        await wait(pilot, lambda: notes(app), "the hint")
    assert notes(app) == ["Press ctrl+q to quit the app"]


# -- by hand, in a real terminal --------------------------------------------------------------


def test_a_participant_types_bad_bytes_in_tmux_and_the_card_survives(
    data_dir: Path, tmp_path: Path
) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("needs tmux (Debian/Ubuntu: apt-get install tmux)")
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    command = [str(therapy_script()), "--data-dir", str(data_dir), "join", code]
    with tmux_server(tmp_path) as tmux:
        tmux.start("alex", [*command, "--name", "Alex", "--side", "Sales"])
        tmux.wait_for("alex", lambda shown: "your side" in shown, "the vent screen", 60)
        tmux.keys("alex", "a")
        tmux.wait_for("alex", lambda shown: "A complaint from Sales" in shown, "the form", 30)
        tmux.type("alex", "They")
        tmux.run("send-keys", "-t", "alex", "-H", "20", "ff", "fe", "c3")
        tmux.type("alex", " never call")
        shown = tmux.wait_for("alex", lambda s: "They ��� never call" in s, "the card", 30)
        assert "Traceback" not in shown
        tmux.keys("alex", "Enter")
        tmux.wait_for("alex", lambda s: "A complaint from Sales" not in s, "the card added", 30)
        assert tmux.ended("alex") is None  # still running
    assert sessions.board(code).complaints[-1].text == "They \ufffd\ufffd\ufffd never call"
    assert not (data_dir / "logs").exists()


def test_a_fifo_at_the_logs_name_is_neither_waited_on_nor_written(tmp_path: Path) -> None:
    """The log's name is predictable (the pid): a group member may plant a FIFO there."""
    from therapy.tui.crash import log_name, write_report

    data = tmp_path / "data"
    (data / "logs").mkdir(parents=True)
    os.mkfifo(data / log_name())
    # a reader on the FIFO, as its planter would keep: opening it to write does not fail
    # then, so what refuses it is the look at what was opened
    reader = os.open(data / log_name(), os.O_RDONLY | os.O_NONBLOCK)
    outcome: list[BaseException | None] = []

    def report() -> None:
        try:
            write_report(data, "now", "about", "details")
        except BaseException as error:  # noqa: BLE001 - what it raised is the outcome
            outcome.append(error)
        else:
            outcome.append(None)

    writer = threading.Thread(target=report, daemon=True)
    writer.start()
    writer.join(timeout=10)
    try:
        assert outcome, "writing the crash log waited on a FIFO"
        assert isinstance(outcome[0], OSError)
        assert "not a log file of ours" in str(outcome[0]), outcome[0]
        assert os.read(reader, 4096) == b"", "the crash report was written into the FIFO"
    finally:
        os.close(reader)
