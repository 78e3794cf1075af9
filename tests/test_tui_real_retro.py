"""A real retro in the app (issue 8): the home form names the pair, leaving a form asks
first, and a typed name rejoins from the join form."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_support import app_for, demo_sessions, fix_world, settle

from therapy.model import Phase
from therapy.service import Sessions
from therapy.store import Store
from therapy.tui.app import TherapyApp
from therapy.tui.screens.home import HomeScreen, NewSession
from therapy.tui.screens.join import JoinScreen
from therapy.tui.widgets.confirm import Confirm


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_the_new_session_form_names_the_pair_and_fits(
    data_dir: Path, size: tuple[int, int], monkeypatch
) -> None:
    fix_world(monkeypatch)
    sessions, _ = demo_sessions(data_dir, Phase.VENT, finish=False)
    app = app_for(sessions)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("n", *"Q4 kickoff")
        await pilot.pause(0.1)
        form = app.screen
        assert isinstance(form, NewSession)
        dialog = form.query_one(".dialog")
        assert dialog.region.bottom <= size[1]  # every field and the buttons on screen
        await pilot.press("tab", "tab", *"Revenue team", "tab", "tab", "ctrl+u", "2", "enter")
        await settle(pilot)
        created = next(s for s in sessions.summaries() if s.title == "Q4 kickoff")
        session = sessions.session(created.code)
        assert (session.pair_name, session.top) == ("Revenue team", 2)


async def test_escape_asks_before_a_typed_form_is_lost(data_dir: Path, monkeypatch) -> None:
    fix_world(monkeypatch)
    sessions = Sessions(Store(data_dir))
    app = app_for(sessions)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("n", "escape")  # nothing typed: it just closes
        await pilot.pause(0.1)
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("n", *"Q4", "escape")
        await pilot.pause(0.1)
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")  # no: back to the form, with what was typed
        await pilot.pause(0.1)
        assert isinstance(app.screen, NewSession)
        assert app.screen.query_one("#title").value == "Q4"
        await pilot.press("escape", "y")
        await pilot.pause(0.1)
        assert isinstance(app.screen, HomeScreen)
        assert sessions.summaries() == []


async def test_rejoining_from_the_join_form_under_ones_own_name(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    code = sessions.create("Q3", ["Sales", "Marketing"]).code
    first = sessions.join(code, "Sales", "Max")
    app = TherapyApp(
        sessions, code, cursor_blink=False, joining=(sessions.session(code), None, None)
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.2)
        assert isinstance(app.screen, JoinScreen)
        await pilot.press("enter", *"Max", "enter")  # Sales, then the name
        for _ in range(100):
            await pilot.pause(0.05)
            if not isinstance(app.screen, JoinScreen):
                break
        assert app.viewer.participant == first.id
        assert len(sessions.board(code).participants) == 1


async def test_enter_never_deletes_a_whole_session(data_dir: Path, monkeypatch) -> None:
    fix_world(monkeypatch)
    sessions = Sessions(Store(data_dir))
    code = sessions.create("Q3", ["Sales", "Marketing"]).code
    app = app_for(sessions)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.pause(0.3)
        await pilot.press("d")
        await pilot.pause(0.1)
        assert isinstance(app.screen, Confirm)
        await pilot.press("enter")  # what cannot come back needs a y
        await pilot.pause(0.2)
        assert isinstance(app.screen, HomeScreen)
        assert [s.code for s in sessions.summaries()] == [code]
