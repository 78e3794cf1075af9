"""A fixed world for TUI tests: known session codes, a fixed clock, and ways to wait until
the app shows what the store holds."""

from __future__ import annotations

import itertools
from pathlib import Path

from textual.pilot import Pilot

from therapy.demo import build_demo
from therapy.model import FACILITATOR, Actor, Phase, Role
from therapy.service import Sessions, validate
from therapy.store import Store
from therapy.tui.app import TherapyApp
from therapy.tui.widgets.phase_screen import PhaseScreen

NOW = "2026-11-27T10:00:00+00:00"
CODES = ("EARLY2", "DEMO42", "OTHER3", "EXTRA4", "EXTRA5", "EXTRA6")


def fix_world(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    codes = itertools.chain(CODES, (f"CODE{n:02d}" for n in itertools.count()))
    monkeypatch.setenv("THERAPY_NOW", NOW)
    monkeypatch.setattr(validate, "new_code", lambda: next(codes))


def demo_sessions(data_dir: Path, phase: Phase, finish: bool = True) -> tuple[Sessions, str]:
    sessions = Sessions(Store(data_dir))
    return sessions, build_demo(sessions, until=phase, finish_last=finish)


def app_for(sessions: Sessions, code: str | None = None, preload: bool = True) -> TherapyApp:
    """The app as `therapy facilitate` starts it: the first view loaded before it runs."""
    opened = None
    if code is not None and preload:
        stamp = sessions.stamp(code)
        opened = (sessions.view(code, FACILITATOR), stamp)
    return TherapyApp(sessions, code, cursor_blink=False, opened=opened)


def viewer_app(sessions: Sessions, code: str, viewer: Actor) -> TherapyApp:
    """The app as `therapy join` (a participant) or `therapy watch` (OBSERVER) starts it."""
    opened = (sessions.view(code, viewer), sessions.stamp(code))
    return TherapyApp(sessions, code, viewer=viewer, cursor_blink=False, opened=opened)


def participant_app(sessions: Sessions, code: str, participant: int = 1) -> TherapyApp:
    """A participant's app; by default the demo's first to join (Alex, Sales)."""
    return viewer_app(sessions, code, Actor(Role.PARTICIPANT, participant))


async def settle(pilot: Pilot[None], rounds: int = 300) -> None:
    """Wait until every change has been written and the screen shows the stored session."""
    app = pilot.app
    assert isinstance(app, TherapyApp)
    for _ in range(rounds):
        await pilot.pause(0.02)
        busy = [w for w in app.workers if w.group != "watch" and w.is_running]
        if busy:
            continue
        if app.live is None:
            return
        on_screen = next((s for s in app.screen_stack if isinstance(s, PhaseScreen)), None)
        stored = app.sessions.stamp(app.live.code)
        if (
            on_screen is not None
            and app.live.shown == stored
            and on_screen.phase is app.sessions.session(app.live.code).phase
            and on_screen.view.suggesting != "pending"  # the suggester's first build
        ):
            await pilot.pause(0.05)
            return
    raise AssertionError("the app did not settle")


async def wait(pilot, check, what: str, rounds: int = 500) -> None:  # type: ignore[no-untyped-def]
    """Wait until `check()` holds (polled, with a generous deadline); `what` says what failed."""
    for _ in range(rounds):
        if check():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"waited in vain: {what}")
