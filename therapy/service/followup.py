"""Between sessions: the action items of every session (who owes what, by when), marking
one done or dropped from the shell, and the trend of a pair from one session to the next."""

from __future__ import annotations

from dataclasses import dataclass, field

from therapy.clock import parse_instant
from therapy.limits import OWNER_CHARS
from therapy.model import (
    FACILITATOR,
    ActionItem,
    ActionStatus,
    EarlierItem,
    History,
    Session,
    SessionPoint,
    Snapshot,
    TherapyError,
    Trend,
    pair_keys,
    unknown,
)
from therapy.service.reading import ReadingRules
from therapy.service.validate import line_text, normalise_code
from therapy.text import clean_line, name_key, shown

WHICH = ("open", "overdue", "all")


@dataclass
class _Pair:
    key: str
    label: str
    snapshots: list[Snapshot] = field(default_factory=list)  # oldest first
    skipped: list[str] = field(default_factory=list)


class FollowUpRules(ReadingRules):
    def _pairs(
        self, pair: str | None = None, code: str | None = None, unread: list[str] | None = None
    ) -> list[_Pair]:
        """The sessions of each pair, read once: of the pair named (its name or its sides,
        any order, any case), of the pair of session CODE, or of every pair but the demo's
        copies. An unreadable session that the index places in a wanted pair is named in
        its pair; one whose pair nothing can tell (a damaged index row, a row without a
        pair) is said in UNREAD, since it may be a wanted pair's."""
        if code is not None:
            wanted: set[str] | None = {self.session(normalise_code(code)).pair}
        elif pair is not None:
            wanted = pair_keys(line_text(pair, "The pair's name", 200))
        else:
            wanted = None
        pairs: dict[str, _Pair] = {}
        entries, problems = self.store.index()
        if unread is not None:
            unread.extend(problems)
        for entry in sorted(entries, key=lambda e: e.created):
            if entry.pair and (
                entry.pair not in wanted if wanted is not None else entry.pair.startswith("demo ")
            ):
                continue  # the index says whose it is: not a wanted pair's, not read
            try:
                snapshot = self.store.read(entry.code)
            except TherapyError as error:
                if entry.pair:  # the index says whose: named, not guessed
                    pairs.setdefault(entry.pair, _Pair(entry.pair, "")).skipped.append(entry.code)
                elif unread is not None:
                    unread.append(str(error))
                continue
            session = snapshot.session
            if wanted is not None and session.pair not in wanted:
                continue
            if wanted is None and session.demo:
                continue  # a copy of the demo is nobody's history
            found = pairs.setdefault(session.pair, _Pair(session.pair, session.pair_label))
            found.label = session.pair_label  # the newest session's spelling
            found.snapshots.append(snapshot)
        for found in pairs.values():
            found.snapshots.sort(key=lambda s: (s.session.created, s.session.code))
            if not found.label:
                found.label = found.key
        return sorted(
            (p for p in pairs.values() if p.snapshots or p.skipped),
            key=lambda p: name_key(p.label),
        )

    # -- action items across sessions ---------------------------------------------------

    def tracked(
        self, pair: str | None = None, owner: str | None = None, which: str = "open"
    ) -> History:
        """Action items across sessions, soonest due first: the open ones, the overdue ones
        or all. OWNER matches a name in any case. Carried-over items are listed once, as
        the copy that carries them on."""
        if which not in WHICH:
            raise unknown("kind of action items", which, WHICH)
        today = self.today()
        wanted_owner = (
            name_key(line_text(owner, "The owner", OWNER_CHARS)) if owner is not None else None
        )
        history = History()
        for found in self._pairs(pair, unread=history.unread):
            history.skipped.extend(found.skipped)
            for snapshot in found.snapshots:
                session = snapshot.session
                for item in snapshot.actions.values():
                    if wanted_owner is not None and name_key(item.owner) != wanted_owner:
                        continue
                    if which == "open" and item.status is not ActionStatus.OPEN:
                        continue
                    if which == "overdue" and not item.overdue(today):
                        continue
                    if which == "all" and item.status is ActionStatus.CARRIED:
                        continue  # its copy in a later session stands for it
                    history.items.append(_earlier(session, item))
        history.items.sort(key=lambda e: (e.item.due, e.session_created, e.item.id))
        return history

    def mark(self, ref: str, status: str, by: str = "") -> EarlierItem:
        """Mark an action item done, dropped or open again, by its reference (K7QX2M-3),
        from the shell between sessions: the next check-in shows it reviewed."""
        wanted = status.strip().lower()
        if wanted not in ("done", "dropped", "open"):
            raise TherapyError(
                f"Mark an action item done, dropped or open, not '{shown(status)}'; to carry "
                "one over, review it at the next session's check-in."
            )
        code, _, number = clean_line(ref).upper().rpartition("-")
        if not code or not number.isdigit():
            raise TherapyError(
                f"'{shown(ref)}' is not an action item's reference; they look like K7QX2M-3 "
                "(run 'therapy actions' to see them)."
            )
        who = line_text(by, "The name", OWNER_CHARS, required=False)
        with self.store.transaction(normalise_code(code)) as snapshot:
            item = snapshot.actions.get(int(number))
            if item is None:
                raise TherapyError(
                    f"There is no action item {shown(ref)}; run 'therapy actions' to see them."
                )
            if item.status is ActionStatus.CARRIED:
                raise TherapyError(
                    f"Action item {shown(ref)} was carried over to a later session; mark "
                    "the copy there instead (run 'therapy actions')."
                )
            if item.status is not ActionStatus(wanted):
                item.status = ActionStatus(wanted)
                item.closed = "" if wanted == "open" else self.now()
                item.closed_by = "" if wanted == "open" else who
                self._touch(snapshot)
            return _earlier(snapshot.session, item)

    # -- the trend of a pair ------------------------------------------------------------

    def trend(
        self, pair: str | None = None, code: str | None = None, unread: list[str] | None = None
    ) -> list[Trend]:
        """Each session of a pair, oldest first, with where the pair stood then: its label,
        score and signals (follow-through as the earlier items stand now), the mix of
        causes it agreed, and what became of its own action items. UNREAD, if given, gets a
        sentence for each session that could not be read and may be a wanted pair's."""
        from therapy.relationship import measure

        keys = self.prompts.cause_keys
        trends = []
        for found in self._pairs(pair, code, unread):
            trend = Trend(found.key, found.label, skipped=list(found.skipped))
            earlier: list[EarlierItem] = []
            for snapshot in found.snapshots:
                session = snapshot.session
                board = self._board(snapshot, FACILITATOR)
                causes = {key: 0 for key in (*keys, "")}
                for complaint in board.complaints:
                    causes[complaint.cause or ""] = causes.get(complaint.cause or "", 0) + 1
                items = list(snapshot.actions.values())
                trend.points.append(
                    SessionPoint(
                        code=session.code,
                        title=session.title,
                        created=session.created,
                        phase=session.phase,
                        relationship=measure(board, list(earlier)),
                        causes=causes,
                        action_items=len(items),
                        done=sum(1 for a in items if a.status is ActionStatus.DONE),
                        dropped=sum(1 for a in items if a.status is ActionStatus.DROPPED),
                        date=self._local_date(session.created),
                    )
                )
                earlier.extend(_earlier(session, item) for item in items)
            trends.append(trend)
        return trends

    def recent(self, session: Session, count: int = 5) -> list[SessionPoint]:
        trends = self.trend(code=session.code)
        points = trends[0].points if trends else []
        upto = [p for p in points if (p.created, p.code) <= (session.created, session.code)]
        return upto[-count:]

    def _local_date(self, instant: str) -> str:
        try:
            return parse_instant(instant).astimezone().date().isoformat()
        except ValueError:
            return instant[:10]


def _earlier(session: Session, item: ActionItem) -> EarlierItem:
    return EarlierItem(
        session.code,
        session.title,
        item,
        pair_label=session.pair_label,
        session_created=session.created,
    )
