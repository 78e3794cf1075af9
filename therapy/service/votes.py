"""Dot votes: a budget per person, spent all or none; in an anonymous session a vote names
no one and only the voter's own process can take it back."""

from __future__ import annotations

from collections.abc import Iterable

from therapy.model import FACILITATOR, Actor, Participant, Snapshot, TherapyError, Vote
from therapy.service.people import PeopleRules
from therapy.service.permissions import Action
from therapy.service.validate import name_text, normalise_code
from therapy.text import name_key, plural


class VoteRules(PeopleRules):
    def vote(
        self, code: str, participant_id: int, complaint_id: int, actor: Actor = FACILITATOR
    ) -> int:
        """Spend one of a participant's votes on a complaint (or its group); votes left."""
        return self.vote_many(code, participant_id, [complaint_id], actor)

    def vote_many(
        self,
        code: str,
        participant_id: int,
        complaint_ids: Iterable[int],
        actor: Actor = FACILITATOR,
    ) -> int:
        """Spend several votes at once: all of them, or none if one is refused; votes left."""
        wanted = list(complaint_ids)
        with self.store.transaction(normalise_code(code)) as snapshot:
            voter = self._voter(snapshot, participant_id, actor)
            for complaint_id in wanted:
                self._complaint(snapshot, complaint_id)
            left = self._left(snapshot, voter)
            if len(wanted) > left:
                budget = snapshot.session.vote_budget
                who = "You have"
                if actor.is_facilitator:
                    who = f"{voter.name} has" if voter.name else "This participant has"
                if left == 0:
                    spent = "the one vote" if budget == 1 else f"all {budget} votes"
                    raise TherapyError(f"{who} spent {spent}; take one back first.")
                raise TherapyError(
                    f"{who} {left} of {plural(budget, 'vote')} left, not {len(wanted)}; "
                    "none was cast."
                )
            anonymous = snapshot.session.anonymous
            for complaint_id in wanted:
                vote = Vote(0, None if anonymous else voter.id, complaint_id)
                snapshot.add("votes", vote)
                if anonymous:
                    vote.claim = self.claim(actor, snapshot.session.code, "vote", vote.id)
                    voter.spent += 1
            self._touch(snapshot)
            return left - len(wanted)

    def vote_as(self, code: str, name: str, side: str | None, complaint_ids: Iterable[int]) -> int:
        """The shell's vote: a named person (joined now if they have not, with --side)
        spends votes; their joining and their votes are stored together or not at all."""
        with self.store.transaction(normalise_code(code)) as snapshot:
            if snapshot.session.anonymous:
                raise TherapyError(
                    "Votes in an anonymous session are cast in the app (therapy join), not by name."
                )
            named = name_text(name)
            if named is None:
                raise TherapyError(
                    "Say whose votes these are with --name, a name of 1 to 60 characters."
                )
            wanted = name_key(named)
            voter = next(
                (p for p in snapshot.participants.values() if name_key(p.name or "") == wanted),
                None,
            )
            if voter is None:
                if not side:
                    raise TherapyError(
                        f"{named} has not joined {snapshot.session.code}; add --side "
                        "to join them first."
                    )
                voter = self.join(code, side, name, bound=True)
            return self.vote_many(code, voter.id, complaint_ids)

    def unvote(
        self, code: str, participant_id: int, complaint_id: int, actor: Actor = FACILITATOR
    ) -> int:
        """Take back one of a participant's votes on a complaint; votes left."""
        with self.store.transaction(normalise_code(code)) as snapshot:
            voter = self._voter(snapshot, participant_id, actor)
            if snapshot.session.anonymous:
                mine = [
                    v
                    for v in snapshot.votes.values()
                    if v.complaint == complaint_id
                    and v.claim == self.claim(actor, snapshot.session.code, "vote", v.id)
                ]
            else:
                mine = [
                    v
                    for v in snapshot.votes.values()
                    if v.participant == voter.id and v.complaint == complaint_id
                ]
            if not mine:
                raise TherapyError(f"There is no vote on complaint {complaint_id} to take back.")
            del snapshot.votes[mine[-1].id]
            if snapshot.session.anonymous:
                voter.spent -= 1
            self._touch(snapshot)
            return self._left(snapshot, voter)

    @staticmethod
    def _left(snapshot: Snapshot, voter: Participant) -> int:
        if snapshot.session.anonymous:
            spent = voter.spent
        else:
            spent = sum(1 for v in snapshot.votes.values() if v.participant == voter.id)
        return snapshot.session.vote_budget - spent

    def _voter(self, snapshot: Snapshot, participant_id: int, actor: Actor) -> Participant:
        self._require(actor, Action.VOTE, snapshot.session)
        if not actor.is_facilitator and actor.participant != participant_id:
            raise TherapyError("You can only spend your own votes.")
        if snapshot.session.anonymous and actor.participant != participant_id:
            # a vote names no voter: only the voter's own process can prove it, and take it back
            raise TherapyError(
                "In an anonymous session each person casts and takes back their own votes, in "
                "their own window (therapy join)."
            )
        return self._participant(snapshot, Actor(actor.role, participant_id))
