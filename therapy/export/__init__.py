"""The action plan as Markdown (Jinja2 templates), JSON or CSV.

Every user string reaches Markdown through one filter, `md`: it keeps a table's shape,
lets no HTML or link through and leaves no control character behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from therapy.clock import parse_instant
from therapy.model import (
    NO_SUGGESTION,
    Board,
    Complaint,
    EarlierItem,
    History,
    Relationship,
    SessionPoint,
    Suggestion,
    TherapyError,
)
from therapy.prompts import Prompts, shipped_folder
from therapy.text import clean_line, shown, strip_controls

FORMATS = ("md", "json", "csv")

# Characters that start Markdown or HTML constructs anywhere in a line, and those of GitLab's
# references (@user #12 !45 $67 &epic ~label %"Q3" ^alert#1), which it leaves alone after a
# backslash; $ is also math on GitHub and GitLab ($5k to $10k).
_INLINE = str.maketrans({ch: "\\" + ch for ch in "\\`*_[]<>|~&#@!$%^"})
# An @ that cmark-gfm would take for an e-mail address's: a letter, digit or .+-_ before it,
# or the colon of mailto: and xmpp:, and a letter, digit or .-_ after it, or an xmpp
# address's slash (as its autolinker reads them).
_ADDRESS_AT = re.compile(r"(?<=[A-Za-z0-9.+_:-])\\@(?=[A-Za-z0-9./-]|\\_)")
# What Markdown reads at the start of a line: lists, quotes, headings, setext underlines.
_BULLET = re.compile(r"^([-+=])")
_ORDERED = re.compile(r"^(\d+)([.)])")
# What autolinkers (GitHub, linkify) turn into links: scheme://, www. and domain.tld. They
# find a domain after almost any character (`paypal🔒.com`, `¬.AL`), so every dot or colon
# that a word or a slash follows is escaped, whatever stands before it; and the dot of www.
# whatever follows it (cmark-gfm links `www.` before any character at all).
_LINKISH = re.compile(r"[.:](?=[\w/])|(?<=www)\.", re.I)


def markdown_text(value: Any) -> str:
    """User text as one inert line of Markdown: shown as typed once rendered.

    cmark-gfm (GitHub's renderer) finds e-mail addresses in a run of text once its escapes
    and entities are undone, so neither `\\@` nor `&#64;` stops it: the @ of an address goes
    alone into a code span, which ends the run. It is copied as typed, with nothing invisible
    (it shows in code type)."""
    text = clean_line("" if value is None else str(value))
    text = _ADDRESS_AT.sub("`@`", text.translate(_INLINE))
    text = _LINKISH.sub(r"\\\g<0>", text)
    text = _ORDERED.sub(r"\1\\\2", text)
    return _BULLET.sub(r"\\\1", text)


@dataclass
class Plan:
    """Everything an export shows, computed once for every format."""

    board: Board
    relationship: Relationship
    earlier: list[EarlierItem]
    suggestions: dict[int, Suggestion]
    prompts: Prompts
    date: str = ""  # the day it was made, from the service's clock
    skipped: list[str] = field(default_factory=list)  # earlier sessions that were unreadable
    recent: list[SessionPoint] = field(default_factory=list)  # the pair's last sessions

    @property
    def session_date(self) -> str:
        """The day of the session, where the host is: what the plan is dated (a plan made
        again on a later day reads the same; its overdue marks are as of `date`)."""
        try:
            return parse_instant(self.board.session.created).astimezone().date().isoformat()
        except ValueError:
            return self.date

    @staticmethod
    def share(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    def cause_name(self, key: str | None) -> str:
        return self.prompts.cause_name(key)

    def suggested(self, complaints: list[Complaint]) -> str:
        """What the app suggests for a card (a group: its most confident member's) and why:
        'Misaligned expectations (0.82; words: ready, buy)', or 'none (not sure: ...)'."""
        found = [self.suggestions[c.id] for c in complaints if c.id in self.suggestions]
        if not found:
            return "none"
        best = max(found, key=lambda s: s.score)
        if best.cause is None:
            return f"none ({best.reason})"
        return f"{self.cause_name(best.cause)} ({best.score:.2f}; {best.reason})"


def build_plan(
    board: Board,
    relationship: Relationship,
    history: History,
    prompts: Prompts,
    date: str,
    suggestions: dict[int, Suggestion],
) -> Plan:
    """SUGGESTIONS: the suggester's, by complaint (the service asks for them)."""
    return Plan(
        board, relationship, history.items, suggestions, prompts, date, list(history.skipped)
    )


@cache
def _environment(folder: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = markdown_text
    return env


def _template(template: str | None) -> jinja2.Template:
    """A shipped template by name (default: plan), or the user's own .j2 file by path."""
    name = template or "plan"
    path = Path(name).expanduser()
    try:
        is_file = path.is_file()
    except OSError:  # a name too long to be a file's, say
        is_file = False
    if template and (is_file or "/" in name or path.suffix):
        if not is_file:
            raise TherapyError(
                f"There is no template file {shown(path)}; check the --template path."
            )
        folder, name = str(path.resolve().parent), path.name
    else:
        folder = str(shipped_folder("templates"))
        name = name if name.endswith(".j2") else f"{name}.md.j2"
    try:
        return _environment(folder).get_template(name)
    except jinja2.TemplateNotFound:
        raise TherapyError(
            f"There is no template '{shown(template)}'; give a path to a .j2 file or the name of a "
            "shipped one (plan)."
        ) from None
    except jinja2.TemplateSyntaxError as error:
        raise TherapyError(
            f"The template {error.filename or name} has an error on line {error.lineno}: "
            f"{error.message}."
        ) from None


def to_markdown(plan: Plan, template: str | None = None) -> str:
    board = plan.board
    by_cause = {key: [] for key in (*plan.prompts.cause_keys, None)}  # type: dict[str|None, list]
    for item in board.items():
        by_cause.setdefault(item.lead.cause, []).append(item)
    sides = board.session.sides
    questions = [
        (asking, asked, plan.prompts.questions_for(asking, asked))
        for asking in sides
        for asked in sides
        if asking != asked
    ]
    try:
        return _template(template).render(
            plan=plan,
            session=board.session,
            board=board,
            relationship=plan.relationship,
            causes=plan.prompts.causes,
            by_cause=by_cause,
            action_items=board.action_items,
            wins=board.wins,
            earlier=plan.earlier,
            questions=questions,
            suggestions=plan.suggestions,
            date=plan.date,
            skipped=plan.skipped,
            recent=plan.recent,
        )
    except jinja2.TemplateError as error:
        raise TherapyError(f"The template could not be filled in: {error}.") from None


def to_dict(plan: Plan) -> dict[str, Any]:
    board = plan.board
    session = board.session
    complaints = []
    for c in sorted(board.complaints, key=lambda c: c.id):
        suggestion = plan.suggestions.get(c.id, NO_SUGGESTION)
        complaints.append(
            {
                "id": c.id,
                "side": c.side,
                "text": c.text,
                "author": c.author,
                "cause": c.cause,
                "suggested_cause": suggestion.cause,
                "suggestion_score": suggestion.score,
                "suggestion_words": list(suggestion.words),
                "suggestion_reason": suggestion.reason,
                "votes": board.votes_for(c.id),
                "group": c.group,
            }
        )
    return {
        "session": {
            "code": session.code,
            "title": session.title,
            "sides": session.sides,
            "pair": session.pair_label,
            "top": session.top,
            "anonymous": session.anonymous,
            "phase": session.phase.value,
            "vote_budget": session.vote_budget,
            "created": session.created,
            "updated": session.updated,
        },
        "complaints": complaints,
        "groups": [
            {"id": item.group, "complaints": sorted(item.ids), "votes": item.votes}
            for item in board.items()
            if item.group is not None
        ],
        "action_items": [
            {
                "id": a.id,
                "what": a.what,
                "owner": a.owner,
                "due": a.due,
                "metric": a.metric,
                "cause": a.cause,
                "complaints": a.complaints,
                "status": a.status.value,
                "overdue": a.overdue(plan.date),
                "carried_from": a.carried_from,
            }
            for a in board.action_items
        ],
        "wins": [
            {"id": w.id, "side": w.side, "kind": w.kind, "text": w.text, "author": w.author}
            for w in board.wins
        ],
        "earlier_action_items": [
            {
                "ref": e.ref,
                "session": e.session,
                "what": e.item.what,
                "owner": e.item.owner,
                "due": e.item.due,
                "status": e.item.status.value,
                "overdue": e.item.overdue(plan.date),
            }
            for e in plan.earlier
        ],
        "skipped_sessions": plan.skipped,
        "recent_sessions": [
            {
                "code": p.code,
                "title": p.title,
                "date": p.date,
                "label": p.relationship.label,
                "score": p.relationship.score,
                "follow_through": p.follow_through,
            }
            for p in plan.recent
        ],
        "relationship": {
            "label": plan.relationship.label,
            "score": plan.relationship.score,
            "signals": {
                s.name: {"value": s.value, "reason": s.reason} for s in plan.relationship.signals
            },
        },
    }


def to_json(plan: Plan) -> str:
    return json.dumps(to_dict(plan), indent=2, ensure_ascii=False) + "\n"


def _cell(value: Any) -> Any:
    """Spreadsheets run cells that start with = + - @ as formulas: make them text."""
    if isinstance(value, str):
        value = strip_controls(value)  # stored text is clean; a cell never carries a control
        return "'" + value if value[:1] in ("=", "+", "-", "@", "\t") else value
    return "" if value is None else value


def to_csv(plan: Plan) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = ["id", "side", "text", "author", "cause", "suggested_cause", "votes", "group"]
    writer.writerow(columns)
    for row in to_dict(plan)["complaints"]:
        writer.writerow([_cell(row[column]) for column in columns])
    return out.getvalue()


def render(plan: Plan, fmt: str = "md", template: str | None = None) -> str:
    if fmt == "md":
        return to_markdown(plan, template)
    if template:
        raise TherapyError("--template works with --format md only.")
    if fmt == "json":
        return to_json(plan)
    if fmt == "csv":
        return to_csv(plan)
    raise TherapyError(f"There is no export format '{fmt}'; use md, json or csv.")


def cannot_write(path: Path, error: OSError, kept: str) -> TherapyError:
    return TherapyError(f"Cannot write {shown(path, 200)} ({error.strerror}); {kept}.")


def write_file(path: Path, text: str) -> None:
    """Write PATH whole or leave it as it was, never through a link someone put at its name
    (the store's own atomic write, in PATH's folder as the person named it); keeps the old
    file's mode."""
    from therapy.store.files import Folder

    path = path.expanduser()
    try:
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise cannot_write(path, error, "nothing was written") from None
    with Folder(fd, path.parent) as folder:
        try:
            old = folder.lstat(path.name)
        except OSError as error:
            raise cannot_write(path, error, "nothing was written") from None
        if old is not None and not stat.S_ISREG(old.st_mode):
            raise TherapyError(
                f"{shown(path, 200)} is not a regular file (a link, a device or a pipe); give "
                "the path of a file, or - for the screen."
            )
        try:
            mode = None if old is None else stat.S_IMODE(old.st_mode)
            folder.write_whole(path.name, text.encode(), mode)
        except OSError as error:
            kept = "it was left as it was" if old else "nothing was written"
            raise cannot_write(path, error, kept) from None
