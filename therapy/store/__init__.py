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
import fcntl
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import msgspec

from therapy.model import IndexEntry, Snapshot
from therapy.store.files import (
    LOCK_TIMEOUT,
    TMP_SUFFIX,
    Attendance,
    Lock,
    StoreError,
    Tables,
    damaged,
    fsync_folder,
    missing,
    write_atomic,
)
from therapy.store.schema import decode, encode
from therapy.text import shown

__all__ = ["LOCK_TIMEOUT", "Attendance", "Store", "StoreError"]

_CODE = re.compile(r"[A-Z0-9]{1,32}")


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

    def _session_lock(self, code: str) -> Lock:
        return Lock(self.session_folder(code) / "lock", f"Session {code}", self.lock_timeout)

    def _index_lock(self) -> Lock:
        return Lock(self.root / "index.lock", "The session index", self.lock_timeout)

    @staticmethod
    def _leftovers(folder: Path) -> list[Path]:
        try:
            return [Path(e.path) for e in os.scandir(folder) if e.name.endswith(TMP_SUFFIX)]
        except FileNotFoundError:
            return []

    def _clean_leftovers(self, folder: Path, lock: Lock | None) -> None:
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
            return copy.deepcopy(held)
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
        rows, damaged_rows = index_rows(tables, self.index_path)
        problems += damaged_rows
        for entry in rows:
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
        was written: they hold nothing but a lock, temp files and an empty presence folder.
        Under the index lock, which a `new` holds until its folder is locked too, and under
        the folder's own lock; anything else in a folder (a session file moved aside) keeps
        it."""
        try:
            folders = [Path(e.path) for e in os.scandir(self.folder) if e.is_dir()]
        except FileNotFoundError:
            return
        orphans = [f for f in folders if _CODE.fullmatch(f.name) and _only_leftovers(f)]
        if not orphans:
            return
        index_lock = self._index_lock()
        try:
            if not index_lock.acquire(blocking=False):
                return  # a `new` is under way: next time
        except StoreError:
            return  # read-only for us: leave them
        try:
            for folder in orphans:
                lock = Lock(folder / "lock", f"Session {folder.name}", 0)
                try:
                    if not lock.acquire(blocking=False):
                        continue
                except StoreError:
                    continue
                try:
                    if _only_leftovers(folder):
                        shutil.rmtree(folder, ignore_errors=True)
                finally:
                    lock.release()
        finally:
            index_lock.release()

    # -- writing ----------------------------------------------------------------------

    def create(self, snapshot: Snapshot) -> bool:
        """Write a new session whole, then list it; False if its code is taken already.

        The session file is written before the index row: a `new` killed in between leaves
        a session that lists (found in its folder), one killed before leaves a folder with
        no session file, which accepts no write and is cleaned at the next list or new."""
        session = snapshot.session
        folder = self.session_folder(session.code)
        lock = self._session_lock(session.code)
        with self._index_lock():  # clean_orphans takes it too: a new folder is never cleaned
            try:
                folder.mkdir(mode=0o777)
            except FileExistsError:
                return False
            except OSError as error:
                raise StoreError(
                    f"Cannot write in the data folder {self.folder} ({error.strerror}); nothing "
                    "was changed: check its permissions or choose another with --data-dir."
                ) from None
            try:
                lock.acquire()
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
        try:
            write_atomic(self.path(session.code), encode(snapshot))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            lock.release()
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
            yield held
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
            self._open()[code] = snapshot
            try:
                yield snapshot
            finally:
                del self._open()[code]
            after = encode(snapshot)
            if after != before:
                write_atomic(path, after)

    def _open(self) -> dict[str, Snapshot]:
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
        attendance = Attendance(Lock(path, f"Participant {participant_id}", 0))
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
            if index_rows(tables, self.index_path)[1]:
                return  # a damaged row: the file is never rewritten (index() names it)
            sessions = tables.setdefault("sessions", {})
            next_id = max((int(key) for key in sessions), default=0) + 1
            sessions[str(next_id)] = msgspec.to_builtins(entry)
            write_atomic(self.index_path, tables)

    def delete(self, code: str) -> None:
        folder = self.session_folder(code)
        with self._index_lock(), self._session_lock(code):
            with contextlib.suppress(StoreError):
                tables = self._load(self.index_path, "session index") or {}
                if not index_rows(tables, self.index_path)[1]:  # damaged: left as it is
                    sessions = tables.get("sessions", {})
                    for key in [key for key, row in sessions.items() if row["code"] == code]:
                        del sessions[key]
                    write_atomic(self.index_path, tables)
            for entry in os.scandir(folder):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)  # presence/
                elif entry.name != "lock":
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
        with contextlib.suppress(OSError):
            os.unlink(folder / "lock")
            folder.rmdir()
        fsync_folder(self.folder)


def index_rows(tables: Tables, path: Path) -> tuple[list[IndexEntry], list[str]]:
    """The index's rows that are sound, and a sentence for each that is not."""
    rows, problems = [], []
    for key, row in tables.get("sessions", {}).items():
        try:
            if not key.isdigit():
                raise ValueError(f"its key '{shown(key, 20)}' is not a number")
            entry = msgspec.convert(row, IndexEntry)
            if not _CODE.fullmatch(entry.code):
                raise ValueError(f"'{shown(entry.code, 40)}' is not a session code")
        except (msgspec.ValidationError, ValueError, TypeError) as error:
            problems.append(
                f"Row {shown(key, 20)} of the session index {path} is damaged ({error}); it "
                "was skipped and left as it is."
            )
            continue
        rows.append(entry)
    return rows, problems


def _only_leftovers(folder: Path) -> bool:
    """Whether a folder without a session file holds nothing a person could want back."""
    try:
        for entry in os.scandir(folder):
            if entry.name == "lock" or entry.name.endswith(TMP_SUFFIX):
                continue
            if entry.name == "presence" and entry.is_dir() and not os.listdir(entry.path):
                continue
            return False
    except FileNotFoundError:
        return False
    return True
