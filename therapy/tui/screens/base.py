"""What every phase screen shares: the header, the footer, moving between phases."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer

from therapy.model import Phase
from therapy.service import Sessions
from therapy.tui.view import SessionView
from therapy.tui.widgets.header import PhaseHeader

if TYPE_CHECKING:
    from therapy.tui.app import TherapyApp


class PhaseScreen(Screen[None]):
    """A phase of a session; `show` is called with every new view of it."""

    phase: ClassVar[Phase]
    HELP: ClassVar[str] = ""

    BINDINGS = [
        Binding("ctrl+right,ctrl+n", "move('next')", "Next phase", priority=True),
        Binding("ctrl+left,ctrl+b", "move('back')", "Previous phase", priority=True, show=False),
    ]

    def __init__(self, view: SessionView) -> None:
        super().__init__(classes=f"phase {view.phase.value}")
        self.view = view

    @property
    def therapy(self) -> TherapyApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield PhaseHeader()
        with Vertical(id="body"):
            yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    def on_mount(self) -> None:
        self.show(self.view)

    def show(self, view: SessionView) -> None:
        self.view = view
        self.query_one(PhaseHeader).show(view.session)
        self.show_body(view)

    def show_body(self, view: SessionView) -> None:
        raise NotImplementedError

    def act(
        self,
        change: Callable[[Sessions, str], object],
        done: str | None = None,
        failed: Callable[[str], None] | None = None,
    ) -> None:
        """Run a change to this session in a worker; errors are shown, never raised."""
        self.therapy.act(change, done, failed)

    def action_move(self, where: str) -> None:
        self.act(lambda sessions, code: sessions.set_phase(code, where))
