"""Who is here: the facilitator's one-line bar of the participants, present or away, with what
each still has to do in the phase (a first card, votes to spend). When not everyone fits, it
summarises ('7 here, 2 away: Dana, Priya') rather than cut a name."""

from __future__ import annotations

from collections import Counter

from textual import events
from textual.content import Content
from textual.widgets import Static

from therapy.model import Board, Participant, Phase
from therapy.service import SessionView
from therapy.text import plural
from therapy.tui.widgets.cards import inert

MUTED = "$text-muted"
GAP = Content("   ")
# What the phase waits for, said of several people at once.
WAITING = {
    Phase.CHECK_IN: "with no card yet",
    Phase.VENT: "with no card yet",
    Phase.VOTE: "still to vote",
}


def still_voting(voting: int, people: int) -> str:
    """'2 of 4 people still have votes', '1 of 4 people still has votes', 'the one person
    still has votes'."""
    if people == 1:
        return f"the one person {'still has' if voting else 'has no'} votes"
    return f"{voting} of {people} people still {'has' if voting == 1 else 'have'} votes"


def person_name(person: Participant) -> str:
    """Their name, or which side they are from in an anonymous session."""
    return person.name or f"someone from {person.side}"


def has_card(board: Board, person: Participant) -> bool:
    return any(
        c.participant == person.id or (person.name is not None and c.author == person.name)
        for c in board.complaints
    )


def waiting(board: Board, person: Participant) -> bool:
    """Whether the phase still waits for this person; in an anonymous session nobody is
    singled out (no card says whose it is, and a seat's votes are no one's business)."""
    phase = board.session.phase
    if board.session.anonymous or phase not in WAITING:
        return False
    if phase is Phase.VOTE:
        return board.votes_left(person.id) > 0
    return not has_card(board, person)


def to_do(board: Board, person: Participant) -> str:
    """What this person still has to do in the phase, in a few words ('' when nothing)."""
    voting = board.session.phase is Phase.VOTE and not board.session.anonymous
    if not waiting(board, person):
        return "voted" if voting else ""
    return f"{plural(board.votes_left(person.id), 'vote')} left" if voting else "no card yet"


def groups(people: list[Participant]) -> list[tuple[str, list[Participant]]]:
    """(label, people): each named person alone; those without a name, by side ('2 from
    Sales'), so that an anonymous session shows no row of identical strangers."""
    named = [(person.name, [person]) for person in people if person.name]
    sides = Counter(person.side for person in people if not person.name)
    unnamed = [
        (f"{count} from {side}", [p for p in people if not p.name and p.side == side])
        for side, count in sides.items()
    ]
    return named + unnamed


def entry(board: Board, label: str, people: list[Participant], present: bool) -> Content:
    """'● Alex Sales · no card yet', '○ Dana Marketing (away)', '● 2 from Sales'."""
    person = people[0]
    note = to_do(board, person) if person.name else ""
    shown = Content.assemble(
        ("● ", "$success") if present else "○ ",
        inert(label).stylize("bold" if present else ""),
        Content.assemble(" ", inert(person.side).stylize(MUTED)) if person.name else "",
        "" if present else " (away)",
        (f" · {note}", "$warning" if present else "") if note else "",
    )
    return shown if present else shown.stylize(MUTED)


def listed(labels: list[str], room: int) -> Content | None:
    """As many whole labels as fit in `room` cells, then how many more; None if none fits."""
    for shown in range(len(labels), 0, -1):
        more = len(labels) - shown
        names = Content(", ").join(inert(label) for label in labels[:shown])
        line = Content.assemble(names, f", +{more} more" if more else "")
        if line.cell_length <= room:
            return line
    return None


def presence_line(view: SessionView, width: int) -> Content:
    """Everyone, those here first, when all fit in `width` cells; else those here and how many
    are away and who; else a summary. A name is never cut."""
    board, people = view.board, view.board.participants
    if not people:
        return Content.styled("nobody has joined yet: therapy join " + view.code, MUTED)
    here = [person for person in people if person.id in view.present]
    away = [person for person in people if person.id not in view.present]
    head = Content.styled(f"{len(here)} of {len(people)} here", "bold")
    present = [entry(board, label, group, True) for label, group in groups(here)]
    absent = groups(away)
    for kept in range(len(absent), -1, -1):
        rest = absent[kept:]
        parts = [head, *present, *(entry(board, *group, False) for group in absent[:kept])]
        if rest:
            count = sum(len(group) for _, group in rest)
            names = Content(", ").join(inert(label) for label, _ in rest)
            more = "more away" if kept else "away"
            parts.append(Content.assemble(f"○ {count} {more}: ", names).stylize(MUTED))
        line = GAP.join(parts)
        if line.cell_length <= width:
            return line
    return summary(view, here, away, width)


def summary(
    view: SessionView, here: list[Participant], away: list[Participant], width: int
) -> Content:
    """'7 here, 2 away: Dana, Priya · 3 still to vote: Alex, Kim, +1 more', as far as it fits."""
    line = Content.styled(f"{len(here)} here", "bold")
    if away:
        line = Content.assemble(line, (f", {len(away)} away", "bold"))
        names = listed([label for label, _ in groups(away)], width - line.cell_length - 2)
        line = Content.assemble(line, ": ", names.stylize(MUTED)) if names else line
    pending = [person for person in view.board.participants if waiting(view.board, person)]
    if pending:
        said = Content.styled(f" · {len(pending)} {WAITING[view.phase]}", "$warning")
        room = width - line.cell_length - said.cell_length - 2
        names = listed([label for label, _ in groups(pending)], room)
        said = Content.assemble(said, ": ", names) if names else said
        if line.cell_length + said.cell_length <= width:
            line = Content.assemble(line, said)
    return line


class PresenceBar(Static):
    """One line under the header, for the facilitator only, fitted to its width."""

    view: SessionView | None = None

    def show(self, view: SessionView) -> None:
        self.view = view
        self.update(presence_line(view, self.content_size.width))

    def on_resize(self, event: events.Resize) -> None:
        if self.view is not None:
            self.show(self.view)
