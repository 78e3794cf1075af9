"""Close: where the pair stands, measured from four signals, and the action plan to export."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Digits, Markdown, Static

from therapy.model import Phase, Relationship, Signal
from therapy.tui.screens.base import PhaseScreen
from therapy.tui.view import SessionView
from therapy.tui.widgets.cards import inert

BAR_CELLS = 10


def signal_value(signal: Signal) -> Content:
    """A bar and the value: '██████░░░░ 0.60', or 'n/a' when the signal is absent."""
    if signal.value is None:
        return Content.styled(f"{'·' * BAR_CELLS} n/a", "$text-muted")
    filled = round(signal.value * BAR_CELLS)
    return Content.assemble(
        ("█" * filled, "$accent"),
        ("░" * (BAR_CELLS - filled), "$text-muted"),
        f" {signal.value:.2f}",
    )


def standing(relationship: Relationship) -> Content:
    if relationship.score is None:
        how = "not enough happened in this session to measure it yet"
    else:
        how = f"score {relationship.score:.2f} of 1: the mean of the signals below"
    return Content.assemble(
        inert(relationship.label).stylize("bold $accent"), "\n", (how, "$text-muted")
    )


class CloseScreen(PhaseScreen):
    phase = Phase.CLOSE
    CSS_PATH = "close.tcss"
    HELP = (
        "Where the pair stands, measured rather than guessed: appreciation (wins against "
        "complaints), balance (both sides heard), coverage (top-voted items with an owned, "
        "dated action item) and follow-through (earlier action items done). Below is the "
        "action plan exactly as it will be exported: c copies it to the clipboard (OSC 52, "
        "works over SSH and tmux), and on the facilitator's screen x writes it to a Markdown "
        "file (you are asked where). Links in the plan are never opened."
    )
    BINDINGS = [
        Binding("x", "export", "Export plan"),
        Binding("c", "copy", "Copy plan"),
    ]
    FACILITATOR_ONLY = PhaseScreen.FACILITATOR_ONLY | {"export"}

    def __init__(self, view: SessionView) -> None:
        super().__init__(view)
        self.plan_shown: str | None = None  # re-rendering Markdown is slow: only on change

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="standing"):
            yield Digits(id="score")
            yield Static(id="status")
        with Grid(id="signals"):
            for index, _signal in enumerate(self.view.relationship.signals):
                yield Static(id=f"signal-{index}-name", classes="signal-name")
                yield Static(id=f"signal-{index}-value")
                yield Static(id=f"signal-{index}-reason", classes="muted")
        with Vertical(id="plan-box"):
            keys = "x export · c copy" if self.facilitating else "c copy"
            yield Static(f"Action plan preview · {keys} to the clipboard", classes="column-title")
            with VerticalScroll(id="plan-scroll"):
                yield Markdown(id="plan", open_links=False)

    def show_body(self, view: SessionView) -> None:
        relationship = view.relationship
        score = relationship.score
        self.query_one("#score", Digits).update(f"{score:.2f}" if score is not None else "-")
        self.query_one("#status", Static).update(standing(relationship))
        # The four signals are fixed, so the rows composed at first stay right.
        for index, signal in enumerate(relationship.signals):
            for part, content in (
                ("name", inert(signal.name)),
                ("value", signal_value(signal)),
                ("reason", inert(signal.reason)),
            ):
                cell = self.query(f"#signal-{index}-{part}")
                if cell:
                    cell.first(Static).update(content)
        if view.plan is not None and view.plan != self.plan_shown:
            self.plan_shown = view.plan
            self.query_one("#plan", Markdown).update(view.plan)

    def action_export(self) -> None:
        self.therapy.ask_export()

    def action_copy(self) -> None:
        self.therapy.copy_plan()
