"""The trend of a pair: `therapy history` (table and JSON) and the history screen, reached from
home and from close, with snapshots of five sessions at 80x24 and 120x36."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.cells import cell_len
from textual.widgets import DataTable
from tui_support import NOW, app_for, fix_world, participant_app, settle, wait

from therapy.cli import cli
from therapy.service import Sessions
from therapy.store import Store
from therapy.tui.app import TherapyApp
from therapy.tui.screens.close import CloseScreen
from therapy.tui.screens.history import HistoryScreen, SessionRow, sparkline
from therapy.tui.screens.home import HomeScreen

G, E, C = "different-goals", "misaligned-expectations", "communication-gaps"
PAIR = "EMEA revenue"
CODES = ("EARLY2", "DEMO42", "OTHER3", "EXTRA4", "EXTRA5")  # as fix_world hands them out

# title, day, complaints (side, agreed cause), wins, action items, earlier items then done
FIVE = (
    ("Q1 lead handoff", "2026-03-02", [("Sales", E), ("Sales", E), ("Sales", C),
                                       ("Sales", None), ("Marketing", G), ("Marketing", E)],
     0, 2, []),
    ("Q2 pipeline truce", "2026-05-04", [("Sales", G), ("Marketing", G), ("Sales", C),
                                         ("Marketing", C), ("Marketing", E)],
     1, 2, ["EARLY2-1"]),
    ("Summer check-in", "2026-07-06", [], 0, 0, []),  # too early to tell: nothing happened
    ("Q3 campaign review", "2026-09-07", [("Sales", E), ("Marketing", E), ("Sales", C),
                                          ("Marketing", C), ("Sales", G), ("Marketing", None),
                                          ("Sales", E)],
     3, 3, ["DEMO42-1", "DEMO42-2"]),
    ("Q4 planning", "2026-11-02", [("Sales", C), ("Marketing", C), ("Sales", G),
                                   ("Marketing", E)],
     3, 2, ["EXTRA4-1"]),
)  # fmt: skip


def build(sessions: Sessions, plan=FIVE, pair: str = PAIR) -> list[str]:  # type: ignore[no-untyped-def]
    """Sessions of one pair walked as a room would (complaints, causes, votes, action items,
    wins), each earlier item marked done when the plan says so. Their codes."""
    codes = []
    for title, day, complaints, wins, actions, done in plan:
        for ref in done:
            sessions.mark(ref, "done", by="the test")
        code = sessions.create(title, pair=pair, created=f"{day}T10:00:00+00:00").code
        codes.append(code)
        if not complaints:
            continue
        ids = [
            sessions.add_complaint(code, side, f"{cause or 'unsorted'} #{n} of {title}").id
            for n, (side, cause) in enumerate(complaints)
        ]
        sessions.set_phase(code, "diagnose")
        for complaint, (_, cause) in zip(ids, complaints, strict=True):
            if cause:
                sessions.set_cause(code, complaint, cause)
        sessions.set_phase(code, "vote")
        pick = [ids[n % len(ids)] for n in range(3)]
        sessions.vote_as(code, "Alex", "Sales", [pick[0], pick[0], pick[1]])
        sessions.vote_as(code, "Dana", "Marketing", [pick[1], pick[2], ids[-1]])
        sessions.set_phase(code, "remedy")
        for n in range(actions):
            sessions.add_action(code, f"Fix #{n} of {title}", "Alex", "2026-12-31",
                                complaints=[ids[n % len(ids)]])  # fmt: skip
        sessions.set_phase(code, "celebrate")
        for n in range(wins):
            sessions.add_win(code, ("Sales", "Marketing")[n % 2], f"Win #{n} of {title}")
        sessions.set_phase(code, "close")
    return codes


@pytest.fixture(autouse=True)
def fixed(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fix_world(monkeypatch)


@pytest.fixture
def five(data_dir: Path) -> Sessions:
    sessions = Sessions(Store(data_dir))
    assert build(sessions) == list(CODES)
    return sessions


def therapy(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed command, as a person runs it (the clock fixed as in this process)."""
    env = {**os.environ, "THERAPY_NOW": NOW, "TZ": "UTC"}
    return subprocess.run(
        [sys.executable, "-m", "therapy.cli", "--data-dir", str(data_dir), "history", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def run(data_dir: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), "history", *args])


# -- therapy history ----------------------------------------------------------------------


def test_the_table_shows_each_session_oldest_first_and_says_the_pair_improves(
    five: Sessions, data_dir: Path
) -> None:
    done = therapy(data_dir)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0] == "EMEA revenue (5 sessions, oldest first)"
    assert lines[1].split() == [
        "DATE", "CODE", "TITLE", "STATUS", "APPR", "BAL", "COV", "FOLLOW", "CAUSES",
    ]  # fmt: skip
    rows = lines[2:7]
    assert [row.split()[:2] for row in rows] == [
        ["2026-03-02", "EARLY2"],
        ["2026-05-04", "DEMO42"],
        ["2026-07-06", "OTHER3"],
        ["2026-09-07", "EXTRA4"],
        ["2026-11-02", "EXTRA5"],
    ]
    first = rows[0]
    assert "Q1 lead handoff" in first
    assert "goals 1 · expectations 3 · gaps 1 · unsorted 1" in first
    assert "Too early to tell" in rows[2] and "goals 0 · expectations 0 · gaps 0" in rows[2]
    points = five.trend(pair=PAIR)[0].points
    for row, point in zip(rows, points, strict=True):
        relationship = point.relationship
        if relationship.score is not None:
            assert f"{relationship.label} {relationship.score:.2f}" in row
        values = [s.value for s in relationship.signals]
        written = ["n/a" if v is None else f"{v:.2f}" for v in values]
        assert "  ".join(f"{v:>4}" for v in written[:3]) in row
        assert f"{written[3]:>6}  goals" in row  # follow-through, then the causes
    assert [p.follow_through for p in points] == [None, 0.5, 0.75, 0.75, 0.57]
    scored = [p.relationship.score for p in points if p.relationship.score is not None]
    mean = round(sum(scored[:-1]) / 3, 2)
    assert scored[-1] > mean + 0.05
    assert lines[7] == (
        f"Improving: the latest score, {scored[-1]:.2f} (EXTRA5), is "
        f"{scored[-1] - mean:.2f} above the mean of the 3 scored sessions before it "
        f"({mean:.2f})."
    )
    assert len(lines) == 8


def test_json_has_the_same_sessions_in_a_shape_that_can_grow(
    five: Sessions, data_dir: Path
) -> None:
    done = therapy(data_dir, "--pair", "emea REVENUE", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["version"] == 1
    [pair] = report["pairs"]
    assert (pair["pair"], pair["key"], pair["skipped"]) == (PAIR, "pair:emea revenue", [])
    assert [s["code"] for s in pair["sessions"]] == list(CODES)
    first = pair["sessions"][0]
    assert first["title"] == "Q1 lead handoff"
    assert first["date"] == "2026-03-02" and first["phase"] == "close"
    assert first["causes"] == [
        {"key": G, "name": "Different goals", "complaints": 1},
        {"key": E, "name": "Misaligned expectations", "complaints": 3},
        {"key": C, "name": "Communication gaps", "complaints": 1},
        {"key": None, "name": "Unsorted", "complaints": 1},
    ]
    assert first["complaints"] == 6
    assert first["action_items"] == {"total": 2, "done": 1, "dropped": 0}
    assert list(first["relationship"]["signals"]) == [
        "appreciation", "balance", "coverage", "follow-through",
    ]  # fmt: skip
    assert first["relationship"]["signals"]["follow-through"] == {
        "value": None,
        "reason": "no earlier action items of this pair",
    }
    early = pair["sessions"][2]
    assert early["relationship"]["label"] == "Too early to tell"
    assert early["relationship"]["score"] is None
    points = five.trend(pair=PAIR)[0].points
    for session, point in zip(pair["sessions"], points, strict=True):
        assert session["relationship"]["score"] == point.relationship.score
        assert session["follow_through"] == point.follow_through
    trend = pair["trend"]
    assert trend["direction"] == "improving" and trend["scored_sessions"] == 4
    assert trend["latest"] == points[-1].relationship.score
    assert trend["statement"].startswith("Improving: ")


def test_a_declining_pair_is_said_to_decline(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    both_heard = [("Sales", G), ("Marketing", E)]
    one_side = [("Sales", G), ("Sales", E), ("Sales", C), ("Sales", None)]
    build(
        sessions,
        (
            ("Good times", "2026-03-02", both_heard, 2, 2, []),
            ("Bad times", "2026-06-01", one_side, 0, 0, []),
        ),
    )
    result = run(data_dir, "--pair", PAIR)
    assert result.exit_code == 0, result.output
    last = result.stdout.splitlines()[-1]
    assert (
        last.startswith("Declining: the latest score, ")
        and "below the score of the session" in last
    )
    report = json.loads(run(data_dir, "--format", "json").stdout)
    assert report["pairs"][0]["trend"]["direction"] == "declining"


def test_one_scored_session_is_too_few_to_tell(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    build(sessions, FIVE[:1] + FIVE[2:3])  # one scored, one too early to tell
    result = run(data_dir)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        "Too few sessions to tell: one session of this pair has a score yet."
    )
    trend = json.loads(run(data_dir, "--format", "json").stdout)["pairs"][0]["trend"]
    assert trend["direction"] is None and trend["scored_sessions"] == 1


def test_an_unknown_pair_is_one_sentence_and_exit_1(five: Sessions, data_dir: Path) -> None:
    done = therapy(data_dir, "--pair", "APAC revenue")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip() == (
        "Error: There are no sessions of the pair 'APAC revenue'; run 'therapy list' to see them."
    )


def test_no_sessions_at_all_is_said_and_is_no_error(data_dir: Path) -> None:
    result = run(data_dir)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.startswith("No pair has a session yet")
    assert len(result.stderr.strip().splitlines()) == 1
    assert json.loads(run(data_dir, "--format", "json").stdout) == {"version": 1, "pairs": []}


def test_every_pair_is_listed_and_the_demo_is_no_ones(data_dir: Path) -> None:
    from therapy.demo import build_demo

    sessions = Sessions(Store(data_dir))
    build_demo(sessions)
    plain = [(*session[:5], []) for session in FIVE]  # no earlier items to mark
    build(sessions, plain[:2])
    build(sessions, plain[:1], pair="APAC revenue")
    result = run(data_dir)
    assert result.exit_code == 0, result.output
    titles = [line for line in result.stdout.splitlines() if "oldest first" in line]
    assert titles == [
        "APAC revenue (1 session, oldest first)",
        "EMEA revenue (2 sessions, oldest first)",
    ]


def test_a_damaged_session_is_skipped_and_named(five: Sessions, data_dir: Path) -> None:
    (data_dir / "sessions" / "DEMO42" / "session.json").write_text("{not json", encoding="utf-8")
    result = run(data_dir)
    assert result.exit_code == 0, result.output
    assert result.stderr == "Skipped 1 session that could not be read (damaged): DEMO42.\n"
    assert "DEMO42" not in result.stdout
    assert "EMEA revenue (4 sessions, oldest first)" in result.stdout
    report = json.loads(run(data_dir, "--format", "json").stdout)
    assert report["pairs"][0]["skipped"] == ["DEMO42"]


def test_a_damaged_session_of_no_known_pair_is_said(five: Sessions, data_dir: Path) -> None:
    """A session whose index row does not say its pair and whose file cannot be read may be
    any pair's: history and actions say so, where they used to drop it without a word."""
    index = data_dir / "index.json"
    tables = json.loads(index.read_text(encoding="utf-8"))
    rows = tables["sessions"]
    row = next(r for r in rows.values() if r["code"] == "DEMO42")
    row.pop("pair", None)
    index.write_text(json.dumps(tables), encoding="utf-8")
    (data_dir / "sessions" / "DEMO42" / "session.json").write_text("{not json", encoding="utf-8")
    for args in ([], ["--format", "json"]):
        result = run(data_dir, *args)
        assert result.exit_code == 0, result.output
        assert "DEMO42" in result.stderr and "damaged" in result.stderr, result.stderr
    actions = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "actions", "--all"])
    assert "DEMO42" in actions.stderr and "damaged" in actions.stderr, actions.output


def test_titles_are_shown_as_typed(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    title = "[@click=app.quit] Ünïcode 売上 review"
    build(sessions, (("x", "2026-03-02", [("Sales", G)], 0, 0, []),))
    sessions.create(title, pair=PAIR, created="2026-04-01T10:00:00+00:00")
    lines = run(data_dir).stdout.splitlines()
    assert title in lines[3]

    def column(line: str, text: str) -> int:
        return cell_len(line[: line.index(text)])

    assert column(lines[2], "Couples") == column(lines[3], "Too early")  # 売上 is four cells
    assert (
        json.loads(run(data_dir, "--format", "json").stdout)["pairs"][0]["sessions"][1]["title"]
        == title
    )


# -- the history screen -------------------------------------------------------------------


def history_rows(app: TherapyApp) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


async def shown(pilot) -> HistoryScreen:  # type: ignore[no-untyped-def]
    app = pilot.app
    await wait(pilot, lambda: isinstance(app.screen, HistoryScreen), "the history screen")
    screen = app.screen
    await wait(pilot, lambda: screen.trend is not None and screen.query(SessionRow), "its rows")
    await pilot.pause(0.05)
    return screen


async def home_loaded(pilot, count: int) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    await settle(pilot)
    await wait(
        pilot,
        lambda: (
            isinstance(app.screen, HomeScreen)
            and app.screen.query_one(DataTable).row_count == count
        ),
        "the list of sessions",
    )


async def test_h_on_home_shows_the_highlighted_sessions_pair(five: Sessions) -> None:
    latest = [("APAC kickoff", "2026-11-20", [("Sales", G)], 0, 0, [])]
    build(five, latest, pair="APAC revenue")  # the newest: at the top of the list
    called: list[threading.Thread] = []
    trend = five.trend

    def recorded(*args, **kwargs):  # type: ignore[no-untyped-def]
        called.append(threading.current_thread())
        return trend(*args, **kwargs)

    five.trend = recorded  # type: ignore[method-assign]
    app = app_for(five)
    async with app.run_test(size=(80, 24)) as pilot:
        await home_loaded(pilot, 6)
        await pilot.press("h")
        screen = await shown(pilot)
        assert screen.trend is not None and screen.trend.label == "APAC revenue"
        assert len(screen.query(SessionRow)) == 1
        assert called and called[-1] is not threading.main_thread()  # read in a worker
        await pilot.press("escape")
        await wait(pilot, lambda: isinstance(app.screen, HomeScreen), "home again")
        await pilot.press("down", "h")  # the next session down: EMEA's newest
        screen = await shown(pilot)
        assert screen.trend is not None and screen.trend.label == PAIR
        text = "\n".join(history_rows(app))
        assert "EMEA revenue · 5 sessions, oldest first" in text
        assert "Improving: the latest score" in text
        assert "Summer check-in · OTHER3" in text and "Too early to tell" in text
        assert "2026-11-02  Q4 planning · EXTRA5" in text
        assert "follow-through 0.57" in text
        assert history_rows(app)[-1].startswith(" esc Back")


async def test_h_at_close_shows_the_pair_and_escape_goes_back(five: Sessions) -> None:
    app = app_for(five, "EXTRA5")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, CloseScreen)
        assert "h Pair history" in history_rows(app)[-1]
        await pilot.press("h")
        screen = await shown(pilot)
        assert [row.point.code for row in screen.query(SessionRow)] == list(CODES)
        await pilot.press("f1")
        await wait(pilot, lambda: "Pair history: help" in "\n".join(history_rows(app)), "help")
        await pilot.press("escape")
        await wait(pilot, lambda: app.screen is screen, "the history again")
        await pilot.press("escape")
        await wait(pilot, lambda: isinstance(app.screen, CloseScreen), "close again")


async def test_a_damaged_session_is_named_on_the_history(five: Sessions, data_dir: Path) -> None:
    (data_dir / "sessions" / "DEMO42" / "session.json").write_text("[]", encoding="utf-8")
    app = app_for(five, "EXTRA5")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        screen = await shown(pilot)
        assert len(screen.query(SessionRow)) == 4
        text = "\n".join(history_rows(app))
        assert "Skipped, could not be read (damaged): DEMO42." in text


async def test_a_phase_change_takes_the_history_down(five: Sessions) -> None:
    app = app_for(five, "EXTRA5")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await shown(pilot)
        five.set_phase("EXTRA5", "back")  # from another terminal
        await wait(pilot, lambda: app.screen.__class__.__name__ == "CelebrateScreen", "celebrate")
        assert not any(isinstance(s, (HistoryScreen, CloseScreen)) for s in app.screen_stack)


async def test_a_participant_at_close_may_see_the_history(five: Sessions) -> None:
    five.join("EXTRA5", "Sales", "Kim")
    app = participant_app(five, "EXTRA5", participant=3)  # Alex and Dana voted from the shell
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, CloseScreen)
        await pilot.press("h")
        screen = await shown(pilot)
        assert len(screen.query(SessionRow)) == 5
        await pilot.press("escape")
        await wait(pilot, lambda: isinstance(app.screen, CloseScreen), "close again")
        [command] = [c for c in app.get_system_commands(app.screen) if c.title == "Pair history"]
        command.callback()  # the palette's entry (ctrl+p), on every phase
        await shown(pilot)


async def test_user_text_on_the_history_is_never_markup(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    title = "[@click=app.quit] [b]bold[/b] [/"
    build(sessions, ((title, "2026-03-02", [("Sales", G)], 0, 0, []),), pair="[red]Ops[/red]")
    app = app_for(sessions, "EARLY2")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await shown(pilot)
        text = "\n".join(history_rows(app))
        assert "[red]Ops[/red] · 1 session" in text
        assert title in text
        await pilot.click(SessionRow)
        await pilot.pause(0.1)
        assert app.is_running


async def test_many_sessions_scroll_with_the_latest_in_view(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    months = [f"2025-{month:02d}-01" for month in range(1, 13)]
    codes = build(sessions, [(f"Month {n + 1}", day, [("Sales", G), ("Marketing", C)], n % 3, 1, [])
                     for n, day in enumerate(months)])  # fmt: skip
    app = app_for(sessions, codes[-1])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        screen = await shown(pilot)
        rows = screen.query_one("#rows")
        await wait(pilot, lambda: rows.scroll_y == rows.max_scroll_y > 0, "scrolled to the end")
        text = "\n".join(history_rows(app))
        assert f"2025-12-01  Month 12 · {codes[-1]}" in text and "Month 1 ·" not in text
        foot = history_rows(app)[5]  # the sparkline's bottom row: a column for every session
        assert foot.split("  ")[0].split() == ["██"] * 12, foot
        await pilot.press("home")
        await wait(pilot, lambda: rows.scroll_y == 0, "scrolled back to the first")
        assert "2025-01-01  Month 1 · EARLY2" in "\n".join(history_rows(app))


def test_the_sparkline_leaves_a_foot_for_a_session_too_early_to_tell() -> None:
    lines = sparkline([0.0, None, 1.0, 0.5]).plain.split("\n")
    assert lines == ["      ██    ", "      ██ ▄▄ ", "▁▁ ·· ██ ██ "]
    assert sparkline([None]).plain.split("\n")[-1] == "·· "
    assert len(sparkline([0.5] * 50).plain.split("\n")[0]) == 40  # the latest 40, a cell each


# -- snapshots ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
def test_snapshot_of_five_sessions(snap_compare, five: Sessions, size) -> None:  # type: ignore[no-untyped-def]
    app = app_for(five)

    async def opened(pilot) -> None:  # type: ignore[no-untyped-def]
        await home_loaded(pilot, 5)
        await pilot.press("h")
        await shown(pilot)
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=size, run_before=opened)
