"""Who may do what, in which phase: one table, read by every service method and by the
TUI's key gating, so that a key is shown exactly when the service would accept it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from therapy.model import PHASES, Actor, Phase, Role, TherapyError

F, P = Role.FACILITATOR, Role.PARTICIPANT


class Action(StrEnum):
    ADD_COMPLAINT = "add a complaint"
    EDIT_COMPLAINT = "edit a complaint"
    DELETE_COMPLAINT = "delete a complaint"
    GROUP = "group complaints"
    SET_CAUSE = "agree on a cause"
    ACCEPT_SUGGESTIONS = "accept the suggested causes"
    VOTE = "vote"
    DISCUSS = "choose the item under discussion"
    ADD_ACTION = "agree on an action item"
    SET_ACTION_STATUS = "change an action item's status"
    REVIEW = "review earlier action items"
    ADD_WIN = "celebrate a win or an appreciation"
    EDIT_WIN = "edit a win or an appreciation"
    DELETE_WIN = "delete a win or an appreciation"
    MOVE_PHASE = "move the session to another phase"
    SET_TIMEBOX = "set a timebox"
    ICEBREAKER = "change the icebreaker"
    DELETE_SESSION = "delete a session"


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]
    phases: tuple[Phase, ...]


def _rule(roles: tuple[Role, ...], *phases: Phase) -> Rule:
    return Rule(frozenset(roles), phases or PHASES)


# The observer (the projector) is in no row: it changes nothing, in any phase.
RULES: dict[Action, Rule] = {
    Action.ADD_COMPLAINT: _rule((F, P), Phase.CHECK_IN, Phase.VENT),
    Action.EDIT_COMPLAINT: _rule((F, P), Phase.CHECK_IN, Phase.VENT),  # a participant: own
    Action.DELETE_COMPLAINT: _rule((F, P), Phase.CHECK_IN, Phase.VENT),  # a participant: own
    Action.GROUP: _rule((F,), Phase.DIAGNOSE),
    Action.SET_CAUSE: _rule((F,), Phase.DIAGNOSE, Phase.VOTE, Phase.REMEDY),
    Action.ACCEPT_SUGGESTIONS: _rule((F,), Phase.DIAGNOSE),
    Action.VOTE: _rule((F, P), Phase.VOTE),  # a participant: their own votes
    Action.DISCUSS: _rule((F,), Phase.REMEDY),
    Action.ADD_ACTION: _rule((F,), Phase.REMEDY, Phase.CELEBRATE, Phase.CLOSE),
    Action.SET_ACTION_STATUS: _rule((F,)),
    Action.REVIEW: _rule((F,)),
    Action.ADD_WIN: _rule((F, P), Phase.CELEBRATE),
    Action.EDIT_WIN: _rule((F, P), Phase.CELEBRATE),  # a participant: own
    Action.DELETE_WIN: _rule((F, P), Phase.CELEBRATE),  # a participant: own
    Action.MOVE_PHASE: _rule((F,)),
    Action.SET_TIMEBOX: _rule((F,)),
    Action.ICEBREAKER: _rule((F,)),
    Action.DELETE_SESSION: _rule((F,)),
}


def allows(role: Role, action: Action, phase: Phase) -> bool:
    rule = RULES[action]
    return role in rule.roles and phase in rule.phases


def check(actor: Actor, action: Action, phase: Phase, code: str = "") -> None:
    """Refuse, in one sentence, what this actor may not do now."""
    rule = RULES[action]
    if actor.role not in rule.roles:
        if actor.role is Role.OBSERVER:
            raise TherapyError(
                f"Only the facilitator can {action.value}; the projector view only watches."
            )
        raise TherapyError(f"Only the facilitator can {action.value}.")
    if phase not in rule.phases:
        names = [p.value for p in rule.phases]
        listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        where = f"session {code} is" if code else "the session is"
        raise TherapyError(
            f"You can {action.value} only during {listed}; {where} in {phase.value}."
        )
