"""A yes/no question before anything is lost: y says yes, n or escape says no, and enter
says the default (yes, unless what is lost can never come back)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from therapy.tui.widgets.cards import inert


class Confirm(ModalScreen[bool]):
    """Asks `question` (which may quote user text: shown as typed, never as markup)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, default: bool = True) -> None:
        super().__init__()
        self.question = question
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(inert(self.question), classes="dialog-title")  # wraps a long quote
            hint = "y or enter: yes · n or escape: no"
            if not self.default:
                hint = "y: yes · n, escape or enter: no"
            yield Label(hint, classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Yes", variant="error", id="yes", compact=True)
                yield Button("No", variant="primary", id="no", compact=True)

    def on_mount(self) -> None:
        # enter presses the focused button: the default (tab moves to the other)
        self.query_one("#yes" if self.default else "#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
