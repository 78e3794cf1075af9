"""People: joining a session (named, bound or anonymous), presence, and the item on the
table in remedy."""

from __future__ import annotations

import hashlib
import hmac
import os

from therapy.limits import CONNECTIONS_PER_PERSON
from therapy.model import FACILITATOR, Actor, Participant, Snapshot, TherapyError
from therapy.service.base import ServiceBase
from therapy.service.bounds import check_room
from therapy.service.permissions import Action
from therapy.service.validate import name_text, normalise_code
from therapy.store import Attendance
from therapy.text import name_key


class NoSeat(TherapyError):
    """A person is connected from as many windows as they may be."""


class PeopleRules(ServiceBase):
    def join(
        self,
        code: str,
        side: str,
        name: str | None = None,
        bound: bool = False,
        keyed: bool = False,
    ) -> Participant:
        """Join a session. `bound`: the name was fixed by whoever set up this person's
        access (an SSH key's --name, the shell's --name), so joining again under it is
        the same person coming back, with their cards and votes. `keyed`: bound by an SSH
        key, which keeps the name for its owner. A name typed into the join screen is the
        same person coming back too, unless that person is connected now or their name is
        keyed. In an
        anonymous session only a keyed hash of a bound name is kept (a seat), to recognise
        the same person coming back: no card or vote points to a seat, and a typed name is
        never recognised (nothing stored could say whose it was)."""
        code = normalise_code(code)
        here = self.present(code)
        with self.store.transaction(code) as snapshot:
            session = snapshot.session
            side = self._side(session, side)
            name = name_text(name)
            seat = None
            if session.anonymous:
                seat = self._seat(snapshot, name) if bound and name else None
                name = None
            for participant in snapshot.participants.values():
                if seat is not None:
                    same = participant.seat == seat
                else:
                    same = name is not None and name_key(participant.name or "") == name_key(name)
                if not same:
                    continue
                if not bound and participant.keyed:
                    raise TherapyError(
                        f"The name {name} belongs to someone's SSH key in this session; "
                        "join under another name."
                    )
                if not bound and participant.id in here:
                    raise TherapyError(
                        f"Someone called {name} is connected to this session now; "
                        "join under another name."
                    )
                if participant.side != side:
                    raise TherapyError(
                        f"{name or 'You'} joined this session for {participant.side} already; "
                        f"join as {participant.side}."
                    )
                if keyed and not participant.keyed:
                    participant.keyed = True
                    self._touch(snapshot)
                return participant
            at = "" if session.anonymous else self.now()  # a join time could match a card's
            check_room(snapshot, "participants")
            participant = Participant(0, side, name, joined=at, seen=at, seat=seat, keyed=keyed)
            snapshot.add("participants", participant)
            self._touch(snapshot)
            return participant

    @staticmethod
    def _seat(snapshot: Snapshot, name: str) -> str:
        session = snapshot.session
        if session.seat_key is None:
            session.seat_key = os.urandom(16).hex()
        key = bytes.fromhex(session.seat_key)
        return hmac.new(key, name_key(name).encode(), hashlib.sha256).hexdigest()[:24]

    def attend(self, code: str, participant_id: int) -> Attendance:
        """Mark a participant as here for as long as the returned handle stays open (and the
        process lives): nothing is written while they stay, and they drop off the moment
        their process ends. A person may be here from CONNECTIONS_PER_PERSON windows."""
        code = normalise_code(code)
        attendance = self.store.attend(code, participant_id)
        if attendance is None:
            raise NoSeat(
                f"You are connected to session {code} in {CONNECTIONS_PER_PERSON} windows "
                "already; close one of them, then join again."
            )
        return attendance

    def discuss(self, code: str, complaint_id: int, actor: Actor = FACILITATOR) -> None:
        """Put an item (by its lead complaint) on the table in remedy, for every screen."""
        with self.store.transaction(normalise_code(code)) as snapshot:
            self._require(actor, Action.DISCUSS, snapshot.session)
            self._complaint(snapshot, complaint_id)
            if snapshot.session.discussing != complaint_id:
                snapshot.session.discussing = complaint_id
                self._touch(snapshot)
