"""Vent: each side logs its complaints, a column per side."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Static

from therapy.model import Phase
from therapy.text import plural
from therapy.tui.screens.base import PhaseScreen
from therapy.tui.view import SessionView
from therapy.tui.widgets.cards import CardList, card, inert
from therapy.tui.widgets.prompt import Confirm, TextPrompt


def side_id(index: int) -> str:
    return f"side-{index}"


class VentScreen(PhaseScreen):
    phase = Phase.VENT
    CSS_PATH = "vent.tcss"
    HELP = (
        "Each side logs what bothers it about the other, one complaint per card. Pick a "
        "column and press a to add a card for that side; its starter complaints are offered "
        "to begin from. Participants do not see the other sides' cards until diagnose; the "
        "facilitator sees every card, to screen them before the reveal."
    )
    BINDINGS = [
        Binding("a", "add", "Add complaint"),
        Binding("e", "edit", "Edit"),
        Binding("d,delete", "delete", "Delete"),
        Binding("left", "column(-1)", "Side ←", show=False),
        Binding("right", "column(1)", "Side →", show=False),
    ]

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="columns"):
            for index, side in enumerate(self.view.session.sides):
                with Vertical(classes="column"):
                    yield Static(inert(side), classes="column-title", id=f"{side_id(index)}-title")
                    yield CardList(id=side_id(index), empty="no complaints yet: press a")

    def show_body(self, view: SessionView) -> None:
        for index, side in enumerate(view.session.sides):
            complaints = [c for c in view.board.complaints if c.side == side]
            hidden = view.board.hidden.get(side, 0)
            count = plural(len(complaints) or hidden, "complaint")
            title = Content.assemble(inert(side).stylize("bold"), (f"  {count}", "$text-muted"))
            self.query_one(f"#{side_id(index)}-title", Static).update(title)
            cards = [(str(c.id), card(c.text, f"#{c.id}", c.author or "")) for c in complaints]
            if hidden:
                cards.append(("hidden", inert(f"{hidden} hidden until the reveal")))
            self.query_one(f"#{side_id(index)}", CardList).show(cards)

    @property
    def focused_side(self) -> str:
        focused = self.focused
        sides = self.view.session.sides
        if isinstance(focused, CardList) and focused.id and focused.id.startswith("side-"):
            return sides[int(focused.id.split("-")[1])]
        return sides[0]

    def _selected(self) -> int | None:
        focused = self.focused
        if (
            isinstance(focused, CardList)
            and focused.selected_key
            and focused.selected_key.isdigit()
        ):
            return int(focused.selected_key)
        return None

    def action_column(self, step: int) -> None:
        sides = self.view.session.sides
        index = (sides.index(self.focused_side) + step) % len(sides)
        self.query_one(f"#{side_id(index)}", CardList).focus()

    def action_add(self) -> None:
        side = self.focused_side

        def add(text: str | None) -> None:
            if text is not None:
                self.act(lambda s, code: s.add_complaint(code, side, text, self.therapy.viewer))

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
        complaint_id = self._selected()
        complaint = self.view.board.complaint(complaint_id) if complaint_id else None
        if complaint is None:
            return

        def edit(text: str | None) -> None:
            if text is not None:
                self.act(
                    lambda s, code: s.edit_complaint(code, complaint.id, text, self.therapy.viewer)
                )

        self.app.push_screen(TextPrompt(f"Edit complaint #{complaint.id}", complaint.text), edit)

    def action_delete(self) -> None:
        complaint_id = self._selected()
        if complaint_id is None:
            return

        def delete(yes: bool | None) -> None:
            if yes:
                self.act(
                    lambda s, code: s.delete_complaint(code, complaint_id, self.therapy.viewer)
                )

        self.app.push_screen(Confirm(f"Delete complaint #{complaint_id}?"), delete)

    @on(CardList.Picked)
    def _picked(self, event: CardList.Picked) -> None:
        self.action_edit()
