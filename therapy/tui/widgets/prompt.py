"""A small modal form: a line of text, with suggestions to start from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from therapy.limits import COMPLAINT_CHARS
from therapy.tui.widgets.cards import inert
from therapy.tui.widgets.confirm import Confirm

# what a card may hold, as the service checks it: said in every card form's hint
LENGTH = f"1 to {COMPLAINT_CHARS:,} characters"


class TextInput(Input):
    """An Input whose cursor blinks only when the app wants it to (not in snapshots), and
    whose enter submits what was typed before it and nothing typed after it.

    Input's enter is a binding, run once the key has bubbled back up to the app; the keys read
    with it (typed fast, or on a loaded machine) are in the field by then, and were submitted
    too. Here the field takes enter in its turn with the other keys."""

    def on_mount(self) -> None:
        self.cursor_blink = getattr(self.app, "cursor_blink", True)

    async def on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()  # (not Input's own handling, nor its binding)
            await self.action_submit()


class Suggestions(OptionList):
    """What to start from, under the field: up from the first one goes back to the field."""

    def action_cursor_up(self) -> None:
        if self.highlighted in (None, 0):
            self.screen.query_one("#answer", Input).focus()
        else:
            super().action_cursor_up()


class TextPrompt(ModalScreen[str | None]):
    """Asks for one line of text; enter gives it (never a blank one), escape gives None,
    asking first when something was typed.

    A picked suggestion goes into the field to be edited, the cursor after it. With
    `replace`, the first key typed replaces the given value (a default, like a timer's 10);
    without it, the value is edited (a card's text).

    With `submit` (run in a worker thread: None when done, else why it was refused), the
    form stays open until the change is made: a refusal is shown here, the text kept."""

    CSS_PATH = "prompt.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "suggestions", "Suggestions", show=False),
    ]

    def __init__(
        self,
        title: str,
        value: str = "",
        placeholder: str = "",
        suggestions: Sequence[str] = (),
        hint: str = "",
        replace: bool = True,
        submit: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.suggestions = suggestions
        self.hint = hint
        self.replace = replace
        self.submit = submit
        self.sending = False  # a second enter while the first is being saved adds nothing

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(inert(self.title_text), classes="dialog-title")
            yield TextInput(
                self.value, placeholder=self.placeholder, id="answer", select_on_focus=self.replace
            )
            yield Label(id="form-error")
            if self.suggestions:
                yield Label("or pick one to start from and edit (↓ then enter):", classes="hint")
                yield Suggestions(
                    *[Option(inert(text)) for text in self.suggestions],
                    markup=False,
                    id="suggestions",
                )
            if self.hint:
                yield Label(inert(self.hint), classes="hint")

    @property
    def answer(self) -> Input:
        return self.query_one("#answer", Input)

    @on(Input.Blurred, "#answer")
    def _left_field(self) -> None:
        self.answer.select_on_focus = False  # coming back, the cursor goes on where it was

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            pick = ", or pick one below (↓ then enter)" if self.suggestions else ""
            self._refused(f"Nothing is typed yet: type it{pick}.")
        elif self.submit is None:
            self.dismiss(event.value)
        elif not self.sending:
            self.sending = True
            self._send(event.value)

    @dataclass
    class Sent(Message):
        """The service took the text (`refused` None) or said why not."""

        text: str
        refused: str | None

    @work(thread=True)
    def _send(self, text: str) -> None:
        assert self.submit is not None
        self.post_message(self.Sent(text, self.submit(text)))  # handled in the form's loop

    @on(Sent)
    def _sent(self, event: Sent) -> None:
        self.sending = False
        if event.refused is None:
            self.dismiss(event.text)
        else:
            self._refused(event.refused)

    def _refused(self, why: str) -> None:
        error = self.query_one("#form-error", Label)
        error.update(inert(why))
        error.display = True

    @on(OptionList.OptionSelected, "#suggestions")
    def _use_suggestion(self, event: OptionList.OptionSelected) -> None:
        answer = self.answer
        answer.select_on_focus = False
        answer.value = self.suggestions[event.option_index]
        answer.cursor_position = len(answer.value)
        answer.focus()

    def action_suggestions(self) -> None:
        if self.suggestions and self.focused is self.answer:
            suggestions = self.query_one(Suggestions)
            suggestions.highlighted = 0
            suggestions.focus()

    def action_cancel(self) -> None:
        if self.sending:  # it is being done (a publish can take seconds): its answer follows
            self._refused("Still working on it: wait for the answer, then leave.")
            return
        if self.answer.value == self.value:
            self.dismiss(None)
            return

        def leave(yes: bool | None) -> None:
            if yes:
                self.dismiss(None)

        self.app.push_screen(Confirm("Leave without saving what you typed?", default=False), leave)
