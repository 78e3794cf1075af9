"""The session code, asked in the app: where there is no terminal to ask it on before the app
starts (the browser door). Three tries, each wrong one answered later than the last, as
`therapy ssh` answers them: guessing codes on one connection is slow."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, Label

from therapy.limits import CODE_TRIES
from therapy.model import Session
from therapy.text import shown
from therapy.tui.widgets.cards import inert
from therapy.tui.widgets.footer import KeyFooter
from therapy.tui.widgets.prompt import TextInput

Opens = Callable[[str], Session | None]  # the session a typed code opens here, if any
WRONG_CODES = 3  # the app's exit status once the codes were wrong (an error's is 1)


class CodeScreen(Screen[Session | None]):
    """Dismissed with the session a code opens, or None after CODE_TRIES wrong codes."""

    CSS_PATH = "code.tcss"
    HELP = "Type the session's code, as your facilitator gave it; then say who you are."

    def __init__(self, opens: Opens) -> None:
        super().__init__()
        self.opens = opens
        self.attempt = 1

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Join a retro", classes="dialog-title")
            yield Label("Session code (ask your facilitator)", id="asked")
            yield TextInput(placeholder="like K7QX2M", max_length=32, id="code")
            yield Label("", id="problem", classes="error")
        yield KeyFooter()

    @on(Input.Submitted, "#code")
    def _typed(self, event: Input.Submitted) -> None:
        typed = event.value.strip()
        if not typed:
            self.query_one("#problem", Label).update("Type the code first.")
            return
        event.input.disabled = True  # one code at a time
        self.check(typed)

    @work(exclusive=True)
    async def check(self, typed: str) -> None:
        session = await asyncio.to_thread(self.opens, typed)
        if session is not None:
            self.dismiss(session)
            return
        await self.slow_down(2 ** (self.attempt - 1))  # 1, 2, then 4 seconds
        if self.attempt >= CODE_TRIES:
            self.dismiss(None)
            return
        self.attempt += 1
        self.query_one("#problem", Label).update(
            inert(
                f"There is no session {shown(typed, 32).upper()} that you can join; check "
                "the code with your facilitator."
            )
        )
        self.query_one("#asked", Label).update(f"Session code (try {self.attempt} of {CODE_TRIES})")
        field = self.query_one("#code", TextInput)
        field.value = ""
        field.disabled = False
        field.focus()

    async def slow_down(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
