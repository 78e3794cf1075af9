"""Celebrate: wins and appreciations, each side for the other, a column per side."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Static

from therapy.model import Phase
from therapy.service import SessionView
from therapy.service.permissions import Action
from therapy.text import plural
from therapy.tui.widgets.cards import CardList, inert
from therapy.tui.widgets.phase_screen import PhaseScreen
from therapy.tui.widgets.prompt import TextPrompt
from therapy.tui.widgets.wins import KINDS, win_card


def column_id(index: int) -> str:
    return f"wins-{index}"


class CelebrateScreen(PhaseScreen):
    phase = Phase.CELEBRATE
    CSS_PATH = "celebrate.tcss"
    HELP = (
        "Ring the bell: each side names wins it shared with the other and appreciates what "
        "the other side did for it. Press w for a win or p for an appreciation: a participant "
        "adds for their own side, the facilitator for the side of the column picked with left "
        "and right. The facilitator's i shows another prompt to get people talking. Wins "
        "count towards the pair's relationship status at close."
    )
    BINDINGS = [
        Binding("w", "add('win')", "Add win"),
        Binding("p", "add('appreciation')", "Add appreciation"),
        Binding("i", "prompt", "Another prompt"),
        Binding("left", "column(-1)", "Side ←", show=False),
        Binding("right", "column(1)", "Side →", show=False),
    ]
    CHANGES = PhaseScreen.CHANGES | {"add": Action.ADD_WIN}
    FACILITATOR_ONLY = frozenset({"prompt"})

    def compose_body(self) -> ComposeResult:
        yield Static(id="celebrate-prompt")
        with Horizontal(classes="columns"):
            for index, _side in enumerate(self.view.session.sides):
                with Vertical(classes="column"):
                    yield Static(id=f"{column_id(index)}-title", classes="column-title")
                    yield CardList(id=column_id(index), empty="nothing yet: press w or p")

    def on_mount(self) -> None:
        self._focus_own_side()

    def _focus_own_side(self) -> None:
        """A participant adds for their side: its column is where their cards appear."""
        me = self.me
        if me is not None and me.side in self.view.session.sides:
            self.query_one(f"#{column_id(self.view.session.sides.index(me.side))}").focus()

    def show_body(self, view: SessionView) -> None:
        me = self.me
        prompts = view.prompts.celebrate
        self.query_one("#celebrate-prompt", Static).update(
            inert(prompts[view.session.icebreaker % len(prompts)])
        )
        for index, side in enumerate(view.session.sides):
            wins = [win for win in view.board.wins if win.side == side]
            counts = {kind: sum(1 for w in wins if w.kind == kind) for kind in KINDS}
            summary = f"  {plural(counts['win'], 'win')} · "
            summary += plural(counts["appreciation"], "appreciation")
            title = Content.assemble(inert(side).stylize("bold"), (summary, "$text-muted"))
            if me is not None and side == me.side:
                title = Content.assemble(title, ("  · your side", "bold $accent"))
            self.query_one(f"#{column_id(index)}-title", Static).update(title)
            self.query_one(f"#{column_id(index)}", CardList).show(
                (str(win.id), win_card(win)) for win in wins
            )

    @property
    def focused_index(self) -> int:
        focused = self.focused
        if isinstance(focused, CardList) and focused.id and focused.id.startswith("wins-"):
            return int(focused.id.split("-")[1])
        return 0

    def action_column(self, step: int) -> None:
        index = (self.focused_index + step) % len(self.view.session.sides)
        self.query_one(f"#{column_id(index)}", CardList).focus()

    def _side_of_new_cards(self) -> str:
        """A participant always adds for their own side (the service insists)."""
        me = self.me
        return me.side if me is not None else self.view.session.sides[self.focused_index]

    def action_add(self, kind: str) -> None:
        side = self._side_of_new_cards()
        viewer = self.therapy.viewer

        def add(text: str | None) -> None:
            if text is not None:
                self.act(lambda s, code: s.add_win(code, side, text, kind, actor=viewer))
                self._focus_own_side()

        title = f"A win from {side}" if kind == "win" else f"An appreciation from {side}"
        self.app.push_screen(
            TextPrompt(
                title,
                placeholder="We rang the bell when…" if kind == "win" else "Thank you for…",
                hint="1 to 1,000 characters · enter to add · escape to cancel",
            ),
            add,
        )

    def action_prompt(self) -> None:
        viewer = self.therapy.viewer
        self.act(lambda s, code: s.next_icebreaker(code, actor=viewer))
