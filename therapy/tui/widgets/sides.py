"""A column of cards per side (complaints at check-in and vent, wins at celebrate): a
participant works in their own side's column, and edit and delete are offered on the cards
that are the viewer's to change, nowhere else."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import OptionList, Static
from textual.worker import get_current_worker

from therapy.model import Complaint, TherapyError, Win
from therapy.service import Sessions
from therapy.tui.widgets.cards import CardList, inert
from therapy.tui.widgets.phase_screen import PhaseScreen

# Keys that change one card, offered on the viewer's own cards only.
CARD_CHANGES = ("edit", "delete")


class SidesScreen(PhaseScreen):
    COLUMN: ClassVar[str] = "side"  # the columns' ids: side-0, side-0-title, ...
    BINDINGS = [
        Binding("left", "column(-1)", "Side ←", show=False),
        Binding("right", "column(1)", "Side →", show=False),
    ]

    offered: bool | None = None  # whether edit/delete show for the highlighted card

    def column_id(self, index: int) -> str:
        return f"{self.COLUMN}-{index}"

    def compose_sides(self) -> ComposeResult:
        with Horizontal(classes="columns sides"):
            for index, side in enumerate(self.view.session.sides):
                with Vertical(classes="column"):
                    yield Static(
                        inert(side), classes="column-title", id=f"{self.column_id(index)}-title"
                    )
                    yield CardList(id=self.column_id(index), classes="side-cards")

    def prepare(self) -> None:
        super().prepare()
        self.focus_own_side()

    def focus_own_side(self) -> None:
        """A participant adds for their own side: its column is where their cards appear."""
        me = self.me
        if me is not None and me.side in self.view.session.sides:
            self.query_one(f"#{self.column_id(self.view.session.sides.index(me.side))}").focus()

    def adds_to(self, side: str) -> bool:
        """Whether this viewer's add key puts a card in `side`'s column now."""
        me = self.me
        return bool(self.check_action("add", ())) and (me is None or me.side == side)

    def show_side(
        self, index: int, summary: str, cards: Iterable[tuple[str, Content]], empty: str
    ) -> None:
        """A column's title (its side, `summary`, whether it is the viewer's) and cards."""
        side = self.view.session.sides[index]
        me = self.me
        title = Content.assemble(inert(side).stylize("bold"), (f"  {summary}", "$text-muted"))
        if me is not None and side == me.side:
            title = Content.assemble(title, ("  · your side", "bold $accent"))
        self.query_one(f"#{self.column_id(index)}-title", Static).update(title)
        column = self.query_one(f"#{self.column_id(index)}", CardList)
        column.empty = empty
        column.show(cards)
        self.offer_changes()

    @property
    def focused_index(self) -> int | None:
        """The side whose column has the focus; None when it is elsewhere."""
        focused = self.focused
        prefix = f"{self.COLUMN}-"
        if isinstance(focused, CardList) and focused.id and focused.id.startswith(prefix):
            return int(focused.id.removeprefix(prefix))
        return None

    last_index: int | None = None  # the side column that last had the focus

    def side_to_add(self) -> str | None:
        """The side the add key is for: a participant's own; the facilitator's, the focused
        side column's or the one last focused. With neither it says so, rather than guess."""
        me = self.me
        if me is not None:
            return me.side  # the service insists too
        index = self.focused_index
        index = self.last_index if index is None else index
        if index is None:
            self.query_one(f"#{self.column_id(0)}", CardList).focus()
            self.app.notify("Which side? Pick its column with ← and →, then add.")
            return None
        return self.view.session.sides[index]

    def action_column(self, step: int) -> None:
        """← and → move between the side columns; from elsewhere ← goes to the leftmost
        and → to the rightmost, as they stand on the screen."""
        index, count = self.focused_index, len(self.view.session.sides)
        index = (0 if step < 0 else count - 1) if index is None else (index + step) % count
        self.query_one(f"#{self.column_id(index)}", CardList).focus()

    def attempt(self, change: Callable[[Sessions, str], object]) -> str | None:
        """From a form's worker thread: runs `change` in turn with the screen's others and
        says why it was refused, None when it was made (the form stays open until then)."""
        if self.therapy.live is None:
            return "The session is closed: nothing can be changed."
        refused: list[str] = []
        finished = threading.Event()

        def run(sessions: Sessions, code: str) -> None:
            try:
                change(sessions, code)
            except TherapyError as error:
                refused.append(str(error))
            except OSError as error:
                refused.append(f"That could not be done ({error.strerror or error}); try again.")
            finally:
                finished.set()

        self.app.call_from_thread(self.act, run)
        while not finished.wait(0.1):
            if get_current_worker().is_cancelled:  # the app is closing: the change never ran
                return "The app is closing: nothing was changed."
        return refused[0] if refused else None

    # -- changing one's own cards --------------------------------------------------------

    def selected_id(self) -> int | None:
        """The id of the card highlighted in the focused side's column."""
        focused = self.focused
        if self.focused_index is None or not isinstance(focused, CardList):
            return None
        key = focused.selected_key
        return int(key) if key is not None and key.isdigit() else None

    def owns(self, card_id: int) -> bool:
        """Whether the viewer may change this card (the service says which are theirs)."""
        raise NotImplementedError

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if allowed and action in CARD_CHANGES:
            card_id = self.selected_id()
            return card_id is not None and self.owns(card_id)
        return allowed

    def changeable(self, card: Complaint | Win | None, name: str) -> bool:
        """Whether the viewer may change `card` (called `name`); if not, says why."""
        if card is None:
            return False
        if self.owns(card.id):
            return True
        if card.participant is None and not self.view.session.anonymous:
            # (in an anonymous session no card names its writer: it may be anyone's)
            why = "was logged by the facilitator: only the facilitator can change it"
        else:
            whose = f"{card.author}'s" if card.author else "someone else's"
            why = f"is {whose} card: only they or the facilitator can change it"
        self.app.notify(f"{name} {why}.", severity="warning")
        return False

    @on(OptionList.OptionHighlighted)
    def _highlighted(self) -> None:
        self.offer_changes()

    def on_descendant_focus(self) -> None:
        if self.focused_index is not None:
            self.last_index = self.focused_index
        self.offer_changes()

    def offer_changes(self) -> None:
        """Refresh the footer when edit and delete come or go, not on every change (each
        refresh rebuilds the footer: slow frames)."""
        card_id = self.selected_id()
        offered = card_id is not None and self.owns(card_id)
        if offered != self.offered:
            self.offered = offered
            self.refresh_bindings()
