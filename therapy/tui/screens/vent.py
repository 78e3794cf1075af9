"""Vent: each side logs its complaints, a column per side."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import OptionList, Static

from therapy.model import Complaint, Participant, Phase
from therapy.service import SessionView
from therapy.service.permissions import Action
from therapy.text import plural
from therapy.tui.widgets.cards import CardList, card, inert
from therapy.tui.widgets.phase_screen import PhaseScreen
from therapy.tui.widgets.prompt import Confirm, TextPrompt


def side_id(index: int) -> str:
    return f"side-{index}"


def complaint_card(complaint: Complaint, me: Participant | None, mine: set[int]) -> Content:
    """The text, its number and author, and whether it is the participant's own."""
    yours = "yours" if me is not None and complaint.id in mine else ""
    return card(complaint.text, f"#{complaint.id}", complaint.author or "", yours)


class VentScreen(PhaseScreen):
    phase = Phase.VENT
    CSS_PATH = "vent.tcss"
    HELP = (
        "Each side logs what bothers it about the other, one complaint per card: press a to "
        "add one; the side's starter complaints are offered to begin from. A participant "
        "always adds for their own side and can edit (e or enter) or delete (d) only their "
        "own cards; the facilitator picks the column of the side to add for and can change "
        "any card. Participants do not see the other sides' cards until diagnose, only how "
        "many there are; the facilitator sees every card, to screen them before the reveal."
    )
    CHANGES = PhaseScreen.CHANGES | {
        "add": Action.ADD_COMPLAINT,
        "edit": Action.EDIT_COMPLAINT,
        "delete": Action.DELETE_COMPLAINT,
    }
    BINDINGS = [
        Binding("a", "add", "Add complaint"),
        Binding("e", "edit", "Edit"),
        Binding("d,delete", "delete", "Delete"),
        Binding("left", "column(-1)", "Side ←", show=False),
        Binding("right", "column(1)", "Side →", show=False),
    ]

    offered: bool | None = None  # whether edit/delete show for the highlighted card

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="columns"):
            for index, side in enumerate(self.view.session.sides):
                with Vertical(classes="column"):
                    yield Static(inert(side), classes="column-title", id=f"{side_id(index)}-title")
                    yield CardList(id=side_id(index), empty="no complaints yet: press a")

    def on_mount(self) -> None:
        self._focus_own_side()

    def _focus_own_side(self) -> None:
        """A participant's cards are in their side's column: that is where they work."""
        me = self.me
        if me is not None and me.side in self.view.session.sides:
            self.query_one(f"#{side_id(self.view.session.sides.index(me.side))}").focus()

    def show_body(self, view: SessionView) -> None:
        me = self.me
        for index, side in enumerate(view.session.sides):
            complaints = [c for c in view.board.complaints if c.side == side]
            hidden = view.board.hidden.get(side, 0)
            count = plural(len(complaints) or hidden, "complaint")
            title = Content.assemble(inert(side).stylize("bold"), (f"  {count}", "$text-muted"))
            if me is not None and side == me.side:
                title = Content.assemble(title, ("  · your side", "bold $accent"))
            self.query_one(f"#{side_id(index)}-title", Static).update(title)
            cards = [(str(c.id), complaint_card(c, me, view.board.mine)) for c in complaints]
            if hidden:
                cards.append(("hidden", inert(f"{hidden} hidden until the reveal")))
            self.query_one(f"#{side_id(index)}", CardList).show(cards)
        self._offer_changes()

    @property
    def focused_side(self) -> str:
        focused = self.focused
        sides = self.view.session.sides
        if isinstance(focused, CardList) and focused.id and focused.id.startswith("side-"):
            return sides[int(focused.id.split("-")[1])]
        return sides[0]

    def _selected(self) -> Complaint | None:
        focused = self.focused
        if isinstance(focused, CardList) and (key := focused.selected_key) and key.isdigit():
            return self.view.board.complaint(int(key))
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if allowed and action in ("edit", "delete") and not self.facilitating:
            complaint = self._selected()
            return complaint is not None and self.mine(complaint.id)  # only one's own
        return allowed

    def _changeable(self) -> Complaint | None:
        """The highlighted card, if this viewer may change it (if not, says why)."""
        complaint = self._selected()
        if complaint is None or self.mine(complaint.id):
            return complaint
        if complaint.participant is None and not self.view.session.anonymous:
            # (in an anonymous session no card names its writer: it may be anyone's)
            why = "was logged by the facilitator: only the facilitator can change it"
        else:
            whose = f"{complaint.author}'s" if complaint.author else "someone else's"
            why = f"is {whose} card: only they or the facilitator can change it"
        self.app.notify(f"#{complaint.id} {why}.", severity="warning")
        return None

    @on(OptionList.OptionHighlighted)
    def _highlighted(self) -> None:
        self._offer_changes()

    def on_descendant_focus(self) -> None:
        self._offer_changes()

    def _offer_changes(self) -> None:
        """Edit and delete are offered on one's own cards only; refresh the footer when
        that flips, not on every change (each refresh rebuilds the footer: slow frames)."""
        if self.facilitating:
            return
        complaint = self._selected()
        offered = complaint is not None and self.mine(complaint.id)
        if offered != self.offered:
            self.offered = offered
            self.refresh_bindings()

    def action_column(self, step: int) -> None:
        sides = self.view.session.sides
        index = (sides.index(self.focused_side) + step) % len(sides)
        self.query_one(f"#{side_id(index)}", CardList).focus()

    def action_add(self) -> None:
        me = self.me
        side = me.side if me is not None else self.focused_side  # the service insists too
        viewer = self.therapy.viewer

        def add(text: str | None) -> None:
            if text is not None:
                self.act(lambda s, code: s.add_complaint(code, side, text, viewer))
                self._focus_own_side()

        self.app.push_screen(
            TextPrompt(
                f"A complaint from {side}",
                placeholder="They never…",
                suggestions=self.view.prompts.starters_for(side),
                hint="1 to 1,000 characters · enter to add · escape to cancel",
            ),
            add,
        )

    def action_edit(self) -> None:
        complaint = self._changeable()
        if complaint is None:
            return
        viewer = self.therapy.viewer

        def edit(text: str | None) -> None:
            if text is not None:
                self.act(lambda s, code: s.edit_complaint(code, complaint.id, text, viewer))

        self.app.push_screen(TextPrompt(f"Edit complaint #{complaint.id}", complaint.text), edit)

    def action_delete(self) -> None:
        complaint = self._changeable()
        if complaint is None:
            return
        viewer = self.therapy.viewer

        def delete(yes: bool | None) -> None:
            if yes:
                self.act(lambda s, code: s.delete_complaint(code, complaint.id, viewer))

        self.app.push_screen(Confirm(f"Delete complaint #{complaint.id}?"), delete)

    @on(CardList.Picked)
    def _picked(self, event: CardList.Picked) -> None:
        self.action_edit()
