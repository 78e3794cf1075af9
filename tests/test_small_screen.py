"""80x24 without loss: every key in the footer whole and the viewer's own, F1 always there,
the help in reach, who is here summarised rather than cut, and a participant's own name and
side on every screen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.actions import parse
from textual.containers import VerticalScroll
from tui_support import app_for, demo_sessions, fix_world, participant_app, settle

from therapy.model import Actor, Phase, Role
from therapy.service import Attendance, Sessions
from therapy.service.permissions import allows
from therapy.store import Store
from therapy.tui.app import TherapyApp
from therapy.tui.screens.help import HelpScreen
from therapy.tui.widgets.phase_screen import PhaseScreen
from therapy.tui.widgets.presence import PresenceBar

SMALL, LARGE = (80, 24), (120, 36)
ALEX, SAM, DANA = 1, 2, 3  # the demo's participants, in the order they joined
PARTICIPANT_PHASES = [Phase.CHECK_IN, Phase.VENT, Phase.VOTE, Phase.CELEBRATE, Phase.CLOSE]


@pytest.fixture(autouse=True)
def fixed(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fix_world(monkeypatch)


def rows(app: TherapyApp) -> list[str]:
    """The terminal's lines as the screen last drew them (what a person sees, cut or not)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def footer_keys(screen: PhaseScreen) -> dict[str, tuple[str, str]]:
    """Every key label a footer could show ('a Add complaint'): its action and its node."""
    labels = {}
    for active in screen.active_bindings.values():
        binding = active.binding
        if binding.description and (binding.show or binding.action == "command_palette"):
            label = f"{screen.app.get_key_display(binding)} {binding.description}"
            labels[label] = (binding.action, "app" if active.node is screen.app else "screen")
    return labels


def assert_footer_whole_and_allowed(app: TherapyApp) -> None:
    screen = app.screen
    assert isinstance(screen, PhaseScreen)
    footer = rows(app)[-1]
    labels = footer_keys(screen)
    assert "f1 Help" in footer, footer
    rest, shown = footer, []
    for label in sorted(labels, key=len, reverse=True):  # 'c Copy plan' before 'c Copy'
        pattern = rf"(?<!\S){re.escape(label)}(?!\S)"
        if re.search(pattern, rest):
            shown.append(label)
            rest = re.sub(pattern, " ", rest)
    assert set(rest) <= {" ", "…"}, f"a key cut or unknown: {rest.strip()!r} in {footer!r}"
    role = app.viewer.role
    for label in shown:
        action, node = labels[label]
        _, name, parameters = parse(action)
        if node == "screen":
            assert screen.check_action(name, parameters), label
            change = screen.CHANGES.get(name)
            assert change is None or allows(role, change, screen.phase), label


# -- the footer -------------------------------------------------------------------------


@pytest.mark.parametrize("phase", list(Phase), ids=[p.value for p in Phase])
async def test_facilitator_footer_fits_80x24(data_dir: Path, phase: Phase) -> None:
    sessions, code = demo_sessions(data_dir, phase)
    app = app_for(sessions, code)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        assert_footer_whole_and_allowed(app)
        assert "Next phase" in rows(app)[-1]


@pytest.mark.parametrize("phase", PARTICIPANT_PHASES, ids=[p.value for p in PARTICIPANT_PHASES])
async def test_participant_footer_fits_80x24(data_dir: Path, phase: Phase) -> None:
    sessions, code = demo_sessions(data_dir, phase)
    app = participant_app(sessions, code)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        assert_footer_whole_and_allowed(app)
        assert "Next phase" not in rows(app)[-1]


async def test_vent_footer_follows_the_highlighted_card(data_dir: Path) -> None:
    """A participant's edit and delete come and go with their own card under the cursor."""
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    mine = sessions.add_complaint(code, "Sales", "Alex's own", Actor(Role.PARTICIPANT, ALEX))
    app = participant_app(sessions, code)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        sales = app.screen.query_one("#side-0")
        sales.highlighted = sales.get_option_index(str(mine.id))  # type: ignore[attr-defined]
        await pilot.pause(0.05)
        assert "e Edit" in rows(app)[-1]
        assert_footer_whole_and_allowed(app)
        sales.highlighted = 0  # type: ignore[attr-defined]  # the demo's card, not Alex's own
        await pilot.pause(0.05)
        assert "e Edit" not in rows(app)[-1]
        assert_footer_whole_and_allowed(app)


async def test_a_footer_key_can_be_clicked(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        footer = rows(app)[-1]
        await pilot.click(offset=(footer.index("f1 Help") + 1, SMALL[1] - 1))
        await pilot.pause(0.1)
        assert isinstance(app.screen, HelpScreen)


# -- the help ---------------------------------------------------------------------------


@pytest.mark.parametrize("phase", [Phase.DIAGNOSE, Phase.CLOSE], ids=["diagnose", "close"])
async def test_help_fits_80x24_and_scrolls_to_every_key(data_dir: Path, phase: Phase) -> None:
    sessions, code = demo_sessions(data_dir, phase)
    app = app_for(sessions, code)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause(0.1)
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        dialog = help_screen.query_one(".dialog")
        assert help_screen.region.contains_region(dialog.region)
        assert dialog.region.contains_region(help_screen.query_one(".hint").region)
        assert "escape to close" in rows(app)[help_screen.query_one(".hint").region.y]
        scroll = help_screen.query_one(VerticalScroll)
        assert dialog.region.contains_region(scroll.region)
        assert scroll.max_scroll_y > 0  # the text and keys are longer than 24 lines allow
        assert help_screen.focused is scroll  # so that the keys scroll it
        await pilot.press("end")
        await pilot.pause(0.1)
        assert scroll.scroll_y == scroll.max_scroll_y
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert isinstance(app.screen, PhaseScreen)


# -- who is here ------------------------------------------------------------------------


def nine_people(sessions: Sessions, code: str, held: list[Attendance]) -> None:
    """The demo's four and five more; everyone here but Dana and Priya."""
    joined = [sessions.join(code, side, name).id for name, side in NEWCOMERS]
    held.extend(sessions.attend(code, p) for p in (ALEX, SAM, *joined))


NEWCOMERS = [("Kim", "Marketing"), ("Lee", "Sales"), ("Max", "Sales"), ("Noor", "Marketing")]
NEWCOMERS += [("Omar", "Sales")]


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80", "120"])
@pytest.mark.parametrize("phase", [Phase.VENT, Phase.VOTE], ids=["vent", "vote"])
async def test_presence_of_nine_is_summarised_not_cut(
    data_dir: Path, attending: list[Attendance], size: tuple[int, int], phase: Phase
) -> None:
    sessions, code = demo_sessions(data_dir, phase, finish=False)
    nine_people(sessions, code, attending)
    app = app_for(sessions, code)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        bar = app.screen.query_one(PresenceBar)
        row = rows(app)[bar.region.y]
        assert bar.region.height == 1
        assert "…" not in row
        assert re.search(r"\b7 (of 9 )?here\b", row), row
        assert "2 away: Dana, Priya" in row, row
        if phase is Phase.VOTE:
            assert "still to vote" in row or "votes left" in row, row


async def test_presence_of_a_few_names_each_with_their_side(
    data_dir: Path, attending: list[Attendance]
) -> None:
    """Everyone, when they fit; else those here in full and the names of those away."""
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    attending.extend(sessions.attend(code, p) for p in (ALEX, DANA))
    app = app_for(sessions, code)
    async with app.run_test(size=LARGE) as pilot:
        await settle(pilot)
        bar = app.screen.query_one(PresenceBar)
        assert rows(app)[bar.region.y].strip() == (
            "2 of 4 here   ● Alex Sales   ● Dana Marketing"
            "   ○ Sam Sales (away)   ○ Priya Marketing (away)"
        )
        sessions.set_phase(code, "diagnose")
        sessions.set_phase(code, "vote")
        await settle(pilot)
        bar = app.screen.query_one(PresenceBar)
        assert rows(app)[bar.region.y].strip() == (
            "2 of 4 here   ● Alex Sales · 3 votes left   ● Dana Marketing · 3 votes left"
            "   ○ 2 away: Sam, Priya"
        )


async def test_presence_in_an_anonymous_session_counts_sides(
    data_dir: Path, attending: list[Attendance]
) -> None:
    sessions = Sessions(Store(data_dir))
    code = sessions.create("anon", ["Sales", "Marketing"], anonymous=True).code
    sessions.set_phase(code, "vent")
    sessions.set_phase(code, "diagnose")
    sessions.set_phase(code, "vote")
    people = [sessions.join(code, side).id for side in ("Sales",) * 3 + ("Marketing",) * 2]
    attending.extend(sessions.attend(code, p) for p in people[:2] + people[3:4])
    app = app_for(sessions, code)
    async with app.run_test(size=LARGE) as pilot:
        await settle(pilot)
        row = rows(app)[app.screen.query_one(PresenceBar).region.y].strip()
        assert row == (
            "3 of 5 here   ● 2 from Sales   ● 1 from Marketing"
            "   ○ 1 from Sales (away)   ○ 1 from Marketing (away)"
        )


# -- who am I ---------------------------------------------------------------------------


@pytest.mark.parametrize("phase", PARTICIPANT_PHASES, ids=[p.value for p in PARTICIPANT_PHASES])
async def test_participant_sees_own_name_and_side(data_dir: Path, phase: Phase) -> None:
    sessions, code = demo_sessions(data_dir, phase)
    app = participant_app(sessions, code, DANA)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        assert "you: Dana (Marketing)" in rows(app)[0]


async def test_anonymous_participant_sees_own_side_and_no_name(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    code = sessions.create("anon", ["Sales", "Marketing"], anonymous=True).code
    me = sessions.join(code, "Marketing", "Dana", bound=True).id
    app = participant_app(sessions, code, me)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        top = rows(app)[0]
        assert "you: Marketing (anonymous)" in top and "Dana" not in top


async def test_facilitator_header_has_no_you(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        assert "you:" not in rows(app)[0]
