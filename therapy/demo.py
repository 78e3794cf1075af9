"""A ready-made Sales x Marketing session from the story, with one earlier session of the pair."""

from __future__ import annotations

import os
from datetime import timedelta

from therapy.model import Phase
from therapy.service import Sessions

SIDES = ("Sales", "Marketing")

# side, text, author, and the cause the room agrees on at diagnose
COMPLAINTS = (
    ("Sales", "They don't give me what I need to succeed!", "Alex", "misaligned-expectations"),
    (
        "Sales",
        "One of them thought I was selling insurance. Half the leads are not ready to buy.",
        "Alex",
        "misaligned-expectations",
    ),
    (
        "Sales",
        "Leads are not ready to buy; they only downloaded an ebook.",
        "Sam",
        "misaligned-expectations",
    ),
    (
        "Sales",
        "Marketing is measured on lead volume while we carry the revenue quota.",
        "Sam",
        "different-goals",
    ),
    (
        "Sales",
        "I hear about new campaigns from customers before anyone tells me.",
        "Alex",
        "communication-gaps",
    ),
    ("Marketing", "They never appreciate my hard work!", "Dana", "different-goals"),
    (
        "Marketing",
        "Sales follows up too slowly; hot leads go cold in three days.",
        "Priya",
        "misaligned-expectations",
    ),
    (
        "Marketing",
        "Nobody from sales comes to the campaign meetings.",
        "Dana",
        "communication-gaps",
    ),
    (
        "Marketing",
        "Field feedback never reaches us, so we guess what customers say.",
        "Priya",
        "communication-gaps",
    ),
)

EARLIER_ACTIONS = (
    ("Write down what a sales-ready lead is", "Dana", "misaligned-expectations", "done"),
    ("Sales joins the Monday campaign stand-up", "Sam", "communication-gaps", "open"),
    ("Shared dashboard of lead conversion rate", "Priya", "different-goals", "open"),
)


def _days(sessions: Sessions, days: int) -> str:
    return (sessions.moment() + timedelta(days=days)).date().isoformat()


def _earlier_session(sessions: Sessions, copy: str) -> str:
    created = (sessions.moment() - timedelta(days=42)).isoformat(timespec="seconds")
    session = sessions.create("Q2 pipeline truce", SIDES, created=created, demo=copy)
    code = session.code
    with sessions.batch(code) as snapshot:
        sessions.add_complaint(
            code, "Sales", "Nobody agrees what a qualified lead is.", author="Alex"
        )
        sessions.add_complaint(
            code, "Marketing", "Sales never tells us which leads closed.", author="Dana"
        )
        sessions.set_phase(code, Phase.REMEDY.value)
        for what, owner, cause, status in EARLIER_ACTIONS:
            item = sessions.add_action(
                code, what, owner, _days(sessions, 0), cause, "agreed in the room"
            )
            # agreed six weeks ago, due two weeks ago: a date no one could set today
            snapshot.actions[item.id].due = _days(sessions, -14)
            if status != "open":
                sessions.set_action_status(code, item.id, status)
        sessions.set_phase(code, Phase.CLOSE.value)
    return code


def build_demo(sessions: Sessions, until: Phase = Phase.CLOSE, finish_last: bool = False) -> str:
    """Create the demo sessions; the new one's code.

    The new session starts at check-in with its people joined and its complaints collected
    before the meeting, then is walked through the phases until it arrives at `until`; with
    `finish_last`, that phase's own work is done too (votes cast, actions agreed...).
    """
    copy = os.urandom(4).hex()  # this copy's sessions are each other's history, no one else's
    _earlier_session(sessions, copy)
    code = sessions.create("Q3 lead handoff", SIDES, votes=3, demo=copy).code
    with sessions.batch(code):  # one write for the whole walk
        people = {
            name: sessions.join(code, side, name, bound=True).id
            for name, side in (
                ("Alex", "Sales"),
                ("Sam", "Sales"),
                ("Dana", "Marketing"),
                ("Priya", "Marketing"),
            )
        }
        ids = [
            sessions.add_complaint(code, side, text, author=who).id
            for side, text, who, _ in COMPLAINTS
        ]
        demo = _Demo(sessions, code, people, ids)
        for phase in Phase:
            if phase is until:
                if finish_last:
                    demo.work(phase)
                break
            demo.work(phase)
            sessions.set_phase(code, "next")
    return code


class _Demo:
    """What the room does in each phase of the demo session."""

    def __init__(self, sessions: Sessions, code: str, people: dict[str, int], ids: list[int]):
        self.sessions, self.code, self.people, self.ids = sessions, code, people, ids

    def work(self, phase: Phase) -> None:
        getattr(self, phase.name.lower())()

    def check_in(self) -> None:
        earlier = self.sessions.earlier_items(self.code)
        open_items = [e for e in earlier if e.item.status.value == "open"]
        for outcome, item in zip(("done", "carried"), open_items, strict=False):
            self.sessions.review(self.code, item.ref, outcome)

    def vent(self) -> None:
        pass  # the complaints were collected before the meeting

    def diagnose(self) -> None:
        sessions, code, ids = self.sessions, self.code, self.ids
        sessions.group(code, ids[2], ids[1])  # two ways of saying "not ready to buy"
        for complaint, (*_, cause) in zip(ids, COMPLAINTS, strict=True):
            if complaint != ids[2]:  # grouped: it has its group's cause
                sessions.set_cause(code, complaint, cause)

    def vote(self) -> None:
        ids = self.ids
        ballots = {
            "Alex": (ids[1], ids[1], ids[3]),
            "Sam": (ids[1], ids[4], ids[3]),
            "Dana": (ids[7], ids[6], ids[1]),
            "Priya": (ids[6], ids[6], ids[8]),
        }
        for name, picks in ballots.items():
            for complaint in picks:
                self.sessions.vote(self.code, self.people[name], complaint)

    def remedy(self) -> None:
        sessions, code, ids = self.sessions, self.code, self.ids
        sessions.add_action(
            code,
            "Sign a lead agreement: what a hot lead is, follow-up within 24 hours",
            "Alex and Dana",
            _days(sessions, 14),
            "misaligned-expectations",
            "lead-to-meeting rate above 30%",
            (ids[1], ids[6]),
        )
        sessions.add_action(
            code,
            "Set one shared goal: revenue per campaign, reviewed monthly",
            "Sam and Priya",
            _days(sessions, 30),
            "different-goals",
            "revenue per campaign",
            (ids[3],),
        )

    def celebrate(self) -> None:
        sessions, code = self.sessions, self.code
        sessions.add_win(
            code,
            "Sales",
            "The webinar leads closed two deals in October; we rang the bell and invited "
            "marketing.",
            "win",
            author="Alex",
        )
        sessions.add_win(
            code,
            "Marketing",
            "Sam's field notes made the new case study land.",
            "appreciation",
            author="Priya",
        )
        sessions.add_win(
            code,
            "Sales",
            "Dana rebuilt the pricing deck overnight for the Acme pitch.",
            "appreciation",
            author="Sam",
        )

    def close(self) -> None:
        pass  # the plan is read and exported by the facilitator
