"""The rules of a session: phases and who may do what in each, hidden cards, vote budgets,
anonymity and the validation of everything people type. The CLI, the TUI and the tests all
go through here; none of them writes to the store directly."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tinydb import TinyDB

from therapy.model import (
    FACILITATOR,
    PHASES,
    ActionItem,
    ActionStatus,
    Actor,
    Board,
    Complaint,
    EarlierItem,
    Group,
    Participant,
    Phase,
    Relationship,
    Role,
    Session,
    TherapyError,
    Vote,
    Win,
    pair_key,
    unknown,
)
from therapy.store import Attendance, Store, damaged
from therapy.text import clean_line, clean_text

if TYPE_CHECKING:
    from therapy.prompts import Prompts

MAX_COMPLAINT = 1000
MAX_LINE = 120
MAX_SIDE = 40
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6

T = TypeVar("T")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- documents <-> dataclasses ----------------------------------------------------------


def _doc(obj: Any) -> dict[str, Any]:
    doc = dataclasses.asdict(obj)
    doc.pop("id", None)
    return {key: getattr(value, "value", value) for key, value in doc.items()}


def _load(cls: type[T], doc: dict[str, Any], **extra: Any) -> T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in {**doc, **extra}.items() if k in names})


def _session(db: TinyDB) -> Session:
    try:
        doc = db.table("session").get(doc_id=1)
        if doc is None:
            raise ValueError("no session record")
        session = _load(Session, dict(doc))
        session.phase = Phase(session.phase)
        return session
    except (TypeError, ValueError, AttributeError) as error:
        raise damaged(db.storage.path, str(error)) from None  # type: ignore[attr-defined]


def _rows(db: TinyDB, table: str, cls: type[T]) -> list[T]:
    return [_load(cls, dict(doc), id=doc.doc_id) for doc in db.table(table).all()]


def _insert(db: TinyDB, table: str, obj: Any) -> int:
    """Insert with an id from the session's own counter, so ids are never reused."""
    meta = db.table("session")
    counters = dict(meta.get(doc_id=1).get("next_ids", {}))  # type: ignore[union-attr]
    new_id = counters.get(table, 1)
    counters[table] = new_id + 1
    meta.update({"next_ids": counters}, doc_ids=[1])
    from tinydb.table import Document

    db.table(table).insert(Document(_doc(obj), doc_id=new_id))
    return new_id


def _seat(db: TinyDB, name: str) -> str:
    """A keyed hash of a name, with a key of this session's: recognises a person coming
    back to an anonymous session without keeping their name."""
    meta = db.table("session")
    key = meta.get(doc_id=1).get("seat_key")  # type: ignore[union-attr]
    if key is None:
        key = os.urandom(16).hex()
        meta.update({"seat_key": key}, doc_ids=[1])
    digest = hmac.new(bytes.fromhex(key), name.casefold().encode(), hashlib.sha256)
    return digest.hexdigest()[:24]


def _touch(db: TinyDB, **changes: Any) -> None:
    db.table("session").update({"updated": now(), **changes}, doc_ids=[1])


# -- validation -------------------------------------------------------------------------


def complaint_text(text: str, what: str = "A complaint") -> str:
    cleaned = clean_text(text)
    if not 1 <= len(cleaned) <= MAX_COMPLAINT:
        raise TherapyError(
            f"{what} must be 1 to {MAX_COMPLAINT:,} characters after trimming; "
            f"this one has {len(cleaned):,}."
        )
    return cleaned


def line_text(text: str, what: str, limit: int = MAX_LINE, required: bool = True) -> str:
    cleaned = clean_line(text)
    if required and not cleaned:
        raise TherapyError(f"{what} is empty; give one of 1 to {limit} characters.")
    if len(cleaned) > limit:
        raise TherapyError(f"{what} is {len(cleaned)} characters long; keep it to {limit}.")
    return cleaned


def parse_sides(sides: Iterable[str]) -> list[str]:
    cleaned = [line_text(side, "A side's name", MAX_SIDE) for side in sides]
    if len(cleaned) < 2:
        raise TherapyError(
            "A session needs two or more sides, for example --sides Sales,Marketing."
        )
    folded = [side.casefold() for side in cleaned]
    if len(set(folded)) != len(folded):
        raise TherapyError("Each side must have a different name; check --sides for a repeat.")
    if any("," in side for side in cleaned):
        raise TherapyError("A side's name cannot contain a comma; separate sides with commas.")
    return cleaned


def parse_due(text: str) -> str:
    try:
        return date.fromisoformat(clean_line(text)).isoformat()
    except ValueError:
        raise TherapyError(
            f"The due date '{clean_line(text)}' is not a date; write it as YYYY-MM-DD, "
            "for example 2026-12-31."
        ) from None


def new_code() -> str:
    """Six characters that are easy to read out and type (no 0/O, 1/I)."""
    return "".join(CODE_ALPHABET[byte % len(CODE_ALPHABET)] for byte in os.urandom(CODE_LENGTH))


def normalise_code(code: str) -> str:
    return clean_line(code).upper()


# -- what a session shows ---------------------------------------------------------------


@dataclasses.dataclass
class SessionSummary:
    code: str
    title: str
    sides: list[str]
    created: str
    phase: Phase | None = None
    complaints: int = 0
    participants: int = 0
    action_items: int = 0
    updated: str = ""
    problem: str | None = None


class Sessions:
    """Every rule of every session, over one store."""

    def __init__(self, store: Store, prompts_folder: Path | None = None) -> None:
        self.store = store
        self.prompts_folder = prompts_folder

    @property
    def prompts(self) -> Prompts:
        from therapy.prompts import load_prompts  # parsing TOML is not on the `add` path

        return load_prompts(self.prompts_folder)

    # -- sessions -----------------------------------------------------------------------

    def create(
        self,
        title: str,
        sides: Iterable[str] = ("Sales", "Marketing"),
        anonymous: bool = False,
        votes: int = 3,
        timeboxes: dict[str, int] | None = None,
        created: str | None = None,
    ) -> Session:
        title = line_text(title, "The session title")
        side_names = parse_sides(sides)
        if not 1 <= votes <= 20:
            raise TherapyError(f"The vote budget must be 1 to 20 votes per person, not {votes}.")
        for phase, seconds in (timeboxes or {}).items():
            self._check_timebox(phase, seconds)
        stamp = created or now()
        session = Session(
            code="",
            title=title,
            sides=side_names,
            anonymous=anonymous,
            vote_budget=votes,
            created=stamp,
            updated=stamp,
            phase_started=stamp,
            timeboxes=dict(timeboxes or {}),
        )
        entry = {
            "title": title,
            "sides": side_names,
            "pair": pair_key(side_names),
            "created": stamp,
        }
        for _ in range(100):
            code = new_code()
            if not self.store.reserve(code):
                continue
            session.code = code
            session.icebreaker = sum(map(ord, code))  # a different one to start each session
            with self.store.transaction(code, create=True) as db:
                db.table("session").insert(_doc(session) | {"code": code, "next_ids": {}})
            self.store.register(code, entry)
            return session
        raise TherapyError("Could not find a free session code; try again.")  # pragma: no cover

    def delete(self, code: str, actor: Actor = FACILITATOR) -> None:
        self._require_facilitator(actor, "delete a session")
        code = normalise_code(code)
        self.session(code)
        self.store.delete(code)

    def session(self, code: str) -> Session:
        return _session(self.store.read(normalise_code(code)))

    def summaries(self) -> list[SessionSummary]:
        found = []
        for entry in self.store.index():
            summary = SessionSummary(
                code=entry["code"],
                title=entry.get("title", ""),
                sides=list(entry.get("sides", [])),
                created=entry.get("created", ""),
            )
            try:
                db = self.store.read(summary.code)
                session = _session(db)
            except TherapyError as error:
                summary.problem = str(error)
            else:
                summary.phase = session.phase
                summary.updated = session.updated
                summary.complaints = len(db.table("complaints"))
                summary.participants = len(db.table("participants"))
                summary.action_items = len(db.table("actions"))
            found.append(summary)
        # newest first; sessions made in the same second keep the order they were made in
        order = {summary.code: position for position, summary in enumerate(found)}
        return sorted(found, key=lambda s: (s.created, order[s.code]), reverse=True)

    def board(self, code: str, viewer: Actor = FACILITATOR) -> Board:
        """All of a session a viewer may see: before the reveal, a participant sees only
        their own side's cards, and of the other sides only how many there are."""
        db = self.store.read(normalise_code(code))
        session = _session(db)
        complaints = _rows(db, "complaints", Complaint)
        hidden: dict[str, int] = {}
        if not viewer.is_facilitator and not session.revealed:
            # an observer (the projector) belongs to no side: it sees only the counts
            side = self._participant(db, viewer).side if viewer.participant else None
            for complaint in complaints:
                if complaint.side != side:
                    hidden[complaint.side] = hidden.get(complaint.side, 0) + 1
            complaints = [c for c in complaints if c.side == side]
        actions = _rows(db, "actions", ActionItem)
        for action in actions:
            action.status = ActionStatus(action.status)
        participants = _rows(db, "participants", Participant)
        for participant in participants:
            participant.role = Role(participant.role)
        return Board(
            session=session,
            participants=participants,
            complaints=complaints,
            groups=self._groups(complaints),
            votes=_rows(db, "votes", Vote),
            action_items=actions,
            wins=_rows(db, "wins", Win),
            hidden=hidden,
        )

    @staticmethod
    def _groups(complaints: list[Complaint]) -> list[Group]:
        groups: dict[int, list[int]] = {}
        for complaint in complaints:
            if complaint.group is not None:
                groups.setdefault(complaint.group, []).append(complaint.id)
        return [Group(gid, sorted(ids)) for gid, ids in sorted(groups.items())]

    # -- phases -------------------------------------------------------------------------

    def set_phase(self, code: str, target: str, actor: Actor = FACILITATOR) -> Session:
        self._require_facilitator(actor, "move the session to another phase")
        with self.store.transaction(normalise_code(code)) as db:
            session = _session(db)
            wanted = target.strip().lower()
            if wanted == "next":
                if session.phase is Phase.CLOSE:
                    raise TherapyError("The session is at close already, the last phase.")
                phase = PHASES[session.phase.order + 1]
            elif wanted in ("back", "previous", "prev"):
                if session.phase is Phase.CHECK_IN:
                    raise TherapyError("The session is at check-in already, the first phase.")
                phase = PHASES[session.phase.order - 1]
            else:
                try:
                    phase = Phase(wanted.replace(" ", "-").replace("checkin", "check-in"))
                except ValueError:
                    choices = ("next", "back", *PHASES)
                    raise unknown("phase", target, choices) from None
            stamp = now()
            _touch(db, phase=phase.value, phase_started=stamp)
            session.phase, session.phase_started, session.updated = phase, stamp, stamp
            return session

    @staticmethod
    def _check_timebox(phase: str, seconds: int) -> None:
        if phase not in {p.value for p in PHASES}:
            raise TherapyError(f"There is no phase '{phase}' to time; use one of the seven.")
        if not 0 <= seconds <= 4 * 3600:
            raise TherapyError("A timebox must be between 0 (none) and 240 minutes.")

    def set_timebox(self, code: str, phase: str, seconds: int, actor: Actor = FACILITATOR) -> None:
        self._require_facilitator(actor, "set a timebox")
        self._check_timebox(phase, seconds)
        with self.store.transaction(normalise_code(code)) as db:
            timeboxes = dict(_session(db).timeboxes)
            if seconds:
                timeboxes[phase] = seconds
            else:
                timeboxes.pop(phase, None)
            _touch(db, timeboxes=timeboxes, phase_started=now())

    @staticmethod
    def remaining(session: Session, at: datetime | None = None) -> int | None:
        """Seconds left in the current phase's timebox (negative when over), or None."""
        seconds = session.timeboxes.get(session.phase.value)
        if not seconds:
            return None
        started = datetime.fromisoformat(session.phase_started)
        elapsed = ((at or datetime.fromisoformat(now())) - started).total_seconds()
        return int(seconds - elapsed)

    def next_icebreaker(self, code: str, actor: Actor = FACILITATOR) -> str:
        self._require_facilitator(actor, "change the icebreaker")
        with self.store.transaction(normalise_code(code)) as db:
            index = _session(db).icebreaker + 1
            _touch(db, icebreaker=index)
        return self.icebreaker(index)

    def icebreaker(self, index: int) -> str:
        icebreakers = self.prompts.icebreakers
        return icebreakers[index % len(icebreakers)]

    # -- people -------------------------------------------------------------------------

    def join(
        self, code: str, side: str, name: str | None = None, bound: bool = False
    ) -> Participant:
        """Join a session. `bound`: the name was fixed by whoever set up this person's
        access (an SSH key's --name, the shell's --name), so joining again under it is
        the same person coming back, with their cards and votes; a name merely typed into
        the join screen that is taken already is refused. In an anonymous session only a
        keyed hash of a bound name is kept, to recognise the same person coming back."""
        with self.store.transaction(normalise_code(code)) as db:
            session = _session(db)
            side = self._side(session, side)
            name = self._name(name)
            seat = None
            if session.anonymous:
                seat = _seat(db, name) if bound and name else None
                name = None
            for doc in db.table("participants").all():
                if seat is not None:
                    same = doc.get("seat") == seat
                else:
                    same = (
                        name is not None and (doc.get("name") or "").casefold() == name.casefold()
                    )
                if not same:
                    continue
                if not bound:
                    raise TherapyError(
                        f"Someone called {name} has joined already; join under another name."
                    )
                if doc["side"] != side:
                    raise TherapyError(
                        f"{name or 'You'} joined this session for {doc['side']} already; "
                        f"join as {doc['side']}."
                    )
                return _load(Participant, dict(doc), id=doc.doc_id)
            stamp = now()
            participant = Participant(0, side, name, joined=stamp, seen=stamp, seat=seat)
            participant.id = _insert(db, "participants", participant)
            _touch(db)
            return participant

    def attend(self, code: str, participant_id: int) -> Attendance:
        """Mark a participant as here for as long as the returned handle stays open (and the
        process lives): nothing is written while they stay, and they drop off the moment
        their process ends."""
        return self.store.attend(normalise_code(code), participant_id)

    def present(self, code: str) -> set[int]:
        """The participants whose process is running now."""
        return self.store.present(normalise_code(code))

    def discuss(self, code: str, complaint_id: int, actor: Actor = FACILITATOR) -> None:
        """Put an item (by its lead complaint) on the table in remedy, for every screen."""
        self._require_facilitator(actor, "choose the item under discussion")
        with self.store.transaction(normalise_code(code)) as db:
            session = _session(db)
            self._require_phase(session, (Phase.REMEDY,), "Items are discussed")
            self._complaint(db, complaint_id)
            if session.discussing != complaint_id:
                _touch(db, discussing=complaint_id)

    def _participant(self, db: TinyDB, actor: Actor) -> Participant:
        doc = db.table("participants").get(doc_id=actor.participant or 0)
        if doc is None:
            raise TherapyError("You are not a participant of this session; join it first.")
        return _load(Participant, dict(doc), id=doc.doc_id)

    @staticmethod
    def _name(name: str | None) -> str | None:
        if name is None:
            return None
        return line_text(name, "A name", 60, required=False) or None

    def side_name(self, session: Session, side: str) -> str:
        """The side as the session spells it, whatever the case it was typed in."""
        return self._side(session, side)

    @staticmethod
    def _side(session: Session, side: str) -> str:
        wanted = clean_line(side).casefold()
        for name in session.sides:
            if name.casefold() == wanted:
                return name
        raise unknown("side", clean_line(side), session.sides, f" in session {session.code}")

    @staticmethod
    def _require_facilitator(actor: Actor, what: str) -> None:
        if not actor.is_facilitator:
            raise TherapyError(f"Only the facilitator can {what}.")

    @staticmethod
    def _require_phase(session: Session, phases: Iterable[Phase], what: str) -> None:
        allowed = list(phases)
        if session.phase not in allowed:
            names = " and ".join(p.value for p in allowed)
            raise TherapyError(
                f"{what} only during {names}; session {session.code} is in {session.phase.value}."
            )

    # -- complaints ---------------------------------------------------------------------

    def add_complaint(
        self,
        code: str,
        side: str,
        text: str,
        actor: Actor = FACILITATOR,
        author: str | None = None,
    ) -> Complaint:
        return self.add_complaints(code, [(side, text, author)], actor)[0]

    def add_complaints(
        self,
        code: str,
        rows: list[tuple[str, str, str | None]],
        actor: Actor = FACILITATOR,
        lines: list[int] | None = None,
    ) -> list[Complaint]:
        """Log complaints, all or none; a bad row is named by its line (or number from 1)."""
        with self.store.transaction(normalise_code(code)) as db:
            session = _session(db)
            self._require_phase(session, (Phase.CHECK_IN, Phase.VENT), "Complaints can be logged")
            participant = None if actor.is_facilitator else self._participant(db, actor)
            prepared = []
            for number, (side, text, author) in enumerate(rows, start=1):
                where = ""
                if lines or len(rows) > 1:
                    where = f"Line {lines[number - 1]}: " if lines else f"Row {number}: "
                try:
                    side = self._side(session, side)
                    if participant is not None and side != participant.side:
                        raise TherapyError(
                            f"You can only log complaints for your own side, {participant.side}."
                        )
                    cleaned = complaint_text(text)
                    name = participant.name if participant else self._name(author)
                except TherapyError as error:
                    raise TherapyError(f"{where}{error}") from None
                prepared.append(
                    Complaint(
                        id=0,
                        side=side,
                        text=cleaned,
                        author=None if session.anonymous else name,
                        participant=participant.id if participant else None,
                        created=now(),
                    )
                )
            for complaint in prepared:
                complaint.id = _insert(db, "complaints", complaint)
            _touch(db)
            return prepared

    def _own_complaint(self, db: TinyDB, complaint_id: int, actor: Actor, what: str) -> Complaint:
        session = _session(db)
        self._require_phase(session, (Phase.CHECK_IN, Phase.VENT), f"Complaints can be {what}")
        complaint = self._complaint(db, complaint_id)
        if not actor.is_facilitator and complaint.participant != actor.participant:
            raise TherapyError(f"Only the author or the facilitator can {what[:-1]} a complaint.")
        return complaint

    @staticmethod
    def _complaint(db: TinyDB, complaint_id: int) -> Complaint:
        doc = db.table("complaints").get(doc_id=complaint_id)
        if doc is None:
            raise TherapyError(f"There is no complaint {complaint_id} in this session.")
        return _load(Complaint, dict(doc), id=doc.doc_id)

    def edit_complaint(
        self, code: str, complaint_id: int, text: str, actor: Actor = FACILITATOR
    ) -> Complaint:
        with self.store.transaction(normalise_code(code)) as db:
            complaint = self._own_complaint(db, complaint_id, actor, "edited")
            complaint.text = complaint_text(text)
            db.table("complaints").update({"text": complaint.text}, doc_ids=[complaint_id])
            _touch(db)
            return complaint

    def delete_complaint(self, code: str, complaint_id: int, actor: Actor = FACILITATOR) -> None:
        with self.store.transaction(normalise_code(code)) as db:
            complaint = self._own_complaint(db, complaint_id, actor, "deleted")
            table = db.table("complaints")
            table.remove(doc_ids=[complaint_id])
            # votes on it are given back (the session may have come back from vote)
            votes = db.table("votes")
            votes.remove(doc_ids=[v.doc_id for v in votes.all() if v["complaint"] == complaint_id])
            if complaint.group is not None:
                rest = [d.doc_id for d in table.all() if d.get("group") == complaint.group]
                if len(rest) == 1:
                    table.update({"group": None}, doc_ids=rest)
                elif rest and complaint.group == complaint_id:
                    table.update({"group": min(rest)}, doc_ids=rest)
            _touch(db)

    # -- diagnose -----------------------------------------------------------------------

    def group(self, code: str, complaint_id: int, into: int, actor: Actor = FACILITATOR) -> int:
        """Merge a complaint (and its group) into another complaint's group; the group's id."""
        self._require_facilitator(actor, "group complaints")
        with self.store.transaction(normalise_code(code)) as db:
            self._require_phase(_session(db), (Phase.DIAGNOSE,), "Complaints can be grouped")
            moving, target = self._complaint(db, complaint_id), self._complaint(db, into)
            if moving.id == target.id:
                raise TherapyError("A complaint cannot be grouped with itself; pick another one.")
            table = db.table("complaints")
            group_id = target.group if target.group is not None else target.id
            members = {moving.id, target.id}
            if moving.group is not None:
                members |= {doc.doc_id for doc in table.all() if doc.get("group") == moving.group}
            cause = target.cause or moving.cause
            table.update({"group": group_id, "cause": cause}, doc_ids=sorted(members))
            _touch(db)
            return group_id

    def ungroup(self, code: str, complaint_id: int, actor: Actor = FACILITATOR) -> None:
        """Take a complaint out of its group; a group left with one complaint dissolves."""
        self._require_facilitator(actor, "split groups")
        with self.store.transaction(normalise_code(code)) as db:
            self._require_phase(_session(db), (Phase.DIAGNOSE,), "Groups can be split")
            complaint = self._complaint(db, complaint_id)
            if complaint.group is None:
                raise TherapyError(f"Complaint {complaint_id} is not in a group.")
            table = db.table("complaints")
            table.update({"group": None}, doc_ids=[complaint_id])
            rest = [doc.doc_id for doc in table.all() if doc.get("group") == complaint.group]
            if len(rest) == 1:
                table.update({"group": None}, doc_ids=rest)
            elif rest and complaint.group == complaint_id:
                table.update({"group": min(rest)}, doc_ids=rest)
            _touch(db)

    def cause_key(self, cause: str | None) -> str | None:
        """A cause's key from its key or name, any case; None or '' for unsorted."""
        if cause is None or not cause.strip() or cause.strip().lower() in ("none", "unsorted"):
            return None
        wanted = cause.strip().casefold().replace(" ", "-")
        for known in self.prompts.causes:
            if wanted in (known.key.casefold(), known.name.casefold().replace(" ", "-")):
                return known.key
        raise unknown("cause", cause.strip(), self.prompts.cause_keys)

    def set_cause(
        self, code: str, complaint_id: int, cause: str | None, actor: Actor = FACILITATOR
    ) -> None:
        """Agree a complaint's cause (for its whole group); None sends it back to unsorted."""
        self._require_facilitator(actor, "agree on a cause")
        key = self.cause_key(cause)
        with self.store.transaction(normalise_code(code)) as db:
            self._require_phase(
                _session(db), (Phase.DIAGNOSE, Phase.VOTE, Phase.REMEDY), "Causes can be agreed"
            )
            complaint = self._complaint(db, complaint_id)
            table = db.table("complaints")
            ids = [complaint.id]
            if complaint.group is not None:
                ids = [doc.doc_id for doc in table.all() if doc.get("group") == complaint.group]
            table.update({"cause": key}, doc_ids=ids)
            _touch(db)

    def accept_suggestions(self, code: str, actor: Actor = FACILITATOR) -> int:
        """Agree the suggested cause of every unsorted complaint or group that has one; a
        group takes the most confident suggestion of its members. How many were sorted."""
        from therapy.diagnose import suggest_for

        self._require_facilitator(actor, "agree on causes")
        causes = self.prompts.causes
        with self.store.transaction(normalise_code(code)) as db:
            self._require_phase(_session(db), (Phase.DIAGNOSE,), "Suggestions can be accepted")
            table = db.table("complaints")
            units: dict[object, list[Any]] = {}
            for doc in table.all():
                key = ("group", doc["group"]) if doc.get("group") is not None else doc.doc_id
                units.setdefault(key, []).append(doc)
            accepted = 0
            for docs in units.values():
                if any(doc.get("cause") for doc in docs):
                    continue
                suggestion = suggest_for([doc["text"] for doc in docs], causes)
                if suggestion.cause:
                    table.update({"cause": suggestion.cause}, doc_ids=[d.doc_id for d in docs])
                    accepted += 1
            _touch(db)
            return accepted

    # -- votes --------------------------------------------------------------------------

    def vote(
        self, code: str, participant_id: int, complaint_id: int, actor: Actor = FACILITATOR
    ) -> int:
        """Spend one of a participant's votes on a complaint (or its group); votes left."""
        with self.store.transaction(normalise_code(code)) as db:
            session, voter = self._voter(db, participant_id, actor)
            self._complaint(db, complaint_id)
            spent = sum(1 for doc in db.table("votes").all() if doc["participant"] == voter.id)
            if spent >= session.vote_budget:
                who = (
                    "You have"
                    if not actor.is_facilitator
                    else (f"{voter.name or 'This participant'} has")
                )
                raise TherapyError(
                    f"{who} spent all {session.vote_budget} votes; take one back first."
                )
            _insert(db, "votes", Vote(0, voter.id, complaint_id))
            _touch(db)
            return session.vote_budget - spent - 1

    def unvote(
        self, code: str, participant_id: int, complaint_id: int, actor: Actor = FACILITATOR
    ) -> int:
        """Take back one of a participant's votes on a complaint; votes left."""
        with self.store.transaction(normalise_code(code)) as db:
            session, voter = self._voter(db, participant_id, actor)
            table = db.table("votes")
            mine = [doc for doc in table.all() if doc["participant"] == voter.id]
            on_it = [doc.doc_id for doc in mine if doc["complaint"] == complaint_id]
            if not on_it:
                raise TherapyError(f"There is no vote on complaint {complaint_id} to take back.")
            table.remove(doc_ids=on_it[-1:])
            _touch(db)
            return session.vote_budget - len(mine) + 1

    def _voter(self, db: TinyDB, participant_id: int, actor: Actor) -> tuple[Session, Participant]:
        session = _session(db)
        self._require_phase(session, (Phase.VOTE,), "Votes can be cast")
        if not actor.is_facilitator and actor.participant != participant_id:
            raise TherapyError("You can only spend your own votes.")
        return session, self._participant(db, Actor(Role.PARTICIPANT, participant_id))

    # -- action items -------------------------------------------------------------------

    def add_action(
        self,
        code: str,
        what: str,
        owner: str,
        due: str,
        cause: str | None = None,
        metric: str = "",
        complaints: Iterable[int] = (),
        actor: Actor = FACILITATOR,
        carried_from: str | None = None,
    ) -> ActionItem:
        self._require_facilitator(actor, "agree on action items")
        item = ActionItem(
            id=0,
            what=line_text(what, "What to do", 300),
            owner=line_text(owner, "The owner", 80),
            due=parse_due(due),
            cause=self.cause_key(cause),
            metric=line_text(metric, "The metric", 200, required=False),
            complaints=sorted(set(complaints)),
            carried_from=carried_from,
            created=now(),
        )
        with self.store.transaction(normalise_code(code)) as db:
            if carried_from is None:
                self._require_phase(
                    _session(db),
                    (Phase.REMEDY, Phase.CELEBRATE, Phase.CLOSE),
                    "Action items can be agreed",
                )
            for complaint_id in item.complaints:
                self._complaint(db, complaint_id)
            item.id = _insert(db, "actions", item)
            _touch(db)
            return item

    def set_action_status(
        self, code: str, item_id: int, status: str, actor: Actor = FACILITATOR
    ) -> ActionItem:
        self._require_facilitator(actor, "change an action item's status")
        try:
            new_status = ActionStatus(status.strip().lower())
        except ValueError:
            raise unknown("status", status, ActionStatus) from None
        with self.store.transaction(normalise_code(code)) as db:
            doc = db.table("actions").get(doc_id=item_id)
            if doc is None:
                raise TherapyError(f"There is no action item {item_id} in session {code}.")
            db.table("actions").update({"status": new_status.value}, doc_ids=[item_id])
            _touch(db)
            item = _load(ActionItem, dict(doc), id=item_id)
            item.status = new_status
            return item

    def earlier_items(self, code: str, session: Session | None = None) -> list[EarlierItem]:
        """Action items of the pair's earlier sessions (same sides, created before)."""
        session = session or self.session(code)
        found = []
        for entry in self.store.index():
            if (
                entry.get("pair") != session.pair
                or entry["code"] == session.code
                or entry.get("created", "") >= session.created
            ):
                continue
            try:
                board = self.board(entry["code"])
            except TherapyError:
                continue  # a damaged earlier session must not stop this one
            for item in board.action_items:
                found.append(EarlierItem(entry["code"], board.session.title, item))
        return sorted(found, key=lambda e: (e.item.created, e.ref))

    def review(self, code: str, ref: str, status: str, actor: Actor = FACILITATOR) -> EarlierItem:
        """Close the loop on an earlier open action item: done, carried (over) or dropped.
        Carried over makes an open copy in this session, so it comes back next time too."""
        self._require_facilitator(actor, "review earlier action items")
        wanted = status.strip().lower().replace(" over", "").replace("carry", "carried")
        if wanted not in ("done", "carried", "dropped"):
            raise TherapyError(
                f"Review an action item as done, carried or dropped, not '{status}'."
            )
        earlier = {e.ref: e for e in self.earlier_items(code)}.get(clean_line(ref).upper())
        if earlier is None:
            raise TherapyError(
                f"There is no earlier action item '{clean_line(ref)}' for this pair; "
                "run 'therapy status' to see their references."
            )
        # Under the earlier session's lock, looked at again: a second review of the same
        # item (a double key press, another facilitator) finds it closed, never copies twice.
        with self.store.transaction(earlier.session) as db:
            doc = db.table("actions").get(doc_id=earlier.item.id)
            current = ActionStatus(doc["status"]) if doc else ActionStatus.DROPPED
            if current is not ActionStatus.OPEN:
                raise TherapyError(f"Action item {earlier.ref} was marked {current.value} already.")
            if wanted == "carried":
                item = earlier.item
                self.add_action(
                    code,
                    item.what,
                    item.owner,
                    item.due,
                    item.cause,
                    item.metric,
                    carried_from=earlier.ref,
                )
            earlier.item = self.set_action_status(earlier.session, earlier.item.id, wanted)
        return earlier

    # -- celebrate ----------------------------------------------------------------------

    def add_win(
        self,
        code: str,
        side: str,
        text: str,
        kind: str = "win",
        actor: Actor = FACILITATOR,
        author: str | None = None,
    ) -> Win:
        if kind not in ("win", "appreciation"):
            raise TherapyError(f"A celebration is a win or an appreciation, not '{kind}'.")
        with self.store.transaction(normalise_code(code)) as db:
            session = _session(db)
            self._require_phase(session, (Phase.CELEBRATE,), "Wins can be added")
            participant = None if actor.is_facilitator else self._participant(db, actor)
            side = participant.side if participant else self._side(session, side)
            name = participant.name if participant else self._name(author)
            win = Win(
                id=0,
                side=side,
                text=complaint_text(text, "A win or appreciation"),
                kind=kind,
                author=None if session.anonymous else name,
                created=now(),
            )
            win.id = _insert(db, "wins", win)
            _touch(db)
            return win

    # -- where the pair stands ----------------------------------------------------------

    def relationship(
        self, code: str, board: Board | None = None, earlier: list[EarlierItem] | None = None
    ) -> Relationship:
        from therapy.relationship import measure

        board = board or self.board(code)
        if earlier is None:
            earlier = self.earlier_items(board.session.code, board.session)
        return measure(board, earlier)
