"""The join path, as the browser door and therapy serve's SSH door run it: the join form, then
the first phase screen, with keys arriving as fast as a paste or a quick typist sends them and
a connection that may end at any moment.

`pilot.press` waits until the app is idle after each key, so a key's whole chain of messages
is handled before the next key arrives: it cannot show a key lost on the way. `burst` posts
the keys the way the driver does when one read of the terminal holds several of them."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, OptionList
from tui_support import fix_world, wait

from therapy.model import Participant
from therapy.serve.browser_app import opens
from therapy.service import Sessions
from therapy.store import Store
from therapy.tui.app import TherapyApp
from therapy.tui.screens.checkin import CheckInScreen
from therapy.tui.screens.code import CodeScreen
from therapy.tui.widgets.cards import CardList
from therapy.tui.widgets.prompt import TextPrompt

SIZE = (120, 36)


@pytest.fixture(autouse=True)
def fixed(monkeypatch: pytest.MonkeyPatch) -> None:
    fix_world(monkeypatch)


NAMED = {"enter": "\r", "space": " ", "tab": "\t"}  # others (down, end): no character


async def burst(pilot: Pilot[None], *keys: str | events.Paste) -> None:
    """KEYS (and pastes) in the app's queue all at once, before the first is handled."""
    for key in keys:
        if isinstance(key, str):
            key = events.Key(key, key if len(key) == 1 else NAMED.get(key))
        pilot.app.post_message(key)
    await pilot.pause()


def typed(text: str) -> list[str]:
    return ["space" if character == " " else character for character in text]


def joining_app(sessions: Sessions, code: str, name: str | None = None) -> TherapyApp:
    """The app as a door starts it for someone joining: the form asks the side (and the name,
    unless an SSH key gave it)."""
    joining = (sessions.session(code), name, None)
    return TherapyApp(sessions, code, cursor_blink=False, joining=joining, restricted=True)


async def on_the_board(pilot: Pilot[None]) -> CheckInScreen:
    app = pilot.app
    await wait(pilot, lambda: isinstance(app.screen, CheckInScreen), "the board never came")
    screen = app.screen
    assert isinstance(screen, CheckInScreen)
    await wait(pilot, lambda: screen.composed, "the board never showed its first view")
    return screen


@pytest.mark.parametrize("name", ["Alex", "Ünal Þórsdóttir"])
async def test_a_name_typed_right_after_enter_on_a_side_arrives_whole(
    sessions: Sessions, code: str, name: str
) -> None:
    app = joining_app(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await wait(pilot, lambda: isinstance(app.focused, OptionList), "no side to pick")
        await burst(pilot, "down", "enter", *typed(name))  # Marketing, then the name at once
        field = app.screen.query_one("#name", Input)
        await wait(pilot, lambda: field.value == name, f"the name arrived as {field.value!r}")
        assert app.focused is field
        await burst(pilot, "enter")
        await on_the_board(pilot)
    (joined,) = sessions.board(code).participants
    assert (joined.name, joined.side) == (name, "Marketing")


async def test_a_name_pasted_right_after_enter_on_a_side_arrives_whole(
    sessions: Sessions, code: str
) -> None:
    app = joining_app(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await wait(pilot, lambda: isinstance(app.focused, OptionList), "no side to pick")
        await burst(pilot, "enter", events.Paste("Alex Martin"))  # in one read
        field = app.screen.query_one("#name", Input)
        await wait(pilot, lambda: field.value == "Alex Martin", f"pasted: {field.value!r}")


async def test_a_name_typed_right_after_tab_arrives_whole(sessions: Sessions, code: str) -> None:
    app = joining_app(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await wait(pilot, lambda: isinstance(app.focused, OptionList), "no side to pick")
        await burst(pilot, "tab", *"Alex", "enter")
        await on_the_board(pilot)
    (alex,) = sessions.board(code).participants
    assert (alex.name, alex.side) == ("Alex", "Sales")


async def test_the_side_picked_is_the_one_the_keys_before_enter_highlighted(
    data_dir: Path,
) -> None:
    """Enter is run as it is read: the list's keys before it must be too (else ↓ enter would
    pick the side above the one it highlights)."""
    sessions = Sessions(Store(data_dir))
    code = sessions.create("Q3", ["Sales", "Marketing", "Support"]).code
    app = joining_app(sessions, code, "Alex")  # an SSH key's name: enter joins at once
    async with app.run_test(size=SIZE) as pilot:
        await wait(pilot, lambda: isinstance(app.focused, OptionList), "no side to pick")
        await burst(pilot, "end", "up", "enter", "down")  # (a key after it changes nothing)
        await on_the_board(pilot)
    (alex,) = sessions.board(code).participants
    assert (alex.name, alex.side) == ("Alex", "Marketing")


class SlowJoin:
    """Sessions.join held up (a loaded machine, a busy store) until `go` is set: a second
    enter arrives while the first join is on its way."""

    def __init__(self, sessions: Sessions, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.asked = threading.Event()
        self.go = threading.Event()
        join = sessions.join

        def slow(*args: Any, **kwargs: Any) -> Participant:
            self.calls += 1
            self.asked.set()
            self.go.wait(10)
            return join(*args, **kwargs)

        monkeypatch.setattr(sessions, "join", slow)


@pytest.mark.parametrize("named", [True, False], ids=["name-of-the-ssh-key", "name-typed"])
async def test_a_second_enter_while_joining_joins_once_and_opens_the_board(
    sessions: Sessions, code: str, monkeypatch: pytest.MonkeyPatch, named: bool
) -> None:
    """Each join used to end in the form's dismissal: the second one took off the screen
    above it (the board as it was being built: NoMatches '#side-0' in its on_mount; or the
    last screen: 'No screens on stack'), and the app stopped."""
    joining = SlowJoin(sessions, monkeypatch)
    app = joining_app(sessions, code, "Alex" if named else None)
    async with app.run_test(size=SIZE) as pilot:
        await wait(pilot, lambda: isinstance(app.focused, OptionList), "no side to pick")
        keys = ["enter"] if named else ["enter", *"Alex", "enter"]
        await burst(pilot, *keys)
        await wait(pilot, joining.asked.is_set, "nothing joined")
        await burst(pilot, "enter")  # impatient: the first is still on its way
        await pilot.pause(0.2)
        joining.go.set()
        board = await on_the_board(pilot)
        await pilot.pause(0.3)  # a second dismissal would come now
        assert app.screen is board and len(app.screen_stack) == 2  # (Textual's default below)
        assert isinstance(board.focused, CardList) and board.focused.id == "side-0"
    assert joining.calls == 1
    (alex,) = sessions.board(code).participants
    assert (alex.name, alex.side) == ("Alex", "Sales")
    assert not app.return_code


async def test_a_connection_that_ends_as_the_board_is_switched_in_ends_quietly(
    sessions: Sessions, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page closed (or the SSH channel) just as the first view came: the app quits while
    the board it has just switched in has not begun to build. Textual still mounts it, with
    none of its widgets, and its on_mount looked for them (NoMatches '#side-0'): a crash
    report at every such quit, and the door told the page that the app had stopped."""
    switch_screen = TherapyApp.switch_screen

    def switch_then_quit(app: TherapyApp, screen: Screen[Any] | str) -> Any:
        switched = switch_screen(app, screen)
        if isinstance(screen, CheckInScreen):
            app.exit()  # as the door's quit does, in the same turn of the loop
        return switched

    monkeypatch.setattr(TherapyApp, "switch_screen", switch_then_quit)
    app = joining_app(sessions, code, "Alex")
    async with app.run_test(size=SIZE) as pilot:
        await wait(pilot, lambda: isinstance(app.focused, OptionList), "no side to pick")
        await burst(pilot, "enter")
        await wait(pilot, lambda: app._exit, "the board never came")
    assert not app.return_code
    # (and no crash report: conftest's no_crash_report fails a test that left one)


# -- the fields: enter takes what was typed before it, nothing typed after it ------------------


async def test_the_code_checked_is_the_one_typed_before_enter(
    sessions: Sessions, code: str
) -> None:
    """Enter in a field submitted once it had come back up to the app: the keys read with it
    were in the field by then, and the browser door checked 'k7qx2malex' (a try spent, and
    a slower answer) for a code typed and moved on from quickly."""
    checked: list[str] = []
    door_opens = opens(sessions, None)

    def checking(typed: str) -> Any:
        checked.append(typed)
        return door_opens(typed)

    app = TherapyApp(sessions, asking=checking, cursor_blink=False, restricted=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait(pilot, lambda: isinstance(app.screen, CodeScreen), "no code asked")
        await pilot.pause(0.1)
        await burst(pilot, *code.lower(), "enter", *"Alex")
        await wait(pilot, lambda: bool(checked), "no code checked")
        await wait(pilot, lambda: not isinstance(app.screen, CodeScreen), "the code was wrong")
    assert checked == [code.lower()]


async def test_a_card_is_what_was_typed_before_enter(sessions: Sessions, code: str) -> None:
    app = joining_app(sessions, code, "Alex")
    async with app.run_test(size=SIZE) as pilot:
        await wait(pilot, lambda: isinstance(app.focused, OptionList), "no side to pick")
        await burst(pilot, "enter")
        await on_the_board(pilot)
        await burst(pilot, "a")
        await wait(pilot, lambda: isinstance(app.focused, Input), "no form to write in")
        form = app.screen
        assert isinstance(form, TextPrompt)
        await burst(pilot, *typed("They never call back"), "enter", *"and")
        await wait(pilot, lambda: app.screen is not form, "the form stayed open")
    (card,) = sessions.board(code).complaints
    assert card.text == "They never call back"


def test_only_the_phase_screen_handles_a_phase_screens_mount() -> None:
    """Textual calls every class's own on_mount, also on a screen dropped before it was built:
    a phase says what it does once built in prepare(), which PhaseScreen calls only then."""
    import importlib

    from therapy.tui.screens import SCREENS
    from therapy.tui.screens.watch import WatchScreen
    from therapy.tui.widgets.phase_screen import PhaseScreen

    screens = [WatchScreen]
    for place in SCREENS.values():
        module, name = place.split(":")
        screens.append(getattr(importlib.import_module(f"therapy.tui.screens.{module}"), name))
    for screen in screens:
        below = screen.__mro__[: screen.__mro__.index(PhaseScreen)]
        handlers = [c.__name__ for c in below if {"on_mount", "_on_mount"} & set(vars(c))]
        assert not handlers, f"{handlers} handle Mount themselves"
