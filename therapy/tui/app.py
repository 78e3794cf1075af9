"""The therapy app: the home screen, or one session's phase screens kept live."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from therapy.model import FACILITATOR, Actor, Phase
from therapy.service import Sessions
from therapy.tui.commands import session_commands
from therapy.tui.live import Live
from therapy.tui.screens.base import PhaseScreen
from therapy.tui.view import SessionChanged, SessionGone, SessionView

Opened = tuple[SessionView, tuple[int, int, int] | None]

# Screens are imported when first shown, so start-up pays only for the one it opens.
SCREENS = {
    Phase.CHECK_IN: "checkin:CheckInScreen",
    Phase.VENT: "vent:VentScreen",
    Phase.DIAGNOSE: "diagnose:DiagnoseScreen",
    Phase.VOTE: "vote:VoteScreen",
    Phase.REMEDY: "remedy:RemedyScreen",
    Phase.CELEBRATE: "celebrate:CelebrateScreen",
    Phase.CLOSE: "close:CloseScreen",
}


def phase_screen(phase: Phase) -> type[PhaseScreen]:
    module, name = SCREENS[phase].split(":")
    screen: type[PhaseScreen] = getattr(
        importlib.import_module(f"therapy.tui.screens.{module}"), name
    )
    return screen


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
    ) -> None:
        """`opened`: the session's first view, loaded before the app starts, so that its
        first frame is the phase itself rather than an "Opening" screen."""
        super().__init__()
        self.sessions = sessions
        self.code = code
        self.viewer = viewer
        self.cursor_blink = cursor_blink
        self.opened = opened
        self.live: Live | None = None

    def on_mount(self) -> None:
        # Pushed over the (blank) default screen, so that every later screen can replace it.
        if self.code is None:
            from therapy.tui.screens.home import HomeScreen

            self.push_screen(HomeScreen())
        elif self.opened is not None:
            view, stamp = self.opened
            self.push_screen(phase_screen(view.phase)(view))
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
        yield from super().get_system_commands(screen)
        yield from session_commands(self)

    # -- the open session ---------------------------------------------------------------

    def open_session(self, code: str, shown: tuple[int, int, int] | None = None) -> None:
        if self.live is not None:
            self.live.stop()
        self.code = code
        self.live = Live(self, self.sessions, code, self.viewer, shown)
        self.live.start()

    def close_session(self) -> None:
        from therapy.tui.screens.home import HomeScreen

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
        if isinstance(screen, PhaseScreen) and screen.phase is view.phase:
            screen.show(view)
            return
        current = next((s for s in self.screen_stack if isinstance(s, PhaseScreen)), None)
        if current is not None and current.phase is view.phase:
            current.show(view)  # a form is open on top: update beneath it
            return
        self._drop_modals()
        self.switch_screen(phase_screen(view.phase)(view))

    @on(SessionGone)
    def _gone(self, message: SessionGone) -> None:
        self.notify(message.reason, severity="error", timeout=10)
        self.close_session()

    def _drop_modals(self) -> None:
        while isinstance(self.screen, ModalScreen):
            self.pop_screen()

    # -- commands that work in any phase --------------------------------------------------

    def next_phase(self) -> None:
        self.act(lambda sessions, code: sessions.set_phase(code, "next"))

    def previous_phase(self) -> None:
        self.act(lambda sessions, code: sessions.set_phase(code, "back"))

    def ask_timer(self) -> None:
        from therapy.tui.widgets.prompt import TextPrompt

        def set_timer(answer: str | None) -> None:
            if answer is None or self.live is None:
                return
            try:
                minutes = float(answer.strip() or 0)
            except ValueError:
                self.notify(f"'{answer}' is not a number of minutes; try 10.", severity="error")
                return
            phase = self.screen.phase.value if isinstance(self.screen, PhaseScreen) else ""
            self.act(lambda s, code: s.set_timebox(code, phase, round(minutes * 60)))

        self.push_screen(TextPrompt("Minutes for this phase (0 for no timer)", "10"), set_timer)

    def ask_export(self) -> None:
        from therapy.tui.widgets.prompt import TextPrompt

        if self.live is None:
            return
        title = self.screen.view.session.title if isinstance(self.screen, PhaseScreen) else ""
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "plan"
        default = str(Path.cwd() / f"{slug}-{self.live.code.lower()}.md")

        def export(answer: str | None) -> None:
            if answer and answer.strip():
                self.export_plan(Path(answer.strip()).expanduser())

        self.push_screen(TextPrompt("Export the plan to", default), export)

    def export_plan(self, path: Path) -> None:
        from therapy.export import plan_for, write_file

        def write(sessions: Sessions, code: str) -> None:
            write_file(path, plan_for(sessions, code))

        self.act(write, done=f"Wrote {path}")

    def copy_plan(self) -> None:
        from therapy.export import plan_for

        def copy(sessions: Sessions, code: str) -> None:
            text = plan_for(sessions, code)
            self.call_from_thread(self.copy_to_clipboard, text)

        self.act(copy, done="The plan is on the clipboard.")

    def action_help(self) -> None:
        from therapy.tui.screens.help import HelpScreen, keys_of

        screen = self.screen
        if isinstance(screen, ModalScreen):
            return
        title = f"{screen.phase.label}: help" if isinstance(screen, PhaseScreen) else "therapy"
        text = getattr(screen, "HELP", "")
        self.push_screen(HelpScreen(title, text, keys_of(screen)))
