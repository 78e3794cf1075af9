"""What every phase screen shares: the header, who is here, the footer, moving between
phases, and keeping to the facilitator what only the facilitator may do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen

from therapy.model import Participant, Phase
from therapy.service import Sessions, SessionView
from therapy.service.permissions import Action, allows
from therapy.tui.widgets.footer import KeyFooter
from therapy.tui.widgets.header import PhaseHeader
from therapy.tui.widgets.presence import PresenceBar

if TYPE_CHECKING:
    from therapy.tui.app import TherapyApp

SHARED_CSS = Path(__file__).with_name("phase_screen.tcss")


class PhaseScreen(Screen[None]):
    """A phase of a session; `show` is called with every new view of it.

    The screen carries a class for its viewer's role (-facilitator, -participant,
    -observer), so that a phase's .tcss can lay out what each of them sees."""

    # Set on each phase's class; the projector's screen follows the session through all.
    phase: Phase
    HELP: ClassVar[str] = ""
    # What each key that changes the session does, in the permission table's words: the
    # key is offered (footer, F1, keys) exactly when the table allows it to this viewer in
    # this phase, as the service would.
    CHANGES: ClassVar[dict[str, Action]] = {"move": Action.MOVE_PHASE}
    # Keys of the facilitator's own screen that change nothing stored (a list to pick
    # people from, a file to write): not offered to anyone else.
    FACILITATOR_ONLY: ClassVar[frozenset[str]] = frozenset()

    BINDINGS = [
        Binding("ctrl+right,ctrl+n", "move('next')", "Next phase", priority=True),
        Binding("ctrl+left,ctrl+b", "move('back')", "Previous phase", priority=True, show=False),
    ]

    def __init__(self, view: SessionView) -> None:
        super().__init__(classes=f"phase {view.phase.value}")
        self.view = view
        self.css_path = [SHARED_CSS, *self.css_path]  # the presence bar, on every phase

    @property
    def therapy(self) -> TherapyApp:
        return self.app  # type: ignore[return-value]

    @property
    def facilitating(self) -> bool:
        return self.therapy.viewer.is_facilitator

    @property
    def me(self) -> Participant | None:
        """The participant at this screen; None for the facilitator and the projector."""
        wanted = self.therapy.viewer.participant
        if wanted is None:
            return None
        return next((p for p in self.view.board.participants if p.id == wanted), None)

    def mine(self, complaint_id: int) -> bool:
        """Whether a card is this viewer's to change (the service says which are: in an
        anonymous session only the process that wrote a card can tell)."""
        return self.facilitating or complaint_id in self.view.board.mine

    def compose(self) -> ComposeResult:
        self.add_class(f"-{self.therapy.viewer.role.value}")
        yield PhaseHeader()
        if self.facilitating:
            yield PresenceBar()
        with Vertical(id="body"):
            yield from self.compose_body()
        yield KeyFooter()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    composed = False  # until mounted, a new view is kept for on_mount to show

    @property
    def dropped(self) -> bool:
        """Whether the app has let this screen go: replaced, or the app quitting. One let go
        before it began to build (the connection ended as it was switched in) is mounted by
        Textual all the same, without its widgets: there is nothing in it to show or focus."""
        return not self.is_attached or self not in self.app.screen_stack

    def on_mount(self) -> None:
        # The screen's only Mount handler: Textual calls every class's own, dropped or not.
        if self.dropped:
            return
        self.prepare()
        # Widgets that compose their own children (the header, the standing) may not have
        # them yet: then show the newest view after the first refresh, else at once.
        if all(widget.children for widget in self.query("PhaseHeader, Standing")):
            self._first_show()
        else:
            self.call_after_refresh(self._first_show)

    def prepare(self) -> None:
        """Once built, before the first view: where the focus starts, lists' titles."""

    def _first_show(self) -> None:
        self.composed = True
        self.show(self.view)

    def follows(self, phase: Phase) -> bool:
        """Whether this screen shows the session in `phase` (else the app opens another)."""
        return phase is self.phase

    def show(self, view: SessionView) -> None:
        self.view = view
        if not self.composed:
            return  # a view that came while the screen was being switched in
        if self.dropped or not self.app.is_running:
            # The app is closing (quit, or a test's end): its screens and their widgets are
            # being taken down, and a view still on its way (a late first show, the
            # suggester's reload) would look for widgets that are gone.
            return
        here = None if self.facilitating else len(view.present)
        self.query_one(PhaseHeader).show(view.session, here, self.me)
        for bar in self.query(PresenceBar):
            bar.show(view)
        self.show_body(view)

    def show_body(self, view: SessionView) -> None:
        raise NotImplementedError

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        change = self.CHANGES.get(action)
        if change is not None:
            return allows(self.therapy.viewer.role, change, self.view.phase)
        return self.facilitating or action not in self.FACILITATOR_ONLY

    def act(
        self,
        change: Callable[[Sessions, str], object],
        done: str | None = None,
        failed: Callable[[str], None] | None = None,
    ) -> None:
        """Run a change to this session in a worker; errors are shown, never raised."""
        if (live := self.therapy.live) is not None:
            live.act(change, done, failed)

    def action_move(self, where: str) -> None:
        viewer, shown = self.therapy.viewer, self.view.phase
        # from the phase on screen: a move made meanwhile elsewhere refuses this one
        self.act(lambda sessions, code: sessions.set_phase(code, where, viewer, from_phase=shown))


def current_phase_screen(app: App[Any]) -> PhaseScreen | None:
    """The phase screen on the stack, also when a form is open on top of it."""
    return next((s for s in reversed(app.screen_stack) if isinstance(s, PhaseScreen)), None)
