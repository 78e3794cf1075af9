"""Command palette entries of an open session (ctrl+p)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from textual.app import SystemCommand

from therapy.model import Role

if TYPE_CHECKING:
    from therapy.tui.app import TherapyApp


def session_commands(app: TherapyApp) -> Iterator[SystemCommand]:
    if app.live is None:
        return
    if app.viewer.role is Role.OBSERVER:
        return
    if not app.viewer.is_facilitator:
        yield SystemCommand("Copy plan", "Copy the action plan to the clipboard", app.copy_plan)
        return
    yield SystemCommand("Next phase", "Move the session to its next phase", app.next_phase)
    yield SystemCommand("Previous phase", "Move the session back one phase", app.previous_phase)
    yield SystemCommand("Set timer", "Timebox the current phase (minutes)", app.ask_timer)
    yield SystemCommand("Export plan", "Write the action plan to a Markdown file", app.ask_export)
    yield SystemCommand(
        "Copy plan", "Copy the action plan to the clipboard (OSC 52)", app.copy_plan
    )
    yield SystemCommand("Sessions", "Back to the list of sessions", app.close_session)
