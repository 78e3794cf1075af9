"""The commands of an open session: the palette's entries (ctrl+p) and what they do, F1's
help and going back to the list of sessions. Each change is offered only where the service's
permission table allows it. No screen imports this module (it opens screens): the plan's
commands, which the close screen shares, are in tui/plan.py."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.screen import ModalScreen

from therapy.model import Role
from therapy.service import Sessions
from therapy.service.permissions import Action, allows
from therapy.text import shown
from therapy.tui.plan import ask_export, ask_publish, copy_plan
from therapy.tui.widgets.phase_screen import PhaseScreen, current_phase_screen

if TYPE_CHECKING:
    from therapy.tui.app import TherapyApp


def palette(app: TherapyApp, inherited: Iterable[SystemCommand]) -> Iterator[SystemCommand]:
    """Textual's own commands (less what a locked-down account may not do), then ours."""
    for command in inherited:
        if app.restricted and command.title == "Screenshot":
            continue  # it writes a file: not from a locked-down account
        yield command
    yield from session_commands(app)
    code = getattr(app.screen, "selected_code", None)  # the list of sessions' highlighted one
    if app.live is None and app.viewer.is_facilitator and code is not None:
        yield invite_command(app, code)


def session_commands(app: TherapyApp) -> Iterator[SystemCommand]:
    if app.live is None or app.viewer.role is Role.OBSERVER:
        return
    screen = current_phase_screen(app)
    role = app.viewer.role
    if screen is not None and allows(role, Action.MOVE_PHASE, screen.phase):
        yield SystemCommand(
            "Next phase", "Move the session to its next phase", lambda: next_phase(app)
        )
        yield SystemCommand(
            "Previous phase", "Move the session back one phase", lambda: previous_phase(app)
        )
    if screen is not None and allows(role, Action.SET_TIMEBOX, screen.phase):
        yield SystemCommand(
            "Set timer", "Timebox the current phase (minutes)", lambda: ask_timer(app)
        )
    code = app.live.code
    if not app.one_session:
        yield SystemCommand(
            "Pair history",
            "The pair's sessions: score, causes and follow-through over time",
            lambda: open_history(app, code),
        )
    if app.viewer.is_facilitator:
        yield SystemCommand(
            "Export plan", "Write the action plan to a Markdown file", lambda: ask_export(app)
        )
        yield SystemCommand(
            "Publish plan",
            "Publish the action plan and the pair's index page to a git wiki",
            lambda: ask_publish(app),
        )
        yield SystemCommand(
            "Copy plan", "Copy the action plan to the clipboard (OSC 52)", lambda: copy_plan(app)
        )
        yield invite_command(app, code)
        yield SystemCommand("Sessions", "Back to the list of sessions", lambda: close_session(app))
    else:
        yield SystemCommand(
            "Copy plan", "Copy the action plan to the clipboard", lambda: copy_plan(app)
        )


def invite_command(app: TherapyApp, code: str) -> SystemCommand:
    return SystemCommand(
        "Invite people",
        "The lines that let people join, to paste into a chat (copied to the clipboard)",
        lambda: show_invitation(app, code),
    )


def show_invitation(app: TherapyApp, code: str) -> None:
    from therapy.tui.dialogs.invitation import InvitationDialog

    if not isinstance(app.screen, InvitationDialog):
        app.push_screen(InvitationDialog(app.sessions, code))


def act(
    app: TherapyApp,
    change: Callable[[Sessions, str], object],
    done: str | None = None,
    failed: Callable[[str], None] | None = None,
) -> None:
    """Run a change to the open session in a worker; see Live.act."""
    if app.live is not None:
        app.live.act(change, done, failed)


def close_session(app: TherapyApp) -> None:
    """Back to the list of sessions; participants and the projector have none: they leave."""
    from therapy.tui.screens.home import HomeScreen

    if not app.viewer.is_facilitator:
        app.exit()
        return
    if app.live is not None:
        app.live.stop()
    app.live = None
    close_dialogs(app)
    app.switch_screen(HomeScreen())


def close_dialogs(app: TherapyApp) -> None:
    while isinstance(app.screen, ModalScreen):
        app.pop_screen()


def show_help(app: TherapyApp) -> None:
    from therapy.tui.screens.help import HelpScreen, keys_of

    screen = app.screen
    if isinstance(screen, ModalScreen) and not getattr(screen, "HELP", ""):
        return  # a dialog (or the help itself); a modal screen with its own help has F1
    if isinstance(screen, PhaseScreen):
        title = f"{screen.phase.label}: help"
    else:
        title = getattr(screen, "help_title", "therapy")
    app.push_screen(HelpScreen(title, getattr(screen, "HELP", ""), keys_of(screen)))


def open_history(app: TherapyApp, code: str | None) -> None:
    """The history of the pair of session CODE (its score, causes and follow-through from
    one session to the next), over the screen that asked; escape goes back to it. It reads
    only that pair's sessions: safe for anyone who may open one of them, and so never for a
    key that opens one session only."""
    from therapy.tui.screens.history import HistoryScreen

    if code is None or app.one_session or isinstance(app.screen, HistoryScreen):
        return
    app.push_screen(HistoryScreen(code))


def next_phase(app: TherapyApp) -> None:
    if (screen := current_phase_screen(app)) is not None:
        screen.action_move("next")


def previous_phase(app: TherapyApp) -> None:
    if (screen := current_phase_screen(app)) is not None:
        screen.action_move("back")


def ask_timer(app: TherapyApp) -> None:
    from therapy.tui.widgets.prompt import TextPrompt

    def set_timer(answer: str | None) -> None:
        if answer is None or app.live is None:
            return
        try:
            minutes = float(answer.strip() or 0)
            if not math.isfinite(minutes) or not 0 <= minutes <= 240:  # the service's bounds
                raise ValueError(answer)
        except ValueError:
            app.notify(
                f"'{shown(answer)}' is not a number of minutes from 0 to 240; try 10.",
                severity="error",
            )
            return
        screen = current_phase_screen(app)
        phase = screen.phase.value if screen is not None else ""
        viewer = app.viewer
        act(app, lambda s, code: s.set_timebox(code, phase, round(minutes * 60), viewer))

    app.push_screen(TextPrompt("Minutes for this phase (0 for no timer)", "10"), set_timer)
