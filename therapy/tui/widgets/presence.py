"""Who is here: the facilitator's one-line bar of the participants, present or away, with what
each still has to do in the phase (a first card, votes to spend)."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from therapy.model import Board, Participant, Phase
from therapy.service import SessionView
from therapy.text import plural
from therapy.tui.widgets.cards import inert

MUTED = "$text-muted"


def person_name(person: Participant) -> str:
    """Their name, or which side they are from in an anonymous session."""
    return person.name or f"someone from {person.side}"


def has_card(board: Board, person: Participant) -> bool:
    return any(
        c.participant == person.id or (person.name is not None and c.author == person.name)
        for c in board.complaints
    )


def to_do(board: Board, person: Participant) -> str:
    """What this person still has to do in the phase, in a few words ('' when nothing)."""
    phase = board.session.phase
    if phase in (Phase.CHECK_IN, Phase.VENT):
        if board.session.anonymous:
            return ""  # no card says whose it is
        return "" if has_card(board, person) else "no card yet"
    if phase is Phase.VOTE:
        left = board.votes_left(person.id)
        return f"{plural(left, 'vote')} left" if left > 0 else "voted"
    return ""


def presence_line(view: SessionView) -> Content:
    """'2 of 3 here  ● Alex Sales · no card yet  ● Sam Sales  ○ Dana Marketing (away)':
    those here first, so that a long line is cut among those who are not."""
    people = view.board.participants
    if not people:
        return Content.styled("nobody has joined yet: therapy join " + view.code, MUTED)
    here = [person for person in people if person.id in view.present]
    away = [person for person in people if person.id not in view.present]
    parts: list[Content] = [Content.styled(f"{len(here)} of {len(people)} here", "bold")]
    for person in here + away:
        present = person.id in view.present
        note = to_do(view.board, person)
        entry = Content.assemble(
            ("● ", "$success") if present else "○ ",
            inert(person_name(person)).stylize("bold" if present else ""),
            " ",
            inert(person.side).stylize(MUTED),
            "" if present else " (away)",
            (f" · {note}", "$warning" if present else "") if note else "",
        )
        parts.append(entry if present else entry.stylize(MUTED))
    return Content("   ").join(parts)


class PresenceBar(Static):
    """One line under the header, for the facilitator only; cut with … when it is full."""

    def show(self, view: SessionView) -> None:
        self.update(presence_line(view))
