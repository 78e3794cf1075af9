"""The read API: what a viewer may see of a session (its board, the view a screen shows,
the plan), and a stamp that changes when the session does."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from therapy.model import (
    FACILITATOR,
    Actor,
    Board,
    Complaint,
    EarlierItem,
    Group,
    History,
    Phase,
    Relationship,
    Session,
    SessionPoint,
    Snapshot,
    Suggestion,
    TherapyError,
)
from therapy.service.actions import ActionRules
from therapy.service.suggesting import SuggestingRules
from therapy.service.validate import normalise_code

if TYPE_CHECKING:
    from therapy.prompts import Prompts


@dataclass
class SessionView:
    """Everything the current phase's screen needs, loaded in one go."""

    board: Board
    earlier: list[EarlierItem]
    relationship: Relationship
    prompts: Prompts
    today: str = ""  # ISO date, from the service's clock
    skipped: list[str] = field(default_factory=list)  # earlier sessions that could not be read
    present: set[int] = field(default_factory=set)  # participants whose process runs
    suggestions: dict[int, Suggestion] = field(default_factory=dict)
    # "": shown (or none yet: before diagnose); "pending": the suggester is still starting,
    # they follow; "refreshing": shown, and newer ones (other sessions' causes changed)
    # follow; "failed": the suggester could not start (suggestion_error says why);
    # "hidden": not for this viewer (a participant watches the facilitator sort)
    suggesting: str = ""
    suggestion_error: str = ""
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


class ReadingRules(ActionRules, SuggestingRules):
    def stamp(self, code: str) -> tuple[int, int, int] | None:
        """Changes whenever the session does; None once it is gone."""
        return self.store.stamp(normalise_code(code))

    def board(self, code: str, viewer: Actor = FACILITATOR) -> Board:
        """All of a session a viewer may see: before the reveal, a participant sees only
        their own side's cards, and of the other sides only how many there are."""
        return self._board(self.store.read(normalise_code(code)), viewer)

    def _board(self, snapshot: Snapshot, viewer: Actor) -> Board:
        session = snapshot.session
        complaints = sorted(snapshot.complaints.values(), key=lambda c: c.id)
        hidden: dict[str, int] = {}
        if not viewer.is_facilitator and not session.revealed:
            # an observer (the projector) belongs to no side: it sees only the counts
            side = self._participant(snapshot, viewer).side if viewer.participant else None
            for complaint in complaints:
                if complaint.side != side:
                    hidden[complaint.side] = hidden.get(complaint.side, 0) + 1
            complaints = [c for c in complaints if c.side == side]
        votes = sorted(snapshot.votes.values(), key=lambda v: v.id)
        if session.anonymous:
            my_votes = [
                v.complaint
                for v in votes
                if v.claim == self.claim(viewer, session.code, "vote", v.id)
            ]
        else:
            my_votes = [v.complaint for v in votes if v.participant == viewer.participant]
        return Board(
            session=session,
            participants=sorted(snapshot.participants.values(), key=lambda p: p.id),
            complaints=complaints,
            groups=_groups(complaints),
            votes=votes,
            action_items=sorted(snapshot.actions.values(), key=lambda a: a.id),
            wins=sorted(snapshot.wins.values(), key=lambda w: w.id),
            hidden=hidden,
            mine={
                c.id
                for c in complaints
                if viewer.participant is not None and self.owns(snapshot, viewer, c)
            },
            my_votes=my_votes if viewer.participant is not None else [],
            my_wins={
                w.id
                for w in snapshot.wins.values()
                if viewer.participant is not None and self.owns(snapshot, viewer, w)
            },
        )

    def relationship(
        self, code: str, board: Board | None = None, earlier: list[EarlierItem] | None = None
    ) -> Relationship:
        from therapy.relationship import measure

        board = board or self.board(code)
        if earlier is None:
            earlier = self.history(board.session).items
        return measure(board, earlier)

    def view(self, code: str, viewer: Actor) -> SessionView:
        """Everything the current phase's screen needs; slow parts only where they are shown."""
        board = self.board(code, viewer)
        prompts = self.prompts
        history: History = self.history(board.session)
        view = SessionView(
            board=board,
            earlier=history.items,
            relationship=self.relationship(code, board, history.items),
            prompts=prompts,
            today=self.today(),
            skipped=history.skipped,
            present=self.present(code),
        )
        if board.session.phase.order >= Phase.DIAGNOSE.order:
            if viewer.participant is not None:
                view.suggesting = "hidden"  # the suggester is the facilitator's tool
            else:
                try:
                    suggestions = self.suggestions(board, wait=False)
                except TherapyError as error:  # said once; the cards are sorted by hand
                    view.suggesting, view.suggestion_error = "failed", str(error)
                else:
                    view.suggestions = suggestions or {}
                    if suggestions is None:
                        view.suggesting = "pending"
                    elif self.building_suggester(code):
                        view.suggesting = "refreshing"  # shown; newer ones follow
            if board.session.phase is Phase.DIAGNOSE:
                try:
                    view.alike = self.alike(board, wait=False)
                except TherapyError:
                    view.alike = {}
        if board.session.phase is Phase.CLOSE:
            # What `therapy export` writes, from what is loaded already: at close every card
            # is revealed, so every viewer's board is the whole.
            view.plan = self._render(board, history, "md", None, view.suggestions)
        return view

    def plan(
        self,
        code: str,
        fmt: str = "md",
        template: str | None = None,
        viewer: Actor = FACILITATOR,
    ) -> str:
        """The plan of one session as `therapy export` writes it."""
        board = self.board(code, viewer)
        return self._render(board, self.history(board.session), fmt, template)

    def _render(
        self,
        board: Board,
        history: History,
        fmt: str,
        template: str | None,
        suggestions: dict[int, Suggestion] | None = None,
    ) -> str:
        from therapy.export import build_plan, render

        relationship = self.relationship(board.session.code, board, history.items)
        # the shipped plan shows suggestions only for unsorted cards: without any, the
        # suggester (a second or two to start) is not needed (export, publish)
        sorted_all = all(c.cause is not None for c in board.complaints)
        if suggestions is None and fmt == "md" and template is None and sorted_all:
            suggestions = {}
        if suggestions is None:
            suggestions = self.suggestions(board) or {}
        plan = build_plan(board, relationship, history, self.prompts, self.today(), suggestions)
        plan.recent = self.recent(board.session)
        return render(plan, fmt, template)

    def recent(self, session: Session, count: int = 5) -> list[SessionPoint]:
        """The pair's last sessions up to this one, oldest first: how it has been doing
        (the trend's, where the service has one)."""
        return []

    def write_plan(self, code: str, path: Path, fmt: str = "md") -> None:
        from therapy.export import write_file

        write_file(path, self.plan(code, fmt))


def _groups(complaints: list[Complaint]) -> list[Group]:
    groups: dict[int, list[int]] = {}
    for complaint in complaints:
        if complaint.group is not None:
            groups.setdefault(complaint.group, []).append(complaint.id)
    return [Group(gid, sorted(ids)) for gid, ids in sorted(groups.items())]
