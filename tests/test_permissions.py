"""The one table of who may do what in which phase, walked whole: every role, every action,
every phase, through the service itself."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from therapy.model import FACILITATOR, OBSERVER, PHASES, Actor, Phase, Role, TherapyError
from therapy.service import Sessions
from therapy.service.permissions import RULES, Action, allows
from therapy.store import Store

Do = Callable[[Sessions, str, Actor, dict[str, object]], object]

DOES: dict[Action, Do] = {
    Action.ADD_COMPLAINT: lambda s, code, who, w: s.add_complaint(code, "Sales", "new", who),
    Action.EDIT_COMPLAINT: lambda s, code, who, w: s.edit_complaint(code, w["own"], "ed", who),
    Action.DELETE_COMPLAINT: lambda s, code, who, w: s.delete_complaint(code, w["own"], who),
    Action.GROUP: lambda s, code, who, w: s.group(code, w["own"], w["other"], who),
    Action.SET_CAUSE: lambda s, code, who, w: s.set_cause(
        code, w["own"], "communication-gaps", who
    ),
    Action.ACCEPT_SUGGESTIONS: lambda s, code, who, w: s.accept_suggestions(code, who),
    Action.VOTE: lambda s, code, who, w: s.vote(code, w["pid"], w["own"], who),
    Action.DISCUSS: lambda s, code, who, w: s.discuss(code, w["own"], who),
    Action.ADD_ACTION: lambda s, code, who, w: s.add_action(
        code, "Meet weekly", "Dana", "2027-01-04", actor=who
    ),
    Action.SET_ACTION_STATUS: lambda s, code, who, w: s.set_action_status(
        code, w["action"], "done", who
    ),
    Action.REVIEW: lambda s, code, who, w: s.review(code, w["earlier"], "done", who),
    Action.ADD_WIN: lambda s, code, who, w: s.add_win(code, "Sales", "We closed it", actor=who),
    Action.EDIT_WIN: lambda s, code, who, w: s.edit_win(code, w["win"], "We closed two", who),
    Action.DELETE_WIN: lambda s, code, who, w: s.delete_win(code, w["win"], who),
    Action.MOVE_PHASE: lambda s, code, who, w: s.set_phase(
        code, "back" if w["phase"] is Phase.CLOSE else "next", who
    ),
    Action.SET_TIMEBOX: lambda s, code, who, w: s.set_timebox(code, str(w["phase"]), 600, who),
    Action.ICEBREAKER: lambda s, code, who, w: s.next_icebreaker(code, who),
    Action.DELETE_SESSION: lambda s, code, who, w: s.delete(code, who),
}


def test_every_action_has_a_rule_and_a_walk() -> None:
    assert set(RULES) == set(Action) == set(DOES)
    assert not any(Role.OBSERVER in rule.roles for rule in RULES.values())


def _world(sessions: Sessions, phase: Phase) -> tuple[str, dict[str, object], Actor]:
    earlier = sessions.create("Q2", ["Sales", "Marketing"], created="2026-01-05T09:00:00+00:00")
    sessions.set_phase(earlier.code, "remedy")
    item = sessions.add_action(earlier.code, "Write the lead agreement", "Dana", "2026-12-20")
    code = sessions.create("Q3", ["Sales", "Marketing"]).code
    person = sessions.join(code, "Sales", "Alex", bound=True)
    actor = Actor(Role.PARTICIPANT, person.id)
    own = sessions.add_complaint(code, "Sales", "They never tell us", actor).id
    other = sessions.add_complaint(code, "Marketing", "Leads go cold").id
    sessions.set_phase(code, "remedy")
    action = sessions.add_action(code, "Share the dashboard", "Priya", "2027-01-04").id
    sessions.set_phase(code, "celebrate")
    win = sessions.add_win(code, "Sales", "Dana rebuilt the deck", actor=actor).id
    sessions.set_phase(code, phase.value)
    world = {
        "own": own,
        "other": other,
        "pid": person.id,
        "action": action,
        "win": win,
        "earlier": f"{earlier.code}-{item.id}",
        "phase": phase,
    }
    return code, world, actor


@pytest.mark.parametrize("phase", PHASES, ids=[p.value for p in PHASES])
@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_the_service_does_exactly_what_the_table_allows(
    tmp_path: Path, role: Role, phase: Phase
) -> None:
    for action, do in DOES.items():
        sessions = Sessions(Store(tmp_path / f"{action.name}"))
        code, world, participant = _world(sessions, phase)
        actor = {Role.FACILITATOR: FACILITATOR, Role.OBSERVER: OBSERVER}.get(role, participant)
        path = tmp_path / action.name / "sessions" / code / "session.json"
        before = path.read_bytes()
        if allows(role, action, phase):
            do(sessions, code, actor, world)
            if action is Action.DELETE_SESSION:
                assert not path.exists()
            elif action is not Action.REVIEW:  # a review writes the earlier session
                assert path.read_bytes() != before, f"{role} {action} in {phase} wrote nothing"
        else:
            with pytest.raises(TherapyError) as refused:
                do(sessions, code, actor, world)
            assert path.read_bytes() == before, f"{role} {action} in {phase} wrote"
            assert "\n" not in str(refused.value)


def test_in_an_anonymous_session_only_the_voter_casts_and_takes_back(tmp_path: Path) -> None:
    sessions = Sessions(Store(tmp_path))
    code = sessions.create("Q3", ["Sales", "Marketing"], anonymous=True).code
    alex = sessions.join(code, "Sales", "Alex", bound=True)
    sam = sessions.join(code, "Sales", "Sam", bound=True)
    as_alex = Actor(Role.PARTICIPANT, alex.id)
    card = sessions.add_complaint(code, "Marketing", "Leads go cold")
    sessions.set_phase(code, "vote")
    for voter in (alex.id, sam.id):
        with pytest.raises(TherapyError, match="their own votes"):
            sessions.vote(code, voter, card.id, FACILITATOR)
    assert sessions.vote(code, alex.id, card.id, as_alex) == 2
    with pytest.raises(TherapyError, match="their own votes"):
        sessions.unvote(code, sam.id, card.id, FACILITATOR)
    with pytest.raises(TherapyError):  # another process of Alex's cannot prove this vote
        sessions.unvote(code, alex.id, card.id, Actor(Role.PARTICIPANT, alex.id))
    assert sessions.unvote(code, alex.id, card.id, as_alex) == 3
    board = sessions.board(code)
    assert board.votes == [] and [p.spent for p in board.participants] == [0, 0]
