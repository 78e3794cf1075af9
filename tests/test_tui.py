"""The app driven as a person would, asserting on the store."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from tui_support import app_for, demo_sessions, fix_world, settle

from therapy.model import ActionStatus, Phase
from therapy.service import Sessions
from therapy.tui.commands import close_session
from therapy.tui.widgets.cards import CardList
from therapy.tui.widgets.phase_screen import PhaseScreen

SIZE = (120, 36)


def therapy_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "therapy.cli", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


async def test_check_in_reviews_earlier_items_by_key(data_dir: Path, monkeypatch) -> None:
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.CHECK_IN, finish=False)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down", "D")  # the first open item (the list starts on a done one)
        await settle(pilot)
        await pilot.press("down", "c")
        await settle(pilot)
        statuses = [e.item.status for e in sessions.earlier_items(code)]
        assert statuses == [ActionStatus.DONE, ActionStatus.DONE, ActionStatus.CARRIED]
        carried = sessions.board(code).action_items
        assert [a.what for a in carried] == ["Shared dashboard of lead conversion rate"]
        icebreaker = sessions.session(code).icebreaker
        await pilot.press("i")
        await settle(pilot)
        assert sessions.session(code).icebreaker == icebreaker + 1


async def test_vent_add_edit_delete_by_key(data_dir: Path, monkeypatch) -> None:
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("right", "a", *"They never call back", "enter")
        await settle(pilot)
        added = sessions.board(code).complaints[-1]
        assert (added.id, added.side, added.text) == (10, "Marketing", "They never call back")

        marketing = app.screen.query_one("#side-1", CardList)
        marketing.highlighted = marketing.option_count - 1  # the new card, at the bottom
        await pilot.press("e", "ctrl+u", *"They never call us back", "enter")
        await settle(pilot)
        assert sessions.board(code).complaint(10).text == "They never call us back"  # type: ignore[union-attr]

        await pilot.press("d", "y")
        await settle(pilot)
        assert sessions.board(code).complaint(10) is None
        assert len(sessions.board(code).complaints) == 9


async def test_starter_complaint_is_offered(data_dir: Path, monkeypatch) -> None:
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a", "tab", "down", "enter", "enter")  # the second Sales starter
        await settle(pilot)
        assert sessions.board(code).complaints[-1].text == (
            "One of them thought I was selling insurance."
        )


HOSTILE = "[@click=app.quit]x[/] \x1b]0;pwned\x07\x1b[2J[b]bold?"


async def test_hostile_card_is_inert_when_clicked(data_dir: Path, monkeypatch) -> None:
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    hostile = sessions.add_complaint(code, "Sales", HOSTILE)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        sales = app.screen.query_one("#side-0", CardList)
        sales.highlighted = sales.option_count - 1
        await pilot.pause()
        region = sales.region
        for row in range(region.y + 1, region.bottom - 1):
            await pilot.click(offset=(region.x + 4, row))
        await pilot.pause(0.2)
        # still running, still on the session (a click may open the card's edit form)
        assert app.is_running and any(isinstance(s, PhaseScreen) for s in app.screen_stack)
        stored = sessions.board(code).complaint(hostile.id)
        assert stored is not None and stored.text == hostile.text  # clicking changed nothing
        assert sessions.session(code).phase is Phase.VENT
        await pilot.press("escape")
        await pilot.pause(0.1)
        lines = [
            "".join(segment.text for segment in strip)
            for strip in (sales.render_line(y) for y in range(sales.size.height))
        ]
        shown = "\n".join(lines)
        assert "[@click=app.quit]x[/]" in shown
        assert "[b]bold?" in shown
        assert "\x1b" not in shown and "\x07" not in shown


DEADLINE = 20.0  # seconds: a change that does not show by then never will


@pytest.mark.parametrize("preload", [True, False], ids=["facilitate", "opened-from-home"])
async def test_a_change_from_another_process_shows_without_a_key_pressed(
    data_dir: Path, preload: bool
) -> None:
    """How soon is bench/live.py's to measure; here the change only has to come, within a
    deadline that a loaded machine meets too."""
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code, preload)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        therapy_cli(data_dir, "add", code, "--side", "Marketing", "from the other terminal")
        written = time.monotonic()
        marketing = app.screen.query_one("#side-1", CardList)
        while "from the other terminal" not in str(
            marketing.get_option("10").prompt if marketing.option_count > 4 else ""
        ):
            await pilot.pause(0.01)
            assert time.monotonic() - written < DEADLINE, "the new card never showed"

        therapy_cli(data_dir, "phase", code, "next")
        moved = time.monotonic()
        while not (isinstance(app.screen, PhaseScreen) and app.screen.phase is Phase.DIAGNOSE):
            await pilot.pause(0.01)
            assert time.monotonic() - moved < DEADLINE, "the phase change never showed"


async def test_phase_keys_move_the_session(data_dir: Path, monkeypatch) -> None:
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.CHECK_IN, finish=False)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert sessions.session(code).phase is Phase.VENT
        assert isinstance(app.screen, PhaseScreen) and app.screen.phase is Phase.VENT
        await pilot.press("ctrl+b")
        await settle(pilot)
        assert sessions.session(code).phase is Phase.CHECK_IN


async def test_help_lists_the_phase_keys(data_dir: Path, monkeypatch) -> None:
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause(0.1)
        from therapy.tui.screens.help import HelpScreen

        assert isinstance(app.screen, HelpScreen)
        keys = dict((description, key) for key, description in app.screen.keys)
        assert {"Add complaint", "Edit", "Delete", "Next phase"} <= set(keys)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, HelpScreen)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_home_creates_and_deletes_sessions(data_dir: Path, size, monkeypatch) -> None:
    fix_world(monkeypatch)
    sessions, _ = demo_sessions(data_dir, Phase.VENT, finish=False)
    app = app_for(sessions)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("n", *"Support x Sales", "tab", "ctrl+u", *"Support,Sales", "enter")
        await settle(pilot)
        created = [s for s in sessions.summaries() if s.title == "Support x Sales"]
        assert [s.sides for s in created] == [["Support", "Sales"]]
        assert isinstance(app.screen, PhaseScreen) and app.screen.phase is Phase.CHECK_IN
        close_session(app)
        await settle(pilot)
        await pilot.pause(0.3)
        # the new session is the newest, at the top; delete it
        await pilot.press("d", "y")
        for _ in range(100):
            await pilot.pause(0.05)
            if len(sessions.summaries()) == 2:
                break
        assert [s.title for s in sessions.summaries()] == ["Q3 lead handoff", "Q2 pipeline truce"]


async def test_a_whole_session_with_the_keyboard_only(
    data_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.CHECK_IN, finish=False)
    app = app_for(sessions, code)

    def board():  # type: ignore[no-untyped-def]
        return sessions.board(code)

    async def keys(*pressed: str) -> None:
        await pilot.press(*pressed)
        await settle(pilot)

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # check-in: last time's open items, one done, one carried over
        await keys("down", "D")
        await keys("down", "c")
        assert [e.item.status.value for e in sessions.earlier_items(code)] == [
            "done",
            "done",
            "carried",
        ]
        await keys("ctrl+n")

        # vent: one more complaint from Marketing
        assert board().session.phase is Phase.VENT
        await keys("right", "a", *"Sales never calls our hot leads back in time", "enter")
        assert board().complaints[-1].side == "Marketing"
        await keys("ctrl+n")

        # diagnose: accept every suggestion, then move a card by hand
        assert board().session.phase is Phase.DIAGNOSE
        suggested = app.sessions.suggestions(board())
        assert suggested is not None
        await keys("A")  # the cards it is not sure of are left for the facilitator
        for card in board().complaints:
            assert card.cause == suggested[card.id].cause or card.group is not None
        await keys("right", "right", "3")  # the first card of the third lane -> cause 3
        moved = [c for c in board().complaints if c.id == 1][0]
        assert moved.cause == "communication-gaps"
        await keys("ctrl+n")

        # vote: Alex spends three votes, takes one back; Sam spends one
        assert board().session.phase is Phase.VOTE
        await keys("right", "+", "+", "+", "-")
        await keys("left", "down", "right", "+")
        votes = board().votes
        by_person = {p.name: board().votes_left(p.id) for p in board().participants}
        assert by_person == {"Alex": 1, "Sam": 2, "Dana": 3, "Priya": 3}
        assert len(votes) == 3
        await keys("ctrl+n")

        # remedy: an action item for the top item, typed into the form
        assert board().session.phase is Phase.REMEDY
        await keys("n", *"Weekly pipeline review", "tab", *"Dana", "tab", "tab", *"leads called")
        await keys("ctrl+s")
        actions = [a for a in board().action_items if a.what == "Weekly pipeline review"]
        assert len(actions) == 1
        top = board().top_items()[0]
        assert (actions[0].owner, actions[0].metric) == ("Dana", "leads called")
        assert set(actions[0].complaints) == top.ids
        await keys("ctrl+n")

        # celebrate: a win from Sales, an appreciation from Marketing
        assert board().session.phase is Phase.CELEBRATE
        await keys("w", *"The Acme deal closed", "enter")
        await keys("right", "p", *"Thanks for the field notes", "enter")
        assert [(w.side, w.kind) for w in board().wins] == [
            ("Sales", "win"),
            ("Marketing", "appreciation"),
        ]
        await keys("ctrl+n")

        # close: the plan exported from the screen is what `therapy export` writes
        assert board().session.phase is Phase.CLOSE
        target = tmp_path / "plan.md"
        await keys("x", "ctrl+u", *str(target), "enter")
        for _ in range(100):
            if target.exists():
                break
            await pilot.pause(0.05)
        exported = therapy_cli(data_dir, "export", code).stdout
        assert target.read_text(encoding="utf-8") == exported
        assert "Weekly pipeline review" in exported and "The Acme deal closed" in exported


async def test_palette_commands_and_timer(data_dir: Path, monkeypatch) -> None:
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {
            "Next phase",
            "Previous phase",
            "Set timer",
            "Export plan",
            "Copy plan",
            "Sessions",
            "Theme",
        } <= titles
        from therapy.tui.commands import ask_timer

        ask_timer(app)
        await pilot.pause(0.1)
        await pilot.press("ctrl+u", "1", "2", "enter")
        await settle(pilot)
        assert sessions.session(code).timeboxes == {"vent": 720}
        from textual.widgets import Static

        timer = app.screen.query_one("#timer", Static)
        assert str(timer.render()) == "⏱ 12:00"  # the clock is fixed in these tests


def test_the_plan_shown_at_close_is_the_export_for_every_viewer(data_dir: Path) -> None:
    from click.testing import CliRunner

    from therapy.cli import cli
    from therapy.model import FACILITATOR, OBSERVER, Actor, Role

    sessions, code = demo_sessions(data_dir, Phase.CLOSE)
    exported = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "export", code]).output
    for viewer in (FACILITATOR, Actor(Role.PARTICIPANT, 1), OBSERVER):
        assert sessions.view(code, viewer).plan == exported


# -- a key limited to one session (therapy ssh --session) ----------------------------------


@pytest.mark.parametrize("one_session", [True, False], ids=["session-key", "any-key"])
async def test_a_key_limited_to_one_session_is_offered_no_pair_history(
    data_dir: Path, monkeypatch, one_session: bool
) -> None:
    """The pair's history is the pair's other sessions: none of them is this key's to see."""
    from therapy.model import Actor, Role
    from therapy.tui.app import TherapyApp
    from therapy.tui.commands import session_commands
    from therapy.tui.screens.history import HistoryScreen

    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.CLOSE)  # with an earlier session of its pair
    alex = Actor(Role.PARTICIPANT, 1)
    opened = (sessions.view(code, alex), sessions.stamp(code))
    app = TherapyApp(sessions, code, alex, False, opened, restricted=True, one_session=one_session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        offered = [command.title for command in session_commands(app)]
        assert ("Pair history" in offered) is not one_session
        assert bool(app.screen.check_action("history", ())) is not one_session  # footer, F1
        await pilot.press("h")
        await pilot.pause(0.2)
        app.open_history(code)  # and whatever else might ask for it
        await pilot.pause(0.2)
        assert isinstance(app.screen, HistoryScreen) is not one_session


@pytest.mark.parametrize(
    ("limit", "offered"), [(("--session",), False), ((), True)], ids=["session", "none"]
)
def test_therapy_ssh_tells_the_app_its_key_opens_one_session(
    data_dir: Path, tmp_path: Path, limit: tuple[str, ...], offered: bool
) -> None:
    import shutil

    from ssh_support import therapy_script, tmux_server

    if shutil.which("tmux") is None:
        pytest.skip("needs tmux (Debian/Ubuntu: apt-get install tmux)")
    sessions, code = demo_sessions(data_dir, Phase.CLOSE)
    login = [
        "env", f"SSH_ORIGINAL_COMMAND={code}", str(therapy_script()), "--data-dir",
        str(data_dir), "ssh", *limit, *([code] if limit else []), "--name", "Alex",
        "--side", "Sales",
    ]  # fmt: skip
    with tmux_server(tmp_path) as tmux:
        tmux.start("alex", login)
        tmux.wait_for("alex", lambda shown: "Action plan preview" in shown, "close", 60)
        tmux.keys("alex", "h", "F1")  # in turn: once a help shows, h was handled
        shown = tmux.wait_for("alex", lambda s: ": help" in s, "a help screen", 30)
        assert ("Pair history: help" in shown) is offered, shown
        assert "Traceback" not in shown


async def test_a_notification_never_carries_a_terminal_control(
    sessions: Sessions, code: str, tmp_path: Path
) -> None:
    """What the app says goes through the text policy, as the CLI's output does: "Wrote
    {path}" shows a path typed (or pasted) into the export form, ESC and BEL included, with
    no control left in it (Textual itself strips only BEL, BS, VT, FF and CR)."""
    from therapy.tui.plan import export_plan

    app = app_for(sessions, code)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        export_plan(app, tmp_path / "plan\x1b]2;PWNED\x1b\\.md")
        for _ in range(200):
            await pilot.pause(0.02)
            if any("Wrote" in n.message for n in app._notifications):
                break
        said = [n.message for n in app._notifications]
    assert any("Wrote" in m for m in said), said
    assert not any("\x1b" in m for m in said), said
    assert any("PWNED" in m for m in said), said  # the path is shown, tamed
