"""The plan must drop into a wiki whatever people typed: tables keep their shape, no HTML,
no links, no control characters."""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from therapy.export import markdown_text
from therapy.model import Phase, TherapyError
from therapy.service import Sessions
from therapy.store import Store

MARKDOWN = MarkdownIt("gfm-like")  # tables, strikethrough and linkify (bare URLs) on

HOSTILE = [
    "[x](javascript:alert(1))",
    "see http://evil.example/x and www.evil.example or mail@evil.example",
    "<img src=x onerror=alert(1)> <b>bold</b> <!-- c -->",
    "a | b || c\\|",
    "# heading\n> quote\n- item\n1. one\n---",
    "&lt;script&gt; &#60; &copy;",
    "`code` **bold** _it_ ~~gone~~ ![pic](x.png) [^1] [ref]: http://x.y",
    "\x1b]0;title\x07\x1b[2J\u202eevil\x9b\x85",
]


def plan_markdown(sessions: Sessions, code: str, template: str | None = None) -> str:
    return sessions.plan(code, "md", template)


def _tokens(source: str):
    def walk(tokens):
        for token in tokens:
            yield token
            if token.children:
                yield from walk(token.children)

    return list(walk(MARKDOWN.parse(source)))


def assert_inert(markdown: str) -> None:
    tokens = _tokens(markdown)
    kinds = {t.type for t in tokens}
    assert not kinds & {"html_inline", "html_block", "link_open", "image"}, kinds
    assert not any(ord(ch) < 32 and ch not in "\n" for ch in markdown)
    assert not any(0x7F <= ord(ch) <= 0x9F for ch in markdown)
    # every row of a table has as many cells as its header, in the source (a renderer
    # silently drops extra cells) and once parsed
    for table in _tables(markdown):
        assert len({_cell_count(line) for line in table}) == 1, table
    header_cells = cells = 0
    for token in tokens:
        if token.type == "thead_open":
            header_cells = -1
        if token.type == "tr_open":
            cells = 0
        if token.type in ("th_open", "td_open"):
            cells += 1
        if token.type == "tr_close":
            header_cells = cells if header_cells == -1 else header_cells
            assert cells == header_cells


def _tables(markdown: str) -> list[list[str]]:
    tables: list[list[str]] = []
    previous = False
    for line in markdown.splitlines():
        row = line.startswith("|")
        if row and not previous:
            tables.append([])
        if row:
            tables[-1].append(line)
        previous = row
    return tables


def _cell_count(line: str) -> int:
    """Pipes not escaped by an odd run of backslashes."""
    count, backslashes = 0, 0
    for ch in line:
        if ch == "|" and backslashes % 2 == 0:
            count += 1
        backslashes = backslashes + 1 if ch == "\\" else 0
    return count


def hostile_session(sessions: Sessions, texts: list[str]) -> str:
    code = sessions.create(texts[0][:100] or "t", ["Sales", "Marketing"]).code
    voter = sessions.join(code, "Sales", texts[-1][:60]).id
    ids = [sessions.add_complaint(code, "Sales", text, author=text[:60]).id for text in texts]
    sessions.set_phase(code, "diagnose")
    if len(ids) > 1:
        sessions.group(code, ids[1], ids[0])
    sessions.set_phase(code, "vote")
    sessions.vote(code, voter, ids[0])
    sessions.set_phase(code, "remedy")
    for text in texts[:3]:
        sessions.add_action(
            code, text[:300], text[:80], "2026-12-01", metric=text[:200], complaints=[ids[0]]
        )
    sessions.set_phase(code, "celebrate")
    for text in texts[:3]:
        sessions.add_win(code, "Marketing", text, "appreciation", author=text[:60])
    return code


def test_hostile_text_stays_inert(sessions: Sessions) -> None:
    code = hostile_session(sessions, HOSTILE)
    markdown = plan_markdown(sessions, code)
    assert_inert(markdown)
    rendered = MARKDOWN.render(markdown)
    assert "[x](javascript:alert(1))" in rendered  # shown as typed once rendered
    assert "&lt;img src=x onerror=alert(1)&gt;" in rendered


printable = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=80
).filter(lambda s: s.strip() and "".join(ch for ch in s if ord(ch) >= 32).strip())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=st.lists(printable, min_size=1, max_size=4))
def test_any_text_keeps_the_markdown_inert(tmp_path_factory, texts: list[str]) -> None:
    sessions = Sessions(Store(tmp_path_factory.mktemp("data")))
    try:
        code = hostile_session(sessions, texts)
    except TherapyError:
        assume(False)  # text that is empty once cleaned is refused before it is stored
    assert_inert(plan_markdown(sessions, code))


# Enough examples to find what linkify turns into a link after an odd character (`¬.AL`
# needed about 20,000 when the filter let it through).
@settings(max_examples=20_000, deadline=None)
@given(st.text(max_size=200))
def test_markdown_filter_alone(text: str) -> None:
    escaped = markdown_text(text)
    assert "\n" not in escaped
    assert_inert(f"| a |\n|---|\n| {escaped} |\n\n- {escaped}\n\n{escaped}\n")


def test_json_has_the_contract_fields(sessions: Sessions) -> None:
    from therapy.demo import build_demo

    code = build_demo(sessions)
    board = sessions.board(code)
    data = json.loads(sessions.plan(code, "json"))
    first = data["complaints"][0]
    assert {"id", "side", "text", "cause", "suggested_cause", "votes", "group"} <= set(first)
    assert data["relationship"]["label"] in {
        "Power Couple",
        "Friends with Benefits",
        "It's Complicated",
        "Couples Therapy, Stat",
    }
    assert set(data["relationship"]["signals"]) == {
        "appreciation",
        "balance",
        "coverage",
        "follow-through",
    }
    assert data["action_items"] and data["wins"] and data["earlier_action_items"]
    assert sum(c["votes"] for c in data["complaints"]) == len(board.votes)
    grouped = [c for c in data["complaints"] if c["group"] is not None]
    assert len(grouped) == 2 and data["groups"][0]["complaints"] == [c["id"] for c in grouped]


def test_csv_defuses_formulas(sessions: Sessions, code: str) -> None:
    sessions.add_complaint(code, "Sales", '=HYPERLINK("http://x","y")')
    rows = list(csv.DictReader(io.StringIO(sessions.plan(code, "csv"))))
    assert rows[0]["text"] == '\'=HYPERLINK("http://x","y")'


def test_user_template(sessions: Sessions, code: str, tmp_path) -> None:
    sessions.add_complaint(code, "Sales", "<b>[x](y)</b>")
    template = tmp_path / "mine.md.j2"
    template.write_text(
        "{% for c in board.complaints %}* {{ c.text|md }}\n{% endfor %}", encoding="utf-8"
    )
    assert plan_markdown(sessions, code, str(template)) == "* \\<b\\>\\[x\\](y)\\</b\\>\n"
    template.write_text("{{ nothing_here }}", encoding="utf-8")
    with pytest.raises(TherapyError, match="could not be filled in.*nothing_here"):
        plan_markdown(sessions, code, str(template))
    with pytest.raises(TherapyError, match="no template file"):
        plan_markdown(sessions, code, str(tmp_path / "missing.j2"))


def test_plan_sections(sessions: Sessions) -> None:
    from therapy.demo import build_demo

    code = build_demo(sessions)
    markdown = plan_markdown(sessions, code)
    for heading in (
        "# Q3 lead handoff",
        "## Where we stand: ",
        "### Different goals",
        "### Misaligned expectations",
        "### Communication gaps",
        "## Action items",
        "## Earlier action items of this pair",
        "## Wins and appreciations",
        "## Questions for next time",
        "- What's the story behind this campaign?",
    ):
        assert heading in markdown
    assert sessions.session(code).phase is Phase.CLOSE
    assert_inert(markdown)
