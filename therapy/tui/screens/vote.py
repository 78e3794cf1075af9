"""Vote: each participant spends a budget of dot votes on the complaints and groups to work
on; the facilitator spends them for the room, one person at a time."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import OptionList, Static

from therapy.model import Board, Item, Participant, Phase
from therapy.service import SessionView
from therapy.service.permissions import Action
from therapy.text import plural
from therapy.tui.widgets.cards import CardList, inert, item_ids, item_texts
from therapy.tui.widgets.phase_screen import PhaseScreen
from therapy.tui.widgets.presence import person_name as named
from therapy.tui.widgets.presence import still_voting

MUTED = "$text-muted"


def person_name(person: Participant) -> str:
    """As everywhere, plus the number that tells two anonymous people of a side apart."""
    return named(person) if person.name else f"{named(person)} (#{person.id})"


def person_card(person: Participant, left: int, budget: int) -> Content:
    left = max(left, 0)
    return Content.assemble(
        inert(person_name(person)).stylize("bold"),
        (" · ", MUTED),
        inert(person.side).stylize(MUTED),
        "\n",
        ("●" * left + "○" * (budget - left), "$accent"),
        (f" {left} left" if left else " no votes left", MUTED),
    )


def item_card(item: Item, cause: str, mine: int, voter: str) -> Content:
    """Votes first (what the list is sorted by), then whose they are, then the text(s)."""
    head = Content.assemble(
        (plural(item.votes, "vote"), "bold $accent"),
        (f" · {item_ids(item)} · ", MUTED),
        inert(cause).stylize(MUTED),
    )
    if mine:
        head = Content.assemble(head, (" · ", MUTED), inert(f"{voter}: {mine}").stylize("$success"))
    return Content.assemble(head, "\n", item_texts(item))


def votes_by(board: Board, person: int, item: Item, own: bool) -> list[int]:
    """The complaints of an item that hold this person's votes, one entry per vote, oldest
    first; `own`: the viewer's own (the only ones known in an anonymous session)."""
    votes = board.my_votes if own else board.votes_by(person)
    return [complaint for complaint in votes if complaint in item.ids]


class VoteScreen(PhaseScreen):
    phase = Phase.VOTE
    CSS_PATH = "vote.tcss"
    HELP = (
        "Everyone spends a few dot votes on what the session should work on; a group counts "
        "as one item. A participant spends their own: + (or = or space) puts one of their "
        "votes on the highlighted item and - takes one back. The facilitator spends them for "
        "the room: pick a person on the left and an item on the right (tab, ← and → switch "
        "between the two lists). The items are sorted by votes; the top ones go on to remedy."
    )
    BINDINGS = [
        Binding("plus,equals_sign,space", "vote", "Spend a vote", key_display="+"),
        Binding("minus", "unvote", "Take one back", key_display="-"),
        Binding("left", "focus_list('people')", "People", show=False),
        Binding("right", "focus_list('items')", "Items", show=False),
    ]
    CHANGES = PhaseScreen.CHANGES | {"vote": Action.VOTE, "unvote": Action.VOTE}
    FACILITATOR_ONLY = frozenset({"focus_list"})  # the people list

    def __init__(self, view: SessionView) -> None:
        super().__init__(view)
        self.items: dict[str, Item] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(id="still-voting")
        with Horizontal(id="ballot"):
            yield CardList(id="people", empty="nobody has joined: therapy join CODE")
            yield CardList(id="items", empty="no complaints to vote on")

    def prepare(self) -> None:
        self.query_one("#people", CardList).border_title = "People · votes left"
        self.query_one("#items", CardList).border_title = "Complaints and groups · most votes first"
        if not self.facilitating:
            self.query_one("#items", CardList).focus()  # the people list is the facilitator's

    def show_body(self, view: SessionView) -> None:
        board, budget = view.board, view.session.vote_budget
        people = board.participants
        left = {person.id: board.votes_left(person.id) for person in people}
        spent = sum(budget - votes for votes in left.values())
        voting = sum(1 for votes in left.values() if votes > 0)
        room = Content.assemble(
            (still_voting(voting, len(people)), "bold"),
            (f" · {spent} of {budget * len(people)} votes spent · {budget} each", MUTED),
        )
        me = self.me
        if me is not None:
            mine = max(left.get(me.id, 0), 0)
            room = Content.assemble(  # the room in short: the line fits 80 columns
                ("Your votes ", "bold"),
                ("●" * mine + "○" * (budget - mine), "$accent"),
                (f" {mine} of {budget} left", "bold"),
                (f" · {still_voting(voting, len(people))}", MUTED),
            )
        self.query_one("#still-voting", Static).update(room)
        self.query_one("#people", CardList).show(
            (str(person.id), person_card(person, left[person.id], budget)) for person in people
        )
        self._show_items()

    def _show_items(self) -> None:
        board, prompts = self.view.board, self.view.prompts
        person = self._person()
        voter = next((p for p in board.participants if p.id == person), None)
        voter_name = person_name(voter) if voter else ""
        if self.me is not None:
            voter_name = "you"
        own = not self.facilitating
        items = board.items()
        self.items = {item.key: item for item in items}
        self.query_one("#items", CardList).show(
            (
                item.key,
                item_card(
                    item,
                    prompts.cause_name(item.lead.cause),
                    len(votes_by(board, person, item, own)) if person is not None else 0,
                    voter_name,
                ),
            )
            for item in items
        )

    def _person(self) -> int | None:
        viewer = self.therapy.viewer
        if not viewer.is_facilitator:
            return viewer.participant  # a participant spends only their own votes
        key = self.query_one("#people", CardList).selected_key
        return int(key) if key else None

    def _ballot(self) -> tuple[int, Item] | None:
        person = self._person()
        item = self.items.get(self.query_one("#items", CardList).selected_key or "")
        if person is None or item is None:
            where = "a person on the left and " if self.facilitating else ""
            self.app.notify(f"Pick {where}an item on the right first.")
            return None
        return person, item

    def action_vote(self) -> None:
        ballot = self._ballot()
        if ballot is not None:
            person, item = ballot
            viewer = self.therapy.viewer
            self.act(lambda s, code: s.vote(code, person, item.lead.id, viewer))

    def action_unvote(self) -> None:
        ballot = self._ballot()
        if ballot is None:
            return
        person, item = ballot
        mine = votes_by(self.view.board, person, item, not self.facilitating)
        if not mine:
            who = "You have"
            if self.facilitating:
                voter = next((p for p in self.view.board.participants if p.id == person), None)
                who = f"{person_name(voter) if voter else 'This person'} has"
            self.app.notify(f"{who} no vote on {item_ids(item)} to take back.")
            return
        complaint, viewer = mine[-1], self.therapy.viewer
        self.act(lambda s, code: s.unvote(code, person, complaint, viewer))

    def action_focus_list(self, name: str) -> None:
        self.query_one(f"#{name}", CardList).focus()

    @on(OptionList.OptionHighlighted, "#people")
    def _person_changed(self) -> None:
        self._show_items()  # each item says how many votes this person gave it

    @on(CardList.Picked, "#people")
    def _picked(self) -> None:
        self.query_one("#items", CardList).focus()  # enter on a person: on to the items
