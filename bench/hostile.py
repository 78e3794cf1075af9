"""Hostile: generated hostile text goes into sessions and every export stays inert and whole.

--strings strings (default 10,000) come from a seeded random generator. First, for
coverage, one "wordXword" string per character X of: C0 and C1 controls, DEL, the bidi
controls (U+061C, U+200E, U+200F, U+202A-202E, U+2066-2069), every character of Unicode
category Cf (as this Python's unicodedata knows them: U+00AD, U+200B-200D, U+2061-2064,
U+FEFF, the tag characters U+E0001-E007F, ...) and the fillers U+115F U+1160 U+3164 U+FFA0.
The rest are 1 to 8 fragments each: plain words, controls, ESC sequences (CSI, OSC, DCS,
8-bit CSI), bidi and format characters, fillers, Markdown and HTML syntax (<script>,
<img src=x>, [a](http://x), ![i](x), **, `, |, "# ", "> ", "- ", "1. ", ---, &amp;, &#x3c;,
...), link-like text (http://x.y, www.x.com, a.com, paypal🔒.com/verify, ¬.AL, x@y.com, a
random non-ASCII or symbol character right before a dot and letters, fullwidth dots),
pipes, line breaks of every kind; some start with a CSV formula (=1+1, +, -, @, tab, CR);
some are long (up to 1,000 characters, a few just over, to be refused; some of plain
words, which stay that long once cleaned).

They go in-process through Sessions.add_complaint into --sessions sessions (sides taking
turns); every fourth also names the author of another complaint, and every fourth has a
plain author. What the service refuses is skipped and counted by its error message (with
the numbers taken out); a refused author is tried again without it. A few lone surrogates
(impossible through the command line, possible in-process) are tried in a session of their
own; whatever becomes of them, the session must still export.

Each session is then exported as md, json and csv: in-process with
Sessions.plan(code, fmt) (what `therapy export` prints), or with `therapy export` (--cli).
An empty session's Markdown is checked first: the shipped template has no links, HTML or
broken tables of its own (reported if it does; its links are not counted as the user's).
Counted (goal 0 each):
  - control characters (Cc but newline and tab, and the bidi controls) in any export, the
    JSON's decoded strings included;
  - format characters (Cf and the four fillers, bidi controls aside) in any export;
  - HTML tokens (html_inline, html_block, children included) when the Markdown is parsed
    with markdown_it.MarkdownIt("gfm-like") with linkify on;
  - links from user text: link_open or image tokens in the parsed plan;
  - with cmark-gfm installed (GitHub's renderer; Debian: apt-get install cmark-gfm), the
    same rendered by it with its autolink extension: <a> and <img> elements, and raw HTML
    (what it leaves out as "raw HTML omitted"); said so, and skipped, when it is not there;
  - GitLab references or math from user text: one of @ # ! $ & ~ % ^ before a word or a
    quote (@user, #12, !45, $67, &epic, ~label, %"Q3", ^alert, $5k ... $10k) in the
    Markdown source with no backslash before it (an @ alone in a code span aside: the @ of
    an address, where neither GitHub nor GitLab looks);
  - table rows whose cell count is not the header's: in the source (cells split at
    unescaped |) and in the parsed tokens (th / td per tr), and source table rows that the
    parser did not make rows;
  - CSV rows that do not round-trip (csv.reader; text and author must be the stored ones,
    but for a ' put before a formula start = + - @ tab CR) and CSV cells that start one;
  - JSON complaints that do not round-trip (text and author equal to the stored ones);
  - unexpected errors: anything but a one-sentence refusal from the service or an export.
The examples printed below the table show the stored text behind each kind of finding.
Usage: python bench/hostile.py [--strings N] [--sessions N] [--seed N] [--quick] [--keep]
Prints counts and RESULT: ok / FAILED; exits 1 when a goal count is not 0.
"""

from __future__ import annotations

import argparse
import csv
import html.parser
import io
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# First: importing common puts the checkout on sys.path for the therapy imports below.
from common import environment, interrupted, run_campaign, table, therapy_command
from markdown_it import MarkdownIt
from markdown_it.token import Token

from therapy.model import TherapyError
from therapy.service import Sessions
from therapy.store import Store

SIDES = ("Sales", "Marketing")
FORMATS = ("md", "json", "csv")
FORMULA = ("=", "+", "-", "@", "\t", "\r")

C0 = [chr(c) for c in range(0x20)]
C1 = [chr(c) for c in range(0x80, 0xA0)]
DEL = "\x7f"
BIDI = [chr(c) for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))]
BIDI_SET = frozenset(BIDI)
CF = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
FILLERS = ["\u115f", "\u1160", "\u3164", "\uffa0"]
FORMAT_SET = frozenset(CF + FILLERS) - BIDI_SET
CONTROL_SET = frozenset(C0 + C1 + [DEL] + BIDI) - {"\n", "\t"}  # Cc is C0, DEL and C1


def char_class(chars: frozenset[str]) -> re.Pattern[str]:
    return re.compile("[" + "".join(re.escape(ch) for ch in sorted(chars)) + "]")


CONTROL_RE = char_class(CONTROL_SET)
# A GitLab reference (or math) that no odd run of backslashes escapes.
REFERENCE_RE = re.compile(r"(\\*)([@#!$&~%^])(?=[\w\"'])")
FORMAT_RE = char_class(FORMAT_SET)
CMARK = shutil.which("cmark-gfm")
CMARK_EXTENSIONS = ["-e", "table", "-e", "tasklist", "-e", "autolink", "-e", "strikethrough"]
ESCAPES = [
    "\x1b[31m",
    "\x1b[0m",
    "\x1b[2J",
    "\x1b[H",
    "\x1b[1;1H\x1b[K",
    "\x1b[6n",
    "\x1b]0;pwned\x07",
    "\x1b]8;;http://x.y\x1b\\click\x1b]8;;\x1b\\",
    "\x1b]52;c;aGk=\x07",
    "\x1bP+q544e\x1b\\",
    "\x1bc",
    "\x1b(0",
    "\x9b2J",
    "\x9d0;x\x9c",
    "\x1b",
]
MARKUP = [
    "<script>alert(1)</script>",
    "<script>",
    "<img src=x>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "<b>bold</b>",
    "</div>",
    "<!-- comment -->",
    "<a href='http://x'>x</a>",
    "<?php echo 1; ?>",
    "<![CDATA[x]]>",
    "<http://x.y>",
    "<x@y.com>",
    "[a](http://x)",
    "![i](x)",
    "[a][r]",
    "[r]: http://x",
    "[^1]",
    "**",
    "__",
    "*",
    "_",
    "`",
    "```",
    "~~",
    "|",
    "# ",
    "## ",
    "> ",
    "- ",
    "+ ",
    "* ",
    "1. ",
    "1) ",
    "- [ ] ",
    "---",
    "===",
    "    ",
    "&amp;",
    "&#x3c;",
    "&lt;",
    "&#60;",
    "&nbsp;",
    "\\",
    "\\|",
    "$$x$$",
    "$5k to $10k",
    "!45",
    "$67",
    '%"Q3"',
    "#12",
    "@user",
    "~label",
    "&epic",
    "^alert#1",
    "group/project!45",
]
LINKS = [
    "http://x.y",
    "https://evil.example/login?next=1",
    "www.x.com",
    "a.com",
    "paypal🔒.com/verify",
    "¬.AL",
    "x@y.com",
    "mailto:x@y.com",
    "ftp://x.y",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "xn--80ak6aa92e.com",
    "example.org/a",
    "a．com",
    "a。com",
    "a｡com",
    "www．x．com",
    "localhost:8080",
    "192.168.0.1",
    "//x.y",
    "bit.ly/x",
    "www.#",
    "mailto:@x.y",
    "xmpp:a@/x",
]
TLDS = ["com", "AL", "io", "de", "org", "xyz", "co.uk", "com/verify", "ru"]
PIPES = ["|", "||", "a|b", " | ", "|---|", "\\|", "\\\\|", "| x | y |"]
BREAKS = ["\n", "\r\n", "\r", "\u2028", "\u2029", "\x85", "\n\n", "\v", "\f", "\n- ", "\n# "]
FORMULAS = [
    "=1+1",
    '=HYPERLINK("http://x")',
    "+1",
    "-1",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    "=cmd|' /C calc'!A0",
]
WORDS = (
    "leads never ready sales marketing appreciate follow up slow budget brand quota "
    "handoff insurance ebook webinar deadline priorities nobody told us"
).split()


def symbol(rng: random.Random) -> str:
    """A random non-ASCII or symbol character (not a control or a format character)."""
    while True:
        ch = rng.choice(
            [
                chr(rng.randint(0xA1, 0x24F)),
                chr(rng.randint(0x370, 0x4FF)),
                chr(rng.randint(0x2010, 0x2BFF)),
                chr(rng.randint(0x3000, 0x30FF)),
                chr(rng.randint(0x4E00, 0x9FFF)),
                chr(rng.randint(0xFF01, 0xFF5E)),
                chr(rng.randint(0x1F300, 0x1FAFF)),
                rng.choice("!#$%&'*+,/:;=?^`{}~"),
            ]
        )
        if unicodedata.category(ch)[0] != "C":
            return ch


def fragment(rng: random.Random) -> str:
    kind = rng.choices(
        [
            "word",
            "c0",
            "c1",
            "del",
            "esc",
            "bidi",
            "cf",
            "filler",
            "markup",
            "link",
            "symdot",
            "pipe",
            "break",
            "formula",
            "unicode",
        ],
        [18, 5, 3, 2, 5, 5, 9, 3, 14, 10, 8, 5, 6, 2, 5],
    )[0]
    if kind == "word":
        return rng.choice(WORDS)
    if kind == "c0":
        return rng.choice(C0)
    if kind == "c1":
        return rng.choice(C1)
    if kind == "del":
        return DEL
    if kind == "esc":
        return rng.choice(ESCAPES)
    if kind == "bidi":
        return rng.choice(BIDI)
    if kind == "cf":
        return rng.choice(CF)
    if kind == "filler":
        return rng.choice(FILLERS)
    if kind == "markup":
        return rng.choice(MARKUP)
    if kind == "link":
        return rng.choice(LINKS)
    if kind == "symdot":
        prefix = rng.choice(["", "", rng.choice(WORDS), "paypal"])
        dot = rng.choice([".", ".", ".", "．", "。", "｡"])
        return f"{prefix}{symbol(rng)}{dot}{rng.choice(TLDS)}"
    if kind == "pipe":
        return rng.choice(PIPES)
    if kind == "break":
        return rng.choice(BREAKS)
    if kind == "formula":
        return rng.choice(FORMULAS)
    return "".join(symbol(rng) for _ in range(rng.randint(1, 4)))


def generate(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    strings = [f"word{ch}word" for ch in C0 + C1 + [DEL] + BIDI + CF + FILLERS]
    while len(strings) < count:
        pieces = [rng.choice(FORMULAS + list(FORMULA))] if rng.random() < 0.12 else []
        pieces += [fragment(rng) for _ in range(rng.randint(1, 8))]
        text = rng.choice(["", " ", " "]).join(pieces)
        if rng.random() < 0.08:  # long: up to 1,000 characters, a few just over
            target = rng.choice([rng.randint(200, 1000), 1000, rng.randint(995, 1010)])
            plain = rng.random() < 0.3  # words only: still this long once cleaned
            while len(text) < target:
                text += " " + rng.choice(WORDS) if plain else rng.choice(["", " "]) + fragment(rng)
            text = text[:target]
        strings.append(text)
    return strings[:count]


SURROGATES = ["\ud800", "lead\udcffs", "\udfff\ud800 x", "ok \udc80 ok", "\udbff\udfff"]


def walk(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        if token.children:
            yield from walk(token.children)


def cells(line: str) -> int:
    """Cells of a GFM table row: split at pipes not escaped by a backslash."""
    pipes: list[int] = []
    row = line.strip()
    i = 0
    while i < len(row):
        if row[i] == "\\":
            i += 2
            continue
        if row[i] == "|":
            pipes.append(i)
        i += 1
    leading = bool(pipes) and pipes[0] == 0
    trailing = bool(pipes) and pipes[-1] == len(row) - 1 and len(row) > 1
    return len(pipes) + 1 - leading - trailing


def source_tables(text: str) -> list[list[str]]:
    """The tables of a Markdown text: runs of lines starting with |, delimiter row dropped."""
    tables: list[list[str]] = []
    run: list[str] = []
    for line in [*text.split("\n"), ""]:
        if line.lstrip().startswith("|"):
            run.append(line)
            continue
        if len(run) >= 2 and re.fullmatch(r"\s*\|?(\s*:?-+:?\s*\|)+\s*:?-*:?\s*", run[1]):
            tables.append([run[0], *run[2:]])
        run = []
    return tables


class Rendered(html.parser.HTMLParser):
    """What cmark-gfm made of a plan: its links and images, the text of the first link (to
    find who typed it), and the raw HTML it left out."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.first_text = ""
        self.omitted = 0
        self.inside = False
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("a", "img"):
            found = dict(attrs)
            self.links.append(f"{tag} {found.get('href') or found.get('src')!r}")
            self.inside = tag == "a" and len(self.links) == 1

    def handle_endtag(self, tag: str) -> None:
        self.inside = self.inside and tag != "a"

    def handle_data(self, data: str) -> None:
        self.first_text += data if self.inside else ""

    def handle_comment(self, data: str) -> None:
        self.omitted += "raw HTML omitted" in data


def cmark(text: str) -> str:
    assert CMARK is not None
    done = subprocess.run(
        [CMARK, *CMARK_EXTENSIONS], input=text, capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"cmark-gfm: {done.stderr.strip()}")
    return done.stdout


class Report:
    """Goal counts, and a few examples for each."""

    def __init__(self) -> None:
        self.goals: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}

    def add(self, goal: str, count: int = 1, example: str | None = None) -> None:
        self.goals[goal] += count
        if example is not None and count:
            self.example(goal, example)

    def wants(self, goal: str) -> bool:
        return len(self.examples.get(goal, [])) < 2

    def example(self, goal: str, example: str) -> None:
        if self.wants(goal):
            self.examples.setdefault(goal, []).append(example)


def short(text: str, limit: int = 110) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


class Checker:
    def __init__(self, report: Report, stored: dict[str, dict[int, tuple[str, str | None]]]):
        self.report = report
        self.stored = stored
        self.md = MarkdownIt("gfm-like", {"linkify": True}).enable("linkify")
        self.base: dict[str, int] = {}  # the template's own links and references

    def culprit(self, code: str, needle: str) -> str:
        """The stored complaint text (or author) of CODE that holds NEEDLE."""
        for cid, (text, author) in self.stored.get(code, {}).items():
            for value, what in ((text, "text"), (author or "", "author")):
                at = value.find(needle) if needle else -1
                if at >= 0:
                    start, end = max(0, at - 25), at + len(needle) + 25
                    cut = value[start:end]
                    cut = ("…" if start else "") + cut + ("…" if end < len(value) else "")
                    return f"#{cid} {what} {short(cut)}"
        return f"(in no stored complaint: {short(needle)})"

    def characters(self, code: str, fmt: str, text: str, controls_only: bool = False) -> None:
        for match in CONTROL_RE.finditer(text):
            ch = match[0]
            goal = f"control characters in {fmt}"
            self.report.add(goal)
            if self.report.wants(goal):
                self.report.example(goal, f"U+{ord(ch):04X} in {code}: {self.culprit(code, ch)}")
        for match in [] if controls_only else FORMAT_RE.finditer(text):
            ch = match[0]
            goal = f"format characters in {fmt}"
            self.report.add(goal)
            if self.report.wants(goal):
                name = unicodedata.name(ch, "?")
                where = self.culprit(code, ch)
                self.report.example(goal, f"U+{ord(ch):04X} {name} in {code}: {where}")

    def markdown(self, code: str, text: str, baseline: bool = False) -> dict[str, int]:
        """Counts of the plan's HTML, links and broken tables; added to the report unless
        BASELINE (the empty session: what the template does by itself)."""
        found: Counter[str] = Counter()
        examples: dict[str, str] = {}
        tokens = self.md.parse(text)
        for token in walk(tokens):
            if token.type in ("html_inline", "html_block"):
                found["html"] += 1
                examples.setdefault(
                    "html",
                    f"{token.content!r} in {code}: " + self.culprit(code, token.content.strip()),
                )
            if token.type in ("link_open", "image"):
                found["links"] += 1
                href = str(token.attrs.get("href") or token.attrs.get("src") or "")
                examples.setdefault("links", f"{token.type} {href!r} in {code}")
        inlines = [t for t in walk(tokens) if t.type == "inline"]
        for inline in inlines:  # name the complaint behind the first link
            kids = inline.children or []
            for i, kid in enumerate(kids):
                if kid.type == "link_open" and i + 1 < len(kids) and "links" in examples:
                    shown = kids[i + 1].content
                    examples["links"] += f", text {shown!r}: {self.culprit(code, shown)}"
                    break
            else:
                continue
            break
        searched = text.replace("`@`", "")
        for match in REFERENCE_RE.finditer(searched):
            if len(match[1]) % 2 == 0:
                found["references"] += 1
                at = match.start(2)
                around = searched[max(0, at - 30) : at + 30]  # offsets are into what was searched
                examples.setdefault("references", f"{code}: {short(around)}")
        tables = source_tables(text)
        for rows in tables:
            width = cells(rows[0])
            for line in rows[1:]:
                if cells(line) != width:
                    found["source cells"] += 1
                    examples.setdefault("source cells", f"{code}: {short(line)}")
        parsed_rows = 0
        header = 0
        in_head = False
        row_cells = 0
        for token in tokens:
            if token.type == "thead_open":
                in_head = True
            elif token.type == "thead_close":
                in_head = False
            elif token.type == "tr_open":
                row_cells = 0
                parsed_rows += 1
            elif token.type in ("th_open", "td_open"):
                row_cells += 1
            elif token.type == "tr_close":
                if in_head:
                    header = row_cells
                elif row_cells != header:
                    found["parsed cells"] += 1
                    examples.setdefault("parsed cells", f"{code}: a row of {row_cells} cells")
        source_rows = sum(len(table) for table in tables)
        if source_rows != parsed_rows:
            found["rows lost"] += abs(source_rows - parsed_rows)
            examples.setdefault("rows lost", f"{code}: {source_rows} rows, {parsed_rows} parsed")
        if CMARK is not None:
            rendered = Rendered(cmark(text))
            found["cmark links"] += len(rendered.links)
            found["cmark html"] += rendered.omitted
            if rendered.links:
                # an autolink's text keeps the filter's backslashes: the typed text has none
                said = re.sub(r"\\(.)", r"\1", rendered.first_text.strip())
                examples.setdefault(
                    "cmark links",
                    f"{rendered.links[0]} in {code}, text {said!r}: {self.culprit(code, said)}",
                )
            if rendered.omitted:
                examples.setdefault("cmark html", f"{code}: raw HTML omitted")
        if not baseline:
            names = {
                "html": "HTML tokens in md",
                "links": "links or images from user text",
                "cmark links": "links or images from user text (cmark-gfm)",
                "cmark html": "raw HTML from user text (cmark-gfm)",
                "references": "GitLab references or math from user text",
                "source cells": "table rows, wrong cell count (source)",
                "parsed cells": "table rows, wrong cell count (parsed)",
                "rows lost": "table rows not parsed as rows",
            }
            for key, goal in names.items():
                count = found[key] - self.base.get(key, 0)
                self.report.add(goal, max(0, count), examples.get(key))
        return dict(found)

    def csv_round_trip(self, code: str, text: str) -> None:
        goal = "CSV rows that do not round-trip"
        rows = list(csv.reader(io.StringIO(text)))
        header, body = rows[0], rows[1:]
        stored = self.stored[code]
        seen: set[int] = set()
        for row in body:
            record = dict(zip(header, row, strict=False))
            if len(row) != len(header) or not record.get("id", "").isdigit():
                shown = f"{code}: a row of {len(row)} cells {short(str(row))}"
                self.report.add(goal, example=shown)
                continue
            cid = int(record["id"])
            seen.add(cid)
            text_stored, author_stored = stored.get(cid, (None, None))
            for column, value, want in (
                ("text", record.get("text", ""), text_stored),
                ("author", record.get("author", ""), author_stored or ""),
            ):
                if value[:1] in FORMULA:
                    self.report.add(
                        "CSV cells that start a formula", example=f"{code} #{cid} {short(value)}"
                    )
                if want is None or not (
                    value == want or (want[:1] in FORMULA and value == "'" + want)
                ):
                    self.report.add(
                        goal,
                        example=f"{code} #{cid} {column}: {short(value)} != {short(str(want))}",
                    )
                    break
        missing = set(stored) - seen
        self.report.add(goal, len(missing), f"{code}: ids {sorted(missing)[:5]} missing")

    def json_round_trip(self, code: str, text: str) -> None:
        goal = "JSON complaints that do not round-trip"
        plan = json.loads(text)
        stored = self.stored[code]
        seen: set[int] = set()
        for complaint in plan.get("complaints", []):
            cid = complaint.get("id")
            seen.add(cid)
            want = stored.get(cid)
            got = (complaint.get("text"), complaint.get("author"))
            if want != got:
                shown = f"{code} #{cid}: {short(str(got))} != {short(str(want))}"
                self.report.add(goal, example=shown)
        missing = set(stored) - seen
        self.report.add(goal, len(missing), f"{code}: ids {sorted(missing)[:5]} missing")

        def strings(value: Any) -> Iterator[str]:
            if isinstance(value, str):
                yield value
            elif isinstance(value, dict):
                for key, item in value.items():
                    yield str(key)
                    yield from strings(item)
            elif isinstance(value, list):
                for item in value:
                    yield from strings(item)

        # the JSON text escapes controls as \\u001b: look in what it decodes to as well
        self.characters(code, "json (decoded)", "".join(strings(plan)), controls_only=True)


def normalised(message: str) -> str:
    message = re.sub(r"'[^']*'", "'…'", message)
    return re.sub(r"\d[\d,]*", lambda number: "0" if number[0] == "0" else "N", message)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strings", type=int, default=10_000, help="hostile strings")
    parser.add_argument("--sessions", type=int, default=20, help="sessions to spread them over")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--cli", action="store_true", help="export with `therapy export` only")
    parser.add_argument("--quick", action="store_true", help="a ~20 s smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    args = parser.parse_args()
    if args.quick:
        args.strings, args.sessions = min(args.strings, 1500), min(args.sessions, 5)

    signal.signal(signal.SIGTERM, interrupted)
    base = Path(tempfile.mkdtemp(prefix="therapy-bench-hostile-"))
    data = base / "data"
    started = time.perf_counter()
    try:
        sessions = Sessions(Store(data))
        env = environment(base / "pycache")
        env["THERAPY_DATA_DIR"] = str(data)
        cmd, shown = therapy_command()
        how = f"{shown} export" if args.cli else "in-process Sessions.plan"

        def export(code: str, fmt: str) -> str:
            if not args.cli:
                return sessions.plan(code, fmt)
            done = subprocess.run(
                [*cmd, "export", code, "--format", fmt],
                env=env,
                cwd=base,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if done.returncode != 0:
                raise TherapyError(f"therapy export {code} --format {fmt}: {done.stderr.strip()}")
            return done.stdout

        report = Report()
        strings = generate(args.strings, args.seed)
        print(
            f"hostile: {len(strings)} strings (seed {args.seed}) into {args.sessions} sessions, "
            f"exported with {how}; data {data}",
            flush=True,
        )

        empty = sessions.create("Empty", SIDES).code
        stored_all: dict[str, dict[int, tuple[str, str | None]]] = {empty: {}}
        checker = Checker(report, stored_all)
        baseline = checker.markdown(empty, export(empty, "md"), baseline=True)
        checker.base = {
            key: baseline.get(key, 0)
            for key in ("links", "references", "cmark links", "cmark html")
        }
        if CMARK is None:
            print("note: cmark-gfm is not installed: the plan is rendered with markdown-it only")

        codes = [sessions.create(f"Hostile {i + 1}", SIDES).code for i in range(args.sessions)]
        refusals: Counter[str] = Counter()
        info: Counter[str] = Counter()
        t0 = time.perf_counter()
        for i, text in enumerate(strings):
            code = codes[i % len(codes)]
            side = SIDES[(i // len(codes)) % len(SIDES)]
            author: str | None = None
            if i % 4 == 1:
                author = strings[(i * 7919 + 13) % len(strings)]
                info["strings tried as an author"] += 1
            elif i % 4 == 3:
                author = f"Alex {i % 997}"  # plain, and rarely the same: a name's pace is capped
            try:
                try:
                    sessions.add_complaint(code, side, text, author=author)
                    info["stored as an author"] += i % 4 == 1
                except TherapyError as error:
                    if author is None:
                        raise
                    try:
                        sessions.add_complaint(code, side, text)
                    except TherapyError:
                        raise error from None  # the text is refused too: count it as such
                    refusals[f"as author: {normalised(str(error))}"] += 1
                info["stored"] += 1
            except TherapyError as error:
                refusals[normalised(str(error))] += 1
            except Exception as error:
                report.add(
                    "unexpected errors",
                    example=f"add {short(text)}: {type(error).__name__}: {error}",
                )
        adding = time.perf_counter() - t0

        lone = sessions.create("Surrogates", SIDES).code
        for text in SURROGATES:
            try:
                sessions.add_complaint(lone, "Sales", text)
                info["lone surrogates stored"] += 1
            except TherapyError as error:
                refusals[f"lone surrogate: {normalised(str(error))}"] += 1
            except Exception as error:
                report.add(
                    "unexpected errors",
                    example=f"add {short(text)}: {type(error).__name__}: {error}",
                )

        t0 = time.perf_counter()
        for code in [*codes, lone]:
            try:
                board = sessions.board(code)
            except Exception as error:
                report.add("unexpected errors", example=f"board {code}: {error}")
                continue
            stored_all[code] = {c.id: (c.text, c.author) for c in board.complaints}
            for fmt in FORMATS:
                try:
                    text = export(code, fmt)
                except Exception as error:
                    report.add(
                        "unexpected errors",
                        example=f"export {code} {fmt}: {type(error).__name__}: {error}",
                    )
                    continue
                info["exports"] += 1
                checker.characters(code, fmt, text)
                if fmt == "md":
                    checker.markdown(code, text)
                elif fmt == "csv":
                    checker.csv_round_trip(code, text)
                else:
                    checker.json_round_trip(code, text)
        exporting = time.perf_counter() - t0

        goal_names = [
            *(f"control characters in {fmt}" for fmt in (*FORMATS, "json (decoded)")),
            *(f"format characters in {fmt}" for fmt in FORMATS),
            "HTML tokens in md",
            "links or images from user text",
            *(
                [
                    "links or images from user text (cmark-gfm)",
                    "raw HTML from user text (cmark-gfm)",
                ]
                if CMARK is not None
                else []
            ),
            "GitLab references or math from user text",
            "table rows, wrong cell count (source)",
            "table rows, wrong cell count (parsed)",
            "table rows not parsed as rows",
            "CSV rows that do not round-trip",
            "CSV cells that start a formula",
            "JSON complaints that do not round-trip",
            "unexpected errors",
        ]
        info_rows: list[tuple[str, object, str]] = [
            ("strings generated", len(strings), ""),
            ("stored", info["stored"], ""),
            ("refused", len(strings) - info["stored"], ""),
            ("strings tried as an author", info["strings tried as an author"], ""),
            ("stored as an author", info["stored as an author"], ""),
            ("lone surrogates tried (in-process)", len(SURROGATES), ""),
            ("lone surrogates stored", info["lone surrogates stored"], ""),
            ("exports checked", info["exports"], ""),
            ("empty session: links (template's own)", baseline.get("links", 0), "0"),
            ("empty session: cmark-gfm links", baseline.get("cmark links", 0), "0"),
            ("empty session: HTML tokens", baseline.get("html", 0), "0"),
            ("empty session: GitLab references", baseline.get("references", 0), "0"),
            (
                "empty session: broken table rows",
                sum(baseline.get(k, 0) for k in ("source cells", "parsed cells", "rows lost")),
                "0",
            ),
        ]
        table("campaign", info_rows)
        table("checks", [(name, report.goals[name], "0") for name in goal_names])
        print(
            f"\nadding {adding:.1f} s, exporting and checking {exporting:.1f} s, "
            f"total {time.perf_counter() - started:.1f} s"
        )
        print("refusals, by message:")
        for message, count in refusals.most_common():
            print(f"  {count:>6}  {message}")
        if any(baseline.values()):
            print(f"note: the empty session's plan has {baseline} of its own")
        for name in goal_names:
            for example in report.examples.get(name, []):
                print(f"  {name}: {example}")
        failed = [name for name in goal_names if report.goals[name]]
        failed += [name for name, value, goal in info_rows if goal == "0" and value]
        if failed:
            print(f"RESULT: FAILED ({', '.join(failed)})")
            return 1
        print("RESULT: ok")
        return 0
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    run_campaign(main)
