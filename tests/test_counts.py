"""Every sentence with a count reads right for 0, 1 and many (issue 8): the relationship's
signals, the shell's messages and the plan."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from therapy.cli import cli
from therapy.model import (
    ActionItem,
    ActionStatus,
    Actor,
    Board,
    Complaint,
    EarlierItem,
    Role,
    Session,
    TherapyError,
    Vote,
    Win,
)
from therapy.relationship import appreciation, coverage, follow_through
from therapy.service import Sessions
from therapy.text import plural
from therapy.tui.widgets.presence import still_voting

# a count followed by a word that disagrees with it: "1 wins", "2 win ", "1 ... have"
WRONG = re.compile(r"\b1 (\w+s)\b(?<!\bis)|\b(?:[02-9]|\d\d+) (complaint|win|item|vote)\b(?!s)")


def _board(complaints: int = 0, wins: int = 0, voted: int = 0, covered: int = 0) -> Board:
    session = Session("ABCDEF", "Q3", ["Sales", "Marketing"])
    cards = [Complaint(i, "Sales", f"card {i}") for i in range(1, complaints + 1)]
    votes = [Vote(i, 1, i) for i in range(1, voted + 1)]
    actions = [
        ActionItem(i, "do", "Dana", "2027-01-01", complaints=[i]) for i in range(1, covered + 1)
    ]
    return Board(
        session,
        [],
        cards,
        [],
        votes,
        actions,
        [Win(i, "Sales", f"win {i}") for i in range(1, wins + 1)],
    )


def _earlier(count: int, done: int) -> list[EarlierItem]:
    items = []
    for i in range(1, count + 1):
        status = ActionStatus.DONE if i <= done else ActionStatus.OPEN
        items.append(
            EarlierItem("OLD123", "Q2", ActionItem(i, "do", "Dana", "2026-12-01", status=status))
        )
    return items


def test_plural_agrees_with_its_count() -> None:
    assert plural(0, "complaint") == "0 complaints"
    assert plural(1, "complaint") == "1 complaint"
    assert plural(2, "win or appreciation", "wins and appreciations") == "2 wins and appreciations"
    assert plural(1, "win or appreciation", "wins and appreciations") == "1 win or appreciation"


@pytest.mark.parametrize("count", [0, 1, 3])
def test_appreciation_reads_right(count: int) -> None:
    reason = appreciation(_board(complaints=count or 1, wins=count)).reason
    expected = {
        0: "0 wins and appreciations for 1 complaint",
        1: "1 win or appreciation for 1 complaint",
        3: "3 wins and appreciations for 3 complaints",
    }
    assert reason == expected[count]


@pytest.mark.parametrize(
    ("voted", "covered", "expected"),
    [
        (1, 0, "the top voted item has no action item with an owner and a due date"),
        (1, 1, "the top voted item has an action item with an owner and a due date"),
        (3, 0, "0 of the top 3 voted items have an action item with an owner and a due date"),
        (3, 1, "1 of the top 3 voted items has an action item with an owner and a due date"),
        (3, 2, "2 of the top 3 voted items have an action item with an owner and a due date"),
    ],
)
def test_coverage_reads_right(voted: int, covered: int, expected: str) -> None:
    assert coverage(_board(complaints=voted, voted=voted, covered=covered)).reason == expected


@pytest.mark.parametrize(
    ("count", "done", "expected"),
    [
        (0, 0, "no earlier action items of this pair"),
        (1, 0, "the earlier action item is not done"),
        (1, 1, "the earlier action item is done"),
        (3, 1, "1 of 3 earlier action items done"),
    ],
)
def test_follow_through_reads_right(count: int, done: int, expected: str) -> None:
    assert follow_through(_earlier(count, done)).reason == expected


@pytest.mark.parametrize("rows", [1, 2])  # none at all is refused
def test_import_says_how_many_rightly(data_dir: Path, tmp_path: Path, rows: int) -> None:
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["--data-dir", str(data_dir), *args])
        assert result.exit_code == 0, result.output
        return result.output

    code = run("new", "Q3").splitlines()[0]
    table = tmp_path / "cards.csv"
    table.write_text("side,text\n" + "Sales,card\n" * rows, encoding="utf-8")
    said = run("import", code, str(table))
    assert f"Imported {plural(rows, 'complaint')} into {code}." in said
    assert not WRONG.search(said)
    assert not WRONG.search(run("status", code))


@pytest.mark.parametrize(
    ("voting", "people", "expected"),
    [
        (1, 1, "the one person still has votes"),
        (0, 1, "the one person has no votes"),
        (0, 4, "0 of 4 people still have votes"),
        (1, 4, "1 of 4 people still has votes"),
        (3, 4, "3 of 4 people still have votes"),
    ],
)
def test_who_still_has_votes_reads_right(voting: int, people: int, expected: str) -> None:
    assert still_voting(voting, people) == expected


@pytest.mark.parametrize(
    ("budget", "spent_all", "too_many"),
    [
        (1, "You have spent the one vote", None),
        (3, "You have spent all 3 votes", "You have 1 of 3 votes left, not 2"),
    ],
)
def test_a_refused_vote_reads_right(
    sessions: Sessions, budget: int, spent_all: str, too_many: str | None
) -> None:
    code = sessions.create("Q3", ["Sales", "Marketing"], votes=budget).code
    pid = sessions.join(code, "Sales", "Alex").id
    ids = [sessions.add_complaint(code, "Sales", f"card {n}").id for n in range(3)]
    sessions.set_phase(code, "vote")
    me = Actor(Role.PARTICIPANT, pid)
    for card in ids[: budget - 1]:
        sessions.vote(code, pid, card, me)
    if too_many:
        with pytest.raises(TherapyError, match=too_many):
            sessions.vote_many(code, pid, ids[:2], me)
    sessions.vote(code, pid, ids[-1], me)
    with pytest.raises(TherapyError, match=spent_all):
        sessions.vote(code, pid, ids[0], me)
