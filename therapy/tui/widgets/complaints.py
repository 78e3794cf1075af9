"""Complaints as cards in a column per side, with the keys to add, edit and delete them: at
check-in (collected before the meeting) and at vent."""

from __future__ import annotations

from textual import on
from textual.binding import Binding
from textual.content import Content

from therapy.model import Complaint, Participant
from therapy.service import SessionView
from therapy.service.permissions import Action
from therapy.text import plural
from therapy.tui.widgets.cards import CardList, card, inert
from therapy.tui.widgets.confirm import Confirm
from therapy.tui.widgets.phase_screen import PhaseScreen
from therapy.tui.widgets.prompt import LENGTH, TextPrompt
from therapy.tui.widgets.sides import SidesScreen


def complaint_card(complaint: Complaint, me: Participant | None, mine: set[int]) -> Content:
    """The text, its number and author, and whether it is the participant's own."""
    yours = "yours" if me is not None and complaint.id in mine else ""
    return card(complaint.text, f"#{complaint.id}", complaint.author or "", yours)


class ComplaintsScreen(SidesScreen):
    """A phase in which complaints are logged: `a` adds one for a side (a participant's own;
    the facilitator's, the focused column's), `e`/enter and `d` change the viewer's own."""

    CHANGES = PhaseScreen.CHANGES | {
        "add": Action.ADD_COMPLAINT,
        "edit": Action.EDIT_COMPLAINT,
        "delete": Action.DELETE_COMPLAINT,
    }
    BINDINGS = [
        Binding("a", "add", "Add complaint"),
        Binding("e", "edit", "Edit"),
        Binding("d,delete", "delete", "Delete"),
    ]

    def owns(self, card_id: int) -> bool:
        return self.mine(card_id)

    def show_complaints(self, view: SessionView) -> None:
        me = self.me
        for index, side in enumerate(view.session.sides):
            complaints = [c for c in view.board.complaints if c.side == side]
            hidden = view.board.hidden.get(side, 0)
            cards = [(str(c.id), complaint_card(c, me, view.board.mine)) for c in complaints]
            if hidden:
                cards.append(("hidden", inert(f"{hidden} hidden until the reveal")))
            empty = "no complaints yet: press a" if self.adds_to(side) else "no complaints yet"
            self.show_side(index, plural(len(complaints) or hidden, "complaint"), cards, empty)

    def _changeable(self) -> Complaint | None:
        complaint_id = self.selected_id()
        complaint = None if complaint_id is None else self.view.board.complaint(complaint_id)
        if complaint is None or not self.changeable(complaint, f"#{complaint.id}"):
            return None
        return complaint

    def action_add(self) -> None:
        side = self.side_to_add()
        if side is None:
            return
        viewer = self.therapy.viewer

        def add(text: str) -> str | None:
            return self.attempt(lambda s, code: s.add_complaint(code, side, text, viewer))

        def added(text: str | None) -> None:
            if text is not None:
                self.focus_own_side()

        self.app.push_screen(
            TextPrompt(
                f"A complaint from {side}",
                placeholder="They never…",
                suggestions=self.view.prompts.starters_for(side),
                hint=f"{LENGTH} · enter to add · escape to cancel",
                submit=add,
            ),
            added,
        )

    def action_edit(self) -> None:
        complaint = self._changeable()
        if complaint is None:
            return
        viewer = self.therapy.viewer

        def edit(text: str) -> str | None:
            return self.attempt(lambda s, code: s.edit_complaint(code, complaint.id, text, viewer))

        self.app.push_screen(
            TextPrompt(
                f"Edit complaint #{complaint.id}",
                complaint.text,
                hint=f"{LENGTH} · enter to save · escape to cancel",
                replace=False,
                submit=edit,
            )
        )

    def action_delete(self) -> None:
        complaint = self._changeable()
        if complaint is None:
            return
        viewer = self.therapy.viewer

        def delete(yes: bool | None) -> None:
            if yes:
                self.act(lambda s, code: s.delete_complaint(code, complaint.id, viewer))

        self.app.push_screen(Confirm(f"Delete complaint #{complaint.id}?"), delete)

    @on(CardList.Picked, ".side-cards")
    def _picked(self) -> None:
        self.action_edit()
