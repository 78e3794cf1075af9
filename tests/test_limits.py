"""The limits of therapy/limits.py: each said in one sentence when reached, each listed in
the README. The clock is fixed (THERAPY_NOW), so every card of a test is added in the same
second: a minute later is a clock set sixty seconds on, never a sleep."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from ssh_support import therapy_script, tmux_server
from textual.widgets import Label
from tui_support import settle, viewer_app, wait

from therapy import limits
from therapy.clock import FixedClock, parse_instant
from therapy.limits import (
    ACTIONS_PER_SESSION,
    ADDS_PER_MINUTE,
    ADDS_WINDOW,
    COMPLAINTS_PER_SESSION,
    PARTICIPANTS_PER_SESSION,
    WINS_PER_SESSION,
)
from therapy.model import Actor, Role, TherapyError
from therapy.service import Sessions
from therapy.store import Store
from therapy.tui.widgets.prompt import TextPrompt

README = Path(__file__).parents[1] / "README.md"
SIZE = (120, 36)


def therapy(data_dir: Path, *args: str, now: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"THERAPY_NOW": now} if now else {})}
    return subprocess.run(
        [sys.executable, "-m", "therapy.cli", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def later(sessions: Sessions, seconds: int) -> Sessions:
    """The same store seen by a process whose clock is `seconds` on."""
    return Sessions(
        sessions.store, clock=FixedClock(sessions.moment() + timedelta(seconds=seconds))
    )


def stamp_later(sessions: Sessions, seconds: int) -> str:
    return (sessions.moment() + timedelta(seconds=seconds)).isoformat()


# -- where they are written -------------------------------------------------------------------


def written(value: int, name: str) -> str:
    if name.endswith("_BYTES") and value % 2**20 == 0:
        return f"{value // 2**20} MiB"
    return f"{value:,} bytes" if name.endswith("_BYTES") else f"{value:,}"


def stated(row: str, name: str) -> str:
    """The number a row of the Limits table gives NAME: its value cell, or for a limit
    named beside another in the first cell (`ADDS_WINDOW`: 60 seconds), the number after it."""
    cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
    assert len(cells) == 3, f"not a row of the Limits table: {row}"
    beside = re.search(rf"`{name}`: ([0-9,]+) seconds", cells[0])
    return beside[1] if beside else cells[1]


def test_the_readme_lists_every_limit_with_its_number() -> None:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"^## Limits\n(.*?)(?=^## )", text, re.M | re.S)
    assert found, "README.md has no '## Limits' section"
    section = found.group(1)
    constants = {n: v for n, v in vars(limits).items() if n.isupper() and isinstance(v, int)}
    assert constants
    for name, value in constants.items():
        lines = [line for line in section.splitlines() if f"`{name}`" in line]
        assert lines, f"the README's Limits section does not name {name}"
        assert any(written(value, name) in line for line in lines), (
            f"the README gives {name} another number than therapy/limits.py ({value})"
        )
        assert [stated(line, name) for line in lines] == [written(value, name)], (
            f"the README gives {name} another number than therapy/limits.py ({value})"
        )


# -- rows per session ---------------------------------------------------------------------


def test_a_session_holds_so_many_complaints(sessions: Sessions, code: str) -> None:
    sessions.add_complaints(
        code, [("Sales", f"card {n}", None) for n in range(COMPLAINTS_PER_SESSION - 1)]
    )
    with pytest.raises(TherapyError) as refused:
        sessions.add_complaints(code, [("Sales", "one", None), ("Marketing", "two", None)])
    assert str(refused.value) == (
        f"Session {code} has {COMPLAINTS_PER_SESSION - 1:,} complaints and can hold "
        f"{COMPLAINTS_PER_SESSION:,}: there is room for 1 of these 2."
    )
    assert len(sessions.board(code).complaints) == COMPLAINTS_PER_SESSION - 1  # none of them
    sessions.add_complaint(code, "Sales", "the last one")
    with pytest.raises(TherapyError) as refused:
        sessions.add_complaint(code, "Sales", "one too many")
    assert str(refused.value) == (
        f"Session {code} has {COMPLAINTS_PER_SESSION:,} complaints, the most one session can hold."
    )
    assert len(sessions.board(code).complaints) == COMPLAINTS_PER_SESSION


def test_an_import_counts_the_rows_it_brings(
    data_dir: Path, sessions: Sessions, code: str, tmp_path: Path
) -> None:
    have = COMPLAINTS_PER_SESSION - 3
    sessions.add_complaints(code, [("Sales", f"card {n}", None) for n in range(have)])
    csv = tmp_path / "cards.csv"
    csv.write_text("side,text\n" + "".join(f"Marketing,imported {n}\n" for n in range(5)))
    result = therapy(data_dir, "import", code, str(csv))
    assert result.returncode == 1
    assert f"Session {code} has {have:,} complaints and can hold" in result.stderr
    assert "there is room for 3 of these 5" in result.stderr and "Traceback" not in result.stderr
    assert len(sessions.board(code).complaints) == have  # all rows or none


def test_a_session_holds_so_many_wins(sessions: Sessions, code: str) -> None:
    sessions.set_phase(code, "celebrate")
    with sessions.batch(code):  # one write for them all
        for n in range(WINS_PER_SESSION):
            sessions.add_win(code, "Sales", f"win {n}")
    with pytest.raises(TherapyError) as refused:
        sessions.add_win(code, "Marketing", "one too many", "appreciation")
    assert str(refused.value) == (
        f"Session {code} has {WINS_PER_SESSION:,} wins and appreciations, the most one "
        "session can hold."
    )


def test_a_session_holds_so_many_action_items(sessions: Sessions, code: str) -> None:
    sessions.set_phase(code, "remedy")
    with sessions.batch(code):
        for n in range(ACTIONS_PER_SESSION):
            sessions.add_action(code, f"do {n}", "Dana", "2027-01-04")
    with pytest.raises(TherapyError) as refused:
        sessions.add_action(code, "one too many", "Dana", "2027-01-04")
    assert str(refused.value) == (
        f"Session {code} has {ACTIONS_PER_SESSION:,} action items, the most one session can hold."
    )


def test_a_session_holds_so_many_participants(sessions: Sessions, code: str) -> None:
    with sessions.batch(code):
        for n in range(PARTICIPANTS_PER_SESSION):
            sessions.join(code, "Sales", f"P{n}")
    sessions.join(code, "Sales", "P0")  # someone coming back is no one new
    with pytest.raises(TherapyError) as refused:
        sessions.join(code, "Marketing", "Late")
    assert str(refused.value) == (
        f"Session {code} has {PARTICIPANTS_PER_SESSION:,} participants, the most one session "
        "can hold."
    )
    with pytest.raises(TherapyError, match="the most one session can hold"):
        sessions.vote_as(code, "Late", "Marketing", [])  # joining from the shell's vote too


# -- cards per person per minute -------------------------------------------------------------


def paced(who: str = "You") -> str:
    return (
        f"{who} added {ADDS_PER_MINUTE} complaints and wins in the last minute, the most "
        f"anyone may; try again in {ADDS_WINDOW} s."
    )


def test_a_participant_adds_so_many_cards_a_minute(sessions: Sessions, code: str) -> None:
    alex = Actor(Role.PARTICIPANT, sessions.join(code, "Sales", "Alex").id)
    sam = Actor(Role.PARTICIPANT, sessions.join(code, "Sales", "Sam").id)
    complaints = ADDS_PER_MINUTE // 2  # complaints and wins count together
    for n in range(complaints):
        sessions.add_complaint(code, "Sales", f"complaint {n}", alex)
    sessions.add_complaint(code, "Sales", "Sam's own", sam)
    sessions.set_phase(code, "celebrate")
    for n in range(ADDS_PER_MINUTE - complaints):
        sessions.add_win(code, "Sales", f"win {n}", actor=alex)
    with pytest.raises(TherapyError) as refused:
        sessions.add_win(code, "Sales", "one too many", actor=alex)
    assert str(refused.value) == paced()
    sessions.add_win(code, "Sales", "Sam is not held up", actor=sam)
    for n in range(ADDS_PER_MINUTE + 1):
        sessions.add_win(code, "Marketing", f"the facilitator's {n}")  # never held
    nearly = later(sessions, ADDS_WINDOW - 1)
    with pytest.raises(TherapyError, match=r"try again in 1 s\.$"):
        nearly.add_win(code, "Sales", "a second too soon", actor=alex)
    later(sessions, ADDS_WINDOW).add_win(code, "Sales", "a minute on", actor=alex)


def test_the_shell_holds_a_name_to_it_across_processes(
    data_dir: Path, sessions: Sessions, code: str
) -> None:
    """Counted from what is stored: `therapy add --name` in another process sees the cards
    Alex added in the app, and is held to the same minute."""
    alex = Actor(Role.PARTICIPANT, sessions.join(code, "Sales", "Alex").id)
    for n in range(ADDS_PER_MINUTE):
        sessions.add_complaint(code, "Sales", f"complaint {n}", alex)
    result = therapy(data_dir, "add", code, "--side", "Sales", "--name", "alex", "one more")
    assert (result.returncode, result.stderr) == (1, f"Error: {paced('alex')}\n")
    assert therapy(data_dir, "add", code, "--side", "Sales", "the facilitator's").returncode == 0
    result = therapy(
        data_dir, "add", code, "--side", "Sales", "--name", "Alex", "a minute on",
        now=stamp_later(sessions, ADDS_WINDOW),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    alexes = [c for c in sessions.board(code).complaints if c.author in ("Alex", "alex")]
    assert len(alexes) == ADDS_PER_MINUTE + 1


def test_an_anonymous_participant_is_held_in_their_own_process(
    sessions: Sessions, data_dir: Path
) -> None:
    code = sessions.create("Sealed", ["Sales", "Marketing"], anonymous=True).code
    me = Actor(Role.PARTICIPANT, sessions.join(code, "Sales", "Alex", bound=True).id)
    for n in range(ADDS_PER_MINUTE):
        sessions.add_complaint(code, "Sales", f"complaint {n}", me)
    with pytest.raises(TherapyError) as refused:
        sessions.add_complaint(code, "Sales", "one too many", me)
    assert str(refused.value) == paced()
    # nothing stored says whose a card is, or when it came: the count lives in memory only
    stored = Store(data_dir).read(code)
    assert {(c.author, c.participant, c.created) for c in stored.complaints.values()} == {
        (None, None, "")
    }
    assert len({c.claim for c in stored.complaints.values()}) == ADDS_PER_MINUTE
    later(sessions, ADDS_WINDOW).add_complaint(code, "Sales", "a minute on", me)
    # another process (a new connection) starts its own count: all an anonymous room allows
    Sessions(Store(data_dir)).add_complaint(code, "Sales", "from a second window", me)


def test_a_refusal_says_when_to_try_again(sessions: Sessions, code: str) -> None:
    """The wait is until the oldest card that counts is a minute old."""
    alex = Actor(Role.PARTICIPANT, sessions.join(code, "Sales", "Alex").id)
    start = sessions.moment()
    for n in range(ADDS_PER_MINUTE):
        at = Sessions(sessions.store, clock=FixedClock(start + timedelta(seconds=n)))
        at.add_complaint(code, "Sales", f"complaint {n}", alex)
    last = start + timedelta(seconds=ADDS_PER_MINUTE - 1)
    with pytest.raises(TherapyError) as refused:
        Sessions(sessions.store, clock=FixedClock(last)).add_complaint(code, "Sales", "x", alex)
    wait_s = math.ceil((start + timedelta(seconds=ADDS_WINDOW) - last).total_seconds())
    assert str(refused.value).endswith(f"try again in {wait_s} s.")
    assert parse_instant(sessions.board(code).complaints[0].created) == start


async def test_the_app_says_it_in_the_form(data_dir: Path, sessions: Sessions, code: str) -> None:
    alex = sessions.join(code, "Sales", "Alex").id
    sessions.set_phase(code, "vent")
    for n in range(ADDS_PER_MINUTE):
        sessions.add_complaint(code, "Sales", f"complaint {n}", Actor(Role.PARTICIPANT, alex))
    app = viewer_app(Sessions(Store(data_dir)), code, Actor(Role.PARTICIPANT, alex))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a", *"one more", "enter")

        def refused() -> bool:
            screen = app.screen
            return isinstance(screen, TextPrompt) and screen.query_one("#form-error").display

        await wait(pilot, refused, "the refusal in the form")
        assert str(app.screen.query_one("#form-error", Label).render()) == paced()
    assert len(sessions.board(code).complaints) == ADDS_PER_MINUTE


def test_the_openssh_route_is_held_too(
    data_dir: Path, sessions: Sessions, code: str, tmp_path: Path
) -> None:
    """`therapy ssh` as an OpenSSH command= runs it: the cards Alex added before count."""
    if shutil.which("tmux") is None:
        pytest.skip("needs tmux (Debian/Ubuntu: apt-get install tmux)")
    alex = Actor(Role.PARTICIPANT, sessions.join(code, "Sales", "Alex", bound=True, keyed=True).id)
    sessions.set_phase(code, "vent")
    for n in range(ADDS_PER_MINUTE):
        sessions.add_complaint(code, "Sales", f"complaint {n}", alex)
    login = [
        "env", f"SSH_ORIGINAL_COMMAND={code}", str(therapy_script()), "--data-dir",
        str(data_dir), "ssh", "--session", code, "--name", "Alex", "--side", "Sales",
    ]  # fmt: skip
    with tmux_server(tmp_path) as tmux:
        tmux.start("alex", login)
        tmux.wait_for("alex", lambda shown: "your side" in shown, "the vent screen", 60)
        tmux.keys("alex", "a")
        tmux.wait_for("alex", lambda shown: "A complaint from Sales" in shown, "the form", 30)
        tmux.type("alex", "one more")
        tmux.keys("alex", "Enter")
        shown = tmux.wait_for("alex", lambda s: "complaints and wins in the last" in s, "it", 30)
        assert "Traceback" not in shown
    assert len(sessions.board(code).complaints) == ADDS_PER_MINUTE
