"""Between sessions: an owner marks an item done from the shell and the next check-in shows
it reviewed; a pair's trend, session by session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tui_support import app_for, settle

from therapy.model import ActionStatus, Phase, TherapyError
from therapy.service import Sessions
from therapy.tui.widgets.cards import CardList


def therapy(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "therapy.cli", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def a_session_with_items(sessions: Sessions, pair: str = "EMEA revenue") -> tuple[str, list[str]]:
    code = sessions.create(
        "Q2 truce", ["Sales", "Marketing"], pair=pair, created="2026-10-01T10:00:00+00:00"
    ).code
    sessions.set_phase(code, "remedy")
    refs = [
        f"{code}-{sessions.add_action(code, what, owner, '2026-12-04').id}"
        for what, owner in (("Write the lead agreement", "Dana"), ("Join the stand-up", "Sam"))
    ]
    sessions.set_phase(code, "close")
    return code, refs


def test_marking_an_item_between_sessions(sessions: Sessions) -> None:
    _, (first, second) = a_session_with_items(sessions)
    marked = sessions.mark(first.lower(), "Done", by="Dana")
    assert marked.ref == first and marked.item.status is ActionStatus.DONE
    assert (marked.item.closed, marked.item.closed_by) == (sessions.now(), "Dana")
    assert sessions.mark(first, "done", by="Someone else").item.closed_by == "Dana"  # as it was
    assert sessions.mark(second, "dropped").item.status is ActionStatus.DROPPED
    reopened = sessions.mark(second, "open")
    assert (reopened.item.status, reopened.item.closed, reopened.item.closed_by) == (
        ActionStatus.OPEN,
        "",
        "",
    )


@pytest.mark.parametrize(
    ("ref", "status", "message"),
    [
        ("K7QX2M", "done", "not an action item's reference"),
        ("ZZZZZZ-1", "done", "no session ZZZZZZ"),
        ("{code}-9", "done", "no action item"),
        ("{code}-1", "carried", "review it at the next session's check-in"),
        ("{code}-1", "finished", "done, dropped or open"),
    ],
)
def test_marking_refuses_in_one_sentence(
    sessions: Sessions, ref: str, status: str, message: str
) -> None:
    code, _ = a_session_with_items(sessions)
    with pytest.raises(TherapyError, match=message):
        sessions.mark(ref.format(code=code), status)
    assert all(a.status is ActionStatus.OPEN for a in sessions.board(code).action_items)


def test_a_carried_item_is_marked_as_its_copy(sessions: Sessions) -> None:
    earlier, (first, _) = a_session_with_items(sessions)
    code = sessions.create("Q3", ["Sales", "Marketing"], pair="EMEA revenue").code
    sessions.review(code, first, "carried")
    with pytest.raises(TherapyError, match="carried over to a later session"):
        sessions.mark(first, "done")
    copy = sessions.mark(f"{code}-1", "done", by="Dana")
    assert copy.item.carried_from == first and copy.item.status is ActionStatus.DONE


def test_review_from_the_shell_with_and_without_a_session(
    sessions: Sessions, data_dir: Path
) -> None:
    _, (first, second) = a_session_with_items(sessions)
    done = therapy(data_dir, "review", first, "done", "--by", "Dana")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{first} done\n", "")
    code = sessions.create("Q3", ["Sales", "Marketing"], pair="emea REVENUE").code
    carried = therapy(data_dir, "review", code, second, "carried")
    assert (carried.returncode, carried.stdout) == (0, f"{second} carried\n")
    for args, message in (
        ((first,), "Give the session, the item and the outcome"),
        ((code, first, "done", "--by", "Dana"), "--by is for marking an item between sessions"),
        ((first, "maybe"), "not 'maybe'"),
    ):
        refused = therapy(data_dir, "review", *args)
        assert refused.returncode == 1 and refused.stdout == ""
        assert message in refused.stderr and "Traceback" not in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1


async def test_an_item_marked_done_between_sessions_shows_reviewed_at_check_in(
    sessions: Sessions,
) -> None:
    _, (first, second) = a_session_with_items(sessions)
    sessions.mark(first, "done", by="Dana")
    code = sessions.create("Q3 lead handoff", ["Sales", "Marketing"], pair="EMEA revenue").code
    app = app_for(sessions, code)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        earlier = app.screen.query_one("#earlier", CardList)
        shown = {str(earlier.get_option_at_index(i).id): str(earlier.get_option_at_index(i).prompt)
                 for i in range(earlier.option_count)}  # fmt: skip
        assert f"done {sessions.today()} by Dana" in shown[first]
        assert "D done" in shown[second]  # still open: the review keys are offered
        earlier.focus()
        earlier.highlighted = 0
        await settle(pilot)
        await pilot.press("D")  # on the item done already: nothing to review
        await settle(pilot)
        assert sessions.board(code).action_items == []
        assert app.screen.phase is Phase.CHECK_IN  # type: ignore[attr-defined]


def test_the_trend_of_a_pair(sessions: Sessions) -> None:
    earlier, (first, second) = a_session_with_items(sessions)
    sessions.mark(first, "done")
    code = sessions.create("Q3", ["Marketing", "Sales"], pair="EMEA revenue").code
    for side, text in (("Sales", "Leads are not ready"), ("Marketing", "No feedback")):
        sessions.add_complaint(code, side, text)
    sessions.set_phase(code, "diagnose")
    sessions.set_cause(code, 1, "misaligned-expectations")
    other = sessions.create("APAC", ["Sales", "Marketing"], pair="APAC revenue").code
    (trend,) = sessions.trend("emea Revenue")
    assert (trend.label, [p.code for p in trend.points]) == ("EMEA revenue", [earlier, code])
    old, new = trend.points
    assert (old.action_items, old.done, old.follow_through) == (2, 1, None)
    assert new.follow_through == 0.5  # one of the two earlier items done
    assert new.causes == {
        "different-goals": 0,
        "misaligned-expectations": 1,
        "communication-gaps": 0,
        "": 1,
    }
    assert new.relationship == sessions.relationship(code)  # what status says
    assert [t.label for t in sessions.trend()] == ["APAC revenue", "EMEA revenue"]
    assert [t.label for t in sessions.trend(code=other)] == ["APAC revenue"]
    assert sessions.trend("Nobody x Anybody") == []
