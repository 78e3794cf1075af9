"""The projector (therapy watch): what the whole room may see of the session, in big,
readable blocks, following the facilitator through every phase. Read-only: no keys but
help and quit."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Digits, Static

from therapy.model import Item, Participant, Phase, Win
from therapy.service import SessionView
from therapy.text import plural
from therapy.tui.widgets.actions import action_card, discussed_item, remedy_text
from therapy.tui.widgets.cards import inert, item_ids, item_texts
from therapy.tui.widgets.causes import cause_chart
from therapy.tui.widgets.lanes import lane_row, lanes_of
from therapy.tui.widgets.phase_screen import PhaseScreen
from therapy.tui.widgets.presence import person_name, still_voting
from therapy.tui.widgets.standing import Standing
from therapy.tui.widgets.wins import KINDS, win_card

MUTED = "$text-muted"
CARD_GAP = "\n\n"  # a blank line between cards reads better from the back of the room


def people_here(people: list[Participant], present: set[int]) -> Content:
    """'Alex · Sam': the names of those present, or 'nobody yet'."""
    here = [inert(person_name(person)) for person in people if person.id in present]
    if not here:
        return Content.styled("nobody yet", MUTED)
    return Content(" · ").join(here).stylize("bold")


def cards(contents: list[Content], empty: str) -> Content:
    if not contents:
        return Content.styled(empty, MUTED)
    return Content(CARD_GAP).join(contents)


def ranked(item: Item, cause: str, top: bool) -> Content:
    """'4 votes ●●●● · #2 + #3 · cause', then the text(s)."""
    head = Content.assemble(
        (plural(item.votes, "vote"), "bold $accent" if top else "bold"),
        (" " + "●" * min(item.votes, 20), "$accent" if top else MUTED),
        (f"  {item_ids(item)} · ", MUTED),
        inert(cause).stylize(MUTED),
    )
    return Content.assemble(head, "\n", item_texts(item))


def going_on(top: int) -> str:
    """'the top item goes on to remedy', 'the top 5 go on to remedy'."""
    return "the top item goes on to remedy" if top == 1 else f"the top {top} go on to remedy"


def show_actions(column: Static, view: SessionView) -> None:
    actions = view.board.action_items
    column.border_title = f"Agreed actions ({len(actions)})"
    column.update(
        cards([action_card(a, view.prompts, view.today) for a in actions], "no action items yet")
    )


class WatchPane(Vertical):
    """What the room sees of one phase; `show` is called with every new view."""

    phase: ClassVar[Phase]

    def __init__(self, view: SessionView) -> None:
        super().__init__(classes=f"pane {self.phase.value}")
        self.view = view

    def on_mount(self) -> None:
        self.show(self.view)

    def show(self, view: SessionView) -> None:
        raise NotImplementedError


class CheckInPane(WatchPane):
    phase = Phase.CHECK_IN

    def compose(self) -> ComposeResult:
        yield Static(id="icebreaker", classes="banner")
        with Horizontal(classes="count-row"):
            yield Digits(id="here", classes="count")
            yield Static(id="here-label", classes="count-label")
        yield Static(id="names", classes="names")

    def show(self, view: SessionView) -> None:
        icebreakers = view.prompts.icebreakers
        icebreaker = icebreakers[view.session.icebreaker % len(icebreakers)]
        self.query_one("#icebreaker", Static).update(inert(icebreaker))
        people = view.board.participants
        here = sum(1 for person in people if person.id in view.present)
        self.query_one("#here", Digits).update(str(here))
        self.query_one("#here-label", Static).update(f"here · {len(people)} joined")
        self.query_one("#names", Static).update(people_here(people, view.present))


class VentPane(WatchPane):
    phase = Phase.VENT

    def compose(self) -> ComposeResult:
        yield Static("Cards stay hidden until the reveal: how many each side has", classes="lead")
        with Horizontal(classes="sides"):
            for index, side in enumerate(self.view.session.sides):
                with Vertical(classes="side"):
                    yield Static(inert(side), classes="side-title")
                    with Horizontal(classes="count-row"):
                        yield Digits(id=f"count-{index}", classes="count")
                        yield Static(id=f"count-{index}-label", classes="count-label")
                    yield Static(id=f"here-{index}", classes="names")

    def show(self, view: SessionView) -> None:
        board = view.board
        for index, side in enumerate(view.session.sides):
            count = sum(1 for c in board.complaints if c.side == side) + board.hidden.get(side, 0)
            self.query_one(f"#count-{index}", Digits).update(str(count))
            label = "complaint" if count == 1 else "complaints"
            self.query_one(f"#count-{index}-label", Static).update(label)
            people = [person for person in board.participants if person.side == side]
            here = Content.assemble(("here: ", MUTED), people_here(people, view.present))
            self.query_one(f"#here-{index}", Static).update(here)


class DiagnosePane(WatchPane):
    """The facilitator's lanes, all at once, one above the other: a card a line (its number,
    side and what the app suggests before its text) under the cause's name in full. A lane
    takes the lines its cards need; the rest of the height is shared by the lanes that need
    more."""

    phase = Phase.DIAGNOSE

    def compose(self) -> ComposeResult:
        yield Static(id="chart")
        with Vertical(id="lanes"):
            for lane in range(len(self.view.prompts.cause_keys) + 1):  # Unsorted first
                yield Static(id=f"lane-{lane}", classes="lane")

    def show(self, view: SessionView) -> None:
        lanes = lanes_of(view)
        chart = cause_chart([(lane.name, lane.count) for lane in lanes])
        self.query_one("#chart", Static).update(chart)
        for lane in lanes:
            column = self.query_one(f"#lane-{lane.number}", Static)
            column.border_title = Content.assemble((f"{lane.number} ", "bold"), inert(lane.name))
            column.border_subtitle = plural(lane.count, "complaint")
            rows = [lane_row(item, view) for item in lane.items]
            column.update(Content("\n").join(rows) if rows else Content.styled("none", MUTED))
            column.styles.max_height = max(len(rows), 1) + 2  # its cards and its border


class VotePane(WatchPane):
    phase = Phase.VOTE

    def compose(self) -> ComposeResult:
        yield Static(id="voting", classes="lead")
        yield Static(id="ranking")

    def show(self, view: SessionView) -> None:
        board = view.board
        people = board.participants
        voting = sum(1 for person in people if board.votes_left(person.id) > 0)
        spent = len(board.votes)
        self.query_one("#voting", Static).update(
            Content.assemble(
                (still_voting(voting, len(people)), "bold"),
                (f" · {plural(spent, 'vote')} cast · {going_on(view.session.top)}", MUTED),
            )
        )
        going = {item.key for item in board.top_items()}  # as remedy counts: voted ones only
        self.query_one("#ranking", Static).update(
            cards(
                [
                    ranked(item, view.prompts.cause_name(item.lead.cause), item.key in going)
                    for item in board.items()
                ],
                "no complaints to vote on",
            )
        )


class RemedyPane(WatchPane):
    phase = Phase.REMEDY

    def compose(self) -> ComposeResult:
        yield Static(id="discussed", classes="banner")
        with Horizontal(id="remedy-row"):
            yield Static(id="remedy")
            yield Static(id="actions")

    def show(self, view: SessionView) -> None:
        item = discussed_item(view.board)
        if item is None:
            discussed = Content.styled("No item got a vote: nothing is under discussion.", MUTED)
        else:
            cause = view.prompts.cause_name(item.lead.cause)
            discussed = Content.assemble(
                ("Under discussion  ", "$accent"),
                inert(cause).stylize("$accent"),
                (f"  {plural(item.votes, 'vote')}", MUTED),
                "\n",
                item_texts(item).stylize("bold"),
            )
        self.query_one("#discussed", Static).update(discussed)
        remedy = self.query_one("#remedy", Static)
        remedy.update(remedy_text(item, view.prompts, facilitating=False) if item else "")
        show_actions(self.query_one("#actions", Static), view)


class CelebratePane(WatchPane):
    phase = Phase.CELEBRATE

    def compose(self) -> ComposeResult:
        with Horizontal(classes="sides"):
            for index, _side in enumerate(self.view.session.sides):
                yield Static(id=f"wins-{index}", classes="side wins")

    def show(self, view: SessionView) -> None:
        for index, side in enumerate(view.session.sides):
            wins: list[Win] = [win for win in view.board.wins if win.side == side]
            kinds = [sum(1 for win in wins if win.kind == kind) for kind in KINDS]
            column = self.query_one(f"#wins-{index}", Static)
            column.border_title = Content.assemble(
                inert(side),
                (f"  {plural(kinds[0], 'win')} · {plural(kinds[1], 'appreciation')}", MUTED),
            )
            column.update(cards([win_card(win) for win in wins], "nothing yet"))


class ClosePane(WatchPane):
    phase = Phase.CLOSE

    def compose(self) -> ComposeResult:
        yield Standing()
        yield Static(id="actions")

    def show(self, view: SessionView) -> None:
        self.query_one(Standing).show(view.relationship, view.session.pair_label)
        show_actions(self.query_one("#actions", Static), view)


PANES: dict[Phase, type[WatchPane]] = {
    pane.phase: pane
    for pane in (
        CheckInPane,
        VentPane,
        DiagnosePane,
        VotePane,
        RemedyPane,
        CelebratePane,
        ClosePane,
    )
}


class WatchScreen(PhaseScreen):
    """One screen for every phase: its pane is swapped when the phase changes."""

    CSS_PATH = "watch.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # a window, not a projector
    HELP = (
        "The projector's view of the session: what the whole room may see, following the "
        "facilitator from phase to phase. Cards stay hidden until the reveal at diagnose; "
        "nothing can be changed from here."
    )

    def __init__(self, view: SessionView) -> None:
        super().__init__(view)
        self.phase = view.phase
        self.pane: WatchPane = PANES[view.phase](view)

    def compose_body(self) -> ComposeResult:
        yield self.pane

    def follows(self, phase: Phase) -> bool:
        return True  # the pane changes with the phase, the screen stays

    def show(self, view: SessionView) -> None:
        if view.phase is not self.phase:
            self.remove_class(self.phase.value)
            self.phase = view.phase
            self.add_class(view.phase.value)
        super().show(view)

    def show_body(self, view: SessionView) -> None:
        if self.pane.phase is view.phase:
            self.pane.show(view)
            return
        old, self.pane = self.pane, PANES[view.phase](view)
        old.remove()
        body: Widget = self.query_one("#body")
        body.mount(self.pane)  # it shows the view once mounted
