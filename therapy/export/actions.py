"""Action items across sessions, for the people who owe them: a table for the terminal,
Markdown for a wiki, JSON, CSV and an iCalendar file of to-dos (one VTODO per item).

The service picks the items; this module only shows them, so it is handed everything it
needs (the items, today, the service's now and the names of the causes)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from therapy.clock import parse_instant
from therapy.export import _cell, markdown_text
from therapy.model import ActionStatus, EarlierItem, TherapyError
from therapy.text import clean_line, plural, shown, strip_controls

FORMATS = ("table", "md", "json", "csv", "ics")
WHICH_WORDS = {
    "open": "open action items",
    "overdue": "overdue action items",
    "all": "action items",
}

# A calendar's own words for where an item stands: a carried item lives on as its copy.
_ICS_STATUS = {
    ActionStatus.OPEN: "NEEDS-ACTION",
    ActionStatus.DONE: "COMPLETED",
    ActionStatus.DROPPED: "CANCELLED",
    ActionStatus.CARRIED: "CANCELLED",
}
PRODID = "-//therapy//action items//EN"


@dataclass
class Listing:
    """What `therapy actions` shows: the items and how they were picked."""

    items: list[EarlierItem]
    today: str  # the local day, for overdue marks
    now: str  # the service's instant: when the calendar was made (DTSTAMP)
    cause_name: Callable[[str | None], str]
    which: str = "open"
    pair: str | None = None  # as the person typed it
    owner: str | None = None
    skipped: list[str] = field(default_factory=list)  # sessions that could not be read

    def scope(self, quote: str = "") -> str:
        """'open action items of the pair EMEA revenue owned by Alex' (QUOTE: around names)."""
        words = WHICH_WORDS.get(self.which, "action items")
        if self.pair is not None:
            # the pair as its sessions spell it, once there is one to ask
            pair = self.items[0].pair_label if self.items else self.pair
            words += f" of the pair {quote}{shown(pair, 200)}{quote}"
        if self.owner is not None:
            words += f" owned by {quote}{shown(self.owner, 80)}{quote}"
        return words

    def title(self) -> str:
        scope = self.scope()
        return scope[:1].upper() + scope[1:]

    def nothing(self) -> str:
        """The sentence for an empty listing."""
        scope = self.scope(quote="'")
        hint = "; --all lists the done and dropped ones too" if self.which == "open" else ""
        return f"No {scope}{hint}."

    def skipped_sentence(self) -> str:
        count = len(self.skipped)
        return (
            f"{plural(count, 'session')} could not be read and {'was' if count == 1 else 'were'} "
            f"skipped ({', '.join(shown(code) for code in self.skipped)}); the rest are listed, "
            f"and 'therapy status CODE' says what is wrong."
        )

    def cause(self, key: str | None) -> str:
        return self.cause_name(key) if key else ""


def render(listing: Listing, fmt: str, width: int | None = None) -> str:
    """WIDTH: the terminal's columns, for the table (None: one line per item)."""
    if fmt == "table":
        return to_table(listing, width)
    if fmt == "md":
        return to_markdown(listing)
    if fmt == "json":
        return to_json(listing)
    if fmt == "csv":
        return to_csv(listing)
    if fmt == "ics":
        return to_ics(listing)
    raise TherapyError(f"There is no format '{shown(fmt)}'; use one of: {', '.join(FORMATS)}.")


# -- the terminal -----------------------------------------------------------------------

_HEADER = ("REF", "DUE", "OWNER", "STATUS", "WHAT", "PAIR / SESSION")
_GAP = "  "
# Columns that wrap when the terminal is narrow: the narrowest each may get, and its share
# of the room left once all have that (what is to be done gets the most).
_LEAST = {1: 10, 2: 6, 4: 12, 5: 12}
_SHARE = {1: 1, 2: 1, 4: 3, 5: 2}


def to_table(listing: Listing, width: int | None = None) -> str:
    """Aligned columns of plain text. Given a WIDTH, the due date, owner, what and the
    session wrap inside their columns (every character kept); without one, an item is one
    line."""
    rows = [
        tuple(  # one line each, nothing a terminal acts on: the columns stay in line
            clean_line(cell)
            for cell in (
                e.ref,
                e.item.due + (" overdue" if e.item.overdue(listing.today) else ""),
                e.item.owner,
                e.item.status.value,
                e.item.what,
                f"{e.pair_label} / {e.session_title}",
            )
        )
        for e in listing.items
    ]
    natural = [max(_width(row[i]) for row in [_HEADER, *rows]) for i in range(len(_HEADER))]
    widths = natural if width is None else _fit(natural, width)
    lines = []
    for row in [_HEADER, *rows]:
        cells = [_wrap(text, widths[i]) for i, text in enumerate(row)]
        for n in range(max(len(cell) for cell in cells)):
            parts = [cell[n] if n < len(cell) else "" for cell in cells]
            padded = [p + " " * (widths[i] - _width(p)) for i, p in enumerate(parts[:-1])]
            lines.append(_GAP.join([*padded, parts[-1]]).rstrip())
    return "\n".join(lines) + "\n"


def _fit(natural: list[int], width: int) -> list[int]:
    """Column widths within WIDTH: the ref and the status as they are; the wrapping columns
    at their least, then sharing what is left by _SHARE, none wider than its widest cell."""
    widths = list(natural)
    for i, least in _LEAST.items():
        widths[i] = min(natural[i], least)
    room = width - sum(widths) - len(_GAP) * (len(widths) - 1)
    growing = {i for i in _LEAST if widths[i] < natural[i]}
    while room > 0 and growing:
        shares = sum(_SHARE[i] for i in growing)
        given = 0
        for i in sorted(growing, key=lambda i: -_SHARE[i]):
            more = min(natural[i] - widths[i], max(1, room * _SHARE[i] // shares), room - given)
            widths[i] += more
            given += more
        room -= given
        growing = {i for i in growing if widths[i] < natural[i]}
    return widths


def _width(text: str) -> int:
    """Columns a line takes in a terminal: wide East Asian characters two, combining none."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def _wrap(text: str, width: int) -> list[str]:
    """TEXT in lines of at most WIDTH columns, broken at spaces (a longer word is cut)."""
    if _width(text) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if _width(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for ch in word:
            if _width(line + ch) > width and line:
                lines.append(line)
                line = ""
            line += ch
    lines.append(line)
    return lines


# -- Markdown ---------------------------------------------------------------------------


def to_markdown(listing: Listing) -> str:
    """GitHub-flavoured Markdown that GitHub and GitLab render alike: a heading, a table
    and the same items as a task list. Every user string goes through markdown_text."""
    md = markdown_text
    blocks = [f"## {md(listing.title())}", f"As of {md(listing.today)}."]
    if listing.items:
        rows = [
            "| ref | due | owner | status | what | metric | cause | session |",
            "|---|---|---|---|---|---|---|---|",
        ]
        tasks = []
        for e in listing.items:
            item = e.item
            status = md(item.status.value)
            due = md(item.due or "–")
            if item.overdue(listing.today):
                status += ", **overdue**"
            session = f"{md(e.session_title)} ({md(e.session)}, {md(e.pair_label)})"
            cells = [
                md(e.ref),
                due,
                md(item.owner),
                status,
                md(item.what),
                md(item.metric) if item.metric else "–",
                md(listing.cause(item.cause)) if item.cause else "–",
                session,
            ]
            rows.append("| " + " | ".join(cells) + " |")
            # a task list has two states: done is checked; open or dropped is not, and says so
            # (as in the plan's task list)
            mark = "x" if item.status is ActionStatus.DONE else " "
            state = "**overdue**" if item.overdue(listing.today) else md(item.status.value)
            tasks.append(
                f"- [{mark}] **{md(e.ref)}** {md(item.what)}: {md(item.owner)}, due {due}, {state}"
            )
        blocks += ["\n".join(rows), "\n".join(tasks)]
    else:
        blocks.append(f"_{md(listing.nothing())}_")
    if listing.skipped:
        blocks.append(f"_{md(listing.skipped_sentence())}_")
    return "\n\n".join(blocks) + "\n"


# -- JSON and CSV -----------------------------------------------------------------------

_COLUMNS = (
    "ref",
    "session",
    "session_title",
    "pair",
    "what",
    "owner",
    "due",
    "metric",
    "cause",
    "cause_name",
    "status",
    "overdue",
    "carried_from",
    "created",
    "closed",
    "closed_by",
)


def _record(listing: Listing, e: EarlierItem) -> dict[str, Any]:
    item = e.item
    return {
        "ref": e.ref,
        "session": e.session,
        "session_title": e.session_title,
        "pair": e.pair_label,
        "what": item.what,
        "owner": item.owner,
        "due": item.due,
        "metric": item.metric,
        "cause": item.cause,
        "cause_name": listing.cause(item.cause) or None,
        "status": item.status.value,
        "overdue": item.overdue(listing.today),
        "carried_from": item.carried_from,
        "created": item.created or None,
        "closed": item.closed or None,
        "closed_by": item.closed_by or None,
    }


def to_dict(listing: Listing) -> dict[str, Any]:
    return {
        "today": listing.today,
        "filter": {"which": listing.which, "pair": listing.pair, "owner": listing.owner},
        "items": [_record(listing, e) for e in listing.items],
        "skipped_sessions": list(listing.skipped),
    }


def to_json(listing: Listing) -> str:
    return json.dumps(to_dict(listing), indent=2) + "\n"  # ASCII: no raw control anywhere


def to_csv(listing: Listing) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_COLUMNS)
    for e in listing.items:
        record = _record(listing, e)
        record["overdue"] = "yes" if record["overdue"] else "no"
        writer.writerow([_cell(record[column]) for column in _COLUMNS])
    return out.getvalue()


# -- iCalendar --------------------------------------------------------------------------


def uid(e: EarlierItem) -> str:
    """The same item has the same UID in every export, so a calendar updates its to-do
    instead of adding another; the instant it was agreed tells apart two items that got
    the same reference (a session deleted and its code drawn again, two data folders). A
    copy carried over to a later session keeps the UID of the item it carries on."""
    first = e.item.identity(e.ref)  # a carried-over copy is its first item's to-do
    digest = hashlib.sha256(first.replace(" ", "\n", 1).encode()).hexdigest()[:12]
    return f"{first.split(' ', 1)[0]}-{digest}@therapy"


def to_ics(listing: Listing) -> str:
    """One VTODO per item. DTSTAMP is the service's now: with SEQUENCE left at 0 (nothing
    here counts revisions), a newer DTSTAMP is what tells a calendar that imports the file
    again to take the new state (done, dropped, reopened) of a to-do it already has."""
    from icalendar import Calendar, Todo

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    stamp = parse_instant(listing.now).astimezone(UTC)
    for e in listing.items:
        item = e.item
        todo = Todo()
        todo.add("uid", uid(e))
        todo.add("dtstamp", stamp)
        created = _instant(item.created)
        if created is not None:
            todo.add("created", created)
        todo.add("summary", clean_line(item.what))  # icalendar escapes syntax, not controls
        todo.add("description", strip_controls(_description(listing, e)))
        due = _day(item.due)
        if due is not None:
            todo.add("due", due)
        todo.add("status", _ICS_STATUS[item.status])
        if item.status is ActionStatus.DONE:
            todo.add("percent-complete", 100)
            completed = _instant(item.closed)
            if completed is not None:
                todo.add("completed", completed)
        calendar.add_component(todo)
    return calendar.to_ical().decode("utf-8")


def _description(listing: Listing, e: EarlierItem) -> str:
    item = e.item
    lines = [f"Owner: {item.owner}"]
    if item.metric:
        lines.append(f"Metric: {item.metric}")
    if item.cause:
        lines.append(f"Cause: {listing.cause(item.cause)}")
    lines.append(f"From: {e.session_title} (session {e.session}, pair {e.pair_label})")
    lines.append(f"Ref: {e.ref} (therapy review {e.ref} done marks it done)")
    if item.carried_from:
        lines.append(f"Carried over from: {item.carried_from}")
    if item.status is not ActionStatus.OPEN:
        by = f" by {item.closed_by}" if item.closed_by else ""
        lines.append(f"Status: {item.status.value}{by}")
    return "\n".join(lines)


def _instant(text: str) -> datetime | None:
    try:
        return parse_instant(text).astimezone(UTC) if text else None
    except ValueError:
        return None


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None
