"""What a screen shows of a session, loaded in one go (in a worker thread, or before the
app starts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual.message import Message

from therapy.model import Actor, Board, EarlierItem, Phase, Relationship, Session
from therapy.service import Sessions

if TYPE_CHECKING:
    from therapy.diagnose import Suggestion
    from therapy.prompts import Prompts


@dataclass
class SessionView:
    board: Board
    earlier: list[EarlierItem]
    relationship: Relationship
    prompts: Prompts
    present: set[int] = field(default_factory=set)  # participants whose process runs
    suggestions: dict[int, Suggestion] = field(default_factory=dict)
    alike: dict[int, int] = field(default_factory=dict)  # complaint -> its near-duplicate
    plan: str | None = None

    @property
    def session(self) -> Session:
        return self.board.session

    @property
    def code(self) -> str:
        return self.board.session.code

    @property
    def phase(self) -> Phase:
        return self.board.session.phase


def load_view(sessions: Sessions, code: str, viewer: Actor) -> SessionView:
    """Everything the current phase's screen needs; slow parts only where they are shown."""
    board = sessions.board(code, viewer)
    prompts = sessions.prompts
    earlier = sessions.earlier_items(code, board.session)
    view = SessionView(
        board=board,
        earlier=earlier,
        relationship=sessions.relationship(code, board, earlier),
        prompts=prompts,
        present=sessions.present(code),
    )
    if board.session.phase.order >= Phase.DIAGNOSE.order:
        from therapy.diagnose import near_duplicates, suggest

        view.suggestions = {c.id: suggest(c.text, prompts.causes) for c in board.complaints}
        if board.session.phase is Phase.DIAGNOSE:
            view.alike = near_duplicates({c.id: c.text for c in board.complaints})
    if board.session.phase is Phase.CLOSE:
        from therapy.export import build_plan, render

        # What `therapy export` writes (the same plan and template), from what is loaded
        # already: at close every card is revealed, so every viewer's board is the whole.
        plan = build_plan(board, view.relationship, earlier, prompts)
        view.plan = render(plan, "md")
    return view


@dataclass
class SessionChanged(Message):
    """The session was changed, here or by another process; the new view of it."""

    view: SessionView
    stamp: tuple[int, int, int]


@dataclass
class SessionGone(Message):
    """The open session can no longer be read (deleted or damaged)."""

    reason: str
