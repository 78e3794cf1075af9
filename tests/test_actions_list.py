"""`therapy actions`: who owes what across sessions, as a table, Markdown for a wiki, JSON,
CSV and an iCalendar file of to-dos that a calendar can import again and again."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from icalendar import Calendar
from markdown_it import MarkdownIt
from test_export import _cell_count

from therapy.cli import cli
from therapy.clock import FixedClock, parse_instant
from therapy.export.actions import Listing, to_table
from therapy.model import EarlierItem
from therapy.service import Sessions
from therapy.store import Store

ROOT = Path(__file__).resolve().parent.parent
EARLIER = "2026-09-01T10:00:00+00:00"  # when the first session agreed its items
HOSTILE_WHAT = (
    '<script>alert(1)</script> | [x](javascript:1) \n <img src=x onerror=alert(1)> a\\|b, "q"; '
    "\\ mail evil@example.com www.evil.example http://evil.example/x ~~s~~ **b** `c` &amp;"
)
HOSTILE_TASK = "- [x] # not a heading | 1. nor a list <!-- c --> [ref]: http://x.y"


def invoke(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), "actions", *args])


def at(data_dir: Path, instant: str) -> Sessions:
    return Sessions(Store(data_dir), clock=FixedClock(parse_instant(instant)))


@pytest.fixture
def refs(data_dir: Path, sessions: Sessions) -> dict[str, str]:
    """Two pairs: 'EMEA revenue' (an overdue item, a done one, a dropped one) and the
    unnamed Marketing x Sales (one item, due soon); and a demo copy nobody may list."""
    earlier = at(data_dir, EARLIER)
    emea = earlier.create("Q2 pipeline truce", ["Sales", "Marketing"], pair="EMEA revenue").code
    earlier.set_phase(emea, "remedy")
    earlier.add_action(
        emea,
        "Agree what a hot lead is",
        "Alex",
        "2026-10-01",
        cause="misaligned-expectations",
        metric="leads accepted within a day",
    )
    earlier.add_action(emea, "Weekly field feedback call", "Sam", "2026-12-15")
    earlier.add_action(emea, "Joint case study", "alex", "2026-12-20")
    sessions.mark(f"{emea}-2", "done", by="Sam")
    sessions.mark(f"{emea}-3", "dropped", by="Alex")
    handoff = sessions.create("Q3 lead handoff", ["Marketing", "Sales"]).code
    sessions.set_phase(handoff, "remedy")
    sessions.add_action(handoff, "Answer every lead within a day", "ALEX", "2026-11-30")
    demo = sessions.create("Demo", ["Sales", "Marketing"], demo="copy-1").code
    sessions.set_phase(demo, "remedy")
    sessions.add_action(demo, "Demo item", "Alex", "2026-11-28")
    return {
        "overdue": f"{emea}-1",
        "done": f"{emea}-2",
        "dropped": f"{emea}-3",
        "soon": f"{handoff}-1",
        "demo": f"{demo}-1",
    }


def listed(data_dir: Path, *args: str) -> list[str]:
    result = invoke(data_dir, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return [item["ref"] for item in json.loads(result.stdout)["items"]]


# -- the main path, as a person runs it -------------------------------------------------


def test_the_table_lists_open_items_soonest_first(data_dir: Path, refs: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "therapy.cli", "--data-dir", str(data_dir), "actions"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["REF", "DUE", "OWNER", "STATUS", "WHAT", "PAIR", "/", "SESSION"]
    assert [row.split()[0] for row in rows] == [refs["overdue"], refs["soon"]]
    overdue, soon = rows
    assert "2026-10-01 overdue" in overdue and "overdue" not in soon
    assert overdue.endswith("EMEA revenue / Q2 pipeline truce")
    assert soon.endswith("Marketing x Sales / Q3 lead handoff")
    expected = [
        (overdue, ["2026-10-01", "Alex", "open", "Agree what a hot lead is"]),
        (soon, ["2026-11-30", "ALEX", "open", "Answer every lead within a day"]),
    ]
    for row, values in expected:  # aligned under their headings
        for column, value in zip(["DUE", "OWNER", "STATUS", "WHAT"], values, strict=True):
            assert row.index(value) == header.index(column), (column, result.stdout)


def test_ics_to_a_file(data_dir: Path, refs: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "actions.ics"
    result = subprocess.run(
        [sys.executable, "-m", "therapy.cli", "--data-dir", str(data_dir), "actions"]
        + ["--all", "--format", "ics", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr.strip() == f"Wrote {out}"
    todos = Calendar.from_ical(out.read_bytes()).walk("VTODO")
    assert len(todos) == 4


# -- which items ------------------------------------------------------------------------


def test_open_overdue_and_all(data_dir: Path, refs: dict[str, str]) -> None:
    assert listed(data_dir) == [refs["overdue"], refs["soon"]]
    assert listed(data_dir, "--open") == [refs["overdue"], refs["soon"]]
    assert listed(data_dir, "--overdue") == [refs["overdue"]]
    every = [refs["overdue"], refs["soon"], refs["done"], refs["dropped"]]
    assert listed(data_dir, "--all") == every  # soonest due first; never the demo's


@pytest.mark.parametrize("name", ["EMEA revenue", "emea REVENUE", " EMEA  revenue "])
def test_a_pair_by_its_name(data_dir: Path, refs: dict[str, str], name: str) -> None:
    assert listed(data_dir, "--all", "--pair", name) == [
        refs["overdue"],
        refs["done"],
        refs["dropped"],
    ]


@pytest.mark.parametrize("sides", ["Marketing x Sales", "sales X MARKETING"])
def test_a_pair_by_its_sides(data_dir: Path, refs: dict[str, str], sides: str) -> None:
    assert listed(data_dir, "--all", "--pair", sides) == [refs["soon"]]


@pytest.mark.parametrize("owner", ["alex", "ALEX", "Alex"])
def test_an_owner_in_any_case(data_dir: Path, refs: dict[str, str], owner: str) -> None:
    assert listed(data_dir, "--owner", owner) == [refs["overdue"], refs["soon"]]
    assert listed(data_dir, "--all", "--owner", owner, "--pair", "emea revenue") == [
        refs["overdue"],
        refs["dropped"],
    ]
    assert listed(data_dir, "--all", "--owner", "sam") == [refs["done"]]


# -- nothing to list, and bad input -----------------------------------------------------


def test_nothing_to_list_is_one_sentence_and_success(data_dir: Path, refs: dict[str, str]) -> None:
    result = invoke(data_dir, "--pair", "APAC revenue")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == (
        "No open action items of the pair 'APAC revenue'; --all lists the done and dropped "
        "ones too.\n"
    )
    result = invoke(data_dir, "--overdue", "--owner", "Sam")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "No overdue action items owned by 'Sam'.\n"


def test_nothing_to_list_still_makes_whole_documents(data_dir: Path) -> None:
    data = json.loads(invoke(data_dir, "--format", "json").stdout)
    assert data["items"] == [] and data["skipped_sessions"] == []
    assert data["today"] == "2026-11-27"
    assert invoke(data_dir, "--format", "csv").stdout.startswith("ref,session,")
    assert Calendar.from_ical(invoke(data_dir, "--format", "ics").stdout).walk("VTODO") == []
    markdown = invoke(data_dir, "--format", "md").stdout
    assert markdown.startswith("## Open action items\n\n") and "_No open action items" in markdown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--open", "--all"], "Give one of --open, --overdue and --all, not --open and --all."),
        (["--overdue", "--open", "--all"], "not --open and --overdue and --all."),
        (["--pair", "  "], "The pair's name is empty"),
    ],
)
def test_bad_input_is_one_sentence(data_dir: Path, args: list[str], message: str) -> None:
    result = invoke(data_dir, *args)
    assert result.exit_code == 1, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


def test_an_unknown_format_is_refused(data_dir: Path) -> None:
    result = invoke(data_dir, "--format", "xml")
    assert result.exit_code == 2 and "'xml' is not one of" in result.stderr


def test_an_unreadable_session_is_named_and_the_rest_listed(
    data_dir: Path, refs: dict[str, str]
) -> None:
    damaged = refs["soon"].split("-")[0]
    path = data_dir / "sessions" / damaged / "session.json"
    document = json.loads(path.read_text())
    document["actions"] = {"1": {"what": 5}}
    path.write_text(json.dumps(document))
    result = invoke(data_dir)
    assert result.exit_code == 0, result.output
    assert [row.split()[0] for row in result.stdout.splitlines()[1:]] == [refs["overdue"]]
    assert result.stderr.count("\n") == 1 and damaged in result.stderr
    assert "1 session could not be read and was skipped" in result.stderr
    assert json.loads(invoke(data_dir, "--format", "json").stdout)["skipped_sessions"] == [damaged]


# -- the formats ------------------------------------------------------------------------


def test_json(data_dir: Path, refs: dict[str, str]) -> None:
    data = json.loads(invoke(data_dir, "--all", "--format", "json").stdout)
    assert data["today"] == "2026-11-27"
    assert data["filter"] == {"which": "all", "pair": None, "owner": None}
    first, *_, done, dropped = data["items"]
    assert first == {
        "ref": refs["overdue"],
        "session": refs["overdue"].split("-")[0],
        "session_title": "Q2 pipeline truce",
        "pair": "EMEA revenue",
        "what": "Agree what a hot lead is",
        "owner": "Alex",
        "due": "2026-10-01",
        "metric": "leads accepted within a day",
        "cause": "misaligned-expectations",
        "cause_name": "Misaligned expectations",
        "status": "open",
        "overdue": True,
        "carried_from": None,
        "created": EARLIER,
        "closed": None,
        "closed_by": None,
    }
    assert (done["status"], done["closed"], done["closed_by"]) == (
        "done",
        "2026-11-27T10:00:00+00:00",
        "Sam",
    )
    assert (dropped["status"], dropped["overdue"]) == ("dropped", False)


def test_csv(data_dir: Path, sessions: Sessions, refs: dict[str, str]) -> None:
    code = refs["soon"].split("-")[0]
    sessions.add_action(
        code, '=HYPERLINK("http://evil.example")', "@admin", "2026-12-01", metric="+1"
    )
    rows = list(csv.DictReader(io.StringIO(invoke(data_dir, "--format", "csv").stdout)))
    assert [row["ref"] for row in rows] == [refs["overdue"], refs["soon"], f"{code}-2"]
    assert rows[0]["overdue"] == "yes" and rows[1]["overdue"] == "no"
    assert rows[0]["cause_name"] == "Misaligned expectations"
    formula = rows[2]
    assert formula["what"] == '\'=HYPERLINK("http://evil.example")'  # text, not a formula
    assert (formula["owner"], formula["metric"]) == ("'@admin", "'+1")


def test_markdown_has_a_table_and_a_task_list(data_dir: Path, refs: dict[str, str]) -> None:
    markdown = invoke(data_dir, "--all", "--format", "md", "--pair", "emea revenue").stdout
    blocks = markdown.rstrip("\n").split("\n\n")
    heading, as_of, table, tasks = blocks
    assert heading == "## Action items of the pair EMEA revenue"
    assert as_of == "As of 2026-11-27."
    rows = table.splitlines()
    assert len(rows) == 2 + 3 and len({_cell_count(row) for row in rows}) == 1
    assert tasks.splitlines() == [
        f"- [ ] **{refs['overdue']}** Agree what a hot lead is: Alex, due 2026-10-01, **overdue**",
        f"- [x] **{refs['done']}** Weekly field feedback call: Sam, due 2026-12-15, done",
        f"- [ ] **{refs['dropped']}** Joint case study: alex, due 2026-12-20, dropped",
    ]


def test_ics_todos(data_dir: Path, refs: dict[str, str]) -> None:
    text = invoke(data_dir, "--all", "--format", "ics").stdout_bytes  # .stdout turns CRLF to LF
    calendar = Calendar.from_ical(text)
    assert str(calendar["version"]) == "2.0" and str(calendar["prodid"]).startswith("-//therapy")
    todos = {str(t["uid"]).rsplit("-", 1)[0]: t for t in calendar.walk("VTODO")}
    assert sorted(todos) == sorted([refs["overdue"], refs["soon"], refs["done"], refs["dropped"]])
    overdue = todos[refs["overdue"]]
    assert str(overdue["summary"]) == "Agree what a hot lead is"
    assert overdue.decoded("due") == date(2026, 10, 1)
    assert overdue["due"].params.get("VALUE") == "DATE"
    assert str(overdue["status"]) == "NEEDS-ACTION"
    assert overdue.decoded("dtstamp") == datetime(2026, 11, 27, 10, tzinfo=UTC)  # THERAPY_NOW
    description = str(overdue["description"])
    for part in (
        "Owner: Alex",
        "Metric: leads accepted within a day",
        "Cause: Misaligned expectations",
        "Q2 pipeline truce",
        refs["overdue"].split("-")[0],
        "EMEA revenue",
        refs["overdue"],
    ):
        assert part in description, (part, description)
    done = todos[refs["done"]]
    assert str(done["status"]) == "COMPLETED"
    assert done.decoded("completed") == datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert str(todos[refs["dropped"]]["status"]) == "CANCELLED"
    assert "completed" not in todos[refs["dropped"]]
    assert not [t for t in todos.values() if "attendee" in t]  # no e-mail, no fake mailto
    lines = text.split(b"\r\n")  # RFC 5545: CRLF, lines folded at 75 octets
    assert lines[-1] == b"" and all(b"\n" not in line and len(line) <= 75 for line in lines)


def test_a_calendar_gets_every_item_unless_told_otherwise(
    data_dir: Path, refs: dict[str, str]
) -> None:
    """Imported again after an item was done, the calendar must hear it was done: an
    export of the open ones only would leave its to-do open there for ever."""

    def refs_in(*args: str) -> list[str]:
        text = invoke(data_dir, "--format", "ics", *args).stdout_bytes
        return sorted(
            str(t["uid"]).rsplit("-", 1)[0] for t in Calendar.from_ical(text).walk("VTODO")
        )

    assert (
        refs_in()
        == refs_in("--all")
        == sorted([refs["overdue"], refs["soon"], refs["done"], refs["dropped"]])
    )
    assert refs_in("--open") == sorted([refs["overdue"], refs["soon"]])


def test_an_empty_table_written_to_a_file_replaces_it(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "actions.txt"
    out.write_text("last week's list\n")
    result = invoke(data_dir, "--owner", "Nobody", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "last week" not in out.read_text()


def test_ics_uids_stay_from_one_export_to_the_next(
    data_dir: Path, refs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def uids() -> dict[str, tuple[str, str, datetime]]:
        todos = Calendar.from_ical(invoke(data_dir, "--all", "--format", "ics").stdout)
        return {
            str(t["summary"]): (str(t["uid"]), str(t["status"]), t.decoded("dtstamp"))
            for t in todos.walk("VTODO")
        }

    first = uids()
    assert len({uid for uid, _, _ in first.values()}) == 4  # one per item
    assert all(uid.endswith("@therapy") for uid, _, _ in first.values())
    monkeypatch.setenv("THERAPY_NOW", "2026-11-28T09:00:00+00:00")
    at(data_dir, "2026-11-28T09:00:00+00:00").mark(refs["soon"], "done", by="Alex")
    second = uids()
    assert {k: v[0] for k, v in second.items()} == {k: v[0] for k, v in first.items()}
    soon = "Answer every lead within a day"
    assert (first[soon][1], second[soon][1]) == ("NEEDS-ACTION", "COMPLETED")
    assert second[soon][2] > first[soon][2]  # a newer DTSTAMP: the calendar takes the change


def test_ics_uid_survives_carrying_over(data_dir: Path, refs: dict[str, str]) -> None:
    def uid_of(what: str) -> str:
        todos = Calendar.from_ical(invoke(data_dir, "--format", "ics").stdout).walk("VTODO")
        return next(str(t["uid"]) for t in todos if str(t["summary"]) == what)

    before = uid_of("Agree what a hot lead is")
    sessions = Sessions(Store(data_dir))
    later = sessions.create("Q4 check", ["Sales", "Marketing"], pair="EMEA revenue").code
    sessions.review(later, refs["overdue"], "carried")
    assert uid_of("Agree what a hot lead is") == before


# -- hostile text -----------------------------------------------------------------------


@pytest.fixture
def hostile(data_dir: Path, sessions: Sessions) -> list[EarlierItem]:
    code = sessions.create(
        "<b>Q3</b> | [handoff](http://x.y)", ["Sales", "Marketing"], pair="EMEA | <i>rev</i>"
    ).code
    sessions.set_phase(code, "remedy")
    sessions.add_action(
        code, HOSTILE_WHAT, "[@click=app.quit] <u>Alex</u>", "2026-12-01", metric=HOSTILE_TASK
    )
    sessions.add_action(code, HOSTILE_TASK, "* Sam |", "2026-12-02", metric="| x | y |")
    sessions.mark(f"{code}-2", "done")
    return sessions.tracked(which="all").items


MARKDOWN = MarkdownIt("gfm-like")


class Elements(HTMLParser):
    """The elements of rendered HTML, and the text of each table row's cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def _cmark(markdown: str) -> str:
    cmark = shutil.which("cmark-gfm")
    if cmark is None:
        if os.environ.get("CI") == "true":
            pytest.fail("cmark-gfm is not installed (.ci/run installs it)")
        pytest.skip("cmark-gfm is not installed")
    argv = [cmark, "-e", "table", "-e", "tasklist", "-e", "autolink"]
    return subprocess.run(
        argv, input=markdown, capture_output=True, text=True, timeout=30, check=True
    ).stdout


def _listing(items: list[EarlierItem]) -> Listing:
    return Listing(items, "2026-11-27", "2026-11-27T10:00:00+00:00", lambda key: key or "", "all")


@pytest.mark.parametrize("renderer", ["markdown-it", "cmark-gfm"])
def test_hostile_markdown_renders_as_typed(hostile: list[EarlierItem], renderer: str) -> None:
    from therapy.export.actions import to_markdown

    markdown = to_markdown(_listing(hostile))
    html = MARKDOWN.render(markdown) if renderer == "markdown-it" else _cmark(markdown)
    elements = Elements()
    elements.feed(html)
    ours = {"h2", "p", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "strong", "input"}
    ours.add("code")  # the @ of an address, alone in a code span: never a mail link
    assert set(elements.tags) <= ours, html
    # the only strong text is ours: each task's ref
    assert elements.tags.count("strong") == len(hostile), html
    header, *rows = elements.rows
    assert len(rows) == len(hostile) and {len(row) for row in elements.rows} == {8}, html
    by_what = {row[4]: row for row in rows}
    assert sorted(by_what) == sorted(e.item.what for e in hostile)
    first = next(e for e in hostile if e.item.what.startswith("<script>"))
    row = by_what[first.item.what]
    assert row[2] == first.item.owner and row[5] == first.item.metric
    assert row[7] == f"{first.session_title} ({first.session}, {first.pair_label})"
    if renderer == "cmark-gfm":
        assert html.count('type="checkbox"') == 2 and html.count("checked") == 1


def test_hostile_ics_round_trips_exactly(hostile: list[EarlierItem]) -> None:
    from therapy.export.actions import to_ics

    todos = Calendar.from_ical(to_ics(_listing(hostile))).walk("VTODO")
    assert [str(t["summary"]) for t in todos] == [e.item.what for e in hostile]
    for todo, e in zip(todos, hostile, strict=True):
        description = str(todo["description"])
        assert f"Owner: {e.item.owner}\n" in description
        assert f"{e.session_title} (session {e.session}, pair {e.pair_label})" in description


def test_hostile_text_in_the_table_is_shown_as_typed(hostile: list[EarlierItem]) -> None:
    table = to_table(_listing(hostile))
    for e in hostile:
        assert e.item.what in table and e.item.owner in table


@pytest.mark.parametrize("width", [72, 100])
def test_a_narrow_terminal_wraps_inside_the_columns(
    hostile: list[EarlierItem], refs: dict[str, str], data_dir: Path, width: int
) -> None:
    from therapy.export.actions import _width

    listing = _listing(hostile + Sessions(Store(data_dir)).tracked(which="all").items)
    wide, narrow = to_table(listing), to_table(listing, width)
    assert max(_width(line) for line in wide.splitlines()) > width  # there is wrapping to do
    assert max(_width(line) for line in narrow.splitlines()) <= width, narrow
    # every character is still there: wrapping only turns spaces into line breaks
    assert sorted("".join(narrow.split())) == sorted("".join(wide.split()))
