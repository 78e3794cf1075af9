"""Diagnose with a real retro's sixty cards: how many can be read at once, cause names in
full, merges that keep the highlight; and the projector's view of the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.pilot import Pilot
from tui_support import app_for, fix_world, settle

from therapy.model import OBSERVER, Item, Phase
from therapy.prompts import load_prompts
from therapy.service import Sessions
from therapy.store import Store
from therapy.tui.app import TherapyApp
from therapy.tui.screens.diagnose import DiagnoseScreen

WIDE, NARROW = (120, 36), (80, 24)

SIXTY = (
    (
        "Sales",
        "Half the leads are not ready to buy; they downloaded one ebook and that is it.",
        "Alex",
    ),
    ("Marketing", "Sales follows up too slowly; hot leads go cold in three days.", "Priya"),
    ("Sales", "Leads not ready.", "Sam"),
    (
        "Marketing",
        "Nobody from sales comes to the campaign meetings, not even when we move them to suit"
        " their calendar, and then they complain that the campaign does not match what "
        "customers ask for.",
        "Dana",
    ),
    ("Sales", "Marketing is measured on lead volume while we carry the revenue quota.", None),
    ("Marketing", "They never appreciate my hard work!", "Dana"),
    ("Sales", "I hear about new campaigns from customers before anyone tells me.", "Alex"),
    ("Marketing", "Field feedback never reaches us, so we guess what customers say.", "Priya"),
    ("Sales", "One of them thought I was selling insurance.", "Alex"),
    (
        "Marketing",
        "We hit 120 percent of our lead volume goal and sales still says marketing doesn't "
        "deliver.",
        None,
    ),
    (
        "Sales",
        "Nobody agrees what a qualified lead is, so every handoff turns into an argument "
        "about whether the lead was ever real. Last month I spent two days on a list of "
        "students who wanted a free trial for their thesis, and when I sent them back "
        "marketing said I had not tried hard enough.",
        "Sam",
    ),
    ("Marketing", "Pipeline reviews happen without us.", "Kim"),
    ("Sales", "Their dashboard is all clicks and likes.", None),
    (
        "Marketing",
        "Sales is paid on closed won, we are measured on MQLs, no wonder we never agree on "
        "priorities.",
        "Dana",
    ),
    ("Sales", "The webinar leads are students.", "Alex"),
    (
        "Marketing",
        "We never hear which leads closed, so we cannot tell which campaigns work and we keep"
        " spending on the ones that look good on our dashboard.",
        "Priya",
    ),
    ("Sales", "Every quarter the targets change and nobody tells sales until the kickoff.", "Sam"),
    ("Marketing", "Sales rewrites our emails and then blames the open rate on us.", "Kim"),
    ("Sales", "Too many webinars.", None),
    (
        "Marketing",
        "Leads sit untouched in the CRM for a week; by then the prospect has signed with a "
        "competitor who called back the same afternoon.",
        "Priya",
    ),
    (
        "Sales",
        "Marketing spends half the budget on a brand campaign that never added a dollar to "
        "pipeline.",
        "Alex",
    ),
    ("Marketing", "No one in sales reads the campaign brief.", "Dana"),
    (
        "Sales",
        "The lead scoring model marks a page view as intent. A page view is not intent. A "
        "call booked is intent.",
        "Sam",
    ),
    ("Marketing", "Sales never tells us which leads closed.", None),
    ("Sales", "We get the event list three weeks after the event.", "Alex"),
    ("Marketing", "They skip the Monday stand-up.", "Kim"),
    (
        "Sales",
        "Marketing gets the credit for the deals we fought for over nine months, because the "
        "first touch was a whitepaper download in year one.",
        "Sam",
    ),
    (
        "Marketing",
        "Sales discounts everything at quarter end and then asks why the brand looks cheap.",
        "Dana",
    ),
    (
        "Sales",
        "The new pricing page went live without a word to us; customers quoted prices I had "
        "never seen.",
        "Alex",
    ),
    ("Marketing", "Hot leads go cold because sales calls back after a week.", "Priya"),
    ("Sales", "[b]Urgent[/b] leads are never urgent.", None),
    ("Marketing", "Sales asks for case studies and then never uses them.", "Kim"),
    ("Sales", "The personas were written without talking to a single rep.", "Sam"),
    (
        "Marketing",
        "We are counted on signups; they are counted on bookings; we will keep fighting until"
        " one number is ours together.",
        "Dana",
    ),
    ("Sales", "Campaign results arrive as a forty-slide deck nobody has time to read.", "Alex"),
    ("Marketing", "Nobody from sales comes to the campaign meetings.", None),
    ("Sales", "They promise features in ads that the product does not have yet.", "Sam"),
    ("Marketing", "Our content is great; sales just does not share it.", "Priya"),
    (
        "Sales",
        "A lead is a name and an email address, nothing about budget, timing or who decides. "
        "I have to start every call from zero and half the time the person never asked to be "
        "called.",
        "Alex",
    ),
    ("Marketing", "The feedback form for sales has had two answers in six months.", "Kim"),
    ("Sales", "MQLs are vanity metrics.", None),
    (
        "Marketing",
        "Sales wants hot leads ready to buy now; we hand over nurtured prospects and they "
        "call it junk.",
        "Dana",
    ),
    ("Sales", "I learn about promotions from the customer.", "Sam"),
    (
        "Marketing",
        "Sales never tells us what customers object to, so every campaign answers last year's"
        " questions.",
        "Priya",
    ),
    ("Sales", "Events are chosen for the brand, not for our territory.", "Alex"),
    (
        "Marketing",
        "Follow-up times are nobody's rule: some reps call in an hour, some in a month.",
        "Kim",
    ),
    ("Sales", "Thanks for nothing.", None),
    ("Marketing", "Sales treats our research as optional reading.", "Dana"),
    (
        "Sales",
        "The handoff from marketing automation to the CRM drops the notes, so I never see "
        "what the prospect downloaded, which emails they opened or what they asked the "
        "chatbot before they filled in the form.",
        "Sam",
    ),
    ("Marketing", "We are blamed for bad leads that sales never followed up.", "Priya"),
    ("Sales", "Their targets reward reach, ours reward revenue.", "Alex"),
    ("Marketing", "Sales bypasses the brand guidelines in every deck.", "Kim"),
    ("Sales", "Nobody asked us before the trade show budget was spent.", None),
    ("Marketing", "There is no shared definition of a sales-ready lead.", "Dana"),
    ("Sales", "Marketing never comes on a customer call.", "Sam"),
    ("Marketing", "Our quarterly plan is ignored by sales after week two.", "Priya"),
    ("Sales", "Leads from the partner portal arrive with no contact name.", "Alex"),
    (
        "Marketing",
        "Good news from the field never reaches us; we only hear when something goes wrong, "
        "and then it is in an all-hands with the whole company watching.",
        "Kim",
    ),
    ("Sales", "They measure success in impressions.", None),
    ("Marketing", "We find out a deal closed from the company newsletter.", "Dana"),
)

# Near-duplicates grouped before the screen opens (complaint, into), and causes agreed.
GROUPS = ((3, 1), (30, 2), (20, 2), (36, 4), (24, 16))
CAUSES = {
    "different-goals": (5, 13, 14, 51),
    "misaligned-expectations": (1, 11, 23, 42),
    "communication-gaps": (4, 7, 8, 26),
}


@pytest.fixture(autouse=True)
def fixed(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fix_world(monkeypatch)


def sixty(data_dir: Path, top: int = 3) -> tuple[Sessions, str]:
    """A retro of sixty complaints at diagnose: some grouped, some sorted, most not."""
    sessions = Sessions(Store(data_dir))
    code = sessions.create("Q4 pipeline truce", ["Sales", "Marketing"], top=top).code
    with sessions.batch(code):
        for side, text, author in SIXTY:
            sessions.add_complaint(code, side, text, author=author)
        sessions.set_phase(code, Phase.DIAGNOSE.value)
        for complaint, into in GROUPS:
            sessions.group(code, complaint, into)
        for cause, complaints in CAUSES.items():
            for complaint in complaints:
                sessions.set_cause(code, complaint, cause)
    return sessions, code


def observer_app(sessions: Sessions, code: str) -> TherapyApp:
    """The app as `therapy watch` starts it."""
    opened = (sessions.view(code, OBSERVER), sessions.stamp(code))
    return TherapyApp(sessions, code, viewer=OBSERVER, cursor_blink=False, opened=opened)


def rendered(app: TherapyApp) -> list[str]:
    """The screen as a person sees it, line by line."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def suggestion_mark(sessions: Sessions, code: str, item: Item) -> str:
    """How a row shows what the app suggests: →N (lane N), ✓ (where it is), or – (none)."""
    view = sessions.view(code, OBSERVER)
    found = [view.suggestions[c.id] for c in item.complaints if c.id in view.suggestions]
    best = max(found, key=lambda s: s.score, default=None)
    if best is None or best.cause is None:
        return "–"
    if best.cause == item.lead.cause:
        return "✓"
    return f"→{view.prompts.cause_keys.index(best.cause) + 1}"


def readable(app: TherapyApp, sessions: Sessions, code: str) -> set[int]:
    """The cards shown with their number, side and suggestion on one line of the screen."""
    lines = rendered(app)
    found = set()
    for item in sessions.board(code).items():
        number = re.compile(rf"#{item.lead.id}\b")
        mark = suggestion_mark(sessions, code, item)
        side = item.lead.side if len({c.side for c in item.complaints}) == 1 else "both"
        if any(number.search(line) and side in line and mark in line for line in lines):
            found.add(item.lead.id)
    return found


@pytest.mark.parametrize("watching", [False, True], ids=["facilitator", "projector"])
@pytest.mark.parametrize(("size", "least"), [(WIDE, 12), (NARROW, 5)], ids=["120x36", "80x24"])
async def test_sixty_cards_can_be_read_at_once(
    data_dir: Path, size: tuple[int, int], least: int, watching: bool
) -> None:
    sessions, code = sixty(data_dir)
    app = observer_app(sessions, code) if watching else app_for(sessions, code)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        assert len(readable(app, sessions, code)) >= least


def cut_names(lines: list[str], names: list[str]) -> list[str]:
    """Lines that show a cause's name cut short ('Misaligned expectati…')."""
    return [
        line
        for line in lines
        for name in names
        if any(f"{name[:end]}…" in line for end in range(3, len(name)))
    ]


@pytest.mark.parametrize("width", [100, 120, 160])
async def test_cause_names_are_never_cut_from_100_columns(data_dir: Path, width: int) -> None:
    sessions, code = sixty(data_dir)
    names = [cause.name for cause in load_prompts().causes]
    for app in (app_for(sessions, code), observer_app(sessions, code)):
        async with app.run_test(size=(width, 30)) as pilot:
            await settle(pilot)
            for _lane in range(4):  # whichever lane the facilitator is in
                lines = rendered(app)
                assert cut_names(lines, names) == []
                assert all(any(name in line for line in lines) for name in names)
                await pilot.press("right")
                await settle(pilot)


async def keys(pilot: Pilot[None], *pressed: str) -> None:
    for key in pressed:
        await pilot.press(key)
        await settle(pilot)


def causes(sessions: Sessions, code: str, *complaints: int) -> set[str | None]:
    board = sessions.board(code)
    return {c.cause for c in board.complaints if c.id in complaints}


async def test_a_merge_keeps_the_highlight_on_the_group(data_dir: Path) -> None:
    sessions, code = sixty(data_dir)
    app = app_for(sessions, code)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        # Unsorted starts #2 (a group), #6, #9: merge #6 into #9, then send the group to 1
        await keys(pilot, "down", "m", "down", "m")
        assert sessions.board(code).complaint(6).group == 9  # type: ignore[union-attr]
        await keys(pilot, "1")
        assert causes(sessions, code, 6, 9) == {"different-goals"}
        assert causes(sessions, code, 10) == {None}


async def test_a_merge_follows_the_group_to_its_lane(data_dir: Path) -> None:
    """A sorted card merged into an unsorted one takes the group to its own lane: the
    highlight goes with it, so the next key moves the group, not its old neighbour."""
    sessions, code = sixty(data_dir)
    app = app_for(sessions, code)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await keys(pilot, "right", "m", "left", "down", "m")  # #5 (Different goals) into #6
        assert causes(sessions, code, 5, 6) == {"different-goals"}
        await keys(pilot, "3")
        assert causes(sessions, code, 5, 6) == {"communication-gaps"}
        assert causes(sessions, code, 9, 13) == {None, "different-goals"}


def region_text(app: TherapyApp, selector: str) -> str:
    """What a widget shows on screen, its border included: its lines joined, blanks folded."""
    region = app.screen.query_one(selector).region
    lines = [line[region.x : region.right] for line in rendered(app)[region.y : region.bottom]]
    return " ".join(" ".join(lines).replace("│", " ").split())


async def test_the_highlighted_card_is_shown_in_full(data_dir: Path) -> None:
    sessions, code = sixty(data_dir)
    app = app_for(sessions, code)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        shown = region_text(app, "#detail")
        for complaint in (2, 20, 30):  # the group at the top of Unsorted, every member
            text = sessions.board(code).complaint(complaint).text  # type: ignore[union-attr]
            assert " ".join(text.split()) in shown
        assert "Suggests" in shown and "words: " in shown  # the cause, and why

        await keys(pilot, "right", "right", "down")  # the longest card, in lane 2
        shown = region_text(app, "#detail")
        assert " ".join(SIXTY[10][1].split()) in shown
        assert "Sam" in shown and "✓" in shown


async def test_a_card_that_looks_like_markup_shows_as_typed(data_dir: Path) -> None:
    sessions, code = sixty(data_dir)
    app = app_for(sessions, code)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DiagnoseScreen)
        screen.lane_list(0).select("c31")  # "[b]Urgent[/b] leads are never urgent."
        await pilot.pause()
        row = next(line for line in rendered(app) if re.search(r"#31\b", line))
        assert "[b]Urgent[/b] leads" in row
        assert "[b]Urgent[/b] leads are never urgent." in region_text(app, "#detail")


@pytest.mark.parametrize(("top", "said"), [(1, "the top item goes"), (5, "the top 5 go")])
async def test_the_projector_says_how_many_go_on_to_remedy(
    data_dir: Path, top: int, said: str
) -> None:
    sessions, code = sixty(data_dir, top=top)
    sessions.set_phase(code, Phase.VOTE.value)
    app = observer_app(sessions, code)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        assert any(f"{said} on to remedy" in line for line in rendered(app))


# -- snapshots --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [WIDE, NARROW], ids=["120x36", "80x24"])
def test_diagnose_sixty(snap_compare, data_dir: Path, size: tuple[int, int]) -> None:
    """The facilitator on the long card of lane 2, with #6 picked to be merged."""
    sessions, code = sixty(data_dir)

    async def loaded(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await keys(pilot, "down", "m", "right", "right", "down")

    assert snap_compare(app_for(sessions, code), terminal_size=size, run_before=loaded)


@pytest.mark.parametrize("size", [WIDE, NARROW], ids=["120x36", "80x24"])
def test_watch_diagnose_sixty(snap_compare, data_dir: Path, size: tuple[int, int]) -> None:
    sessions, code = sixty(data_dir)

    async def loaded(pilot: Pilot[None]) -> None:
        await settle(pilot)

    assert snap_compare(observer_app(sessions, code), terminal_size=size, run_before=loaded)
