"""The therapy app: the home screen, or one session's phase screens kept live."""

from __future__ import annotations

import importlib
import math
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

from therapy.model import FACILITATOR, Actor, Participant, Phase, Role, Session
from therapy.service import Sessions
from therapy.text import clean_line
from therapy.tui.commands import session_commands
from therapy.tui.live import Live
from therapy.tui.screens.base import PhaseScreen
from therapy.tui.view import SessionChanged, SessionGone, SessionView

Opened = tuple[SessionView, tuple[int, int, int] | None]
Joining = tuple[Session, str | None, str | None]  # the session, the name and side given

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
            self.push_screen(self._screen_for(view))
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
        self.switch_screen(self._screen_for(view))

    def _screen_for(self, view: SessionView) -> Screen[None]:
        if self.viewer.role is Role.OBSERVER:
            from therapy.tui.screens.watch import WatchScreen

            return WatchScreen(view)
        return phase_screen(view.phase)(view)

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
                if not math.isfinite(minutes):
                    raise ValueError(answer)
            except ValueError:
                shown = clean_line(answer)
                self.notify(f"'{shown}' is not a number of minutes; try 10.", severity="error")
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

        if self.restricted or not self.viewer.is_facilitator:
            self.notify("Only the facilitator's own terminal writes files.", severity="error")
            return

        def write(sessions: Sessions, code: str) -> None:
            write_file(path, plan_for(sessions, code))

        self.act(write, done=f"Wrote {path}")

    def copy_plan(self) -> None:
        from therapy.export import plan_for

        if not self.viewer.is_facilitator:
            # the plan names every card: a participant gets it only once all is revealed
            screen = next((s for s in self.screen_stack if isinstance(s, PhaseScreen)), None)
            plan = screen.view.plan if screen is not None else None
            if plan is None:
                self.notify("The plan can be copied at close.", severity="warning")
            else:
                self.copy_to_clipboard(plan)
                self.notify("The plan is on the clipboard.")
            return

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
