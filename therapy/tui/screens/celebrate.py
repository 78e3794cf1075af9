"""Celebrate: wins and appreciations, each side for the other, a column per side."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from therapy.model import Phase, Win
from therapy.service import SessionView
from therapy.service.permissions import Action
from therapy.text import plural
from therapy.tui.widgets.cards import CardList, inert
from therapy.tui.widgets.confirm import Confirm
from therapy.tui.widgets.phase_screen import PhaseScreen
from therapy.tui.widgets.prompt import LENGTH, TextPrompt
from therapy.tui.widgets.sides import SidesScreen
from therapy.tui.widgets.wins import KINDS, win_card


class CelebrateScreen(SidesScreen):
    phase = Phase.CELEBRATE
    CSS_PATH = "celebrate.tcss"
    COLUMN = "wins"
    HELP = (
        "Ring the bell: each side names wins it shared with the other and appreciates what "
        "the other side did for it. Press w for a win or p for an appreciation: a participant "
        "adds for their own side, the facilitator for the side of the column picked with left "
        "and right. e (or enter) edits and d deletes a win or an appreciation: a participant "
        "their own, the facilitator any. The facilitator's i shows another prompt to get "
        "people talking. Wins count towards the pair's relationship status at close."
    )
    BINDINGS = [
        Binding("w", "add('win')", "Add win"),
        Binding("p", "add('appreciation')", "Add appreciation"),
        Binding("e", "edit", "Edit"),
        Binding("d,delete", "delete", "Delete"),
        Binding("i", "prompt", "Another prompt"),
    ]
    CHANGES = PhaseScreen.CHANGES | {
        "add": Action.ADD_WIN,
        "edit": Action.EDIT_WIN,
        "delete": Action.DELETE_WIN,
    }
    FACILITATOR_ONLY = frozenset({"prompt"})

    def compose_body(self) -> ComposeResult:
        yield Static(id="celebrate-prompt")
        yield from self.compose_sides()

    def owns(self, card_id: int) -> bool:
        return self.facilitating or card_id in self.view.board.my_wins

    def show_body(self, view: SessionView) -> None:
        prompts = view.prompts.celebrate
        self.query_one("#celebrate-prompt", Static).update(
            inert(prompts[view.session.icebreaker % len(prompts)])
        )
        for index, side in enumerate(view.session.sides):
            wins = [win for win in view.board.wins if win.side == side]
            counts = {kind: sum(1 for w in wins if w.kind == kind) for kind in KINDS}
            summary = f"{plural(counts['win'], 'win')} · "
            summary += plural(counts["appreciation"], "appreciation")
            empty = "nothing yet: press w or p" if self.adds_to(side) else "nothing yet"
            self.show_side(index, summary, ((str(w.id), win_card(w)) for w in wins), empty)

    def _changeable(self) -> Win | None:
        win_id = self.selected_id()
        win = next((w for w in self.view.board.wins if w.id == win_id), None)
        if win is None or not self.changeable(win, f"This {win.kind}"):
            return None
        return win

    def action_add(self, kind: str) -> None:
        side = self.side_to_add()
        if side is None:
            return
        viewer = self.therapy.viewer

        def add(text: str) -> str | None:
            return self.attempt(lambda s, code: s.add_win(code, side, text, kind, actor=viewer))

        def added(text: str | None) -> None:
            if text is not None:
                self.focus_own_side()

        title = f"A win from {side}" if kind == "win" else f"An appreciation from {side}"
        self.app.push_screen(
            TextPrompt(
                title,
                placeholder="We rang the bell when…" if kind == "win" else "Thank you for…",
                hint=f"{LENGTH} · enter to add · escape to cancel",
                submit=add,
            ),
            added,
        )

    def action_edit(self) -> None:
        win = self._changeable()
        if win is None:
            return
        viewer = self.therapy.viewer

        def edit(text: str) -> str | None:
            return self.attempt(lambda s, code: s.edit_win(code, win.id, text, viewer))

        title = f"Edit this {win.kind} from {win.side}"
        hint = f"{LENGTH} · enter to save · escape to cancel"
        self.app.push_screen(TextPrompt(title, win.text, hint=hint, replace=False, submit=edit))

    def action_delete(self) -> None:
        win = self._changeable()
        if win is None:
            return
        viewer = self.therapy.viewer

        def delete(yes: bool | None) -> None:
            if yes:
                self.act(lambda s, code: s.delete_win(code, win.id, viewer))

        self.app.push_screen(Confirm(f"Delete the {win.kind} “{win.text}”?"), delete)

    @on(CardList.Picked, ".side-cards")
    def _picked(self) -> None:
        self.action_edit()

    def action_prompt(self) -> None:
        viewer = self.therapy.viewer
        self.act(lambda s, code: s.next_icebreaker(code, actor=viewer))
