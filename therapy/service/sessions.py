"""Sessions: making, listing and deleting them, their phases, timeboxes and icebreaker."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime

from therapy.clock import parse_instant
from therapy.limits import NAME_CHARS
from therapy.model import (
    FACILITATOR,
    PHASES,
    Actor,
    Phase,
    Session,
    Snapshot,
    TherapyError,
    pair_key,
    pair_keys,
    unknown,
)
from therapy.service import validate
from therapy.service.base import ServiceBase
from therapy.service.permissions import Action
from therapy.service.validate import line_text, normalise_code, parse_sides


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
    pair: str = ""  # the pair's key (sessions of one pair share it)
    pair_label: str = ""  # the pair as people read it


class SessionRules(ServiceBase):
    def create(
        self,
        title: str,
        sides: Iterable[str] = ("Sales", "Marketing"),
        anonymous: bool = False,
        votes: int = 3,
        timeboxes: dict[str, int] | None = None,
        created: str | None = None,
        pair: str = "",
        top: int = 3,
        demo: str = "",
    ) -> Session:
        """A new session. Sessions of one `pair` share their history (earlier action items,
        follow-through); without a name the pair is the sides. A `demo` copy's history is
        its own copy's only."""
        title = line_text(title, "The session title")
        side_names = parse_sides(sides)
        pair_name = line_text(pair, "The pair's name", NAME_CHARS, required=False)
        if pair_name and pair_key(side_names) in pair_keys(pair_name):
            pair_name = ""  # "Sales x Marketing" for those sides: the unnamed pair, one history
        if not 1 <= votes <= 20:
            raise TherapyError(f"The vote budget must be 1 to 20 votes per person, not {votes}.")
        if not 1 <= top <= 20:
            raise TherapyError(
                f"The number of top-voted items that go on to remedy must be 1 to 20, not {top}."
            )
        for phase, seconds in (timeboxes or {}).items():
            self._check_timebox(phase, seconds)
        at = created or self.now()
        self.store.clean_orphans()
        for _ in range(100):
            code = validate.new_code()
            session = Session(
                code=code,
                title=title,
                sides=side_names,
                anonymous=anonymous,
                vote_budget=votes,
                pair_name=pair_name,
                demo=demo,
                top=top,
                created=at,
                updated=at,
                phase_started=at,
                timeboxes=dict(timeboxes or {}),
                icebreaker=sum(map(ord, code)),  # a different one to start each session
            )
            if self.store.create(Snapshot(session)):
                return session
        raise TherapyError("Could not find a free session code; try again.")  # pragma: no cover

    def delete(self, code: str, actor: Actor = FACILITATOR) -> None:
        code = normalise_code(code)
        self._require(actor, Action.DELETE_SESSION, self.session(code))
        self.store.delete(code)

    def summaries(self, pair: str | None = None) -> list[SessionSummary]:
        """Every session (of the named `pair` only, if one is given), newest first; a
        damaged one (or index row) is listed with its problem instead of hiding the others."""
        self.store.clean_orphans()
        entries, problems = self.store.index()
        found = [SessionSummary("", "", [], "", problem=problem) for problem in problems]
        wanted = pair_keys(pair) if pair is not None else None
        for entry in entries:
            if wanted is not None and entry.pair and entry.pair not in wanted:
                continue  # the index says whose it is: not this pair's, not read
            summary = SessionSummary(entry.code, entry.title, list(entry.sides), entry.created)
            try:
                snapshot = self.store.read(entry.code)
            except TherapyError as error:
                summary.problem = str(error)
            else:
                summary.title, summary.sides = snapshot.session.title, snapshot.session.sides
                summary.pair = snapshot.session.pair
                summary.pair_label = snapshot.session.pair_label
                if wanted is not None and summary.pair not in wanted:
                    continue
                summary.phase = snapshot.session.phase
                summary.updated = snapshot.session.updated
                summary.complaints = len(snapshot.complaints)
                summary.participants = len(snapshot.participants)
                summary.action_items = len(snapshot.actions)
            found.append(summary)
        # newest first; sessions made in the same second keep the order they were made in
        order = {id(summary): position for position, summary in enumerate(found)}
        return sorted(found, key=lambda s: (s.created, order[id(s)]), reverse=True)

    # -- phases -------------------------------------------------------------------------

    def set_phase(
        self,
        code: str,
        target: str,
        actor: Actor = FACILITATOR,
        from_phase: Phase | None = None,
    ) -> Session:
        """Move to a phase by name, or next or back from `from_phase` (the phase the asker
        saw, when given): two moves asked from one phase at once make one move, not two. A
        phase named is where to go whatever happened meanwhile: `from_phase` is not asked."""
        with self.store.transaction(normalise_code(code)) as snapshot:
            session = snapshot.session
            self._require(actor, Action.MOVE_PHASE, session)
            wanted = target.strip().lower()
            step = {"next": 1, "back": -1, "previous": -1, "prev": -1}.get(wanted)
            if step is not None and from_phase not in (None, session.phase):
                raise TherapyError(
                    f"The session moved to {session.phase.value} already; nothing was changed."
                )
            if step == 1 and session.phase is Phase.CLOSE:
                raise TherapyError("The session is at close already, the last phase.")
            if step == -1 and session.phase is Phase.CHECK_IN:
                raise TherapyError("The session is at check-in already, the first phase.")
            if step is not None:
                phase = PHASES[session.phase.order + step]
            else:
                try:
                    phase = Phase(wanted.replace(" ", "-").replace("checkin", "check-in"))
                except ValueError:
                    raise unknown("phase", target, ("next", "back", *PHASES)) from None
            if phase is not session.phase:  # the same phase again keeps its timer running
                session.phase, session.phase_started = phase, self.now()
                self._touch(snapshot)
            return dataclasses.replace(session)

    @staticmethod
    def _check_timebox(phase: str, seconds: int) -> None:
        if phase not in {p.value for p in PHASES}:
            raise unknown("phase to time", phase, PHASES)
        if not 0 <= seconds <= 4 * 3600:
            raise TherapyError("A timebox must be between 0 (none) and 240 minutes.")

    def set_timebox(self, code: str, phase: str, seconds: int, actor: Actor = FACILITATOR) -> None:
        self._check_timebox(phase, seconds)
        with self.store.transaction(normalise_code(code)) as snapshot:
            session = snapshot.session
            self._require(actor, Action.SET_TIMEBOX, session)
            if seconds:
                session.timeboxes[phase] = seconds
            else:
                session.timeboxes.pop(phase, None)
            session.phase_started = self.now()
            self._touch(snapshot)

    def remaining(self, session: Session, at: datetime | None = None) -> int | None:
        """Seconds left in the current phase's timebox (negative when over), or None."""
        seconds = session.timeboxes.get(session.phase.value)
        if not seconds:
            return None
        started = parse_instant(session.phase_started)
        elapsed = ((at or self.moment()) - started).total_seconds()
        return int(seconds - elapsed)

    def next_icebreaker(self, code: str, actor: Actor = FACILITATOR) -> str:
        with self.store.transaction(normalise_code(code)) as snapshot:
            self._require(actor, Action.ICEBREAKER, snapshot.session)
            snapshot.session.icebreaker += 1
            self._touch(snapshot)
            index = snapshot.session.icebreaker
        return self.icebreaker(index)

    def icebreaker(self, index: int) -> str:
        icebreakers = self.prompts.icebreakers
        return icebreakers[index % len(icebreakers)]
