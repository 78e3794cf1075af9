"""The therapy app: the home screen, or one session's phase screens kept live."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from textual import on
from textual.app import SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer

from therapy.model import FACILITATOR, Actor, Participant, Role, Session
from therapy.service import Sessions, SessionView
from therapy.text import duration, strip_controls
from therapy.tui import crash
from therapy.tui.commands import close_dialogs, close_session, open_history, palette, show_help
from therapy.tui.live import Live
from therapy.tui.screens import screen_for
from therapy.tui.screens.opening import Opening
from therapy.tui.view import SessionChanged, SessionGone
from therapy.tui.widgets.phase_screen import current_phase_screen

Opened = tuple[SessionView, tuple[int, int, int] | None]
Joining = tuple[Session, str | None, str | None]  # the session, the name and side given
NOT_JOINED = 4  # the app's exit status when no session was joined in time (wrong codes: 3)


class TherapyApp(crash.ReportingApp):
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
        one_session: bool = False,
        asking: Callable[[str], Session | None] | None = None,
        join_seconds: float | None = None,
    ) -> None:
        """`opened`: the session's first view, loaded before the app starts, so that its
        first frame is the phase itself rather than an "Opening" screen. `joining`: ask
        for the side and name not given, then join. `restricted`: for a locked-down
        account (therapy ssh): nothing that writes files or leaves the session.
        `one_session`: a key that opens this session only (therapy ssh --session): no pair
        history, which is all about the pair's other sessions. `asking`, with no code: ask
        the code in the app (the session it opens, or None), then join (the browser door).
        `join_seconds`: asking or joining, the app ends (NOT_JOINED) if no session is joined
        within this time: a connection to therapy serve that does not join holds an app."""
        super().__init__()
        self.sessions = sessions
        self.code = code
        self.viewer = viewer
        self.cursor_blink = cursor_blink
        self.opened = opened
        self.joining = joining
        self.restricted = restricted
        self.one_session = one_session
        self.asking = asking
        self.join_seconds = join_seconds
        self.join_timer: Timer | None = None
        self.live: Live | None = None
        self.farewell: str | None = None  # said on the terminal once the app has closed

    def on_mount(self) -> None:
        asks = self.code is None and self.asking is not None
        if self.join_seconds is not None and (asks or self.joining is not None):
            self.join_timer = self.set_timer(self.join_seconds, self._not_joined)
        # Pushed over the (blank) default screen, so that every later screen can replace it.
        if self.code is None and self.asking is not None:
            from therapy.tui.screens.code import CodeScreen

            self.push_screen(CodeScreen(self.asking), self._code_given)
        elif self.code is None:
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
        """Notifications quote what people typed and paths they gave: always plain text,
        with no terminal control in it (Textual strips only a few), whoever asks."""
        message, title = strip_controls(message), strip_controls(title)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from palette(self, super().get_system_commands(screen))

    def action_help_quit(self) -> None:
        """ctrl+c: Textual's hint, in plain words (its own is markup, and ours is plain)."""
        for key, active in self.active_bindings.items():
            if active.binding.action in ("quit", "app.quit"):
                self.notify(f"Press {key} to quit the app", title="Do you want to quit?")
                return

    def report(self, details: str) -> str:
        joining = self.joining is not None and self.viewer.is_facilitator  # (not yet joined)
        who = "someone joining" if joining else self.viewer.role.value
        about = f"{who} of session {self.code}" if self.code else "the list of sessions"
        if self.code is None and self.asking is not None:
            about = "someone giving a session's code"
        folder = self.sessions.store.root  # the data folder: nowhere else is written
        return crash.save_report(folder, self.sessions.now(), about, details, self.restricted)

    # -- the open session ---------------------------------------------------------------

    def _code_given(self, session: Session | None) -> None:
        from therapy.tui.screens.code import WRONG_CODES
        from therapy.tui.screens.join import JoinScreen

        if session is None:
            self.exit(return_code=WRONG_CODES)  # the connection ends, as over SSH
            return
        self.code = session.code
        self.joining = (session, None, None)
        self.push_screen(JoinScreen(self.sessions, session, None, None), self._joined)

    def _not_joined(self) -> None:
        given = duration(self.join_seconds or 0)
        self.farewell = f"No session was joined within {given}; connect again to join."
        self.exit(return_code=NOT_JOINED)

    def _joined(self, participant: Participant | None) -> None:
        if participant is None or self.code is None:
            return
        if self.join_timer is not None:
            self.join_timer.stop()
        self.viewer = Actor(Role.PARTICIPANT, participant.id)
        self.push_screen(Opening())
        self.open_session(self.code)

    def open_session(self, code: str, shown: tuple[int, int, int] | None = None) -> None:
        if self.live is not None:
            self.live.stop()
        self.code = code
        self.live = Live(self, self.sessions, code, self.viewer, shown)
        self.live.start()

    @on(SessionChanged)
    def _show(self, message: SessionChanged) -> None:
        view = message.view
        if self.live is None or view.code != self.live.code:
            return  # a late view of a session that was closed meanwhile
        if self._exit or not self.is_running or not self.screen_stack:
            return  # the app is quitting: its screens are being taken down
        self.live.shown = message.stamp
        screen = current_phase_screen(self)
        if screen is not None and screen.follows(view.phase):
            screen.show(view)  # also beneath a form open on top of it
            return
        close_dialogs(self)
        self.switch_screen(screen_for(view, self.viewer))

    @on(SessionGone)
    def _gone(self, message: SessionGone) -> None:
        if self.viewer.is_facilitator:
            self.notify(message.reason, severity="error", timeout=10)
        else:
            self.farewell = message.reason  # said on the terminal once the app has closed
        close_session(self)

    def action_help(self) -> None:
        show_help(self)

    def open_history(self, code: str | None) -> None:
        """The pair history of session CODE, over the screen that asks (home, close)."""
        open_history(self, code)
