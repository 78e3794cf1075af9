"""The schema of a session file: every document becomes a checked model object here.

The types are the model's own dataclasses, checked by msgspec (strict: an int is never a
bool or a string); what types cannot say (known sides, ids the counters will not reuse) is
checked after. Any wrong shape is damage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from tinydb import TinyDB
from tinydb.storages import Storage

from therapy.model import ActionItem, Complaint, Participant, Session, Snapshot, Vote, Win
from therapy.store.files import Tables, damaged

ROWS: dict[str, type[Any]] = {
    "participants": Participant,
    "complaints": Complaint,
    "votes": Vote,
    "actions": ActionItem,
    "wins": Win,
}


class _Buffer(Storage):
    """Keeps a transaction's tables in memory; the store writes them once, at commit."""

    def __init__(self, tables: Tables | None, path: Path) -> None:
        self.tables = tables
        self.path = path
        self.dirty = False

    def read(self) -> Tables | None:
        return self.tables

    def write(self, data: Tables) -> None:
        self.tables = data
        self.dirty = True


def decode(tables: Tables, path: Path) -> Snapshot:
    """A session file's tables as checked model objects; any wrong shape is damage."""
    try:
        db = TinyDB(storage=_Buffer, tables=tables, path=path)
        records = db.table("session").all()
        if len(records) != 1 or records[0].doc_id != 1:
            raise ValueError("it has no session record")
        snapshot = Snapshot(msgspec.convert(dict(records[0]), Session))
        for name, row_type in ROWS.items():
            rows = getattr(snapshot, name)
            for doc in db.table(name).all():
                rows[doc.doc_id] = msgspec.convert({**doc, "id": doc.doc_id}, row_type)
        _check(snapshot)
    except (msgspec.ValidationError, ValueError, TypeError, AttributeError) as error:
        raise damaged(path, str(error) or type(error).__name__) from None
    return snapshot


def _check(snapshot: Snapshot) -> None:
    """What the types alone do not say: known sides, and ids the counters will not reuse."""
    sides = snapshot.session.sides
    if len(sides) < 2 or not all(sides):
        raise ValueError("a session needs two or more named sides")
    for name in ("participants", "complaints", "wins"):
        for row in getattr(snapshot, name).values():
            if row.side not in sides:
                raise ValueError(f"{name} row {row.id} has the unknown side '{row.side[:40]}'")
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
