"""The only module that touches disk: one TinyDB file per session plus a small index.

Every document is checked against its schema (the model's dataclasses, by msgspec) when it
is read, and becomes a model object here: the rest of therapy never sees a document. A wrong
shape is damage: named in one sentence, never rewritten, and no write goes ahead on it.

Every change runs as a transaction under an exclusive lock on a separate lock file and ends
in one atomic write (temp file in the same folder, fsync, os.replace, fsync of the folder).
Readers never lock: a file is always whole, old or new. Stock TinyDB storages are not used
across processes: each transaction builds a fresh TinyDB over the file's current contents,
so document ids are taken from what is on disk under the lock, never from a stale cache.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import fcntl
import json
import os
import random
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
from tinydb import TinyDB
from tinydb.storages import Storage

from therapy.model import (
    ActionItem,
    Complaint,
    IndexEntry,
    Participant,
    Session,
    Snapshot,
    TherapyError,
    Vote,
    Win,
)

LOCK_TIMEOUT = 8.0
_TMP_SUFFIX = ".tmp"
_CODE = re.compile(r"[A-Z0-9]{1,32}")

Tables = dict[str, dict[str, Any]]
ROWS: dict[str, type[Any]] = {
    "participants": Participant,
    "complaints": Complaint,
    "votes": Vote,
    "actions": ActionItem,
    "wins": Win,
}
_READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)


class StoreError(TherapyError):
    pass


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


def _write_atomic(path: Path, tables: Tables) -> None:
    try:
        _replace(path, tables)
    except OSError as error:
        raise StoreError(
            f"Cannot save {path} ({error.strerror}); nothing was changed: free some disk "
            "space or fix the data folder's permissions, then try again."
        ) from None


def _replace(path: Path, tables: Tables) -> None:
    payload = json.dumps(tables, ensure_ascii=False, separators=(",", ":")).encode()
    temp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}{_TMP_SUFFIX}")
    # os.open with 0o666 lets the umask decide, so a group can share the data folder.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Lock:
    """An exclusive flock on a lock file, given up with a clear error after a timeout."""

    def __init__(self, path: Path, what: str, timeout: float) -> None:
        self.path = path
        self.what = what
        self.timeout = timeout
        self.fd = -1

    def acquire(self, blocking: bool = True) -> bool:
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise StoreError(
                f"Cannot write in the folder {self.path.parent} ({error.strerror}); nothing "
                "was changed: check the data folder's permissions (a shared folder wants a "
                "group and umask 002), or ask its owner."
            ) from None
        deadline = time.monotonic() + self.timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if not blocking or time.monotonic() >= deadline:
                os.close(self.fd)
                self.fd = -1
                if not blocking:
                    return False
                raise StoreError(
                    f"{self.what} has been locked by another process for over "
                    f"{self.timeout:g} s; if a therapy process is stopped (Ctrl-Z), resume "
                    "or end it, then try again."
                )
            # short, jittered waits: a writer that just let go must not win the lock every time
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 0.01)

    def release(self) -> None:
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> _Lock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Attendance:
    """Held by a participant's process while it runs; see Store.attend."""

    def __init__(self, lock: _Lock) -> None:
        self.lock = lock

    def hold(self) -> bool:
        """Take the presence lock if free; the same person may still be connected from a
        window they are closing, so try again later rather than wait."""
        return self.lock.fd >= 0 or self.lock.acquire(blocking=False)

    def close(self) -> None:
        self.lock.release()


class Store:
    """ROOT/index.json lists the sessions; each lives in ROOT/sessions/CODE/session.json.

    A folder per session keeps its lock and temp files beside it, so that nothing a write
    does scans or grows with the number of other sessions.
    """

    def __init__(self, root: Path | str, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.root = Path(root).expanduser()
        self.folder = self.root / "sessions"
        self.lock_timeout = lock_timeout
        self._local = threading.local()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(
                f"Cannot use the data folder {self.root} ({error.strerror}); "
                "choose another with --data-dir or THERAPY_DATA_DIR."
            ) from None
        self._clean_leftovers(self.root, self._index_lock())

    # -- paths and locks --------------------------------------------------------------

    def session_folder(self, code: str) -> Path:
        if not _CODE.fullmatch(code):
            raise StoreError(
                f"There is no session {code!r}; a session code is letters and digits, "
                "like K7QX2M (run 'therapy list')."
            )
        return self.folder / code

    def path(self, code: str) -> Path:
        return self.session_folder(code) / "session.json"

    @property
    def index_path(self) -> Path:
        return self.root / "index.json"

    def _session_lock(self, code: str) -> _Lock:
        return _Lock(self.session_folder(code) / "lock", f"Session {code}", self.lock_timeout)

    def _index_lock(self) -> _Lock:
        return _Lock(self.root / "index.lock", "The session index", self.lock_timeout)

    @staticmethod
    def _leftovers(folder: Path) -> list[Path]:
        try:
            return [Path(e.path) for e in os.scandir(folder) if e.name.endswith(_TMP_SUFFIX)]
        except FileNotFoundError:
            return []

    def _clean_leftovers(self, folder: Path, lock: _Lock | None) -> None:
        """Remove temp files a crashed writer left behind: only under their file's lock, so
        that a live writer's temp file is never taken from under it."""
        leftovers = self._leftovers(folder)
        if not leftovers:
            return
        try:
            if lock is not None and not lock.acquire(blocking=False):
                return
        except StoreError:
            return  # a folder we may only read: leave them, reading is not held up
        try:
            for temp in leftovers:
                with contextlib.suppress(FileNotFoundError, PermissionError):
                    temp.unlink()
        finally:
            if lock is not None:
                lock.release()

    # -- reading ----------------------------------------------------------------------

    def _load(self, path: Path, what: str) -> Tables | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StoreError(f"Cannot read {what} file {path} ({error.strerror}).") from None
        try:
            tables = json.loads(raw)
            if not isinstance(tables, dict) or not all(
                isinstance(table, dict) for table in tables.values()
            ):
                raise ValueError("not a TinyDB document")
        except (ValueError, RecursionError) as error:
            raise damaged(path, str(error) or type(error).__name__) from None
        return tables

    def _snapshot(self, code: str) -> Snapshot | None:
        path = self.path(code)
        tables = self._load(path, f"session {code}")
        return None if tables is None else decode(tables, path)

    def read(self, code: str) -> Snapshot:
        """A consistent, checked snapshot of one session (no lock needed: writes are atomic);
        inside a transaction on it, a copy of what the transaction holds so far."""
        held = self._open().get(code)
        if held is not None:
            return copy.deepcopy(held[0])
        snapshot = self._snapshot(code)
        if snapshot is None:
            raise missing(code)
        self._clean_leftovers(self.session_folder(code), self._session_lock(code))
        return snapshot

    def stamp(self, code: str) -> tuple[int, int, int] | None:
        """Changes whenever the session file is replaced: cheap to poll from other processes."""
        try:
            stat = self.path(code).stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def index(self) -> tuple[list[IndexEntry], list[str]]:
        """Every session, and a sentence for each thing that could not be read.

        The index lists the sessions in the order they were made; a session whose row is
        missing (its `new` was killed after writing it) is found in its folder all the same.
        A damaged row is skipped and named; the rest of the index still counts."""
        problems: list[str] = []
        entries: list[IndexEntry] = []
        try:
            tables = self._load(self.index_path, "session index") or {}
        except StoreError as error:
            problems.append(str(error))
            tables = {}
        try:
            folders = {e.name for e in os.scandir(self.folder) if _CODE.fullmatch(e.name)}
        except FileNotFoundError:
            folders = set()
        for key, row in tables.get("sessions", {}).items():
            try:
                entry = msgspec.convert(row, IndexEntry)
                if not _CODE.fullmatch(entry.code):
                    raise ValueError(f"'{entry.code[:40]}' is not a session code")
            except (msgspec.ValidationError, ValueError, TypeError) as error:
                problems.append(
                    f"Row {key[:20]} of the session index {self.index_path} is damaged "
                    f"({error}); it was skipped and left as it is."
                )
                continue
            if entry.code in folders:
                folders.discard(entry.code)
                entries.append(entry)
        for code in sorted(folders):  # not (yet) in the index
            if not self.path(code).exists():
                continue  # a session being made, or a `new` that died: never a session
            try:
                session = self.read(code).session
            except StoreError:
                entries.append(IndexEntry(code))  # its damage is told where it is read
                continue
            entries.append(
                IndexEntry(code, session.title, session.sides, session.pair, session.created)
            )
        return entries, problems

    def clean_orphans(self) -> None:
        """Remove the folders of sessions whose `therapy new` died before its session file
        was written: they never held a session. Only under their lock, never a live one's."""
        try:
            folders = [Path(e.path) for e in os.scandir(self.folder) if e.is_dir()]
        except FileNotFoundError:
            return
        for folder in folders:
            if (folder / "session.json").exists() or not _CODE.fullmatch(folder.name):
                continue
            lock = _Lock(folder / "lock", f"Session {folder.name}", 0)
            try:
                if not lock.acquire(blocking=False):
                    continue
            except StoreError:
                continue  # read-only for us: leave it
            try:
                if not (folder / "session.json").exists():
                    shutil.rmtree(folder, ignore_errors=True)
            finally:
                lock.release()

    # -- writing ----------------------------------------------------------------------

    def create(self, snapshot: Snapshot) -> bool:
        """Write a new session whole, then list it; False if its code is taken already.

        The session file is written before the index row: a `new` killed in between leaves
        a session that lists (found in its folder), one killed before leaves a folder with
        no session file, which accepts no write and is cleaned at the next list or new."""
        session = snapshot.session
        folder = self.session_folder(session.code)
        try:
            folder.mkdir(mode=0o777)
        except FileExistsError:
            return False
        except OSError as error:
            raise StoreError(
                f"Cannot write in the data folder {self.folder} ({error.strerror}); nothing was "
                "changed: check its permissions or choose another with --data-dir."
            ) from None
        try:
            with self._session_lock(session.code):
                _write_atomic(self.path(session.code), encode(snapshot))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        entry = IndexEntry(
            session.code, session.title, session.sides, session.pair, session.created
        )
        with contextlib.suppress(StoreError):
            self._register(entry)  # without its row the session still lists (see index)
        return True

    @contextlib.contextmanager
    def transaction(self, code: str) -> Iterator[Snapshot]:
        """Exclusive access to one session; all changes are written at once when it ends,
        and only if there are any.

        If the block raises, nothing is written. A transaction opened while this thread
        holds one on the same session joins it: its changes are written with the outer one.
        """
        held = self._open().get(code)
        if held is not None:
            yield held[0]
            return
        if not self.session_folder(code).is_dir():
            raise missing(code)
        with self._session_lock(code):
            path = self.path(code)
            self._clean_leftovers(path.parent, None)  # we hold the lock: all are leftovers
            snapshot = self._snapshot(code)
            if snapshot is None:
                raise missing(code)
            before = encode(snapshot)
            self._open()[code] = (snapshot,)
            try:
                yield snapshot
            finally:
                del self._open()[code]
            after = encode(snapshot)
            if after != before:
                _write_atomic(path, after)

    def _open(self) -> dict[str, tuple[Snapshot]]:
        """The sessions this thread holds a transaction on."""
        if not hasattr(self._local, "open"):
            self._local.open = {}
        return self._local.open

    # -- presence ---------------------------------------------------------------------

    def _presence(self, code: str, participant_id: int) -> Path:
        return self.session_folder(code) / "presence" / f"{participant_id}.lock"

    def attend(self, code: str, participant_id: int) -> Attendance:
        path = self._presence(code, participant_id)
        path.parent.mkdir(mode=0o777, exist_ok=True)
        attendance = Attendance(_Lock(path, f"Participant {participant_id}", 0))
        attendance.hold()
        return attendance

    def present(self, code: str) -> set[int]:
        """Whose presence lock is held: a process that ended holds none (the kernel lets go)."""
        here: set[int] = set()
        try:
            entries = list(os.scandir(self.session_folder(code) / "presence"))
        except FileNotFoundError:
            return here
        for entry in entries:
            stem = entry.name.removesuffix(".lock")
            if not stem.isdigit():
                continue
            try:
                fd = os.open(entry.path, os.O_RDONLY)
            except OSError:
                continue  # gone, or not ours to read: not known to be here
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                here.add(int(stem))
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        return here

    def _register(self, entry: IndexEntry) -> None:
        """Add a session to the index; a damaged index is left as it is (index() names it)."""
        with self._index_lock():
            tables = self._load(self.index_path, "session index") or {}
            sessions = tables.setdefault("sessions", {})
            try:
                for row in sessions.values():
                    msgspec.convert(row, IndexEntry)
            except msgspec.ValidationError:
                return  # a damaged row: the file is never rewritten (index() names it)
            next_id = max((int(key) for key in sessions), default=0) + 1
            sessions[str(next_id)] = msgspec.to_builtins(entry)
            _write_atomic(self.index_path, tables)

    def delete(self, code: str) -> None:
        folder = self.session_folder(code)
        with self._index_lock(), self._session_lock(code):
            with contextlib.suppress(StoreError, msgspec.ValidationError, ValueError):
                tables = self._load(self.index_path, "session index") or {}
                sessions = tables.get("sessions", {})
                for row in sessions.values():
                    msgspec.convert(row, IndexEntry)  # damaged: leave it, index() skips us
                for key in [key for key, row in sessions.items() if row["code"] == code]:
                    del sessions[key]
                _write_atomic(self.index_path, tables)
            for entry in os.scandir(folder):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)  # presence/
                elif entry.name != "lock":
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
        with contextlib.suppress(OSError):
            os.unlink(folder / "lock")
            folder.rmdir()
        _fsync_folder(self.folder)


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


def missing(code: str) -> StoreError:
    return StoreError(f"There is no session {code}; run 'therapy list' to see the session codes.")


def damaged(path: Path, reason: str) -> StoreError:
    return StoreError(
        f"The file {path} is damaged ({reason}); it was left untouched: restore it from a "
        "backup or move it aside (other sessions still work)."
    )
