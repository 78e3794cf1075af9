"""The things a session is made of: plain dataclasses and enums, no I/O."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from therapy.text import name_key


class TherapyError(Exception):
    """A problem a person can act on; its message is one sentence that says what to do."""


def unknown(kind: str, value: str, choices: Iterable[str], where: str = "") -> TherapyError:
    """ "There is no phase 'lunch'; use one of: ..." for any name a person got wrong."""
    from therapy.text import shown

    return TherapyError(
        f"There is no {kind} '{shown(value)}'{where}; use one of: {', '.join(choices)}."
    )


class Phase(StrEnum):
    CHECK_IN = "check-in"
    VENT = "vent"
    DIAGNOSE = "diagnose"
    VOTE = "vote"
    REMEDY = "remedy"
    CELEBRATE = "celebrate"
    CLOSE = "close"

    @property
    def order(self) -> int:
        return list(Phase).index(self)

    @property
    def label(self) -> str:
        return self.value.replace("-", " ").capitalize()


PHASES: tuple[Phase, ...] = tuple(Phase)


class ActionStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CARRIED = "carried"
    DROPPED = "dropped"


class Role(StrEnum):
    FACILITATOR = "facilitator"
    PARTICIPANT = "participant"
    OBSERVER = "observer"  # the projector: sees what the whole room may see


def _secret() -> str:
    return os.urandom(16).hex()


@dataclass(frozen=True)
class Actor:
    """Who is asking: the facilitator, or one participant of the session.

    `secret` lives only in the process that holds this Actor: in an anonymous session a
    card or vote carries a keyed hash of it, so its author can still edit it while nothing
    stored ties it to a person or seat."""

    role: Role
    participant: int | None = None
    secret: str = field(default_factory=_secret, compare=False, repr=False)

    @property
    def is_facilitator(self) -> bool:
        return self.role is Role.FACILITATOR


FACILITATOR = Actor(Role.FACILITATOR)
OBSERVER = Actor(Role.OBSERVER)


@dataclass(frozen=True)
class Cause:
    key: str
    name: str
    description: str
    remedy: str
    questions: tuple[str, ...]
    examples: tuple[str, ...]


@dataclass
class Session:
    code: str
    title: str
    sides: list[str]
    anonymous: bool = False
    vote_budget: int = 3
    phase: Phase = Phase.CHECK_IN
    created: str = ""
    updated: str = ""
    phase_started: str = ""
    timeboxes: dict[str, int] = field(default_factory=dict)
    icebreaker: int = 0
    discussing: int | None = None  # remedy: the lead complaint of the item on the table
    next_ids: dict[str, int] = field(default_factory=dict)  # per table: ids are never reused
    seat_key: str | None = None  # the secret behind participants' seats and SSH keys (hex)
    pair_name: str = ""  # the pair as named with --pair; "" means the pair is the sides
    demo: str = ""  # a copy of the demo: the copy it belongs to, whose history is its own
    top: int = 3  # how many top-voted items go on to remedy
    wiki: str = ""  # the wiki its plan was last published to (no credentials): offered again

    @property
    def pair(self) -> str:
        """The key that sessions of one pair share: their history is one."""
        key = pair_key(self.sides, self.pair_name)
        return f"demo {self.demo}: {key}" if self.demo else key

    @property
    def pair_label(self) -> str:
        """The pair as people read it: its name, or its sides."""
        return self.pair_name or " x ".join(self.sides)

    @property
    def revealed(self) -> bool:
        """Cards of other sides are hidden from participants until diagnose."""
        return self.phase.order >= Phase.DIAGNOSE.order


def pair_key(sides: list[str], name: str = "") -> str:
    """A named pair is its name (any case, any width); an unnamed one is its sides."""
    if name:
        return "pair:" + name_key(name)
    return " x ".join(sorted(side.casefold() for side in sides))


def pair_keys(name: str) -> set[str]:
    """The keys a pair typed by a person may mean: a pair named so with --pair, or the
    sides of an unnamed pair written "Sales x Marketing" (any order, any case)."""
    sides = [side.strip() for side in re.split(r"\s+x\s+", name.strip(), flags=re.I)]
    keys = {pair_key([], name.strip())}
    if len(sides) >= 2 and all(sides):
        keys.add(pair_key(sides))
    return keys


@dataclass
class Participant:
    id: int
    side: str
    name: str | None
    role: Role = Role.PARTICIPANT
    joined: str = ""
    seen: str = ""
    seat: str | None = None  # anonymous sessions: a keyed hash of the bound name, never the name
    spent: int = 0  # anonymous sessions: votes spent (the votes themselves name nobody)
    keyed: bool = False  # the name is bound to this person's SSH key: it keeps priority
    key: str | None = None  # therapy serve: an HMAC of their SSH key's id, never the id


@dataclass
class Complaint:
    id: int
    side: str
    text: str
    author: str | None = None
    participant: int | None = None
    cause: str | None = None
    group: int | None = None
    created: str = ""
    claim: str | None = None  # anonymous sessions: proves authorship to the author's process


@dataclass
class Group:
    id: int
    complaints: list[int]

    @property
    def lead(self) -> int:
        return min(self.complaints)


@dataclass
class Vote:
    id: int
    participant: int | None  # None in an anonymous session
    complaint: int
    claim: str | None = None  # anonymous sessions: proves the vote to the voter's process


@dataclass
class ActionItem:
    id: int
    what: str
    owner: str
    due: str
    cause: str | None = None
    metric: str = ""
    complaints: list[int] = field(default_factory=list)
    status: ActionStatus = ActionStatus.OPEN
    carried_from: str | None = None
    created: str = ""
    closed: str = ""  # when it was last marked done, dropped or carried (an instant)
    closed_by: str = ""  # who said so: a name from the shell, or "check-in of K7QX2M"
    # The first item of a chain of carried-over copies, as "REF CREATED": a copy is the same
    # promise (a calendar updates its to-do); "" for an item that was not carried over.
    origin: str = ""

    def identity(self, ref: str) -> str:
        """What stays the same for a promise from one session to the next."""
        return self.origin or f"{ref} {self.created}"

    def overdue(self, today: str) -> bool:
        """Still open after its due date (ISO dates compare as text)."""
        return self.status is ActionStatus.OPEN and bool(self.due) and self.due < today


@dataclass
class Win:
    id: int
    side: str
    text: str
    kind: str = "win"  # "win" or "appreciation"
    author: str | None = None
    created: str = ""
    participant: int | None = None  # who added it (None: the facilitator, or anonymous)
    claim: str | None = None  # anonymous sessions: proves authorship to the author's process


@dataclass
class EarlierItem:
    """An action item of an earlier session of the same pair."""

    session: str
    session_title: str
    item: ActionItem
    pair_label: str = ""  # the pair as people read it (listings across pairs show it)
    session_created: str = ""  # the instant the session was made

    @property
    def ref(self) -> str:
        return f"{self.session}-{self.item.id}"


@dataclass(frozen=True)
class Labelled:
    """A complaint with its cause: from the corpus (no session), or agreed in a session."""

    text: str
    cause: str
    pair: str = ""  # the pair's name in the corpus; its key (Session.pair) in a session
    session: str = ""
    complaint: int = 0
    title: str = ""


@dataclass(frozen=True)
class Suggestion:
    """A cause the suggester proposes for a complaint, how sure it is (0..1) and why. CAUSE
    is None when it has no suggestion: nothing to go on, or not sure enough (GUESS is then
    what it would have said)."""

    cause: str | None
    score: float
    words: tuple[str, ...] = ()
    like: str = ""  # "like #12, which you sorted as Misaligned expectations"
    guess: str | None = None
    reason: str = "nothing to go on"


NO_SUGGESTION = Suggestion(None, 0.0)


@dataclass
class History:
    """The action items of the pair's earlier sessions, and the sessions that could not be
    read (damaged): those are skipped, and whoever shows the history says so."""

    items: list[EarlierItem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)  # what could not be read, of no known pair


@dataclass
class SessionPoint:
    """One session in its pair's history: where the pair stood, what it talked about and
    what became of what it agreed."""

    code: str
    title: str
    created: str  # an instant
    phase: Phase
    relationship: Relationship  # the label, the score and the four signals, as of now
    causes: dict[str, int]  # complaints per agreed cause key, in the prompts' order; "" unsorted
    action_items: int = 0
    done: int = 0  # of its own action items, how many are done by now
    dropped: int = 0
    date: str = ""  # the day it was made, where the host is

    @property
    def follow_through(self) -> float | None:
        """The share of the pair's earlier items done (None: there were none)."""
        return next(s.value for s in self.relationship.signals if s.name == "follow-through")


@dataclass
class Trend:
    """A pair's sessions, oldest first; sessions that could not be read are named."""

    pair: str  # the key (Session.pair)
    label: str  # the pair as people read it
    points: list[SessionPoint] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def verdict(self) -> Verdict:
        """Whether the pair is improving: its latest scored session against the mean of the
        scored sessions before it (sessions too early to tell are left out)."""
        scored = [p for p in self.points if p.relationship.score is not None]
        if len(scored) < 2:
            return Verdict(None, len(scored))
        latest, earlier = scored[-1], scored[:-1]
        score = latest.relationship.score or 0.0
        mean = round(sum(p.relationship.score or 0.0 for p in earlier) / len(earlier), 2)
        change = round(score - mean, 2)
        direction = "steady" if abs(change) < STEADY else "improving" if change > 0 else "declining"
        return Verdict(direction, len(scored), score, mean, latest.code)


# A latest score this close to the earlier mean is no change: one more win or vote moves a
# score by about that much.
STEADY = 0.05


@dataclass(frozen=True)
class Verdict:
    direction: str | None  # "improving", "declining", "steady"; None: too few to tell
    scored_sessions: int
    latest: float | None = None
    earlier_mean: float | None = None
    latest_code: str = ""

    @property
    def statement(self) -> str:
        if self.direction is None or self.latest is None or self.earlier_mean is None:
            have = "no session" if not self.scored_sessions else "one session"
            return f"Too few sessions to tell: {have} of this pair has a score yet."
        change = round(self.latest - self.earlier_mean, 2)
        word, gap = {
            "improving": ("Improving", f"is {change:.2f} above"),
            "declining": ("Declining", f"is {-change:.2f} below"),
            "steady": ("Holding steady", f"is within {STEADY:.2f} of"),
        }[self.direction]
        earlier = self.scored_sessions - 1
        before = (
            "the score of the session before it"
            if earlier == 1
            else f"the mean of the {earlier} scored sessions before it"
        )
        return (
            f"{word}: the latest score, {self.latest:.2f} ({self.latest_code}), {gap} "
            f"{before} ({self.earlier_mean:.2f})."
        )


@dataclass
class IndexEntry:
    """A session as the index lists it."""

    code: str
    title: str = ""
    sides: list[str] = field(default_factory=list)
    pair: str = ""
    created: str = ""


@dataclass
class Snapshot:
    """Everything stored of one session, checked against its schema when it was read."""

    session: Session
    participants: dict[int, Participant] = field(default_factory=dict)
    complaints: dict[int, Complaint] = field(default_factory=dict)
    votes: dict[int, Vote] = field(default_factory=dict)
    actions: dict[int, ActionItem] = field(default_factory=dict)
    wins: dict[int, Win] = field(default_factory=dict)

    def add(self, table: str, row: Any) -> int:
        """Store a new row under the session's next id for that table (never reused)."""
        new_id = self.session.next_ids.get(table, 1)
        self.session.next_ids[table] = new_id + 1
        row.id = new_id
        rows: dict[int, Any] = getattr(self, table)
        rows[new_id] = row
        return new_id


@dataclass
class Signal:
    name: str
    value: float | None
    reason: str


@dataclass
class Relationship:
    label: str
    score: float | None
    signals: list[Signal]


@dataclass
class Item:
    """What people vote on and remedy: a group of complaints, or one complaint alone."""

    complaints: list[Complaint]
    votes: int
    group: int | None = None

    @property
    def lead(self) -> Complaint:
        return self.complaints[0]

    @property
    def ids(self) -> set[int]:
        return {c.id for c in self.complaints}

    @property
    def key(self) -> str:
        """Stable across merges into the group (a group keeps its id), unique in a session."""
        return f"g{self.group}" if self.group is not None else f"c{self.lead.id}"


@dataclass
class Board:
    """Everything one viewer may see of a session at one moment."""

    session: Session
    participants: list[Participant]
    complaints: list[Complaint]
    groups: list[Group]
    votes: list[Vote]
    action_items: list[ActionItem]
    wins: list[Win]
    hidden: dict[str, int] = field(default_factory=dict)
    mine: set[int] = field(default_factory=set)  # complaints the viewer may edit or delete
    my_votes: list[int] = field(default_factory=list)  # the viewer's own votes, by complaint
    my_wins: set[int] = field(default_factory=set)  # wins the viewer may edit or delete

    def complaint(self, complaint_id: int) -> Complaint | None:
        return next((c for c in self.complaints if c.id == complaint_id), None)

    def votes_for(self, complaint_id: int) -> int:
        return sum(1 for v in self.votes if v.complaint == complaint_id)

    def votes_by(self, participant_id: int) -> list[int]:
        """The complaints a participant voted on, once per vote (unknown when anonymous)."""
        return [v.complaint for v in self.votes if v.participant == participant_id]

    def votes_left(self, participant_id: int) -> int:
        person = next((p for p in self.participants if p.id == participant_id), None)
        if self.session.anonymous:
            spent = person.spent if person else 0
        else:
            spent = len(self.votes_by(participant_id))
        return self.session.vote_budget - spent

    def items(self) -> list[Item]:
        """Groups and lone complaints, most votes first, then in the order they were logged."""
        grouped: dict[int, list[Complaint]] = {}
        found: list[Item] = []
        for complaint in sorted(self.complaints, key=lambda c: c.id):
            if complaint.group is None:
                found.append(Item([complaint], self.votes_for(complaint.id)))
            else:
                grouped.setdefault(complaint.group, []).append(complaint)
        for group_id, members in grouped.items():
            votes = sum(self.votes_for(c.id) for c in members)
            found.append(Item(members, votes, group_id))
        return sorted(found, key=lambda item: (-item.votes, item.lead.id))

    def top_items(self, count: int | None = None) -> list[Item]:
        """The most-voted items (with at least one vote): what the session works on, as many
        as the session's setting (`top`) unless asked for another count."""
        count = self.session.top if count is None else count
        return [item for item in self.items() if item.votes > 0][:count]
