"""What every part of the service shares: the store, the prompts, the clock, and the look-ups
that each rule starts from."""

from __future__ import annotations

import hashlib
import hmac
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from therapy.clock import Clock, clock_from_environment, parse_instant, stamp
from therapy.model import (
    Actor,
    Complaint,
    Participant,
    Session,
    Snapshot,
    TherapyError,
    Win,
    unknown,
)
from therapy.service.bounds import WINDOW, check_pace, recent_cards
from therapy.service.permissions import Action, check
from therapy.service.validate import normalise_code
from therapy.store import Store
from therapy.text import clean_line

if TYPE_CHECKING:
    from therapy.prompts import Prompts


class ServiceBase:
    def __init__(
        self, store: Store, prompts_folder: Path | None = None, clock: Clock | None = None
    ) -> None:
        self.store = store
        self.prompts_folder = prompts_folder
        self.clock = clock or clock_from_environment()
        # Anonymous sessions: when this process's participants added their cards (by their
        # actor's secret); in memory only, as nothing stored may tie a card to anyone.
        self._added: dict[str, list[datetime]] = {}

    @property
    def prompts(self) -> Prompts:
        from therapy.prompts import load_prompts  # parsing TOML is not on the `add` path

        return load_prompts(self.prompts_folder)

    def now(self) -> str:
        return stamp(self.clock)

    def today(self) -> str:
        """The calendar day where the host is (its time zone, TZ): what a person in the
        room calls today, for due dates and overdue marks. Stamps stay in UTC."""
        return self.clock.now().astimezone().date().isoformat()

    def moment(self) -> datetime:
        return parse_instant(self.now())

    def batch(self, code: str) -> AbstractContextManager[Snapshot]:
        """Changes made inside to this session are one transaction: written together when it
        ends, or not at all if it raises. A change to another session made inside (a review
        marks the earlier session's item) is that session's own write, made at once."""
        return self.store.transaction(normalise_code(code))

    # -- shared look-ups ------------------------------------------------------------------

    def session(self, code: str) -> Session:
        return self.store.read(normalise_code(code)).session

    def present(self, code: str) -> set[int]:
        """The participants whose process is running now."""
        return self.store.present(normalise_code(code))

    def cause_key(self, cause: str | None) -> str | None:
        """A cause's key from its key or name, any case; None or '' for unsorted."""
        if cause is None or not cause.strip() or cause.strip().lower() in ("none", "unsorted"):
            return None
        wanted = cause.strip().casefold().replace(" ", "-")
        for known in self.prompts.causes:
            if wanted in (known.key.casefold(), known.name.casefold().replace(" ", "-")):
                return known.key
        raise unknown("cause", cause.strip(), self.prompts.cause_keys)

    @staticmethod
    def _require(actor: Actor, action: Action, session: Session) -> None:
        check(actor, action, session.phase, session.code)

    def _touch(self, snapshot: Snapshot) -> None:
        snapshot.session.updated = self.now()

    def _pace(self, snapshot: Snapshot, actor: Actor, name: str | None, adding: int = 1) -> None:
        """Hold a person to ADDS_PER_MINUTE cards: a participant, or a name the shell adds
        for (therapy add --name); the facilitator's own cards are not held."""
        now = self.moment()
        if not snapshot.session.anonymous:
            if actor.participant is not None or name:  # counted from the store: any process
                added = recent_cards(snapshot, now - WINDOW, actor.participant, name)
                check_pace(added, now, adding, None if actor.participant is not None else name)
            return
        if actor.participant is None:
            return  # the shell's name is not kept in an anonymous session: nothing to count
        # No card says whose it is: the count is this process's (a second connection starts
        # its own), which is all that an anonymous session can keep without naming anyone.
        added = [at for at in self._added.get(actor.secret, []) if at > now - WINDOW]
        check_pace(added, now, adding, None)
        self._added[actor.secret] = [*added, *[now] * adding]

    @staticmethod
    def _participant(snapshot: Snapshot, actor: Actor) -> Participant:
        participant = snapshot.participants.get(actor.participant or 0)
        if participant is None:
            raise TherapyError("You are not a participant of this session; join it first.")
        return participant

    @staticmethod
    def _complaint(snapshot: Snapshot, complaint_id: int) -> Complaint:
        complaint = snapshot.complaints.get(complaint_id)
        if complaint is None:
            raise TherapyError(f"There is no complaint {complaint_id} in this session.")
        return complaint

    def side_name(self, session: Session, side: str) -> str:
        """The side as the session spells it, whatever the case it was typed in."""
        return self._side(session, side)

    @staticmethod
    def _side(session: Session, side: str) -> str:
        wanted = clean_line(side).casefold()
        for name in session.sides:
            if name.casefold() == wanted:
                return name
        raise unknown("side", side, session.sides, f" in session {session.code}")

    @staticmethod
    def claim(actor: Actor, code: str, kind: str, row_id: int) -> str:
        """Anonymous sessions: a card's or vote's proof of authorship, from a secret that
        only the author's process holds: it links the row to no person and no seat."""
        message = f"{code}/{kind}/{row_id}".encode()
        return hmac.new(bytes.fromhex(actor.secret), message, hashlib.sha256).hexdigest()[:24]

    def owns(self, snapshot: Snapshot, actor: Actor, row: Complaint | Win) -> bool:
        """Whether the actor may change a card (a complaint, a win): the facilitator, or
        its author (proved by the claim in an anonymous session)."""
        if actor.is_facilitator:
            return True
        if snapshot.session.anonymous:
            kind = "complaint" if isinstance(row, Complaint) else "win"
            return row.claim == self.claim(actor, snapshot.session.code, kind, row.id)
        return actor.participant is not None and row.participant == actor.participant
