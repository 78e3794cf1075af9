"""Joining a session: asks only for what the command line did not say (side, name).

Textual hands a key to the widget that has the focus when the key is read, and runs its
binding only once the key has bubbled back up to the app; so a key that moves the focus moves
it too late for the keys read with it (a name typed fast, or pasted), which went to the old
widget. Here the keys that move on (enter on a side, tab) and the side list's own keys are
priority bindings, run by the app as each key is read, in order: every key after them reaches
the field they move to.

One join at a time: each ends in the form's dismissal, and a second one took off the screen
above it (the board as it was being built)."""

from __future__ import annotations

from dataclasses import replace

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from therapy.model import Participant, Session, TherapyError
from therapy.service import Sessions
from therapy.tui.widgets.cards import inert
from therapy.tui.widgets.footer import KeyFooter
from therapy.tui.widgets.prompt import TextInput


class SideList(OptionList):
    """The sides to pick from. Its keys (↑↓, home, end, page up and down) are run as they
    are read, so that enter, run so too, picks the side they left highlighted."""

    BINDINGS = [
        replace(binding, priority=True)
        for binding in OptionList.BINDINGS
        if isinstance(binding, Binding) and binding.key != "enter"  # (enter: the screen's)
    ]


class JoinScreen(Screen[Participant]):
    """Dismissed with the participant once joined."""

    CSS_PATH = "join.tcss"
    HELP = "Pick your side and say who you are; then you follow the facilitator's screen."
    BINDINGS = [
        Binding("enter", "pick_side", show=False, priority=True),  # (F1: as before, unlisted)
        Binding("enter", "join", "Join", show=False),
        Binding("tab", "app.focus_next", "Focus Next", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Focus Previous", show=False, priority=True),
    ]

    def __init__(
        self, sessions: Sessions, session: Session, name: str | None, side: str | None
    ) -> None:
        super().__init__()
        self.sessions = sessions
        self.session = session
        self.fixed_name = name
        self.fixed_side = side
        self.sent = False  # a join is on its way: another enter waits for its answer

    def compose(self) -> ComposeResult:
        session = self.session
        with Vertical(classes="dialog"):
            yield Label(
                Content.assemble(
                    "Join ", inert(session.title).stylize("bold"), f"  {session.code}"
                ),
                classes="dialog-title",
            )
            if self.fixed_side is None:
                yield Label("Your side (↑↓ then enter)")
                yield SideList(*[Option(inert(side)) for side in session.sides], id="sides")
            else:
                yield Label(Content.assemble("Side: ", inert(self.fixed_side).stylize("bold")))
            if session.anonymous:
                yield Label(
                    "This session is anonymous: no names are shown or stored.", classes="hint"
                )
            elif self.fixed_name is None:
                yield Label("Your name")
                yield TextInput(placeholder="as the others know you", id="name")
            else:
                yield Label(Content.assemble("Name: ", inert(self.fixed_name).stylize("bold")))
            yield Label("", id="problem", classes="error")
        yield KeyFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pick_side":  # elsewhere enter is the name field's, or the join's
            return isinstance(self.focused, SideList)
        return True

    @on(OptionList.OptionSelected, "#sides")  # (a click; enter is action_pick_side)
    def action_pick_side(self) -> None:
        if self.query("#name"):
            self.set_focus(self.query_one("#name", TextInput))  # now, not after the keys queued
        else:
            self.action_join()

    @on(TextInput.Submitted, "#name")
    def action_join(self) -> None:
        if self.sent:
            return
        side = self.fixed_side
        if side is None:
            index = self.query_one("#sides", OptionList).highlighted
            side = self.session.sides[index] if index is not None else None
        if side is None:
            self.query_one("#problem", Label).update("Pick your side first.")
            return
        name = self.fixed_name
        if name is None and self.query("#name"):
            name = self.query_one("#name", TextInput).value
            if not name.strip():
                self.query_one("#problem", Label).update("Say your name first.")
                return
        self.sent = True
        self.join(side, name)

    @work(thread=True, exclusive=True)
    def join(self, side: str, name: str | None) -> None:
        try:
            bound = self.fixed_name is not None  # given on the command line or by the key
            keyed = bound and getattr(self.app, "restricted", False)  # by an SSH key
            participant = self.sessions.join(self.session.code, side, name, bound, keyed)
        except TherapyError as error:
            self.app.call_from_thread(self._problem, str(error))
        else:
            self.app.call_from_thread(self.dismiss, participant)

    def _problem(self, message: str) -> None:
        self.sent = False
        self.query_one("#problem", Label).update(inert(message))
