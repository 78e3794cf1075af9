"""The therapy app: the home screen, or one session's phase screens kept live."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from therapy.model import FACILITATOR, Actor, Participant, Role, Session
from therapy.service import Sessions
from therapy.tui.commands import session_commands
from therapy.tui.live import Live
from therapy.tui.screens import screen_for
from therapy.tui.view import SessionChanged, SessionGone, SessionView
from therapy.tui.widgets.phase_screen import PhaseScreen

Opened = tuple[SessionView, tuple[int, int, int] | None]
Joining = tuple[Session, str | None, str | None]  # the session, the name and side given


class Opening(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Static("Opening the session…", id="opening")


class TherapyApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "therapy"
    BINDINGS = [Binding("f1", "help", "Help"), Binding("ctrl+q", "quit", "Quit")]

    def __init__(
        self,
        sessions: Sessions,
        code: str | None = None,
        viewer: Actor = FACILITATOR,
        cursor_blink: bool = True,
        opened: Opened | None = None,
        joining: Joining | None = None,
        restricted: bool = False,
    ) -> None:
        """`opened`: the session's first view, loaded before the app starts, so that its
        first frame is the phase itself rather than an "Opening" screen. `joining`: ask
        for the side and name not given, then join. `restricted`: for a locked-down
        account (therapy ssh): nothing that writes files or leaves the session."""
        super().__init__()
        self.sessions = sessions
        self.code = code
        self.viewer = viewer
        self.cursor_blink = cursor_blink
        self.opened = opened
        self.joining = joining
        self.restricted = restricted
        self.live: Live | None = None
        self.farewell: str | None = None  # said on the terminal once the app has closed

    def on_mount(self) -> None:
        # Pushed over the (blank) default screen, so that every later screen can replace it.
        if self.code is None:
            from therapy.tui.screens.home import HomeScreen

            self.push_screen(HomeScreen())
        elif self.joining is not None:
            from therapy.tui.screens.join import JoinScreen

            session, name, side = self.joining
            self.push_screen(JoinScreen(self.sessions, session, name, side), self._joined)
        elif self.opened is not None:
            view, stamp = self.opened
            self.push_screen(screen_for(view, self.viewer))
            self.open_session(self.code, shown=stamp)
        else:
            self.push_screen(Opening())
            self.open_session(self.code)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Notifications quote what people typed: always plain text, whoever asks."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if self.restricted and command.title == "Screenshot":
                continue  # it writes a file: not from a locked-down account
            yield command
        yield from session_commands(self)

    # -- the open session ---------------------------------------------------------------

    def _joined(self, participant: Participant | None) -> None:
        if participant is None or self.code is None:
            return
        self.viewer = Actor(Role.PARTICIPANT, participant.id)
        self.push_screen(Opening())
        self.open_session(self.code)

    def open_session(self, code: str, shown: tuple[int, int, int] | None = None) -> None:
        if self.live is not None:
            self.live.stop()
        self.code = code
        self.live = Live(self, self.sessions, code, self.viewer, shown)
        self.live.start()

    def close_session(self) -> None:
        from therapy.tui.screens.home import HomeScreen

        if not self.viewer.is_facilitator:
            self.exit()  # participants and the projector have no list of sessions to go to
            return
        if self.live is not None:
            self.live.stop()
        self.live = None
        self._drop_modals()
        self.switch_screen(HomeScreen())

    def act(
        self,
        change: Callable[[Sessions, str], object],
        done: str | None = None,
        failed: Callable[[str], None] | None = None,
    ) -> None:
        """Run a change to the open session in a worker; see Live.act."""
        if self.live is not None:
            self.live.act(change, done, failed)

    @on(SessionChanged)
    def _show(self, message: SessionChanged) -> None:
        view = message.view
        if self.live is None or view.code != self.live.code:
            return  # a late view of a session that was closed meanwhile
        self.live.shown = message.stamp
        screen = self.screen if not isinstance(self.screen, ModalScreen) else None
        if isinstance(screen, PhaseScreen) and screen.follows(view.phase):
            screen.show(view)
            return
        current = next((s for s in self.screen_stack if isinstance(s, PhaseScreen)), None)
        if current is not None and current.follows(view.phase):
            current.show(view)  # a form is open on top: update beneath it
            return
        self._drop_modals()
        self.switch_screen(screen_for(view, self.viewer))

    @on(SessionGone)
    def _gone(self, message: SessionGone) -> None:
        if not self.viewer.is_facilitator:
            self.farewell = message.reason
            self.exit()
            return
        self.notify(message.reason, severity="error", timeout=10)
        self.close_session()

    def _drop_modals(self) -> None:
        while isinstance(self.screen, ModalScreen):
            self.pop_screen()

    def action_help(self) -> None:
        from therapy.tui.screens.help import HelpScreen, keys_of

        screen = self.screen
        if isinstance(screen, ModalScreen):
            return
        title = f"{screen.phase.label}: help" if isinstance(screen, PhaseScreen) else "therapy"
        self.push_screen(HelpScreen(title, getattr(screen, "HELP", ""), keys_of(screen)))
