"""A real retro, beyond the demo (issue 8): the pair is explicit and history is its own, due
dates are today or later and overdue ones say so, a typed name rejoins, wins can be changed,
and how many items go on to remedy is one setting."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from therapy.cli import cli
from therapy.demo import EARLIER_ACTIONS, build_demo
from therapy.model import Actor, Phase, Role, TherapyError
from therapy.service import Sessions

EARLIER = "2026-10-01T09:00:00+00:00"


@pytest.fixture
def run(data_dir: Path):
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(cli, ["--data-dir", str(data_dir), *args])
        assert (result.exit_code == 0) is ok, result.output
        assert "Traceback" not in result.output
        return result

    return invoke


def _with_open_item(sessions: Sessions, **pair: str) -> str:
    earlier = sessions.create("Q2", ["Sales", "Marketing"], created=EARLIER, **pair)
    sessions.set_phase(earlier.code, "remedy")
    sessions.add_action(earlier.code, "Write the lead agreement", "Dana", "2026-12-20")
    return earlier.code


def test_a_new_session_borrows_no_history_from_the_demo(sessions: Sessions) -> None:
    build_demo(sessions, until=Phase.CHECK_IN)
    fresh = sessions.create("Q4 kickoff", ["Sales", "Marketing"])
    history = sessions.history(fresh)
    assert history.items == [] and history.skipped == []
    # and the demo's own copy still has its earlier session
    demo = next(s for s in sessions.summaries() if s.title == "Q3 lead handoff")
    assert sessions.earlier_items(demo.code)


def test_two_demo_copies_are_not_each_others_history(sessions: Sessions) -> None:
    first = build_demo(sessions, until=Phase.CHECK_IN)
    second = build_demo(sessions, until=Phase.CHECK_IN)
    for code in (first, second):
        assert {e.session_title for e in sessions.earlier_items(code)} == {"Q2 pipeline truce"}
        assert len(sessions.earlier_items(code)) == len(EARLIER_ACTIONS)


def test_sessions_of_a_named_pair_share_history_and_no_one_else(sessions: Sessions) -> None:
    _with_open_item(sessions, pair="Revenue team")
    _with_open_item(sessions)  # same sides, no pair: another pair
    named = sessions.create("Q3", ["Sales", "Marketing"], pair="revenue TEAM")
    unnamed = sessions.create("Q3 too", ["Marketing", "Sales"])
    assert [e.item.what for e in sessions.earlier_items(named.code)] == ["Write the lead agreement"]
    assert len(sessions.earlier_items(unnamed.code)) == 1
    other = sessions.create("Q3 HR", ["Sales", "Marketing"], pair="People team")
    assert sessions.earlier_items(other.code) == []
    # a pair named after its own sides is the unnamed pair: one history, as list says
    as_sides = sessions.create("Q3 again", ["Sales", "Marketing"], pair="marketing X sales")
    assert as_sides.pair_name == "" and len(sessions.earlier_items(as_sides.code)) == 1


def test_the_label_waits_for_the_sessions_own_signals(sessions: Sessions) -> None:
    earlier = _with_open_item(sessions)
    item = sessions.board(earlier).action_items[0]
    sessions.set_action_status(earlier, item.id, "done")
    fresh = sessions.create("Q3", ["Sales", "Marketing"]).code
    relationship = sessions.relationship(fresh)
    assert relationship.label == "Too early to tell" and relationship.score is None
    follow = next(s for s in relationship.signals if s.name == "follow-through")
    assert follow.value == 1.0  # measured and shown, but it does not make a label alone
    sessions.add_complaint(fresh, "Sales", "Leads go cold")
    assert sessions.relationship(fresh).label != "Too early to tell"


def test_new_list_status_and_plan_name_the_pair(run) -> None:
    code = run("new", "Q3", "--pair", "Revenue team").stdout.strip()
    other = run("new", "Q3 HR", "--sides", "HR,Finance").stdout.strip()
    listed = run("list", "--pair", "REVENUE team").stdout
    assert code in listed and other not in listed and "Revenue team" in listed
    by_sides = run("list", "--pair", "finance x hr").stdout
    assert other in by_sides and code not in by_sides
    assert "No sessions of the pair" in run("list", "--pair", "Nobody").stderr
    rows = json.loads(run("list", "--json", "--pair", "Revenue team").stdout)
    assert [(r["code"], r["pair"]) for r in rows] == [(code, "Revenue team")]
    assert "pair: Revenue team" in run("status", code).stdout
    assert "pair Revenue team" in run("export", code).stdout
    assert json.loads(run("export", code, "--format", "json").stdout)["session"]["pair"] == (
        "Revenue team"
    )


def test_a_due_date_in_the_past_is_refused_with_one_sentence(run) -> None:
    code = run("new", "Q3").stdout.strip()
    run("phase", code, "remedy")
    result = run("action", code, "Meet", "--owner", "Dana", "--due", "2020-01-01", ok=False)
    assert "The due date 2020-01-01 is in the past; give today (2026-11-27)" in result.output
    assert len(result.output.strip().splitlines()) == 1
    run("action", code, "Meet", "--owner", "Dana", "--due", "2026-11-27")  # today is fine


def test_an_overdue_item_is_marked_in_status_and_plan(sessions: Sessions, run) -> None:
    earlier = _with_open_item(sessions)
    fresh = sessions.create("Q3", ["Sales", "Marketing"]).code
    later = "2027-01-05T09:00:00+00:00"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("THERAPY_NOW", later)
        status = run("status", fresh).stdout
        assert "due 2026-12-20, overdue)" in status
        plan = run("export", fresh).stdout
        assert "| open, **overdue** |" in plan
        data = json.loads(run("export", earlier, "--format", "json").stdout)
        assert data["action_items"][0]["overdue"] is True
    assert "overdue" not in run("status", fresh).stdout  # not yet, on the day it is due


def test_a_typed_name_rejoins_when_its_person_is_away(sessions: Sessions, code: str) -> None:
    max_ = sessions.join(code, "Sales", "Max")
    assert sessions.join(code, "sales", "MAX").id == max_.id  # away: the same person back
    here = sessions.attend(code, max_.id)
    with pytest.raises(TherapyError, match="Someone called Max is connected to this session"):
        sessions.join(code, "Sales", "Max")
    here.close()
    assert sessions.join(code, "Sales", "Max").id == max_.id
    keyed = sessions.join(code, "Marketing", "Dana", bound=True, keyed=True)
    with pytest.raises(TherapyError, match="The name Dana belongs to someone's SSH key"):
        sessions.join(code, "Marketing", "Dana")  # a name bound to a key keeps priority
    assert sessions.join(code, "Marketing", "Dana", bound=True).id == keyed.id
    # a name given in the shell (therapy vote --name) is no key: typed, it is the same person
    shell = sessions.join(code, "Sales", "Lee", bound=True)
    assert sessions.join(code, "Sales", "Lee").id == shell.id
    # a key's name coming after a typed one takes it over, and keeps it
    typed = sessions.join(code, "Sales", "Sam")
    assert sessions.join(code, "Sales", "Sam", bound=True, keyed=True).id == typed.id
    with pytest.raises(TherapyError, match="belongs to someone's SSH key"):
        sessions.join(code, "Sales", "Sam")


def test_an_anonymous_session_never_rejoins_a_typed_name(sessions: Sessions) -> None:
    code = sessions.create("Q3", ["Sales", "Marketing"], anonymous=True).code
    first = sessions.join(code, "Sales", "Max")
    assert sessions.join(code, "Sales", "Max").id != first.id


def test_wins_are_edited_and_deleted_by_their_author_or_the_facilitator(
    sessions: Sessions, code: str
) -> None:
    alex = Actor(Role.PARTICIPANT, sessions.join(code, "Sales", "Alex").id)
    dana = Actor(Role.PARTICIPANT, sessions.join(code, "Marketing", "Dana").id)
    sessions.set_phase(code, "celebrate")
    win = sessions.add_win(code, "Sales", "We closed Acme", actor=alex)
    assert sessions.board(code, alex).my_wins == {win.id}
    assert sessions.board(code, dana).my_wins == set()
    assert sessions.edit_win(code, win.id, "We closed Acme and Initech", alex).text == (
        "We closed Acme and Initech"
    )
    with pytest.raises(TherapyError, match="Only the author or the facilitator"):
        sessions.delete_win(code, win.id, dana)
    with pytest.raises(TherapyError, match="A win or appreciation must be 1 to 1,000"):
        sessions.edit_win(code, win.id, "  ", alex)
    sessions.delete_win(code, win.id)  # the facilitator
    assert sessions.board(code).wins == []
    with pytest.raises(TherapyError, match="There is no win or appreciation"):
        sessions.edit_win(code, win.id, "again")


def test_anonymous_wins_are_changed_only_by_the_process_that_wrote_them(
    sessions: Sessions,
) -> None:
    code = sessions.create("Q3", ["Sales", "Marketing"], anonymous=True).code
    pid = sessions.join(code, "Sales", "Alex", bound=True).id
    sessions.set_phase(code, "celebrate")
    author = Actor(Role.PARTICIPANT, pid)
    win = sessions.add_win(code, "Sales", "We closed Acme", actor=author)
    assert win.participant is None and win.author is None
    with pytest.raises(TherapyError, match="Only the author"):
        sessions.edit_win(code, win.id, "mine now", Actor(Role.PARTICIPANT, pid))
    sessions.edit_win(code, win.id, "We closed Acme!", author)


def test_how_many_items_go_on_to_remedy_is_one_setting(sessions: Sessions, run) -> None:
    code = run("new", "Q3", "--top", "2").stdout.strip()
    run("phase", code, "vent")
    for text in ("one", "two", "three"):
        run("add", code, "--side", "Sales", text)
    run("phase", code, "vote")
    run("vote", code, "1", "2", "3", "--name", "Alex", "--side", "Sales")
    board = sessions.board(code)
    assert board.session.top == 2 and len(board.top_items()) == 2
    assert "top 2 voted items" in run("status", code).stdout
    result = run("new", "Q3", "--top", "0", ok=False)
    assert "must be 1 to 20, not 0" in result.output


def test_today_is_the_hosts_calendar_day_not_utcs(monkeypatch: pytest.MonkeyPatch, run) -> None:
    # half past five in the afternoon in California is already tomorrow in UTC
    monkeypatch.setenv("THERAPY_NOW", "2026-11-27T17:30:00-08:00")
    monkeypatch.setenv("TZ", "XST8")  # eight hours behind UTC (POSIX form: no zone files)
    time.tzset()
    code = run("new", "Q3").stdout.strip()
    run("phase", code, "remedy")
    run("action", code, "Meet", "--owner", "Dana", "--due", "2026-11-27")
    result = run("action", code, "Meet", "--owner", "Dana", "--due", "2026-11-26", ok=False)
    assert "give today (2026-11-27) or a later date" in result.output


def test_due_today_is_not_overdue_until_tomorrow(sessions: Sessions, code: str) -> None:
    sessions.set_phase(code, "remedy")
    item = sessions.add_action(code, "Meet", "Dana", "2026-11-27")
    assert not item.overdue(sessions.today())
    assert item.overdue("2026-11-28")
