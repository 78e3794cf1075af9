"""The schema of a session file: every document becomes a checked model object here.

The types are the model's own dataclasses, checked by msgspec (strict: an int is never a
bool or a string); what types cannot say (known sides, ids the counters will not reuse) is
checked after. Any wrong shape is damage.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import msgspec
from tinydb import TinyDB
from tinydb.storages import Storage

from therapy import limits
from therapy.clock import parse_instant
from therapy.model import ActionItem, Complaint, Participant, Session, Snapshot, Vote, Win
from therapy.store.files import StoreError, Tables, damaged
from therapy.text import is_clean, shown

_SURROGATE = re.compile("[\ud800-\udfff]")
# the session's secret, and what is kept of a participant's SSH key: an HMAC-SHA256 under it
_SECRET = re.compile("[0-9a-f]{32}")
_KEY_HASH = re.compile("[0-9a-f]{64}")


# How long each text a person typed may be once stored; any other text has STORED_TEXT_CHARS.
_TEXT_CHARS: dict[str, int] = {
    "title": limits.TITLE_CHARS,
    "sides": limits.SIDE_CHARS,
    "side": limits.SIDE_CHARS,
    "pair_name": limits.NAME_CHARS,
    "name": limits.NAME_CHARS,
    "author": limits.NAME_CHARS,
    "text": limits.COMPLAINT_CHARS,
    "what": limits.ACTION_CHARS,
    "owner": limits.OWNER_CHARS,
    "metric": limits.METRIC_CHARS,
    "closed_by": limits.OWNER_CHARS,
}

ROWS: dict[str, type[Any]] = {
    "participants": Participant,
    "complaints": Complaint,
    "votes": Vote,
    "actions": ActionItem,
    "wins": Win,
}


# the fields of each record: anything else in a document is unknown
_KINDS: tuple[type[Any], ...] = (Session, *ROWS.values())
_FIELDS = {kind: frozenset(f.name for f in dataclasses.fields(kind)) for kind in _KINDS}


class _Buffer(Storage):
    """A file's tables, as TinyDB reads documents and their ids; the store writes itself."""

    def __init__(self, tables: Tables | None, path: Path) -> None:
        self.tables = tables
        self.path = path

    def read(self) -> Tables | None:
        return self.tables

    def write(self, data: Tables) -> None:
        raise TypeError("the store writes session files itself, atomically")


def decode(tables: Tables, path: Path) -> Snapshot:
    """A session file's tables as checked model objects; any wrong shape is damage."""
    try:
        return _decode(tables, path)
    except (msgspec.ValidationError, ValueError, TypeError, AttributeError) as error:
        raise damaged(path, str(error) or type(error).__name__) from None


def check_savable(snapshot: Snapshot, after: Tables, before: Tables) -> None:
    """Refuse to write what the reader would call damage, so that a session always reads
    back: the rows a change made or altered are checked as a read checks them (the others
    were, when the session was read), then the session as a whole."""
    try:
        for name, rows in after.items():
            row_type = Session if name == "session" else ROWS[name]
            earlier = before.get(name, {})
            for key, doc in rows.items():
                # as JSON, not as Python values: 0 == False, but the reader tells them apart
                if key not in earlier or _json(earlier[key]) != _json(doc):
                    row = doc if name == "session" else {**doc, "id": int(key)}
                    _convert(row, row_type, f"{name} row {key}")
        _check(snapshot)
    except (msgspec.ValidationError, ValueError, TypeError, AttributeError) as error:
        raise StoreError(
            f"That change cannot be saved: the session would hold what therapy refuses to "
            f"read back ({shown(str(error) or type(error).__name__, 200)}); nothing was changed."
        ) from None


def _json(doc: object) -> bytes:
    return msgspec.json.encode(doc)


def _decode(tables: Tables, path: Path) -> Snapshot:
    unknown = set(tables) - {"session", *ROWS}
    if unknown:  # from a newer therapy, or not ours: never dropped by a rewrite
        raise ValueError(f"it has the unknown table '{shown(sorted(unknown)[0], 40)}'")
    db = TinyDB(storage=_Buffer, tables=tables, path=path)
    records = db.table("session").all()
    if len(records) != 1 or records[0].doc_id != 1:
        raise ValueError("it has no session record")
    snapshot = Snapshot(_convert(dict(records[0]), Session, "the session record"))
    for name, row_type in ROWS.items():
        rows = getattr(snapshot, name)
        for doc in db.table(name).all():
            where = f"{name} row {doc.doc_id}"
            rows[doc.doc_id] = _convert({**doc, "id": doc.doc_id}, row_type, where)
    _check(snapshot)
    return snapshot


def _convert(doc: dict[str, Any], row_type: type[Any], where: str) -> Any:
    """One document as its model class: strict types, no unknown field (a rewrite would
    drop it), and no text the text policy would not have let in."""
    if not doc.keys() <= _FIELDS[row_type]:
        unknown = sorted(set(doc) - _FIELDS[row_type])[0]
        raise ValueError(f"{where} has the unknown field '{shown(unknown, 40)}'")
    texts = []
    for key, value in doc.items():
        if isinstance(value, str):
            texts.append(value)
            if len(value) > text_limit(key):
                check_text(key, value, where)  # names the field
        elif isinstance(value, list | dict):
            check_text(key, value, where)
    if not is_clean("\n".join(texts)):  # one look at the whole row: rows are many
        for key, value in doc.items():
            if isinstance(value, str) and _SURROGATE.search(value):
                raise ValueError(f"{where} has text that is not Unicode in '{shown(key, 40)}'")
            check_text(key, value, where)
    try:
        return msgspec.convert(doc, row_type)
    except msgspec.ValidationError as error:
        raise ValueError(f"{where}: {error}") from None


def text_limit(field: str) -> int:
    return _TEXT_CHARS.get(field, limits.STORED_TEXT_CHARS)


def storable(field: str, text: str) -> bool:
    """Whether a text may be kept in FIELD: what check_text lets a read through."""
    return len(text) <= text_limit(field) and is_clean(text)


def check_text(key: str, value: Any, where: str) -> None:
    """Stored text is what the text policy let in: no control or format character (it would
    reach a terminal or a wiki), no text longer than a person could have typed."""
    texts = [value] if isinstance(value, str) else []
    if isinstance(value, list | dict):  # sides; a dict's keys (timeboxes, next ids)
        texts = [item for item in value if isinstance(item, str)]
    limit = text_limit(key)
    for text in texts:
        if len(text) > limit:
            raise ValueError(
                f"{where} has {len(text):,} characters in '{shown(key, 40)}', over {limit:,}"
            )
        if not is_clean(text):
            raise ValueError(f"{where} has a control or format character in '{shown(key, 40)}'")


def _check(snapshot: Snapshot) -> None:
    """What the types alone do not say: known sides, times that are times, numbers in their
    bounds, and ids the counters will not reuse."""
    session = snapshot.session
    sides = session.sides
    if len(sides) < 2 or not all(sides):
        raise ValueError("a session needs two or more named sides")
    if (
        not 1 <= session.vote_budget <= 20
        or not 1 <= session.top <= 20
        or any(not 0 <= s <= 4 * 3600 for s in session.timeboxes.values())
    ):
        raise ValueError("its vote budget, top items or a timebox is out of bounds")
    for stamp in (session.created, session.updated, session.phase_started):
        if stamp:
            parse_instant(stamp)  # a ValueError names the bad time
    if session.seat_key is not None and not _SECRET.fullmatch(session.seat_key):
        raise ValueError("its seat key is not 32 hex digits")
    for participant in snapshot.participants.values():
        if not 0 <= participant.spent <= session.vote_budget:
            raise ValueError(f"participant {participant.id} has spent {participant.spent} votes")
        if participant.key is not None and not _KEY_HASH.fullmatch(participant.key):
            raise ValueError(f"participant {participant.id} has a key that is not 64 hex digits")
    for name in ("participants", "complaints", "wins"):
        for row in getattr(snapshot, name).values():
            if row.side not in sides:
                raise ValueError(f"{name} row {row.id} has the unknown side '{row.side[:40]}'")
    for name, most in limits.ROWS_PER_SESSION.items():
        if len(getattr(snapshot, name)) > most:
            raise ValueError(f"it has more {name} than a session holds ({most:,})")
    for name in ROWS:
        rows = getattr(snapshot, name)
        if rows and snapshot.session.next_ids.get(name, 1) <= max(rows):
            raise ValueError(f"the next id of {name} would reuse one that is taken")


def encode(snapshot: Snapshot) -> Tables:
    """The tables as TinyDB keeps them (document id as key, the id not repeated inside)."""
    tables: Tables = {"session": {"1": msgspec.to_builtins(snapshot.session)}}
    for name in ROWS:
        rows = {}
        for row_id, row in sorted(getattr(snapshot, name).items()):
            doc = msgspec.to_builtins(row)
            del doc["id"]
            rows[str(row_id)] = doc
        tables[name] = rows
    return tables
