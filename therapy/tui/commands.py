"""The commands of an open session: the palette's entries (ctrl+p) and what they do. Each
is offered only where the service's permission table allows it."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import SystemCommand

from therapy.model import Role
from therapy.service import Sessions
from therapy.service.permissions import Action, allows
from therapy.text import shown
from therapy.tui.widgets.phase_screen import PhaseScreen

if TYPE_CHECKING:
    from therapy.tui.app import TherapyApp


def session_commands(app: TherapyApp) -> Iterator[SystemCommand]:
    if app.live is None or app.viewer.role is Role.OBSERVER:
        return
    screen = current_screen(app)
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
    if app.viewer.is_facilitator:
        yield SystemCommand(
            "Export plan", "Write the action plan to a Markdown file", lambda: ask_export(app)
        )
        yield SystemCommand(
            "Copy plan", "Copy the action plan to the clipboard (OSC 52)", lambda: copy_plan(app)
        )
        yield SystemCommand("Sessions", "Back to the list of sessions", app.close_session)
    else:
        yield SystemCommand(
            "Copy plan", "Copy the action plan to the clipboard", lambda: copy_plan(app)
        )


def current_screen(app: TherapyApp) -> PhaseScreen | None:
    """The phase screen on the stack, also when a form is open on top of it."""
    return next((s for s in reversed(app.screen_stack) if isinstance(s, PhaseScreen)), None)


def next_phase(app: TherapyApp) -> None:
    viewer = app.viewer
    app.act(lambda sessions, code: sessions.set_phase(code, "next", viewer))


def previous_phase(app: TherapyApp) -> None:
    viewer = app.viewer
    app.act(lambda sessions, code: sessions.set_phase(code, "back", viewer))


def ask_timer(app: TherapyApp) -> None:
    from therapy.tui.widgets.prompt import TextPrompt

    def set_timer(answer: str | None) -> None:
        if answer is None or app.live is None:
            return
        try:
            minutes = float(answer.strip() or 0)
            if not math.isfinite(minutes):
                raise ValueError(answer)
        except ValueError:
            app.notify(f"'{shown(answer)}' is not a number of minutes; try 10.", severity="error")
            return
        screen = current_screen(app)
        phase = screen.phase.value if screen is not None else ""
        viewer = app.viewer
        app.act(lambda s, code: s.set_timebox(code, phase, round(minutes * 60), viewer))

    app.push_screen(TextPrompt("Minutes for this phase (0 for no timer)", "10"), set_timer)


def ask_export(app: TherapyApp) -> None:
    from therapy.tui.widgets.prompt import TextPrompt

    if app.live is None:
        return
    screen = current_screen(app)
    title = screen.view.session.title if screen is not None else ""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "plan"
    default = str(Path.cwd() / f"{slug}-{app.live.code.lower()}.md")

    def export(answer: str | None) -> None:
        if answer and answer.strip():
            export_plan(app, Path(answer.strip()).expanduser())

    app.push_screen(TextPrompt("Export the plan to", default), export)


def export_plan(app: TherapyApp, path: Path) -> None:
    if app.restricted or not app.viewer.is_facilitator:
        app.notify("Only the facilitator's own terminal writes files.", severity="error")
        return

    def write(sessions: Sessions, code: str) -> None:
        sessions.write_plan(code, path)

    app.act(write, done=f"Wrote {path}")


def copy_plan(app: TherapyApp) -> None:
    if not app.viewer.is_facilitator:
        # the plan names every card: a participant gets it only once all is revealed
        screen = current_screen(app)
        plan = screen.view.plan if screen is not None else None
        if plan is None:
            app.notify("The plan can be copied at close.", severity="warning")
        else:
            app.copy_to_clipboard(plan)
            app.notify("The plan is on the clipboard.")
        return

    def copy(sessions: Sessions, code: str) -> None:
        text = sessions.plan(code)
        app.call_from_thread(app.copy_to_clipboard, text)

    app.act(copy, done="The plan is on the clipboard.")
