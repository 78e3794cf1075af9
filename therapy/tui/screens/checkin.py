"""Check-in: an icebreaker, and last time's open action items: done, carried over, dropped."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from therapy.model import ActionStatus, Phase
from therapy.tui.screens.base import PhaseScreen
from therapy.tui.view import SessionView
from therapy.tui.widgets.cards import CardList, card, inert

OUTCOMES = {"done": "done", "carried": "carried over", "dropped": "dropped"}


class CheckInScreen(PhaseScreen):
    phase = Phase.CHECK_IN
    CSS_PATH = "checkin.tcss"
    HELP = (
        "Warm up with the icebreaker (i for another), then go through the open action items "
        "this pair agreed in earlier sessions: mark each done, carried over (it comes into "
        "this session as a new action item) or dropped. Complaints can already be logged from "
        "the shell (therapy add, therapy import) before the meeting."
    )
    BINDINGS = [
        Binding("i", "icebreaker", "Another icebreaker"),
        Binding("D", "review('done')", "Done"),
        Binding("c", "review('carried')", "Carried over"),
        Binding("x", "review('dropped')", "Dropped"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Static("Icebreaker", classes="section-title")
        yield Static(id="icebreaker")
        yield Static(id="earlier-title", classes="section-title")
        yield CardList(id="earlier", empty="no earlier action items for this pair")
        yield Static(id="waiting", classes="muted")

    def show_body(self, view: SessionView) -> None:
        session = view.session
        icebreakers = view.prompts.icebreakers
        self.query_one("#icebreaker", Static).update(
            inert(icebreakers[session.icebreaker % len(icebreakers)])
        )
        open_count = sum(1 for e in view.earlier if e.item.status is ActionStatus.OPEN)
        self.query_one("#earlier-title", Static).update(
            f"Earlier action items of this pair ({open_count} open)"
        )
        cards = []
        for earlier in view.earlier:
            item = earlier.item
            status = "open: D done · c carried over · x dropped"
            if item.status is not ActionStatus.OPEN:
                status = OUTCOMES.get(item.status.value, item.status.value)
            cards.append(
                (
                    earlier.ref,
                    card(
                        item.what,
                        f"{item.owner}, due {item.due}",
                        f"from {earlier.session_title} ({earlier.ref})",
                        status,
                    ),
                )
            )
        self.query_one("#earlier", CardList).show(cards)
        people = len(view.board.participants)
        logged = len(view.board.complaints)
        self.query_one("#waiting", Static).update(
            f"{people} participant{'s' if people != 1 else ''} joined · "
            f"{logged} complaint{'s' if logged != 1 else ''} logged so far · "
            "ctrl+n (or ctrl+→) moves on to vent"
        )

    def action_icebreaker(self) -> None:
        self.act(lambda s, code: s.next_icebreaker(code))

    def action_review(self, outcome: str) -> None:
        ref = self.query_one("#earlier", CardList).selected_key
        if ref is None:
            return
        self.act(
            lambda s, code: s.review(code, ref, outcome),
            done=f"{ref}: {OUTCOMES[outcome]}",
        )
