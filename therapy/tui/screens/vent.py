"""Vent: each side logs its complaints, a column per side."""

from __future__ import annotations

from textual.app import ComposeResult

from therapy.model import Phase
from therapy.service import SessionView
from therapy.tui.widgets.complaints import ComplaintsScreen


class VentScreen(ComplaintsScreen):
    phase = Phase.VENT
    CSS_PATH = "vent.tcss"
    HELP = (
        "Each side logs what bothers it about the other, one complaint per card: press a to "
        "add one; the side's starter complaints are offered to begin from (↓ then enter puts "
        "one in the field, to edit). A participant always adds for their own side and can "
        "edit (e or enter) or delete (d) only their own cards; the facilitator picks the "
        "column of the side to add for and can change any card. Participants do not see the "
        "other sides' cards until diagnose, only how many there are; the facilitator sees "
        "every card, to screen them before the reveal."
    )

    def compose_body(self) -> ComposeResult:
        yield from self.compose_sides()

    def show_body(self, view: SessionView) -> None:
        self.show_complaints(view)
