"""The rules of a session, through the service as every front end uses it."""

from __future__ import annotations

import pytest

from therapy.model import Actor, Phase, Role, TherapyError
from therapy.service import Sessions


def participant(pid: int) -> Actor:
    return Actor(Role.PARTICIPANT, pid)


def move_to(sessions: Sessions, code: str, phase: Phase) -> None:
    sessions.set_phase(code, phase.value)


def test_new_session_defaults(sessions: Sessions, code: str) -> None:
    session = sessions.session(code)
    assert session.sides == ["Sales", "Marketing"]
    assert session.phase is Phase.CHECK_IN
    assert session.vote_budget == 3
    assert len(code) == 6 and code.isupper()


@pytest.mark.parametrize(
    ("sides", "message"),
    [
        (["Sales"], "two or more sides"),
        (["Sales", "sales"], "different name"),
        (["Sales", "  "], "empty"),
    ],
)
def test_sides_are_validated(sessions: Sessions, sides: list[str], message: str) -> None:
    with pytest.raises(TherapyError, match=message):
        sessions.create("t", sides)
    assert sessions.summaries() == []


def test_more_than_two_sides(sessions: Sessions) -> None:
    code = sessions.create("t", ["Product", "Engineering", "Support"]).code
    assert sessions.session(code).sides == ["Product", "Engineering", "Support"]


def test_phases_move_forward_back_and_by_name(sessions: Sessions, code: str) -> None:
    assert sessions.set_phase(code, "next").phase is Phase.VENT
    assert sessions.set_phase(code, "back").phase is Phase.CHECK_IN
    with pytest.raises(TherapyError, match="first phase"):
        sessions.set_phase(code, "back")
    assert sessions.set_phase(code, "close").phase is Phase.CLOSE
    with pytest.raises(TherapyError, match="last phase"):
        sessions.set_phase(code, "next")
    with pytest.raises(TherapyError, match="no phase 'lunch'"):
        sessions.set_phase(code, "lunch")
    assert sessions.session(code).phase is Phase.CLOSE


def test_only_the_facilitator_moves_phases(sessions: Sessions, code: str) -> None:
    pid = sessions.join(code, "Sales", "Alex").id
    with pytest.raises(TherapyError, match="Only the facilitator"):
        sessions.set_phase(code, "next", participant(pid))
    assert sessions.session(code).phase is Phase.CHECK_IN


def test_complaints_only_in_check_in_and_vent(sessions: Sessions, code: str) -> None:
    sessions.add_complaint(code, "Sales", "early bird")
    move_to(sessions, code, Phase.VENT)
    sessions.add_complaint(code, "sales", "side names match in any case")
    move_to(sessions, code, Phase.DIAGNOSE)
    with pytest.raises(TherapyError, match="only during check-in and vent"):
        sessions.add_complaint(code, "Sales", "too late")
    texts = [c.text for c in sessions.board(code).complaints]
    assert texts == ["early bird", "side names match in any case"]


@pytest.mark.parametrize("text", ["", "   \n\t ", "x" * 1001, "\x1b\x07\u202e"])
def test_complaint_length_after_trimming(sessions: Sessions, code: str, text: str) -> None:
    with pytest.raises(TherapyError, match="1 to 1,000 characters"):
        sessions.add_complaint(code, "Sales", text)
    assert sessions.board(code).complaints == []


def test_complaint_of_exactly_1000_characters(sessions: Sessions, code: str) -> None:
    complaint = sessions.add_complaint(code, "Sales", "  " + "y" * 1000 + "  ")
    assert complaint.text == "y" * 1000


def test_control_characters_are_stripped(sessions: Sessions, code: str) -> None:
    hostile = "\x1b]0;pwned\x07They \x1b[2Jnever\u202e call\x85 back\r\nreally\x9b"
    complaint = sessions.add_complaint(code, "Sales", hostile)
    stored = sessions.board(code).complaint(complaint.id)
    assert stored is not None
    assert stored.text == "]0;pwnedThey [2Jnever call\n back\nreally"
    assert not any(ord(ch) < 32 and ch != "\n" for ch in stored.text)


def test_unknown_side_is_refused(sessions: Sessions, code: str) -> None:
    with pytest.raises(TherapyError, match="no side 'Legal'.*Sales, Marketing"):
        sessions.add_complaint(code, "Legal", "x")


def test_import_is_all_or_none(sessions: Sessions, code: str) -> None:
    rows = [("Sales", "fine", None), ("Marketing", "fine too", "Dana"), ("Nope", "bad", None)]
    with pytest.raises(TherapyError, match="Row 3: There is no side 'Nope'"):
        sessions.add_complaints(code, rows)
    assert sessions.board(code).complaints == []


def test_edit_and_delete_by_author_or_facilitator(sessions: Sessions, code: str) -> None:
    alex = sessions.join(code, "Sales", "Alex").id
    sam = sessions.join(code, "Sales", "Sam").id
    move_to(sessions, code, Phase.VENT)
    mine = sessions.add_complaint(code, "Sales", "mine", participant(alex))
    assert mine.author == "Alex"
    with pytest.raises(TherapyError, match="Only the author or the facilitator"):
        sessions.edit_complaint(code, mine.id, "hijacked", participant(sam))
    with pytest.raises(TherapyError, match="Only the author or the facilitator"):
        sessions.delete_complaint(code, mine.id, participant(sam))
    sessions.edit_complaint(code, mine.id, "mine, edited", participant(alex))
    assert sessions.board(code).complaints[0].text == "mine, edited"
    sessions.delete_complaint(code, mine.id)
    assert sessions.board(code).complaints == []


def test_participant_logs_only_for_own_side(sessions: Sessions, code: str) -> None:
    alex = sessions.join(code, "Sales", "Alex").id
    with pytest.raises(TherapyError, match="your own side, Sales"):
        sessions.add_complaint(code, "Marketing", "sneaky", participant(alex))


def test_other_sides_are_hidden_until_the_reveal(sessions: Sessions, code: str) -> None:
    alex = sessions.join(code, "Sales", "Alex").id
    move_to(sessions, code, Phase.VENT)
    sessions.add_complaint(code, "Sales", "ours")
    sessions.add_complaint(code, "Marketing", "theirs")
    sessions.add_complaint(code, "Marketing", "theirs again")
    board = sessions.board(code, participant(alex))
    assert [c.text for c in board.complaints] == ["ours"]
    assert board.hidden == {"Marketing": 2}
    assert len(sessions.board(code).complaints) == 3  # the facilitator screens every card
    move_to(sessions, code, Phase.DIAGNOSE)
    revealed = sessions.board(code, participant(alex))
    assert len(revealed.complaints) == 3 and revealed.hidden == {}


def test_anonymous_session_stores_no_names(sessions: Sessions, data_dir) -> None:
    code = sessions.create("anon", ["Sales", "Marketing"], anonymous=True).code
    pid = sessions.join(code, "Sales", "Alex Secret").id
    sessions.add_complaint(code, "Sales", "from a participant", participant(pid))
    sessions.add_complaint(code, "Marketing", "from the shell", author="Dana Secret")
    move_to(sessions, code, Phase.CELEBRATE)
    sessions.add_win(code, "Sales", "a win", author="Priya Secret")
    raw = (data_dir / "sessions" / code / "session.json").read_text()
    assert "Secret" not in raw
    board = sessions.board(code)
    assert [c.author for c in board.complaints] == [None, None]
    assert board.participants[0].name is None


def test_grouping_and_splitting(sessions: Sessions, code: str) -> None:
    ids = [sessions.add_complaint(code, "Sales", f"leads are cold {n}").id for n in range(4)]
    with pytest.raises(TherapyError, match="only during diagnose"):
        sessions.group(code, ids[1], ids[0])
    move_to(sessions, code, Phase.DIAGNOSE)
    sessions.set_cause(code, ids[0], "misaligned-expectations")
    group_id = sessions.group(code, ids[1], ids[0])
    sessions.group(code, ids[2], ids[1])
    board = sessions.board(code)
    assert [(g.id, g.complaints) for g in board.groups] == [(group_id, ids[:3])]
    # a merged card takes the group's agreed cause
    assert {c.cause for c in board.complaints[:3]} == {"misaligned-expectations"}
    sessions.ungroup(code, ids[0])
    sessions.ungroup(code, ids[1])
    board = sessions.board(code)
    assert board.groups == []  # a group of one dissolves
    with pytest.raises(TherapyError, match="not in a group"):
        sessions.ungroup(code, ids[3])


def test_causes_by_key_or_name_and_suggestions(sessions: Sessions, code: str) -> None:
    a = sessions.add_complaint(code, "Sales", "Their leads are not ready to buy").id
    b = sessions.add_complaint(code, "Marketing", "Nobody from sales comes to the meetings").id
    c = sessions.add_complaint(code, "Marketing", "zzz").id
    move_to(sessions, code, Phase.DIAGNOSE)
    with pytest.raises(TherapyError, match="no cause 'vibes'"):
        sessions.set_cause(code, a, "vibes")
    sessions.set_cause(code, a, "Different Goals")
    done = sessions.accept_suggestions(code)
    assert (done.accepted, done.left) == (1, 1)  # "zzz": nothing to go on, left for a person
    causes = {x.id: x.cause for x in sessions.board(code).complaints}
    assert causes == {a: "different-goals", b: "communication-gaps", c: None}
    sessions.set_cause(code, a, "none")
    assert sessions.board(code).complaint(a).cause is None  # type: ignore[union-attr]


def test_vote_budget_is_enforced(sessions: Sessions, code: str) -> None:
    alex = sessions.join(code, "Sales", "Alex").id
    sam = sessions.join(code, "Sales", "Sam").id
    first = sessions.add_complaint(code, "Sales", "one").id
    with pytest.raises(TherapyError, match="only during vote"):
        sessions.vote(code, alex, first)
    move_to(sessions, code, Phase.VOTE)
    assert [sessions.vote(code, alex, first, participant(alex)) for _ in range(3)] == [2, 1, 0]
    with pytest.raises(TherapyError, match="spent all 3 votes"):
        sessions.vote(code, alex, first, participant(alex))
    with pytest.raises(TherapyError, match="your own votes"):
        sessions.vote(code, alex, first, participant(sam))
    assert sessions.unvote(code, alex, first) == 1
    board = sessions.board(code)
    assert board.votes_for(first) == 2
    assert board.votes_left(alex) == 1 and board.votes_left(sam) == 3


def test_group_votes_add_up_and_rank_items(sessions: Sessions, code: str) -> None:
    voter = sessions.join(code, "Sales", "Alex").id
    ids = [sessions.add_complaint(code, "Sales", t).id for t in ("a", "b", "c")]
    move_to(sessions, code, Phase.DIAGNOSE)
    sessions.group(code, ids[1], ids[0])
    move_to(sessions, code, Phase.VOTE)
    sessions.vote(code, voter, ids[0])
    sessions.vote(code, voter, ids[1])
    sessions.vote(code, voter, ids[2])
    items = sessions.board(code).items()
    assert [(sorted(item.ids), item.votes) for item in items] == [([1, 2], 2), ([3], 1)]


def test_action_items_are_validated(sessions: Sessions, code: str) -> None:
    complaint = sessions.add_complaint(code, "Sales", "x").id
    with pytest.raises(TherapyError, match="only during remedy"):
        sessions.add_action(code, "Lead agreement", "Alex", "2026-12-01")
    move_to(sessions, code, Phase.REMEDY)
    with pytest.raises(TherapyError, match="not a date; write it as YYYY-MM-DD"):
        sessions.add_action(code, "Lead agreement", "Alex", "next week")
    with pytest.raises(TherapyError, match="owner is empty"):
        sessions.add_action(code, "Lead agreement", " ", "2026-12-01")
    with pytest.raises(TherapyError, match="no complaint 99"):
        sessions.add_action(code, "Lead agreement", "Alex", "2026-12-01", complaints=[99])
    pid = sessions.join(code, "Sales", "Sam").id
    with pytest.raises(TherapyError, match="Only the facilitator"):
        sessions.add_action(code, "x", "Sam", "2026-12-01", actor=participant(pid))
    item = sessions.add_action(
        code,
        "Lead agreement",
        "Alex",
        "2026-12-01",
        "misaligned expectations",
        "SLA met",
        [complaint],
    )
    stored = sessions.board(code).action_items
    assert [(a.id, a.cause, a.complaints, a.status.value) for a in stored] == [
        (item.id, "misaligned-expectations", [complaint], "open")
    ]


def test_wins_only_in_celebrate(sessions: Sessions, code: str) -> None:
    with pytest.raises(TherapyError, match="only during celebrate"):
        sessions.add_win(code, "Sales", "we closed Acme")
    move_to(sessions, code, Phase.CELEBRATE)
    sessions.add_win(code, "Sales", "we closed Acme")
    sessions.add_win(code, "Marketing", "thanks for the notes", "appreciation")
    assert [(w.side, w.kind) for w in sessions.board(code).wins] == [
        ("Sales", "win"),
        ("Marketing", "appreciation"),
    ]


def test_earlier_items_come_back_for_the_same_pair(sessions: Sessions) -> None:
    first = sessions.create("first", ["Sales", "Marketing"], created="2026-01-01T00:00:00+00:00")
    other = sessions.create(
        "other pair", ["Product", "Engineering"], created="2026-01-02T00:00:00+00:00"
    )
    for session in (first, other):
        sessions.set_phase(session.code, "remedy")
        sessions.add_action(session.code, f"do it for {session.title}", "Alex", "2026-12-20")
        sessions.add_action(session.code, f"also for {session.title}", "Dana", "2026-12-20")
    second = sessions.create("second", ["marketing", "sales"]).code
    earlier = sessions.earlier_items(second)
    assert [e.item.what for e in earlier] == ["do it for first", "also for first"]
    assert sessions.relationship(second).signals[3].value == 0.0

    sessions.review(second, earlier[0].ref, "done")
    sessions.review(second, earlier[1].ref.lower(), "carried")
    with pytest.raises(TherapyError, match="marked done already"):
        sessions.review(second, earlier[0].ref, "dropped")
    statuses = [e.item.status.value for e in sessions.earlier_items(second)]
    assert statuses == ["done", "carried"]
    carried = sessions.board(second).action_items
    assert [(a.what, a.carried_from, a.status.value) for a in carried] == [
        ("also for first", earlier[1].ref, "open")
    ]
    follow = sessions.relationship(second).signals[3]
    assert (follow.value, follow.reason) == (1.0, "the earlier action item is done")


def test_relationship_signals_and_label(sessions: Sessions, code: str) -> None:
    assert sessions.relationship(code).label == "Too early to tell"
    voter = sessions.join(code, "Sales", "Alex").id
    ids = [sessions.add_complaint(code, "Sales", f"s{n}").id for n in range(3)]
    ids.append(sessions.add_complaint(code, "Marketing", "m").id)
    move_to(sessions, code, Phase.VOTE)
    sessions.vote(code, voter, ids[0])
    sessions.vote(code, voter, ids[3])
    move_to(sessions, code, Phase.REMEDY)
    sessions.add_action(code, "fix s0", "Alex", "2026-12-01", complaints=[ids[0]])
    move_to(sessions, code, Phase.CELEBRATE)
    sessions.add_win(code, "Marketing", "w1")
    sessions.add_win(code, "Sales", "w2")
    relationship = sessions.relationship(code)
    values = {s.name: s.value for s in relationship.signals}
    assert values == {
        "appreciation": 0.5,
        "balance": pytest.approx(1 / 3, abs=0.01),
        "coverage": 0.5,
        "follow-through": None,
    }
    assert relationship.score == pytest.approx(0.44, abs=0.01)
    assert relationship.label == "It's Complicated"
    reasons = {s.name: s.reason for s in relationship.signals}
    assert reasons["balance"] == "complaints per side: Sales 3, Marketing 1"


def test_timebox_counts_down(sessions: Sessions, code: str) -> None:
    from datetime import datetime, timedelta

    sessions.set_timebox(code, "check-in", 300)
    session = sessions.session(code)
    started = datetime.fromisoformat(session.phase_started)
    assert sessions.remaining(session, started + timedelta(seconds=60)) == 240
    assert sessions.remaining(session, started + timedelta(seconds=400)) == -100
    sessions.set_phase(code, "next")
    assert sessions.remaining(sessions.session(code)) is None
    with pytest.raises(TherapyError, match="between 0"):
        sessions.set_timebox(code, "vent", 10**6)


def test_delete_session(sessions: Sessions, code: str) -> None:
    other = sessions.create("keep", ["A", "B"]).code
    sessions.delete(code)
    assert [s.code for s in sessions.summaries()] == [other]
    with pytest.raises(TherapyError, match=f"no session {code}"):
        sessions.board(code)


def test_demo_walks_every_phase(sessions: Sessions) -> None:
    from therapy.demo import build_demo

    code = build_demo(sessions)
    board = sessions.board(code)
    assert board.session.phase is Phase.CLOSE
    assert len(board.complaints) == 9 and board.votes and board.action_items and board.wins
    assert {e.item.status.value for e in sessions.earlier_items(code)} == {"done", "carried"}
    assert sessions.relationship(code).score is not None


def test_accepting_suggestions_keeps_a_group_together(sessions: Sessions, code: str) -> None:
    goals = sessions.add_complaint(code, "Sales", "Their quota and revenue targets differ").id
    vague = sessions.add_complaint(code, "Sales", "It is all so frustrating").id
    late = sessions.add_complaint(code, "Marketing", "Nobody from sales comes to our meetings").id
    move_to(sessions, code, Phase.DIAGNOSE)
    sessions.group(code, vague, goals)
    done = sessions.accept_suggestions(code)
    assert (done.accepted, done.left) == (2, 0)  # the group and the lone complaint
    causes = {c.id: c.cause for c in sessions.board(code).complaints}
    assert causes[goals] == causes[vague] == "different-goals"
    assert causes[late] == "communication-gaps"


def test_joining_again_under_a_bound_name_is_the_same_person(sessions: Sessions, code: str) -> None:
    alex = sessions.join(code, "Sales", "Alex", bound=True, keyed=True)
    assert sessions.join(code, "sales", "alex", bound=True).id == alex.id
    with pytest.raises(TherapyError, match="joined this session for Sales already"):
        sessions.join(code, "Marketing", "Alex", bound=True)
    # a name merely typed in cannot take over the cards and votes of a key's owner
    with pytest.raises(TherapyError, match="The name ALEX belongs to someone's SSH key"):
        sessions.join(code, "Sales", "ALEX")
    assert len(sessions.board(code).participants) == 1


def test_anonymous_rejoin_keeps_the_budget_without_a_name(sessions: Sessions, data_dir) -> None:
    code = sessions.create("anon", ["Sales", "Marketing"], anonymous=True).code
    first = sessions.join(code, "Sales", "Alex Secret", bound=True)
    assert sessions.join(code, "Sales", "alex secret", bound=True).id == first.id
    other = sessions.join(code, "Sales", "Sam Secret", bound=True)
    assert other.id != first.id
    unbound = sessions.join(code, "Sales")
    assert unbound.id not in (first.id, other.id)
    assert "Secret" not in (data_dir / "sessions" / code / "session.json").read_text()


def test_observer_sees_only_counts_before_the_reveal(sessions: Sessions, code: str) -> None:
    from therapy.model import OBSERVER

    sessions.add_complaint(code, "Sales", "ours")
    sessions.add_complaint(code, "Marketing", "theirs")
    board = sessions.board(code, OBSERVER)
    assert board.complaints == [] and board.hidden == {"Sales": 1, "Marketing": 1}
    move_to(sessions, code, Phase.DIAGNOSE)
    assert len(sessions.board(code, OBSERVER).complaints) == 2
    with pytest.raises(TherapyError, match="Only the facilitator"):
        sessions.set_phase(code, "next", OBSERVER)


def test_the_item_under_discussion(sessions: Sessions, code: str) -> None:
    complaint = sessions.add_complaint(code, "Sales", "x").id
    pid = sessions.join(code, "Sales", "Alex").id
    with pytest.raises(TherapyError, match="only during remedy"):
        sessions.discuss(code, complaint)
    move_to(sessions, code, Phase.REMEDY)
    with pytest.raises(TherapyError, match="Only the facilitator"):
        sessions.discuss(code, complaint, participant(pid))
    sessions.discuss(code, complaint)
    assert sessions.session(code).discussing == complaint


def test_presence_follows_the_process(sessions: Sessions, code: str, data_dir) -> None:
    import subprocess
    import sys
    import time

    alex = sessions.join(code, "Sales", "Alex").id
    sam = sessions.join(code, "Sales", "Sam").id
    assert sessions.present(code) == set()
    here = sessions.attend(code, alex)
    assert sessions.present(code) == {alex}
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from therapy.service import Sessions; "
            "from therapy.store import Store; "
            f"a = Sessions(Store({str(data_dir)!r})).attend({code!r}, {sam}); "
            "print('here', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "here\n"
        assert sessions.present(code) == {alex, sam}
    finally:
        child.kill()
        child.wait(10)
    deadline = time.monotonic() + 10
    while sam in sessions.present(code):
        assert time.monotonic() < deadline, "a dead process still counted as here"
        time.sleep(0.05)
    here.close()
    assert sessions.present(code) == set()


def test_deleting_a_complaint_gives_its_votes_back(sessions: Sessions, code: str) -> None:
    alex = sessions.join(code, "Sales", "Alex").id
    ids = [sessions.add_complaint(code, "Sales", t).id for t in ("a", "b", "c")]
    move_to(sessions, code, Phase.DIAGNOSE)
    sessions.group(code, ids[1], ids[0])
    move_to(sessions, code, Phase.VOTE)
    sessions.vote(code, alex, ids[1])
    sessions.vote(code, alex, ids[2])
    move_to(sessions, code, Phase.VENT)  # the facilitator went back to tidy up
    sessions.delete_complaint(code, ids[1])
    board = sessions.board(code)
    assert board.votes_left(alex) == 2
    assert board.groups == []  # a group of one is no group
    assert [v.complaint for v in board.votes] == [ids[2]]


def test_reviewing_an_item_twice_at_once_copies_it_once(sessions: Sessions) -> None:
    import threading

    first = sessions.create("first", ["Sales", "Marketing"], created="2026-01-01T00:00:00+00:00")
    sessions.set_phase(first.code, "remedy")
    sessions.add_action(first.code, "carry me", "Alex", "2026-12-20")
    second = sessions.create("second", ["Sales", "Marketing"]).code
    ref = sessions.earlier_items(second)[0].ref
    outcomes: list[str] = []

    def review() -> None:
        try:
            sessions.review(second, ref, "carried")
            outcomes.append("carried")
        except TherapyError:
            outcomes.append("refused")

    threads = [threading.Thread(target=review) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["carried", "refused", "refused", "refused"]
    assert [a.carried_from for a in sessions.board(second).action_items] == [ref]


def test_deleting_a_session_someone_attended(sessions: Sessions, code: str, data_dir) -> None:
    alex = sessions.join(code, "Sales", "Alex").id
    sessions.attend(code, alex).close()  # leaves presence/ behind, as a TUI participant does
    sessions.delete(code)
    assert not (data_dir / "sessions" / code).exists()
    assert sessions.summaries() == []
