"""Complaints: logging, editing and deleting them, grouping near-duplicates and agreeing
their causes."""

from __future__ import annotations

from dataclasses import dataclass

from therapy.model import FACILITATOR, Actor, Complaint, Snapshot, TherapyError
from therapy.service.bounds import check_room
from therapy.service.permissions import Action
from therapy.service.suggesting import SuggestingRules
from therapy.service.validate import complaint_text, name_text, normalise_code


@dataclass(frozen=True)
class Accepted:
    """What `accept_suggestions` did: cards sorted, and cards left for the facilitator (no
    suggestion the app was sure enough of)."""

    accepted: int
    left: int


class ComplaintRules(SuggestingRules):
    def add_complaint(
        self,
        code: str,
        side: str,
        text: str,
        actor: Actor = FACILITATOR,
        author: str | None = None,
    ) -> Complaint:
        return self.add_complaints(code, [(side, text, author)], actor, paced=True)[0]

    def add_complaints(
        self,
        code: str,
        rows: list[tuple[str, str, str | None]],
        actor: Actor = FACILITATOR,
        lines: list[int] | None = None,
        paced: bool = False,
    ) -> list[Complaint]:
        """Log complaints, all or none; a bad row is named by its line (or number from 1).
        In an anonymous session a card names nobody: no author, no participant, no time.
        A participant is held to their adds per minute, and so is a named author when
        `paced` (one card said from the shell); a facilitator's import is not."""
        with self.store.transaction(normalise_code(code)) as snapshot:
            session = snapshot.session
            self._require(actor, Action.ADD_COMPLAINT, session)
            participant = None if actor.is_facilitator else self._participant(snapshot, actor)
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
                    name = participant.name if participant else name_text(author)
                except TherapyError as error:
                    raise TherapyError(f"{where}{error}") from None
                if session.anonymous:
                    prepared.append(Complaint(0, side, cleaned))
                else:
                    by = participant.id if participant else None
                    prepared.append(Complaint(0, side, cleaned, name, by, created=self.now()))
            check_room(snapshot, "complaints", len(prepared))
            if participant is not None or paced:
                named = participant.name if participant else name_text(rows[0][2])
                self._pace(snapshot, actor, named, len(prepared))
            for complaint in prepared:
                snapshot.add("complaints", complaint)
                if session.anonymous:
                    complaint.claim = self.claim(actor, session.code, "complaint", complaint.id)
            self._touch(snapshot)
            return prepared

    def _own_complaint(
        self, snapshot: Snapshot, complaint_id: int, actor: Actor, action: Action
    ) -> Complaint:
        self._require(actor, action, snapshot.session)
        complaint = self._complaint(snapshot, complaint_id)
        if not self.owns(snapshot, actor, complaint):
            raise TherapyError(f"Only the author or the facilitator can {action.value}.")
        return complaint

    def edit_complaint(
        self, code: str, complaint_id: int, text: str, actor: Actor = FACILITATOR
    ) -> Complaint:
        with self.store.transaction(normalise_code(code)) as snapshot:
            complaint = self._own_complaint(snapshot, complaint_id, actor, Action.EDIT_COMPLAINT)
            complaint.text = complaint_text(text)
            self._touch(snapshot)
            return complaint

    def delete_complaint(self, code: str, complaint_id: int, actor: Actor = FACILITATOR) -> None:
        with self.store.transaction(normalise_code(code)) as snapshot:
            complaint = self._own_complaint(snapshot, complaint_id, actor, Action.DELETE_COMPLAINT)
            votes = [v for v in snapshot.votes.values() if v.complaint == complaint_id]
            if votes and snapshot.session.anonymous:
                # its votes name no voter, so they could not be given back to anyone
                raise TherapyError(
                    f"Complaint {complaint_id} has votes, which in an anonymous session cannot "
                    "be given back; its voters can take them back in vote first."
                )
            del snapshot.complaints[complaint_id]
            for vote in votes:  # given back (the session may have come back from vote)
                del snapshot.votes[vote.id]
            self._leave_group(snapshot, complaint)
            self._touch(snapshot)

    @staticmethod
    def _leave_group(snapshot: Snapshot, complaint: Complaint) -> None:
        """A complaint left its group: a group of one dissolves; a group keeps its id while
        its lead (the complaint whose id it bears) is there, else the smallest id left."""
        if complaint.group is None:
            return
        rest = [c for c in snapshot.complaints.values() if c.group == complaint.group]
        rest = [c for c in rest if c.id != complaint.id]
        if len(rest) == 1:
            rest[0].group = None
        elif rest and complaint.group == complaint.id:
            lead = min(c.id for c in rest)
            for member in rest:
                member.group = lead

    # -- diagnose -----------------------------------------------------------------------

    def _members(self, snapshot: Snapshot, complaint: Complaint) -> list[Complaint]:
        if complaint.group is None:
            return [complaint]
        return [c for c in snapshot.complaints.values() if c.group == complaint.group]

    def group(self, code: str, complaint_id: int, into: int, actor: Actor = FACILITATOR) -> int:
        """Merge a complaint (and its group) into another complaint's group; the group's id."""
        with self.store.transaction(normalise_code(code)) as snapshot:
            self._require(actor, Action.GROUP, snapshot.session)
            moving = self._complaint(snapshot, complaint_id)
            target = self._complaint(snapshot, into)
            if moving.id == target.id:
                raise TherapyError("A complaint cannot be grouped with itself; pick another one.")
            group_id = target.group if target.group is not None else target.id
            cause = target.cause or moving.cause
            for member in [*self._members(snapshot, moving), target]:
                member.group, member.cause = group_id, cause
            self._touch(snapshot)
            return group_id

    def ungroup(self, code: str, complaint_id: int, actor: Actor = FACILITATOR) -> None:
        """Take a complaint out of its group; a group left with one complaint dissolves."""
        with self.store.transaction(normalise_code(code)) as snapshot:
            self._require(actor, Action.GROUP, snapshot.session)
            complaint = self._complaint(snapshot, complaint_id)
            if complaint.group is None:
                raise TherapyError(f"Complaint {complaint_id} is not in a group.")
            self._leave_group(snapshot, complaint)
            complaint.group = None
            self._touch(snapshot)

    def set_cause(
        self, code: str, complaint_id: int, cause: str | None, actor: Actor = FACILITATOR
    ) -> None:
        """Agree a complaint's cause (for its whole group); None sends it back to unsorted."""
        key = self.cause_key(cause)
        with self.store.transaction(normalise_code(code)) as snapshot:
            self._require(actor, Action.SET_CAUSE, snapshot.session)
            complaint = self._complaint(snapshot, complaint_id)
            for member in self._members(snapshot, complaint):
                member.cause = key
            self._touch(snapshot)

    def accept_suggestions(self, code: str, actor: Actor = FACILITATOR) -> Accepted:
        """Agree the suggested cause of every unsorted complaint or group the suggester is
        sure enough of; a group takes its most confident member's suggestion. The others
        are left for the facilitator. Suggestions are worked out before the session is
        locked, and a card edited meanwhile is left alone."""
        before = self.store.read(normalise_code(code))
        self._require(actor, Action.ACCEPT_SUGGESTIONS, before.session)
        complaints = list(before.complaints.values())
        suggestions = self.suggestions_for(before.session, complaints) or {}
        texts = {c.id: c.text for c in complaints}
        with self.store.transaction(normalise_code(code)) as snapshot:
            self._require(actor, Action.ACCEPT_SUGGESTIONS, snapshot.session)
            units: dict[object, list[Complaint]] = {}
            for complaint in sorted(snapshot.complaints.values(), key=lambda c: c.id):
                key = ("group", complaint.group) if complaint.group is not None else complaint.id
                units.setdefault(key, []).append(complaint)
            accepted = left = 0
            for members in units.values():
                if any(member.cause for member in members):
                    continue
                found = [
                    suggestions[m.id]
                    for m in members
                    if m.id in suggestions and texts.get(m.id) == m.text
                ]
                best = max(found, key=lambda s: s.score, default=None)
                if best is None or best.cause is None:
                    left += 1
                    continue
                for member in members:
                    member.cause = best.cause
                accepted += 1
            self._touch(snapshot)
            return Accepted(accepted, left)
