"""Participants' and the projector's screens, driven as a person would, asserting on the store;
and the facilitator's view of who is here."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Static
from tui_support import app_for, demo_sessions, fix_world, participant_app, settle, viewer_app

from therapy.model import OBSERVER, Actor, Phase, Role
from therapy.service import Attendance, Sessions
from therapy.store import Store
from therapy.tui.app import TherapyApp
from therapy.tui.screens.help import keys_of
from therapy.tui.widgets.cards import CardList
from therapy.tui.widgets.presence import PresenceBar
from therapy.tui.widgets.prompt import TextPrompt

SIZE = (120, 36)
# What every Textual screen has: the palette, moving focus, copying selected text.
TEXTUAL_KEYS = {"command_palette", "app.focus_next", "app.focus_previous", "screen.copy_text"}
ALEX, SAM, DANA = 1, 2, 3  # the demo's participants, in the order they joined (Sales, Sales, Mkt)


def here(held: list[Attendance], sessions: Sessions, code: str, *people: int) -> None:
    held.extend(sessions.attend(code, person) for person in people)


def text_of(widget: Static | CardList) -> str:
    """Everything a widget shows, as plain text."""
    if isinstance(widget, CardList):
        prompts = (widget.get_option_at_index(i).prompt for i in range(widget.option_count))
        return "\n".join(str(p.plain if isinstance(p, Content) else p) for p in prompts)
    content = widget.content
    return content.plain if isinstance(content, Content) else str(content)


def screen_text(app: TherapyApp) -> str:
    return "\n".join(text_of(w) for w in app.screen.query("Static, CardList"))  # type: ignore[arg-type]


def offered(app: TherapyApp) -> set[str]:
    """The descriptions of the keys the footer and F1 offer on the current screen."""
    return {description for _key, description in keys_of(app.screen)}


def messages(app: TherapyApp) -> list[str]:
    return [n.message for n in app._notifications]


async def until(pilot: Pilot[None], ready, seconds: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < deadline, "the screen did not follow in time"
        await pilot.pause(0.02)


@pytest.fixture(autouse=True)
def fixed(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fix_world(monkeypatch)


# -- participants -----------------------------------------------------------------------


async def test_check_in_shows_who_is_here_and_offers_no_review(
    data_dir: Path, attending: list[Attendance]
) -> None:
    sessions, code = demo_sessions(data_dir, Phase.CHECK_IN, finish=False)
    here(attending, sessions, code, ALEX, DANA)
    app = participant_app(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        people = text_of(app.screen.query_one("#people", CardList))
        assert "Alex (you) · Sales\n● here" in people
        assert "Dana · Marketing\n● here" in people
        assert "Sam · Sales\n○ away" in people
        assert "2 here" in text_of(app.screen.query_one("#title", Static))
        assert not app.screen.query(PresenceBar)  # the facilitator's bar

        icebreaker = sessions.session(code).icebreaker
        earlier = [e.item.status for e in sessions.earlier_items(code)]
        await pilot.press("i", "down", "D", "c", "x", "ctrl+n")
        await settle(pilot)
        assert sessions.session(code).icebreaker == icebreaker
        assert [e.item.status for e in sessions.earlier_items(code)] == earlier
        assert sessions.session(code).phase is Phase.CHECK_IN
        assert offered(app) & {"Icebreaker", "Done", "Next phase"} == set()


async def test_vent_adds_for_own_side_and_changes_only_own_cards(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    sam = sessions.add_complaint(code, "Sales", "Sam's own card", Actor(Role.PARTICIPANT, SAM))
    sessions.add_complaint(code, "Marketing", "Dana's secret", Actor(Role.PARTICIPANT, DANA))
    app = participant_app(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # the other side: only how many cards it has
        marketing = app.screen.query_one("#side-1", CardList)
        assert text_of(marketing) == "5 hidden until the reveal"
        assert "Dana's secret" not in screen_text(app)
        assert "your side" in text_of(app.screen.query_one("#side-0-title", Static))

        # add with the other side's column focused: it goes to Sales all the same
        await pilot.press("right")
        assert app.screen.focused is marketing
        await pilot.press("a", *"They never call back", "enter")
        await settle(pilot)
        mine = sessions.board(code).complaints[-1]
        assert (mine.side, mine.participant, mine.text) == ("Sales", ALEX, "They never call back")

        # Sam's card: edit and delete are not offered, and enter explains why
        sales = app.screen.query_one("#side-0", CardList)
        assert app.screen.focused is sales  # back where the new card is
        sales.highlighted = sales.get_option_index(str(sam.id))
        await pilot.pause(0.05)
        assert offered(app) & {"Edit", "Delete"} == set()
        await pilot.press("e", "d")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, TextPrompt)
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, TextPrompt)
        assert any("Sam's card" in message for message in messages(app))
        assert sessions.board(code).complaint(sam.id).text == "Sam's own card"  # type: ignore[union-attr]

        # Alex's own card: edit, then delete
        sales.highlighted = sales.get_option_index(str(mine.id))
        await pilot.pause(0.05)
        assert {"Edit", "Delete"} <= offered(app)
        await pilot.press("e", "ctrl+u", *"They never call us back", "enter")
        await settle(pilot)
        assert sessions.board(code).complaint(mine.id).text == "They never call us back"  # type: ignore[union-attr]
        await pilot.press("d", "y")
        await settle(pilot)
        assert sessions.board(code).complaint(mine.id) is None
        assert sessions.board(code).complaint(sam.id) is not None

        # the phase is the facilitator's to move
        assert "Next phase" not in offered(app)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert sessions.session(code).phase is Phase.VENT


async def test_vent_in_an_anonymous_session_knows_only_its_own_cards(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    code = sessions.create("anon", ["Sales", "Marketing"], anonymous=True).code
    sessions.set_phase(code, "vent")
    me = Actor(Role.PARTICIPANT, sessions.join(code, "Sales").id)
    other = Actor(Role.PARTICIPANT, sessions.join(code, "Sales").id)
    theirs = sessions.add_complaint(code, "Sales", "Another's card", other)
    app = viewer_app(sessions, code, me)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a", *"My own card", "enter")
        await settle(pilot)
        mine = sessions.board(code).complaints[-1]
        assert (mine.text, mine.participant) == ("My own card", None)  # no card names anyone
        sales = app.screen.query_one("#side-0", CardList)
        assert text_of(sales).count("yours") == 1
        sales.highlighted = sales.get_option_index(str(mine.id))
        await pilot.pause(0.05)
        assert {"Edit", "Delete"} <= offered(app)

        # another participant's card names no one either: it is not the facilitator's
        sales.highlighted = sales.get_option_index(str(theirs.id))
        await pilot.pause(0.05)
        assert offered(app) & {"Edit", "Delete"} == set()
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, TextPrompt)
        why = "is someone else's card: only they or the facilitator can change it."
        assert [m for m in messages(app) if m.startswith(f"#{theirs.id} ")] == [
            f"#{theirs.id} {why}"
        ]


async def test_vent_reveals_the_other_side_at_diagnose(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = participant_app(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "Nobody from sales comes" not in screen_text(app)
        sessions.set_phase(code, "next")
        await settle(pilot)
        assert app.screen.phase is Phase.DIAGNOSE  # type: ignore[attr-defined]
        assert "Nobody from sales comes to the campaign meetings." in screen_text(app)
        causes = [c.cause for c in sessions.board(code).complaints]
        await pilot.press("1", "A", "m", "s")  # sorting is the facilitator's
        await settle(pilot)
        assert [c.cause for c in sessions.board(code).complaints] == causes
        assert offered(app) & {"Cause", "Accept all", "Merge", "Split"} == set()


async def test_vote_spends_own_votes_within_the_budget(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.VOTE, finish=False)
    app = participant_app(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        items = app.screen.query_one("#items", CardList)
        assert app.screen.focused is items
        assert "Your votes ●●● 3 of 3 left" in text_of(
            app.screen.query_one("#still-voting", Static)
        )
        for _ in range(3):
            await pilot.press("+")
            await settle(pilot)
        board = sessions.board(code)
        assert [(v.participant, v.complaint) for v in board.votes] == [(ALEX, 1)] * 3
        await pilot.press("+")  # a fourth: refused
        await settle(pilot)
        assert len(sessions.board(code).votes) == 3
        assert any("spent all 3 votes" in message for message in messages(app))
        await pilot.press("-")
        await settle(pilot)
        assert sessions.board(code).votes_left(ALEX) == 1
        assert "you: 2" in text_of(items)
        assert {sessions.board(code).votes_left(p) for p in (SAM, DANA)} == {3}


async def test_remedy_shows_the_item_the_facilitator_discusses(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.REMEDY)
    app = participant_app(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        remedy = app.screen.query_one("#remedy", Static)
        assert "#2 One of them thought I was selling insurance" in text_of(remedy)  # the top item
        assert not app.screen.query("#action-form")
        actions = len(sessions.board(code).action_items)

        sessions.discuss(code, 7)  # the facilitator puts the follow-up complaint on the table
        await settle(pilot)
        assert text_of(remedy).startswith("Sales follows up too slowly")
        assert "Remedy" in text_of(remedy) and "Questions to ask" in text_of(remedy)
        assert app.screen.query_one("#items", CardList).selected_key == "c7"
        assert "Sign a lead agreement" in text_of(app.screen.query_one("#actions", CardList))

        await pilot.press("n", "ctrl+s", "x")
        await settle(pilot)
        assert len(sessions.board(code).action_items) == actions
        assert offered(app) & {"New action", "Add action", "Drop/reopen"} == set()


async def test_celebrate_adds_for_own_side(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.CELEBRATE, finish=False)
    app = participant_app(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        icebreaker = sessions.session(code).icebreaker
        await pilot.press("right", "p", *"Thanks for the field notes", "enter")
        await settle(pilot)
        wins = sessions.board(code).wins
        assert [(w.side, w.kind, w.author) for w in wins] == [("Sales", "appreciation", "Alex")]
        await pilot.press("i")
        await settle(pilot)
        assert sessions.session(code).icebreaker == icebreaker


async def test_close_copies_the_plan_and_writes_no_file(
    data_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    sessions, code = demo_sessions(data_dir, Phase.CLOSE)
    monkeypatch.chdir(tmp_path)
    app = participant_app(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, TextPrompt)
        assert "Export plan" not in offered(app)
        await pilot.press("c")
        await pilot.pause(0.1)
        assert app.clipboard == sessions.view(code, OBSERVER).plan
        assert "Sign a lead agreement" in app.clipboard
    assert list(tmp_path.glob("*.md")) == []


# -- the facilitator --------------------------------------------------------------------


async def test_facilitator_sees_who_is_here_and_what_they_still_have_to_do(
    data_dir: Path, attending: list[Attendance]
) -> None:
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    kim = sessions.join(code, "Marketing", "Kim").id
    here(attending, sessions, code, ALEX, kim)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        bar = app.screen.query_one(PresenceBar)
        line = text_of(bar)
        assert line.startswith("2 of 5 here")
        assert "● Alex Sales" in line and "● Kim Marketing · no card yet" in line
        assert "○ Sam Sales (away)" in line
        assert line.index("Kim") < line.index("Sam")  # those here first
        assert bar.region.height == 1
        assert "here" not in text_of(app.screen.query_one("#title", Static))

        sessions.add_complaint(code, "Marketing", "Kim's first", Actor(Role.PARTICIPANT, kim))
        await settle(pilot)
        assert "no card yet" not in text_of(app.screen.query_one(PresenceBar))

        sessions.set_phase(code, "diagnose")
        sessions.set_phase(code, "vote")
        sessions.vote(code, kim, 1)
        await settle(pilot)
        line = text_of(app.screen.query_one(PresenceBar))
        assert "● Kim Marketing · 2 votes left" in line and "● Alex Sales · 3 votes left" in line


async def test_facilitator_puts_the_highlighted_item_on_every_screen(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.REMEDY)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause(0.5)
        assert sessions.session(code).discussing is None  # opening the screen changes nothing
        items = app.screen.query_one("#items", CardList)
        items.focus()
        # passing over an item does not stop on it: the table ends on where the keys rest
        # (no assert on the time in between, which depends on the machine's load)
        await pilot.press("down", "down", "up")
        await pilot.pause(0.4)
        await settle(pilot)
        assert sessions.session(code).discussing == 7

        # another screen puts #4 on the table; a refresh here must not take it back
        sessions.discuss(code, 4)
        sessions.add_action(code, "Weekly pipeline review", "Dana", "2026-12-31")
        await settle(pilot)
        await pilot.pause(0.5)
        await settle(pilot)
        assert items.selected_key == "c7"
        assert sessions.session(code).discussing == 4


# -- the projector ----------------------------------------------------------------------


async def test_watch_follows_the_session_through_every_phase(
    data_dir: Path, attending: list[Attendance]
) -> None:
    sessions, code = demo_sessions(data_dir, Phase.CHECK_IN, finish=False)
    here(attending, sessions, code, ALEX, DANA)
    app = viewer_app(sessions, code, OBSERVER)
    from therapy.tui.screens.watch import WatchScreen

    async def shows(phase: Phase) -> str:
        if sessions.session(code).phase is not phase:
            sessions.set_phase(code, phase.value)
        await settle(pilot)
        assert isinstance(app.screen, WatchScreen) and app.screen.phase is phase
        assert app.screen.has_class(phase.value)
        return screen_text(app)

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        shown = await shows(Phase.CHECK_IN)
        assert sessions.icebreaker(sessions.session(code).icebreaker) in shown
        assert "Alex · Dana" in shown and "2 here" in shown
        actions = {active.binding.action for active in app.screen.active_bindings.values()}
        assert {"help", "quit"} <= actions <= {"help", "quit", *TEXTUAL_KEYS}
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert sessions.session(code).phase is Phase.CHECK_IN

        shown = await shows(Phase.VENT)
        assert "They never appreciate my hard work!" not in shown  # hidden until the reveal
        assert [
            str(app.screen.query_one(f"#count-{side}").value)  # type: ignore[attr-defined]
            for side in (0, 1)
        ] == ["5", "4"]

        shown = await shows(Phase.DIAGNOSE)
        assert "They never appreciate my hard work!" in shown and "Unsorted" in shown

        sessions.accept_suggestions(code)
        shown = await shows(Phase.VOTE)
        sessions.vote(code, DANA, 6)
        await settle(pilot)
        assert "1 vote ●  #6" in screen_text(app)

        sessions.set_phase(code, Phase.REMEDY.value)
        sessions.discuss(code, 6)
        shown = await shows(Phase.REMEDY)
        assert "Under discussion" in shown and "They never appreciate my hard work!" in shown

        sessions.set_phase(code, Phase.CELEBRATE.value)
        sessions.add_win(code, "Marketing", "Sam's field notes", "appreciation")
        shown = await shows(Phase.CELEBRATE)
        assert "Sam's field notes" in shown

        shown = await shows(Phase.CLOSE)
        assert sessions.relationship(code).label in shown and "follow-through" in shown

        shown = await shows(Phase.VENT)  # and back
        assert "They never appreciate my hard work!" not in shown


async def test_watch_screen_changes_its_pane_in_place(data_dir: Path) -> None:
    """One screen instance can follow every phase (WatchScreen.follows says so to the app)."""
    from therapy.tui.screens.watch import ClosePane, VentPane, WatchScreen

    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = viewer_app(sessions, code, OBSERVER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, WatchScreen) and isinstance(screen.pane, VentPane)
        assert app.live is not None
        app.live.stop()  # this test hands the screen its views itself
        sessions.set_phase(code, "close")
        screen.show(sessions.view(code, OBSERVER))
        await pilot.pause(0.2)
        assert app.screen is screen and screen.phase is Phase.CLOSE
        assert screen.has_class("close") and not screen.has_class("vent")
        assert [type(pane) for pane in screen.query(".pane")] == [ClosePane]
        assert sessions.relationship(code).label in screen_text(app)


# -- snapshots --------------------------------------------------------------------------


def snapshot(snap_compare, app: TherapyApp, *keys: str) -> bool:  # type: ignore[no-untyped-def]
    async def loaded(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press(*keys)
        await pilot.pause(0.1)

    return bool(snap_compare(app, terminal_size=SIZE, run_before=loaded))


def test_participant_vent(snap_compare, data_dir: Path, attending: list[Attendance]) -> None:
    """Alex's own card highlighted: edit and delete are offered on it."""
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    alex = Actor(Role.PARTICIPANT, ALEX)
    sessions.add_complaint(code, "Sales", "Pricing changes reach us last", alex)
    here(attending, sessions, code, ALEX, DANA)
    assert snapshot(snap_compare, participant_app(sessions, code), "end")


def test_participant_vote(snap_compare, data_dir: Path, attending: list[Attendance]) -> None:
    sessions, code = demo_sessions(data_dir, Phase.VOTE, finish=False)
    sessions.vote(code, ALEX, 7)
    here(attending, sessions, code, ALEX, DANA)
    assert snapshot(snap_compare, participant_app(sessions, code))


def test_participant_remedy(snap_compare, data_dir: Path, attending: list[Attendance]) -> None:
    """The second item is on the table: the participant's screen shows it, not the top one."""
    sessions, code = demo_sessions(data_dir, Phase.REMEDY)
    sessions.discuss(code, 7)
    here(attending, sessions, code, ALEX, DANA)
    assert snapshot(snap_compare, participant_app(sessions, code))


@pytest.mark.parametrize("phase", [Phase.VENT, Phase.CLOSE], ids=lambda p: p.value)
def test_watch(snap_compare, data_dir: Path, phase: Phase, attending: list[Attendance]) -> None:
    sessions, code = demo_sessions(data_dir, phase)
    here(attending, sessions, code, ALEX, DANA)
    assert snapshot(snap_compare, viewer_app(sessions, code, OBSERVER))


# -- keys follow the permission table ---------------------------------------------------


@pytest.mark.parametrize("phase", list(Phase), ids=[p.value for p in Phase])
async def test_the_keys_offered_are_what_the_permission_table_allows(
    data_dir: Path, phase: Phase
) -> None:
    from therapy.service.permissions import allows
    from therapy.tui.widgets.phase_screen import PhaseScreen

    sessions, code = demo_sessions(data_dir, phase)
    for viewer in (Actor(Role.PARTICIPANT, ALEX), OBSERVER):
        app = viewer_app(sessions, code, viewer)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, PhaseScreen)
            for key, change in screen.CHANGES.items():
                offered = bool(screen.check_action(key, ()))
                if offered or key not in ("edit", "delete"):  # those: one's own cards only
                    assert offered == allows(viewer.role, change, phase), (viewer.role, key)
            if viewer.role is Role.OBSERVER:
                assert not any(screen.check_action(key, ()) for key in screen.CHANGES)
