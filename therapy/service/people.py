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


def key_id(key: str) -> str:
    """An SSH key's id as therapy serve passes it (the SHA-256 of its public blob, in
    hex), checked."""
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise TherapyError("A key's id is 64 hex digits.")
    return key


def _secret(snapshot: Snapshot) -> bytes:
    """The session's own secret behind seats and keys, made on first need."""
    session = snapshot.session
    if session.seat_key is None:
        session.seat_key = os.urandom(16).hex()
    return bytes.fromhex(session.seat_key)


def _seat_of(secret: bytes, name: str) -> str:
    """What an anonymous session keeps of a bound name."""
    return hmac.new(secret, name_key(name).encode(), hashlib.sha256).hexdigest()[:24]


def _key_of(secret: bytes, key: str) -> str:
    """What a session keeps of an SSH key: an HMAC of its id (apart from any seat's)."""
    return hmac.new(secret, f"ssh key\0{key}".encode(), hashlib.sha256).hexdigest()


def _known(
    snapshot: Snapshot, held: str | None, seat: str | None, name: str | None
) -> Participant | None:
    """The participant a joiner may be: theirs by key first, else by seat or by name."""
    people = snapshot.participants.values()
    if held is not None:
        mine = next((p for p in people if p.key == held), None)
        if mine is not None:
            return mine
    if seat is not None:
        return next((p for p in people if p.seat == seat), None)
    if name is not None:
        return next((p for p in people if name_key(p.name or "") == name_key(name)), None)
    return None


def _check_rejoin(participant: Participant, name: str | None, bound: bool, here: set[int]) -> None:
    """Why a joiner found by name or seat (not by their key) may not be that participant."""
    if participant.key is not None or (participant.keyed and not bound):
        raise TherapyError(
            f"The name {name} belongs to someone's SSH key in this session; "
            "join under another name."
        )
    if not bound and participant.id in here:
        raise TherapyError(
            f"Someone called {name} is connected to this session now; join under another name."
        )


class PeopleRules(ServiceBase):
    def join(
        self,
        code: str,
        side: str,
        name: str | None = None,
        bound: bool = False,
        keyed: bool = False,
        key: str | None = None,
    ) -> Participant:
        """Join a session, or come back to it. Who is the same person coming back:

        - `key`, the id of the SSH key a client proved to therapy serve: the key is the
          person. A key seen before is that participant, whatever name is typed; the first
          time, the name it takes is bound to it, and a name someone joined under without a
          key is not for it (a key proves nothing of being them). The session keeps only an
          HMAC of the id.
        - `bound`: the name was fixed by whoever set up this person's access (the OpenSSH
          route's --name, with `keyed`; the shell's --name), so it is the same person.
        - a name typed into the join screen is the same person too, unless they are
          connected now.

        A name bound to a key (either route) is refused to anyone else, in one sentence,
        except that the OpenSSH route's name is its `bound` owner's. In an anonymous session
        no name is kept: a bound name leaves a keyed hash of itself (a seat), a key its
        keyed hash; no card or vote points to either, and a typed name is never recognised
        (nothing stored could say whose it was)."""
        code = normalise_code(code)
        key = None if key is None else key_id(key)
        if key is not None:
            bound, keyed = False, True  # the key itself is the person, not a name
        here = self.present(code)
        with self.store.transaction(code) as snapshot:
            session = snapshot.session
            side = self._side(session, side)
            name = name_text(name)
            held = None if key is None else _key_of(_secret(snapshot), key)
            seat = None
            if session.anonymous:
                seat = _seat_of(_secret(snapshot), name) if bound and name else None
                name = None
            participant = _known(snapshot, held, seat, name)
            if participant is None:
                at = "" if session.anonymous else self.now()  # a join time could match a card's
                check_room(snapshot, "participants")
                participant = Participant(
                    0, side, name, joined=at, seen=at, seat=seat, keyed=keyed, key=held
                )
                snapshot.add("participants", participant)
                self._touch(snapshot)
                return participant
            if held is not None and participant.key is None and not participant.keyed:
                # someone joined under this name without a key (a browser, a typed name):
                # a key is no proof of being them, and taking their place would shut them out
                raise TherapyError(
                    f"Someone joined this session as {name} already; join under another name."
                )
            if held is None or participant.key != held:
                _check_rejoin(participant, name, bound, here)
            if participant.side != side:
                raise TherapyError(
                    f"{name or 'You'} joined this session for {participant.side} already; "
                    f"join as {participant.side}."
                )
            if keyed and not participant.keyed:
                participant.keyed = True
                self._touch(snapshot)
            return participant

    def participant_for_key(self, code: str, key: str) -> Participant | None:
        """The participant an SSH key (its id) is in this session, if it joined before."""
        key = key_id(key)
        snapshot = self.store.read(normalise_code(code))
        secret = snapshot.session.seat_key
        if secret is None:
            return None  # nobody's key was kept here yet
        return _known(snapshot, _key_of(bytes.fromhex(secret), key), None, None)

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
