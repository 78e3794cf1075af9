"""One screen per phase, plus home, join, help and the projector's; `screen_for` picks the
one that shows a view (no screen imports another: they share only widgets/)."""

from __future__ import annotations

import importlib

from textual.screen import Screen

from therapy.model import Actor, Phase, Role
from therapy.service import SessionView
from therapy.tui.widgets.phase_screen import PhaseScreen

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


def screen_for(view: SessionView, viewer: Actor) -> Screen[None]:
    """The projector follows every phase on one screen; everyone else, a screen per phase."""
    if viewer.role is Role.OBSERVER:
        from therapy.tui.screens.watch import WatchScreen

        return WatchScreen(view)
    return phase_screen(view.phase)(view)
