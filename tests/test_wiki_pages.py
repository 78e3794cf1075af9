"""The plan renders the same on every wiki: rendered by cmark-gfm (the GFM reference
implementation, what GitHub runs) as well as markdown-it, a plan full of hostile text keeps
its tables and its task list, has no heading deeper than ###, leaves a blank line between
blocks, and makes no HTML of what people typed."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_export import HOSTILE, MARKDOWN, assert_inert

from therapy.model import Phase
from therapy.service import Sessions

CMARK = shutil.which("cmark-gfm")
needs_cmark = pytest.mark.skipif(
    CMARK is None, reason="cmark-gfm is not installed (Debian: apt-get install cmark-gfm)"
)


def cmark(markdown: str) -> str:
    assert CMARK is not None
    extensions = ["-e", "table", "-e", "tasklist", "-e", "autolink", "-e", "strikethrough"]
    result = subprocess.run(
        [CMARK, *extensions], input=markdown, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class Elements(HTMLParser):
    """The elements of a rendering, in order, with their attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def elements(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    return parser


# What a plan may be made of: nothing else, whatever people typed.
STRUCTURE = {
    "h1", "h2", "h3", "p", "strong", "em", "table", "thead", "tbody", "tr", "th", "td",
    "ul", "li", "input", "code",
}  # fmt: skip


def table_shapes(html: str) -> list[list[int]]:
    """For each table, the number of cells of each row."""
    shapes: list[list[int]] = []
    for tag, _ in elements(html).found:
        if tag == "table":
            shapes.append([])
        elif tag == "tr":
            shapes[-1].append(0)
        elif tag in ("th", "td"):
            shapes[-1][-1] += 1
    return shapes


def a_pair_with_history(sessions: Sessions) -> str:
    """Two earlier sessions of a hostile pair (one item done between sessions, one dropped),
    then a session full of hostile text at close."""
    pair = HOSTILE[0][:60]
    for month, title in (("09", HOSTILE[2]), ("10", HOSTILE[4])):
        earlier = sessions.create(
            title[:100], ["Sales", "Marketing"], pair=pair, created=f"2026-{month}-01T10:00:00Z"
        ).code
        sessions.add_complaint(earlier, "Sales", HOSTILE[1])
        sessions.set_phase(earlier, "remedy")
        done = sessions.add_action(earlier, HOSTILE[3][:300], HOSTILE[5][:80], "2026-11-27")
        sessions.add_action(earlier, HOSTILE[6][:300], HOSTILE[7][:80], "2026-11-27")
        sessions.mark(f"{earlier}-{done.id}", "done", by=HOSTILE[7][:80])
        sessions.set_phase(earlier, "close")
    fresh = sessions.create(HOSTILE[6][:100], ["Sales", "Marketing"], pair=pair).code
    voter = sessions.join(fresh, "Sales", HOSTILE[7][:60]).id
    ids = [
        sessions.add_complaint(fresh, side, text, author=text[:60]).id
        for text in HOSTILE
        for side in ("Sales", "Marketing")
    ]
    sessions.set_phase(fresh, "diagnose")
    sessions.group(fresh, ids[1], ids[0])
    sessions.set_cause(fresh, ids[2], "different-goals")
    sessions.set_phase(fresh, "vote")
    sessions.vote(fresh, voter, ids[0])
    sessions.set_phase(fresh, "remedy")
    for index, text in enumerate(HOSTILE[:4]):
        item = sessions.add_action(fresh, text[:300], text[:80], "2026-12-01", metric=text[:200])
        if index == 1:
            sessions.set_action_status(fresh, item.id, "done")
        if index == 2:
            sessions.set_action_status(fresh, item.id, "dropped")
    sessions.set_phase(fresh, "celebrate")
    sessions.add_win(fresh, "Marketing", HOSTILE[2], "appreciation", author=HOSTILE[3][:60])
    sessions.set_phase(fresh, Phase.CLOSE.value)
    return fresh


def test_the_plan_has_what_a_wiki_renders_the_same(sessions: Sessions) -> None:
    markdown = sessions.plan(a_pair_with_history(sessions))
    assert_inert(markdown)
    lines = markdown.splitlines()
    headings = [line for line in lines if line.startswith("#")]
    assert headings and all(re.match(r"#{1,3} \S", line) for line in headings), headings
    assert "### How we have been doing" in lines
    # a task list of the action items beside their table: done is ticked, dropped says so
    tasks = [line for line in lines if re.match(r"- \[[ x]\] ", line)]
    assert len(tasks) == 4, tasks
    assert [t[:5] for t in tasks] == ["- [ ]", "- [x]", "- [ ]", "- [ ]"]
    assert tasks[2].endswith("(dropped)")
    # a blank line before and after every heading, table and list
    blocks = _blocks(lines)
    for start, end in blocks:
        assert start == 0 or lines[start - 1] == "", lines[start - 1 : end + 1]
        assert end == len(lines) - 1 or lines[end + 1] == "", lines[start : end + 2]


BLOCKS = {"#": "heading", "|": "table", "- ": "list"}


def _kind(line: str) -> str | None:
    return next((kind for start, kind in BLOCKS.items() if line.startswith(start)), None)


def _blocks(lines: list[str]) -> list[tuple[int, int]]:
    """(first, last) line of each heading, table and list."""
    found: list[tuple[int, int]] = []
    previous = None
    for number, line in enumerate(lines):
        kind = _kind(line)
        if kind is not None and (kind != previous or kind == "heading"):
            found.append((number, number))
        elif kind is not None:
            found[-1] = (found[-1][0], number)
        previous = kind
    return found


@needs_cmark
def test_cmark_gfm_renders_the_plan_as_markdown_it_does(sessions: Sessions) -> None:
    markdown = sessions.plan(a_pair_with_history(sessions))
    by_cmark, by_markdown_it = cmark(markdown), MARKDOWN.render(markdown)
    parsed = elements(by_cmark)
    tags = {tag for tag, _ in parsed.found}
    assert tags <= STRUCTURE, tags - STRUCTURE
    assert not parsed.comments, parsed.comments  # "raw HTML omitted": there was some
    inputs = [attrs for tag, attrs in parsed.found if tag == "input"]
    assert len(inputs) == 4 and all(a.get("type") == "checkbox" for a in inputs)
    assert sum("checked" in a for a in inputs) == 1
    # every table: as many cells in each row as in its header, and the same tables both ways
    shapes = table_shapes(by_cmark)
    assert shapes and all(len(set(rows)) == 1 for rows in shapes), shapes
    assert shapes == table_shapes(by_markdown_it)
    # user text is shown as typed
    assert "[x](javascript:alert(1))" in by_cmark
    assert "&lt;img src=x onerror=alert(1)&gt;" in by_cmark


def test_a_first_session_has_no_history_table(sessions: Sessions, code: str) -> None:
    assert "How we have been doing" not in sessions.plan(code)


def rendered_text(html: str) -> str:
    """What a person sees (and copies) of a rendering: its text, blanks folded."""
    parser = Text()
    parser.feed(html)
    return " ".join("".join(parser.text).split())


class Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []

    def handle_data(self, data: str) -> None:
        self.text.append(data)


# What GitLab makes references of (@user, #12, !45, $67, &epic, ~label, %"Q3", ^alert#1):
# the characters its Markdown filter leaves alone after a backslash. $ is also math on
# GitHub and GitLab ($5k to $10k).
REFERENCE = "@#!$&~%^"


def bare_references(markdown: str) -> list[str]:
    """The reference characters in MARKDOWN that no backslash escapes (an @ alone in a code
    span is no reference: GitLab and GitHub look for none in code)."""
    found = re.finditer(rf"(\\*)([{re.escape(REFERENCE)}])", markdown.replace("`@`", ""))
    return [match[2] for match in found if len(match[1]) % 2 == 0]


@needs_cmark
@pytest.mark.parametrize(
    "text",
    [
        "mail@evil.example",
        "write to a.b+c_d-e@sub.evil.example now",
        "x@y.zz, p@q.rr",
        "mailto:me@evil.example",
        "@@a@b.cd",
    ],
)
def test_an_address_is_no_link_and_copies_as_typed(text: str) -> None:
    """cmark-gfm finds e-mail addresses in text after its escapes and entities are undone
    (`\\@`, `&#64;` are no help): the @ of an address stands alone in a code span, which
    ends the text it would look in. No invisible character goes with it when copied."""
    from therapy.export import markdown_text

    markdown = markdown_text(text)
    assert not [ch for ch in markdown if unicodedata.category(ch) == "Cf"], ascii(markdown)
    for html in (cmark(f"{markdown}\n"), MARKDOWN.render(f"{markdown}\n")):
        assert "<a " not in html, html
        assert {tag for tag, _ in elements(html).found} <= {"p", "code"}, html
        assert rendered_text(html) == text


@needs_cmark
@pytest.mark.parametrize(
    "text",
    [
        "$5k to $10k",
        'see !45 and $67 in %"Q3"',
        '#12 @user ~label ~"two words" &epic ^alert#1',
        "group/project!45 group/project#12 group/project$67",
        "$`\\sqrt{2}`$ and $$x$$",
    ],
)
def test_gitlab_references_and_math_are_escaped(text: str) -> None:
    from therapy.export import markdown_text

    markdown = markdown_text(text)
    assert bare_references(markdown) == [], markdown
    for html in (cmark(f"{markdown}\n"), MARKDOWN.render(f"{markdown}\n")):
        assert rendered_text(html) == text, html


@needs_cmark
@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_shown_as_typed_with_nothing_to_reference(text: str) -> None:
    from therapy.export import markdown_text
    from therapy.text import clean_line

    markdown = markdown_text(text)
    assert bare_references(markdown) == [], markdown
    assert not [ch for ch in markdown if unicodedata.category(ch) == "Cf"], ascii(markdown)
    typed = " ".join(clean_line(text).split())
    assert rendered_text(cmark(f"| a |\n|---|\n| {markdown or '-'} |\n")) == f"a {typed or '-'}"


@needs_cmark
@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=120), min_size=1, max_size=40))
def test_cmark_gfm_makes_no_html_of_any_text(texts: list[str]) -> None:
    from therapy.export import markdown_text

    cells = [markdown_text(text) or "–" for text in texts]
    table = "| a | b |\n|---|---|\n" + "".join(f"| {c} | {c} |\n" for c in cells)
    tasks = "".join(f"- [ ] {c}\n" for c in cells)
    html = cmark(f"{table}\n{tasks}\n{cells[0]}\n")
    parsed = elements(html)
    assert {tag for tag, _ in parsed.found} <= STRUCTURE - {"strong", "em"}
    assert set(re.findall(r"<code>(.*?)</code>", html)) <= {"@"}  # an address's @ only
    assert not parsed.comments
    assert table_shapes(html) == [[2] * (len(cells) + 1)]
