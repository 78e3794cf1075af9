"""The top of every phase screen: the seven phases (current one marked), title, sides,
how many are here (for participants and the projector), who the participant at this screen
is, and the countdown when the phase has a timebox."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Static

from therapy.model import PHASES, Participant, Session
from therapy.service import Sessions
from therapy.tui.widgets.cards import inert


def stepper(session: Session) -> Content:
    parts: list[Content | str | tuple[str, str]] = []
    for phase in PHASES:
        if parts:
            parts.append((" › ", "$text-muted"))
        if phase is session.phase:
            parts.append((f" {phase.order + 1} {phase.label} ", "bold reverse $accent"))
        elif phase.order < session.phase.order:
            parts.append((f"{phase.order + 1} {phase.label}", "$text-muted"))
        else:
            parts.append(f"{phase.order + 1} {phase.label}")
    return Content.assemble(*parts)


def countdown(seconds: int | None) -> Content:
    if seconds is None:
        return Content("")
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    style = "bold $error" if sign else ("bold $warning" if seconds < 60 else "bold")
    return Content.assemble(
        ("⏱ ", "$text-muted"), (f"{sign}{seconds // 60}:{seconds % 60:02d}", style)
    )


def you(me: Participant) -> Content:
    """'you: Alex (Sales)'; in an anonymous session only the side, as everyone else sees it."""
    who = f"{me.name} ({me.side})" if me.name else f"{me.side} (anonymous)"
    return Content.assemble(("you: ", "$text-muted"), inert(who).stylize("bold $accent"))


class PhaseHeader(Horizontal):
    """Shows a session; ticks its countdown once a second without touching the store."""

    def __init__(self) -> None:
        super().__init__()
        self.session: Session | None = None
        self.who = Content("")  # the participant at this screen, beside the countdown
        self.shown: Content | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield Static(id="timer")
        yield Static(id="stepper")

    def on_mount(self) -> None:
        self.set_interval(1, self._tick)

    def show(
        self, session: Session, here: int | None = None, me: Participant | None = None
    ) -> None:
        """`here`: how many participants are connected, when it is to be shown; `me`: the
        participant at this screen."""
        self.session = session
        self.who = you(me) if me is not None else Content("")
        title = Content.assemble(
            inert(session.title).stylize("bold"),
            ("  ", ""),
            inert(" × ".join(session.sides)).stylize("$text-muted"),
            ("  " + session.code, "$text-muted"),
            ("  ·  ", "$text-muted") if here is not None else "",
            (f"{here} here", "bold $success") if here is not None else "",
        )
        self.query_one("#title", Static).update(title)
        self.query_one("#stepper", Static).update(stepper(session))
        self._tick()

    def _tick(self) -> None:
        if self.session is None:
            return
        sessions: Sessions = self.app.sessions  # type: ignore[attr-defined]
        timer = countdown(sessions.remaining(self.session))  # the service's clock: no I/O
        shown = Content("  ").join(part for part in (self.who, timer) if part)
        if shown != self.shown:  # an idle screen sends nothing to the terminal
            self.shown = shown
            self.query_one("#timer", Static).update(shown)
