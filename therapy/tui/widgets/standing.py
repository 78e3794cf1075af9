"""Where the pair stands: the score in big digits, the label, and the four signals with a
bar and the reason each. Shown at close and on the projector."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.content import Content
from textual.widgets import Digits, Static

from therapy.model import Relationship, Signal
from therapy.tui.widgets.cards import inert

BAR_CELLS = 10
SIGNALS = 4  # appreciation, balance, coverage, follow-through


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


def standing(relationship: Relationship, pair: str = "") -> Content:
    if relationship.score is None:
        how = "not enough happened in this session to measure it yet"
    else:
        how = f"score {relationship.score:.2f} of 1: the mean of the signals below"
    label = inert(relationship.label).stylize("bold $accent")
    if pair:
        label = Content.assemble(inert(pair).stylize("bold"), ": ", label)
    return Content.assemble(label, "\n", (how, "$text-muted"))


class Standing(Vertical):
    def compose(self) -> ComposeResult:
        with Horizontal(id="standing"):
            yield Digits(id="score")
            yield Static(id="status")
        with Grid(id="signals"):
            for index in range(SIGNALS):
                yield Static(id=f"signal-{index}-name", classes="signal-name")
                yield Static(id=f"signal-{index}-value")
                yield Static(id=f"signal-{index}-reason", classes="muted")

    def show(self, relationship: Relationship, pair: str = "") -> None:
        """The standing of `pair` (its name, or its sides), as measured."""
        score = relationship.score
        self.query_one("#score", Digits).update(f"{score:.2f}" if score is not None else "-")
        self.query_one("#status", Static).update(standing(relationship, pair))
        for index, signal in enumerate(relationship.signals[:SIGNALS]):
            for part, content in (
                ("name", inert(signal.name)),
                ("value", signal_value(signal)),
                ("reason", inert(signal.reason)),
            ):
                self.query_one(f"#signal-{index}-{part}", Static).update(content)
