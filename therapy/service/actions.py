"""Action items: agreeing them, their status, and the review of the pair's earlier ones."""

from __future__ import annotations

from collections.abc import Iterable

from therapy.limits import ACTION_CHARS, METRIC_CHARS, OWNER_CHARS
from therapy.model import (
    FACILITATOR,
    ActionItem,
    ActionStatus,
    Actor,
    EarlierItem,
    History,
    Session,
    TherapyError,
    unknown,
)
from therapy.service.base import ServiceBase
from therapy.service.bounds import check_room
from therapy.service.permissions import Action
from therapy.service.validate import line_text, normalise_code, parse_due
from therapy.text import clean_line, shown


class ActionRules(ServiceBase):
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
        origin: str = "",
    ) -> ActionItem:
        item = ActionItem(
            id=0,
            what=line_text(what, "What to do", ACTION_CHARS),
            owner=line_text(owner, "The owner", OWNER_CHARS),
            # a carried item keeps the date it was agreed with (overdue, it says so)
            due=due if carried_from is not None else parse_due(due, self.today()),
            cause=self.cause_key(cause),
            metric=line_text(metric, "The metric", METRIC_CHARS, required=False),
            complaints=sorted(set(complaints)),
            carried_from=carried_from,
            created=self.now(),
            origin=origin if carried_from is not None else "",
        )
        with self.store.transaction(normalise_code(code)) as snapshot:
            # an item carried over at review comes in at check-in: reviewing is allowed then
            action = Action.REVIEW if carried_from is not None else Action.ADD_ACTION
            self._require(actor, action, snapshot.session)
            for complaint_id in item.complaints:
                self._complaint(snapshot, complaint_id)
            check_room(snapshot, "actions")
            snapshot.add("actions", item)
            self._touch(snapshot)
            return item

    def set_action_status(
        self, code: str, item_id: int, status: str, actor: Actor = FACILITATOR, by: str = ""
    ) -> ActionItem:
        """BY: who said so, kept with the item (a review: the check-in it was reviewed at)."""
        try:
            new_status = ActionStatus(status.strip().lower())
        except ValueError:
            raise unknown("status", status, ActionStatus) from None
        with self.store.transaction(normalise_code(code)) as snapshot:
            self._require(actor, Action.SET_ACTION_STATUS, snapshot.session)
            item = snapshot.actions.get(item_id)
            if item is None:
                raise TherapyError(f"There is no action item {item_id} in session {code}.")
            if item.status is not new_status:
                item.status = new_status
                item.closed = "" if new_status is ActionStatus.OPEN else self.now()
                item.closed_by = "" if new_status is ActionStatus.OPEN else by
            self._touch(snapshot)
            return item

    def history(self, session: Session) -> History:
        """Action items of the pair's earlier sessions (same pair, created before); an
        earlier session that cannot be read is skipped, and named in `skipped`."""
        history = History()
        entries, _ = self.store.index()
        for entry in entries:
            # the index says which sessions are this pair's earlier ones: only those are read
            if entry.code == session.code or (
                entry.pair and (entry.pair != session.pair or entry.created >= session.created)
            ):
                continue
            try:
                earlier = self.store.read(entry.code)
            except TherapyError:
                if entry.pair == session.pair:  # the index says whose: named, not guessed
                    history.skipped.append(entry.code)
                continue
            other = earlier.session
            if other.pair != session.pair or other.created >= session.created:
                continue
            for item in earlier.actions.values():
                history.items.append(EarlierItem(other.code, other.title, item))
        history.items.sort(key=lambda e: (e.item.created, e.ref))
        return history

    def earlier_items(self, code: str, session: Session | None = None) -> list[EarlierItem]:
        return self.history(session or self.session(code)).items

    def review(self, code: str, ref: str, status: str, actor: Actor = FACILITATOR) -> EarlierItem:
        """Close the loop on an earlier open action item: done, carried (over) or dropped.
        Carried over makes an open copy in this session, so it comes back next time too."""
        wanted = status.strip().lower().replace(" over", "").replace("carry", "carried")
        if wanted not in ("done", "carried", "dropped"):
            raise TherapyError(
                f"Review an action item as done, carried or dropped, not '{shown(status)}'."
            )
        current_session = self.session(code)
        self._require(actor, Action.REVIEW, current_session)
        earlier = {e.ref: e for e in self.history(current_session).items}.get(
            clean_line(ref).upper()
        )
        if earlier is None:
            raise TherapyError(
                f"There is no earlier action item '{shown(ref)}' for this pair; "
                "run 'therapy status' to see their references."
            )
        # Under the earlier session's lock, looked at again: a second review of the same
        # item (a double key press, another facilitator) finds it closed, never copies twice.
        with self.store.transaction(earlier.session) as snapshot:
            item = snapshot.actions.get(earlier.item.id)
            current = item.status if item else ActionStatus.DROPPED
            if current is not ActionStatus.OPEN:
                raise TherapyError(f"Action item {earlier.ref} was marked {current.value} already.")
            if wanted == "carried" and not self._carried_here(code, earlier.ref):
                original = earlier.item
                self.add_action(
                    code,
                    original.what,
                    original.owner,
                    original.due,
                    original.cause,
                    original.metric,
                    actor=actor,
                    carried_from=earlier.ref,
                    origin=original.identity(earlier.ref),
                )
            earlier.item = self.set_action_status(
                earlier.session, earlier.item.id, wanted, actor, by=f"check-in of {code}"
            )
        return earlier

    def _carried_here(self, code: str, ref: str) -> bool:
        """A copy made by a review whose second half (the earlier item's status) failed."""
        snapshot = self.store.read(normalise_code(code))
        return any(item.carried_from == ref for item in snapshot.actions.values())
