"""Forms and keys as a person expects them (issue 8): starters picked and edited, no empty
card, escape that leaves, the focus back on the list after saving, destructive keys that ask
first; wins edited and deleted; complaints at check-in; hints only of keys the viewer has;
overdue items marked; the same top-N everywhere; the pair named at check-in."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App
from textual.content import Content
from textual.widgets import Input, Label, Static
from tui_support import app_for, demo_sessions, fix_world, participant_app, settle, wait

from therapy.model import ActionStatus, Actor, Phase, Role
from therapy.service import Sessions
from therapy.store import Store
from therapy.tui.app import TherapyApp
from therapy.tui.screens.help import keys_of
from therapy.tui.widgets.cards import CardList
from therapy.tui.widgets.confirm import Confirm
from therapy.tui.widgets.phase_screen import PhaseScreen
from therapy.tui.widgets.prompt import TextPrompt

SIZE = (120, 36)
ALEX, SAM, DANA = 1, 2, 3  # the demo's participants (Sales, Sales, Marketing)
TODAY = "2026-11-27"


@pytest.fixture(autouse=True)
def fixed(monkeypatch: pytest.MonkeyPatch) -> None:
    fix_world(monkeypatch)


def text_of(widget: Static | Label | CardList) -> str:
    if isinstance(widget, CardList):
        prompts = (widget.get_option_at_index(i).prompt for i in range(widget.option_count))
        return "\n".join(str(p.plain if isinstance(p, Content) else p) for p in prompts)
    content = widget.content
    return content.plain if isinstance(content, Content) else str(content)


def cards(app: App[None], selector: str) -> CardList:
    return app.screen.query_one(selector, CardList)


def card_texts(cards: CardList) -> list[str]:
    """Each card's text (separators and the empty line left out)."""
    options = (cards.get_option_at_index(i) for i in range(cards.option_count))
    return [str(o.prompt.plain) for o in options if o.id is not None]  # type: ignore[union-attr]


def offered(app: TherapyApp) -> set[str]:
    return {description for _key, description in keys_of(app.screen)}


def messages(app: TherapyApp) -> list[str]:
    return [n.message for n in app._notifications]


def highlight(cards: CardList, key: str) -> None:
    cards.focus()
    cards.highlighted = cards.get_option_index(key)


def starters(sessions: Sessions, code: str, side: str) -> list[str]:
    return list(sessions.view(code, Actor(Role.FACILITATOR)).prompts.starters_for(side))


# -- the add form ---------------------------------------------------------------------------


async def test_down_from_the_field_picks_a_starter_to_edit(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    starter = starters(sessions, code, "Sales")[0]
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a", "down", "enter")
        assert isinstance(app.screen, TextPrompt)
        answer = app.screen.query_one("#answer", Input)
        assert answer.value == starter and app.screen.focused is answer
        assert answer.selection.is_empty and answer.cursor_position == len(starter)
        await pilot.press(*" Twice this week.", "enter")
        await settle(pilot)
    assert sessions.board(code).complaints[-1].text == f"{starter} Twice this week."


async def test_a_starter_picked_with_tab_is_edited_not_replaced(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    starter = starters(sessions, code, "Sales")[1]
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a", "tab", "down", "enter", "!")
        answer = app.screen.query_one("#answer", Input)
        assert answer.value == f"{starter}!"
        await pilot.press("up")  # back up in the field from the starters: the text stays
        await pilot.press("down", "up", "?")
        assert answer.value == f"{starter}!?"


async def test_enter_on_an_empty_field_adds_nothing(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    before = len(sessions.board(code).complaints)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a", "enter", "space", "space", "enter")
        await settle(pilot)
        assert isinstance(app.screen, TextPrompt)
        said = text_of(app.screen.query_one("#form-error", Label))
        assert said == "Nothing is typed yet: type it, or pick one below (↓ then enter)."
        assert len(sessions.board(code).complaints) == before


async def test_escape_leaves_a_form_and_asks_first_if_something_was_typed(
    data_dir: Path,
) -> None:
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    before = len(sessions.board(code).complaints)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a", "escape")
        await pilot.pause(0.05)
        assert isinstance(app.screen, PhaseScreen)  # nothing typed: no question

        await pilot.press("a", *"Half a thought", "escape")
        await pilot.pause(0.05)
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")
        await pilot.pause(0.05)
        assert isinstance(app.screen, TextPrompt)
        assert app.screen.query_one("#answer", Input).value == "Half a thought"

        await pilot.press("escape", "y")
        await settle(pilot)
        assert isinstance(app.screen, PhaseScreen)
    assert len(sessions.board(code).complaints) == before


async def test_enter_on_leaving_with_typed_text_keeps_it(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.REMEDY, finish=False)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n", *"Weekly", "escape")
        await wait(pilot, lambda: isinstance(app.screen, Confirm), "escape asks")
        await pilot.press("enter")  # what is lost by a yes cannot come back: enter says no
        await wait(pilot, lambda: not isinstance(app.screen, Confirm), "answered")
        assert app.screen.query_one("#what", Input).value == "Weekly"
    sessions, code = demo_sessions(data_dir / "vent", Phase.VENT)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a", *"Half a thought", "escape")
        await wait(pilot, lambda: isinstance(app.screen, Confirm), "escape asks")
        await pilot.press("enter")
        await wait(pilot, lambda: isinstance(app.screen, TextPrompt), "back in the form")
        assert app.screen.query_one("#answer", Input).value == "Half a thought"


async def test_an_edit_form_starts_with_the_cursor_after_the_text(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        highlight(cards(app, "#side-0"), "1")
        await pilot.press("e", *" Ever.", "enter")
        await settle(pilot)
        assert app.screen.focused is cards(app, "#side-0")  # back on the list
    assert sessions.board(code).complaint(1).text.endswith("succeed! Ever.")  # type: ignore[union-attr]


async def test_deleting_a_card_asks_first_and_enter_means_yes(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        highlight(cards(app, "#side-0"), "1")
        for declined in ("n", "escape"):
            await pilot.press("d")
            await pilot.pause(0.05)
            assert isinstance(app.screen, Confirm)
            await pilot.press(declined)
            await settle(pilot)
            assert sessions.board(code).complaint(1) is not None
        await pilot.press("d", "enter")
        await settle(pilot)
    assert sessions.board(code).complaint(1) is None


# -- remedy's form --------------------------------------------------------------------------


async def test_after_adding_an_action_the_focus_goes_back_to_the_list(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.REMEDY, finish=False)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n", *"Weekly pipeline review", "tab", *"Dana", "ctrl+s")
        await settle(pilot)
        assert [a.what for a in sessions.board(code).action_items][-1] == "Weekly pipeline review"
        assert app.screen.focused is cards(app, "#items")
        await pilot.press("n")  # the README's key opens the form again, and types nothing
        what = app.screen.query_one("#what", Input)
        assert app.screen.focused is what and what.value == ""


async def test_escape_leaves_the_action_form_and_asks_first_if_something_was_typed(
    data_dir: Path,
) -> None:
    sessions, code = demo_sessions(data_dir, Phase.REMEDY, finish=False)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        items = cards(app, "#items")
        await pilot.press("n", "escape")
        await pilot.pause(0.05)
        assert app.screen.focused is items  # nothing typed: no question

        await pilot.press("n", *"Weekly", "tab", *"Dana", "escape")
        await pilot.pause(0.05)
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")
        await pilot.pause(0.05)
        owner = app.screen.query_one("#owner", Input)
        assert app.screen.focused is owner and owner.value == "Dana"  # back where it was

        await pilot.press("escape", "y")
        await pilot.pause(0.05)
        assert app.screen.focused is items
        assert [app.screen.query_one(f"#{f}", Input).value for f in ("what", "owner")] == ["", ""]
        assert app.screen.query_one("#due", Input).value == "2026-12-11"  # the default again
    assert sessions.board(code).action_items[-1].what != "Weekly"


async def test_after_an_add_escape_asks_only_about_what_was_typed_since(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.REMEDY, finish=False)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        items = cards(app, "#items")
        await pilot.press("n", *"Weekly pipeline review", "tab", *"Dana", "ctrl+s")
        await settle(pilot)
        await wait(pilot, lambda: app.screen.focused is items, "back on the items")
        owner = app.screen.query_one("#owner", Input)
        assert owner.value == "Dana"  # kept for the next item, on purpose
        await pilot.press("n", "escape")
        await settle(pilot)
        assert not isinstance(app.screen, Confirm) and app.screen.focused is items

        await pilot.press("n", *"Call", "escape")
        await wait(pilot, lambda: isinstance(app.screen, Confirm), "escape asks")
        await pilot.press("y")
        await wait(pilot, lambda: app.screen.focused is items, "out of the form")
        assert app.screen.query_one("#what", Input).value == ""
        assert owner.value == "Dana"  # what was kept stays kept


async def test_the_agreed_actions_are_one_key_away_and_dropping_asks_first(
    data_dir: Path,
) -> None:
    sessions, code = demo_sessions(data_dir, Phase.REMEDY)
    first = sessions.board(code).action_items[0]
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        actions = cards(app, "#actions")
        await pilot.press("a")
        assert app.screen.focused is actions
        actions.highlighted = actions.get_option_index(str(first.id))
        await pilot.press("x")
        await pilot.pause(0.05)
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")
        await settle(pilot)
        assert sessions.board(code).action_items[0].status is ActionStatus.OPEN
        await pilot.press("x", "y")
        await settle(pilot)
        assert sessions.board(code).action_items[0].status is ActionStatus.DROPPED
        await pilot.press("x")  # reopening loses nothing: no question
        await settle(pilot)
        assert isinstance(app.screen, PhaseScreen)
        assert sessions.board(code).action_items[0].status is ActionStatus.OPEN


async def test_a_past_due_date_is_refused_in_the_form_which_keeps_the_typing(
    data_dir: Path,
) -> None:
    sessions, code = demo_sessions(data_dir, Phase.REMEDY, finish=False)
    before = len(sessions.board(code).action_items)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n", *"Weekly review", "tab", *"Dana", "tab", "ctrl+u", *"2020-01-01")
        await pilot.press("ctrl+s")
        await settle(pilot)
        said = text_of(app.screen.query_one("#form-error", Label))
        assert (
            said == f"The due date 2020-01-01 is in the past; give today ({TODAY}) or a later date."
        )
        typed = [app.screen.query_one(f"#{f}", Input).value for f in ("what", "owner", "due")]
        assert typed == ["Weekly review", "Dana", "2020-01-01"]
        assert app.screen.focused is app.screen.query_one("#due", Input)
    assert len(sessions.board(code).action_items) == before


@pytest.mark.parametrize(("top", "title"), [(3, "Top 3 voted items"), (1, "Top voted item")])
async def test_remedy_works_on_the_session_s_top_items(
    data_dir: Path, top: int, title: str
) -> None:
    sessions, code = demo_sessions(data_dir, Phase.REMEDY)
    with sessions.batch(code) as snapshot:
        snapshot.session.top = top
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert text_of(app.screen.query_one("#items-title", Static)) == title
        items = cards(app, "#items")
        keys = [items.get_option_at_index(i).id for i in range(items.option_count)]
        assert [key for key in keys if key] == [i.key for i in sessions.board(code).top_items()]
        assert len(sessions.board(code).top_items()) == top


async def test_fewer_voted_items_than_the_top_say_so(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    code = sessions.create("Small", ["Sales", "Marketing"]).code
    one = sessions.add_complaint(code, "Sales", "Leads go cold").id
    sessions.set_phase(code, "vote")
    sessions.vote(code, sessions.join(code, "Sales", "Alex").id, one)
    sessions.set_phase(code, "remedy")
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        title = text_of(app.screen.query_one("#items-title", Static))
        assert title == "Top 3 voted items · 1 item with votes"


# -- overdue --------------------------------------------------------------------------------


async def test_overdue_actions_are_marked_in_remedy(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.REMEDY)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        actions = sessions.board(code).action_items
        shown = dict(zip(card_texts(cards(app, "#actions")), actions, strict=True))
        for text, action in shown.items():
            assert ("overdue" in text) == action.overdue(TODAY), text
        assert sum("overdue" in text for text in shown) == 1  # the carried-over dashboard


async def test_overdue_items_are_marked_at_check_in(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.CHECK_IN, finish=False)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        earlier = cards(app, "#earlier")
        marked = ["overdue" in text for text in card_texts(earlier)]
        assert marked == [False, True, True]  # done, then two open and past their date
        await pilot.press("down", "D", "down", "c")  # one done, one carried over (still late)
        await settle(pilot)
        marked = ["overdue" in text for text in card_texts(earlier)]
        assert marked == [False, False, True]


async def test_review_keys_act_only_on_the_focused_earlier_list_and_drop_asks(
    data_dir: Path,
) -> None:
    sessions, code = demo_sessions(data_dir, Phase.CHECK_IN, finish=False)
    app = app_for(sessions, code)

    def statuses() -> list[ActionStatus]:
        return [e.item.status for e in sessions.earlier_items(code)]

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        earlier = cards(app, "#earlier")
        assert earlier.highlighted == 0  # a done item: nothing to review on it
        assert offered(app) & {"Done", "Carried", "Drop"} == set()
        await pilot.press("down")
        await wait(pilot, lambda: "Drop" in offered(app), "the review keys offered")
        await pilot.press("left")  # to the Sales column: a stray x drops nothing
        await wait(pilot, lambda: app.screen.focused is cards(app, "#side-0"), "Sales focused")
        assert offered(app) & {"Done", "Carried", "Drop"} == set()
        await pilot.press("x", "D", "c")
        await settle(pilot)
        assert statuses() == [ActionStatus.DONE, ActionStatus.OPEN, ActionStatus.OPEN]
        highlight(earlier, earlier.selected_key or "")
        await pilot.press("x")
        await wait(pilot, lambda: isinstance(app.screen, Confirm), "drop asks first")
        await pilot.press("enter")  # dropping can never be undone: enter says no
        await settle(pilot)
        assert statuses() == [ActionStatus.DONE, ActionStatus.OPEN, ActionStatus.OPEN]
        await pilot.press("x", "y")
        await settle(pilot)
        assert statuses() == [ActionStatus.DONE, ActionStatus.DROPPED, ActionStatus.OPEN]


# -- complaints at check-in -----------------------------------------------------------------


async def test_participants_log_and_change_their_complaints_at_check_in(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.CHECK_IN, finish=False)
    sam = sessions.add_complaint(code, "Sales", "Sam's own card", Actor(Role.PARTICIPANT, SAM))
    app = participant_app(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        sales = cards(app, "#side-0")
        assert app.screen.focused is sales
        assert "Add complaint" in offered(app)
        await pilot.press("a", *"Pricing changes reach us last", "enter")
        await settle(pilot)
        mine = sessions.board(code).complaints[-1]
        assert (mine.side, mine.participant, mine.text) == (
            "Sales",
            ALEX,
            "Pricing changes reach us last",
        )
        assert sessions.session(code).phase is Phase.CHECK_IN

        highlight(sales, str(sam.id))  # not Alex's to change
        await pilot.pause(0.05)
        assert offered(app) & {"Edit", "Delete"} == set()
        await pilot.press("e", "d", "enter")
        await pilot.pause(0.05)
        assert isinstance(app.screen, PhaseScreen)
        assert any(m.startswith(f"#{sam.id} is Sam's card") for m in messages(app))

        highlight(sales, str(mine.id))
        await pilot.pause(0.05)
        assert {"Edit", "Delete"} <= offered(app)
        await pilot.press("e", "ctrl+u", *"Pricing news reaches us last", "enter")
        await settle(pilot)
        assert sessions.board(code).complaint(mine.id).text == "Pricing news reaches us last"  # type: ignore[union-attr]
        await pilot.press("d", "y")
        await settle(pilot)
        assert sessions.board(code).complaint(mine.id) is None
        assert text_of(cards(app, "#side-1")) == "4 hidden until the reveal"


async def test_the_facilitator_logs_complaints_at_check_in_for_a_side(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.CHECK_IN, finish=False)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.screen.focused is cards(app, "#earlier")  # the review comes first
        await pilot.press("right")  # from outside the side columns: right is the right one
        assert app.screen.focused is cards(app, "#side-1")
        await pilot.press("a", *"Sales skips the stand-up", "enter")
        await settle(pilot)
        added = sessions.board(code).complaints[-1]
        assert (added.side, added.text) == ("Marketing", "Sales skips the stand-up")
        highlight(cards(app, "#side-1"), str(added.id))
        await pilot.press("d", "y")
        await settle(pilot)
        assert sessions.board(code).complaint(added.id) is None


async def test_the_facilitator_s_add_outside_a_side_column_never_guesses_the_side(
    data_dir: Path,
) -> None:
    sessions, code = demo_sessions(data_dir, Phase.CHECK_IN, finish=False)
    before = len(sessions.board(code).complaints)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        earlier = cards(app, "#earlier")
        await pilot.press("a")  # no side column had the focus yet: it asks for one
        await wait(pilot, lambda: any("Which side" in m for m in messages(app)), "asked")
        assert app.screen.focused is cards(app, "#side-0") and isinstance(app.screen, PhaseScreen)
        await pilot.press("right")
        assert app.screen.focused is cards(app, "#side-1")
        highlight(earlier, earlier.selected_key or "")
        await pilot.press("left")  # left from outside goes to the left column
        assert app.screen.focused is cards(app, "#side-0")
        await pilot.press("right")
        highlight(earlier, earlier.selected_key or "")
        await pilot.press("a", *"Late leads", "enter")  # the side column last focused
        await settle(pilot)
        added = sessions.board(code).complaints[-1]
        assert len(sessions.board(code).complaints) == before + 1
        assert (added.side, added.text) == ("Marketing", "Late leads")


async def test_check_in_names_the_pair(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    pair = "[b]Rev team"
    earlier = sessions.create(
        "Q2", ["Sales", "Marketing"], pair=pair, created="2026-10-01T10:00:00+00:00"
    ).code
    sessions.set_phase(earlier, "remedy")
    sessions.add_action(earlier, "Weekly pipeline review", "Dana", TODAY)
    code = sessions.create("Q3", ["Sales", "Marketing"], pair=pair).code
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        title = text_of(app.screen.query_one("#earlier-title", Static))
        assert title == "Earlier action items of [b]Rev team (1 open)"


# -- hints offer only the viewer's keys -----------------------------------------------------


@pytest.mark.parametrize("phase", [Phase.CHECK_IN, Phase.VENT], ids=lambda p: p.value)
async def test_an_empty_column_says_press_a_only_to_who_can(data_dir: Path, phase: Phase) -> None:
    sessions = Sessions(Store(data_dir))
    code = sessions.create("Empty", ["Sales", "Marketing"]).code
    sessions.set_phase(code, phase.value)
    alex = sessions.join(code, "Sales", "Alex").id
    async with participant_app(sessions, code, alex).run_test(size=SIZE) as pilot:
        app = pilot.app
        await settle(pilot)
        assert text_of(cards(app, "#side-0")) == "no complaints yet: press a"
        assert text_of(cards(app, "#side-1")) == "no complaints yet"
    async with app_for(sessions, code).run_test(size=SIZE) as pilot:
        app = pilot.app
        await settle(pilot)
        for column in ("#side-0", "#side-1"):
            assert text_of(cards(app, column)) == "no complaints yet: press a"


async def test_an_empty_celebrate_column_says_press_w_only_to_who_can(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    code = sessions.create("Empty", ["Sales", "Marketing"]).code
    sessions.set_phase(code, "celebrate")
    alex = sessions.join(code, "Sales", "Alex").id
    async with participant_app(sessions, code, alex).run_test(size=SIZE) as pilot:
        app = pilot.app
        await settle(pilot)
        assert text_of(cards(app, "#wins-0")) == "nothing yet: press w or p"
        assert text_of(cards(app, "#wins-1")) == "nothing yet"


async def test_remedy_hints_to_a_participant_name_no_facilitator_key(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    code = sessions.create("Empty", ["Sales", "Marketing"]).code
    sessions.set_phase(code, "remedy")
    alex = sessions.join(code, "Sales", "Alex").id
    async with participant_app(sessions, code, alex).run_test(size=SIZE) as pilot:
        app = pilot.app
        await settle(pilot)
        shown = "\n".join(text_of(w) for w in app.screen.query("Static, CardList"))  # type: ignore[arg-type]
        assert "ctrl+b" not in shown and "form" not in shown


async def refused_form_keeps(pilot, keys: tuple[str, ...], text: str, why: str) -> Input:  # type: ignore[no-untyped-def]
    """Opens a form with `keys`, submits `text`: the form stays, with the text and `why`."""
    app = pilot.app
    await pilot.press(*keys)
    await wait(pilot, lambda: isinstance(app.screen, TextPrompt), "the form open")
    answer = app.screen.query_one("#answer", Input)
    answer.value = text
    await pilot.press("enter")
    error = app.screen.query_one("#form-error", Label)
    await wait(pilot, lambda: why in text_of(error), f"the form says {why!r}")
    await settle(pilot)
    assert isinstance(app.screen, TextPrompt) and answer.value == text
    return answer


async def test_a_refused_complaint_keeps_its_form_and_text(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.VENT)
    before = len(sessions.board(code).complaints)
    app = participant_app(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        answer = await refused_form_keeps(pilot, ("a",), "x" * 1001, "1,000")
        answer.value = "x" * 1000
        await pilot.press("enter")
        await wait(pilot, lambda: isinstance(app.screen, PhaseScreen), "the form closed")
        await settle(pilot)
        assert len(sessions.board(code).complaints) == before + 1


async def test_a_refused_win_edit_keeps_its_form_and_text(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.CELEBRATE, finish=False)
    mine = sessions.add_win(code, "Sales", "The Acme deal", actor=Actor(Role.PARTICIPANT, ALEX))
    app = participant_app(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        highlight(cards(app, "#wins-0"), str(mine.id))
        await refused_form_keeps(pilot, ("e",), "y" * 1001, "1,000")
        await refused_form_keeps(pilot, ("escape", "y", "w"), "z" * 1001, "1,000")
    assert [w.text for w in sessions.board(code).wins if w.id == mine.id] == ["The Acme deal"]


# -- wins -----------------------------------------------------------------------------------


async def test_a_participant_edits_and_deletes_only_their_own_wins(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.CELEBRATE, finish=False)
    sam = sessions.add_win(code, "Sales", "Sam's win", actor=Actor(Role.PARTICIPANT, SAM))
    mine = sessions.add_win(code, "Sales", "The Acme deal", actor=Actor(Role.PARTICIPANT, ALEX))
    app = participant_app(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        sales = cards(app, "#wins-0")
        highlight(sales, str(sam.id))
        await pilot.pause(0.05)
        assert offered(app) & {"Edit", "Delete"} == set()
        await pilot.press("e", "d", "enter")
        await pilot.pause(0.05)
        assert isinstance(app.screen, PhaseScreen)
        assert any("Sam's" in m for m in messages(app))

        highlight(sales, str(mine.id))
        await pilot.pause(0.05)
        assert {"Edit", "Delete"} <= offered(app)
        await pilot.press("e")
        answer = app.screen.query_one("#answer", Input)
        assert answer.value == "The Acme deal" and answer.cursor_position == len("The Acme deal")
        await pilot.press(*" closed", "enter")
        await settle(pilot)
        assert [w.text for w in sessions.board(code).wins] == ["Sam's win", "The Acme deal closed"]
        await pilot.press("d")
        await pilot.pause(0.05)
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        await settle(pilot)
    assert [w.text for w in sessions.board(code).wins] == ["Sam's win"]


async def test_the_facilitator_edits_and_deletes_any_win(data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.CELEBRATE)
    first = sessions.board(code).wins[0]
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        highlight(cards(app, "#wins-0"), str(first.id))
        await pilot.press("enter", "ctrl+u", *"Two deals closed", "enter")
        await settle(pilot)
        assert sessions.board(code).wins[0].text == "Two deals closed"
        await pilot.press("d", "enter")
        await settle(pilot)
    assert first.id not in {w.id for w in sessions.board(code).wins}
