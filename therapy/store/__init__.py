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
import threading
from collections.abc import Iterator
from pathlib import Path

import msgspec

from therapy.limits import CONNECTIONS_PER_PERSON, INDEX_FILE_BYTES, SESSION_FILE_BYTES
from therapy.model import IndexEntry, Snapshot
from therapy.store.files import (
    LOCK_TIMEOUT,
    TMP_SUFFIX,
    Attendance,
    Folder,
    Lock,
    Missing,
    StoreError,
    Tables,
    damaged,
    missing,
    opened,
)
from therapy.store.schema import check_savable, check_text, decode, encode
from therapy.text import shown

__all__ = ["LOCK_TIMEOUT", "Attendance", "Store", "StoreError"]

_CODE = re.compile(r"[A-Z0-9]{1,32}")
_SEAT = re.compile(r"([0-9]{1,9})(?:-[0-9]+)?\.lock")
SESSION_FILE = "session.json"
INDEX_FILE = "index.json"


class Store:
    """ROOT/index.json lists the sessions; each lives in ROOT/sessions/CODE/session.json.

    A folder per session keeps its lock and temp files beside it, so that nothing a write
    does scans or grows with the number of other sessions. Every path below ROOT is reached
    through descriptors (see files.Folder): nothing in the data folder is ever followed.
    """

    def __init__(self, root: Path | str, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.root = Path(root).expanduser()
        self.lock_timeout = lock_timeout
        self._local = threading.local()
        with contextlib.suppress(OSError):  # Folder.root says why it cannot be used
            self.root.mkdir(parents=True, exist_ok=True)
        with Folder.root(self.root) as top:
            with contextlib.suppress(StoreError):  # a folder we may only read is still read
                top.make_folder("sessions")
            self._clean_leftovers(top, top.lock("index.lock", "The session index", 0))

    # -- paths and folders --------------------------------------------------------------

    def path(self, code: str) -> Path:
        _check_code(code)
        return self.root / "sessions" / code / SESSION_FILE

    @property
    def index_path(self) -> Path:
        return self.root / INDEX_FILE

    @contextlib.contextmanager
    def _session(self, code: str, root: Folder | None = None) -> Iterator[Folder]:
        """One session's folder, opened without following anything (through ROOT, the data
        folder this operation holds open, if given); missing if it is not there."""
        _check_code(code)
        with contextlib.ExitStack() as held:
            root = root or held.enter_context(Folder.root(self.root))
            sessions = held.enter_context(opened(root.folder("sessions")))
            inner = None if sessions is None else sessions.folder(code)
            if inner is None:
                raise missing(code)
            with inner:
                yield inner

    def _session_lock(self, folder: Folder, code: str) -> Lock:
        return folder.lock("lock", f"Session {code}", self.lock_timeout)

    def _index_lock(self, root: Folder) -> Lock:
        return root.lock("index.lock", "The session index", self.lock_timeout)

    @staticmethod
    def _clean_leftovers(folder: Folder, lock: Lock | None) -> None:
        """Remove temp files a crashed writer left behind: only under their file's lock, so
        that a live writer's temp file is never taken from under it. A temp name is only
        ever unlinked: whatever it is, nothing it points to is touched."""
        try:
            leftovers = [e.name for e in folder.entries() if e.name.endswith(TMP_SUFFIX)]
        except OSError:
            return
        if not leftovers:
            return
        try:
            if lock is not None and not lock.acquire(blocking=False):
                return
        except StoreError:
            return  # a folder we may only read, or a lock file that is not ours: leave them
        try:
            for name in leftovers:
                with contextlib.suppress(FileNotFoundError, PermissionError):
                    os.unlink(name, dir_fd=folder.fd)
        finally:
            if lock is not None:
                lock.release()

    # -- reading ----------------------------------------------------------------------

    @staticmethod
    def _load(folder: Folder, name: str, what: str, limit: int) -> Tables | None:
        raw = folder.read(name, limit, what)
        if raw is None:
            return None
        path = folder.path / name
        try:
            tables = json.loads(raw)
            if not isinstance(tables, dict) or not all(
                isinstance(table, dict) for table in tables.values()
            ):
                raise ValueError("not a TinyDB document")
        except (ValueError, RecursionError) as error:
            raise damaged(path, str(error) or type(error).__name__) from None
        return tables

    def _snapshot(self, folder: Folder, code: str) -> Snapshot | None:
        tables = self._load(folder, SESSION_FILE, f"session {code}", SESSION_FILE_BYTES)
        return None if tables is None else decode(tables, folder.path / SESSION_FILE)

    def read(self, code: str) -> Snapshot:
        """A consistent, checked snapshot of one session (no lock needed: writes are atomic);
        inside a transaction on it, a copy of what the transaction holds so far."""
        held = self._open().get(code)
        if held is not None:
            return copy.deepcopy(held)
        with self._session(code) as folder:
            snapshot = self._snapshot(folder, code)
            if snapshot is None:
                raise missing(code)
            self._clean_leftovers(folder, self._session_lock(folder, code))
        return snapshot

    def stamp(self, code: str) -> tuple[int, int, int] | None:
        """Changes whenever the session file is replaced: cheap to poll from other processes.
        One stat by path, polled ten times a second by every app: it opens nothing, and the
        read it leads to goes through descriptors (a link here only makes that read say so)."""
        try:
            found = os.stat(self.path(code), follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StoreError(
                f"Cannot look at session {code} ({error.strerror}); check the data folder."
            ) from None
        return (found.st_ino, found.st_mtime_ns, found.st_size)

    def index(self) -> tuple[list[IndexEntry], list[str]]:
        """Every session, and a sentence for each thing that could not be read.

        The index lists the sessions in the order they were made; a session whose row is
        missing (its `new` was killed after writing it) is found in its folder all the same.
        A damaged row is skipped and named; the rest of the index still counts."""
        problems: list[str] = []
        entries: list[IndexEntry] = []
        with Folder.root(self.root) as root:
            try:
                tables = _load_index(root)
            except StoreError as error:
                problems.append(str(error))
                tables = None
            try:
                with opened(root.folder("sessions")) as sessions:
                    names = [] if sessions is None else [e.name for e in sessions.entries()]
            except StoreError as error:
                problems.append(str(error))
                names = []
        folders = {name for name in names if _CODE.fullmatch(name)}
        rows, damaged_rows = index_rows(tables or {}, self.index_path)
        problems += damaged_rows
        for entry in rows:
            if entry.code in folders:
                folders.discard(entry.code)
                entries.append(entry)
        for code in sorted(folders):  # not (yet) in the index
            try:
                session = self.read(code).session
            except Missing:
                continue  # a session being made, or a `new` that died: never a session
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
        it. A folder is emptied through its descriptor, so one swapped for a link meanwhile
        is never entered."""
        try:
            with Folder.root(self.root) as root, opened(root.folder("sessions")) as sessions:
                if sessions is None:
                    return
                candidates = [
                    e.name
                    for e in sessions.entries()
                    if _CODE.fullmatch(e.name) and e.is_dir(follow_symlinks=False)
                ]
                orphans = [name for name in candidates if _only_leftovers(sessions, name)]
                if orphans:
                    self._remove_orphans(root, sessions, orphans)
        except (StoreError, OSError):
            return  # a folder we may only read, or one not ours: left alone

    def _remove_orphans(self, root: Folder, sessions: Folder, orphans: list[str]) -> None:
        index_lock = self._index_lock(root)
        if not index_lock.acquire(blocking=False):
            return  # a `new` is under way: next time
        try:
            for name in orphans:
                with opened(sessions.folder(name)) as folder:
                    if folder is None:
                        continue
                    lock = folder.lock("lock", f"Session {name}", 0)
                    if not lock.acquire(blocking=False):
                        continue
                    try:
                        if _only_leftovers(sessions, name):
                            _empty(folder)
                    finally:
                        lock.release()
                with contextlib.suppress(OSError):  # a link put there meanwhile stays
                    os.rmdir(name, dir_fd=sessions.fd)
        finally:
            index_lock.release()

    # -- writing ----------------------------------------------------------------------

    def create(self, snapshot: Snapshot) -> bool:
        """Write a new session whole, then list it; False if its code is taken already.

        The session file is written before the index row: a `new` killed in between leaves
        a session that lists (found in its folder), one killed before leaves a folder with
        no session file, which accepts no write and is cleaned at the next list or new."""
        session = snapshot.session
        code = session.code
        _check_code(code)
        with Folder.root(self.root) as root, opened(root.folder("sessions")) as sessions:
            if sessions is None:
                raise StoreError(
                    f"The data folder {shown(self.root, 200)} has no sessions folder; "
                    "check its permissions or choose another with --data-dir."
                )
            # clean_orphans takes the index lock too: a new folder is never cleaned
            with self._index_lock(root):
                if not sessions.make_folder(code):
                    return False
                folder = sessions.folder(code)
                if folder is None:  # taken away at once by someone who may write here
                    raise StoreError(
                        f"The folder of the new session {code} was removed as it was made; "
                        "nothing was saved: try again."
                    )
                lock = self._session_lock(folder, code)
                try:
                    lock.acquire()
                except BaseException:
                    folder.close()
                    sessions.remove(code)
                    raise
            try:
                tables = encode(snapshot)
                check_savable(snapshot, tables, {})
                folder.replace(SESSION_FILE, _payload(tables))
            except BaseException:
                lock.release()
                folder.close()
                sessions.remove(code)  # through descriptors: a link put there stays a link
                raise
            lock.release()
            folder.close()
            entry = IndexEntry(code, session.title, session.sides, session.pair, session.created)
            with contextlib.suppress(StoreError):
                self._register(root, entry)  # without its row the session still lists
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
        with self._session(code) as folder, self._session_lock(folder, code):
            self._clean_leftovers(folder, None)  # we hold the lock: all are leftovers
            snapshot = self._snapshot(folder, code)
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
                check_savable(snapshot, after, before)
                folder.replace(SESSION_FILE, _payload(after))

    def _open(self) -> dict[str, Snapshot]:
        """The sessions this thread holds a transaction on."""
        if not hasattr(self._local, "open"):
            self._local.open = {}
        return self._local.open

    # -- presence ---------------------------------------------------------------------

    def attend(self, code: str, participant_id: int) -> Attendance | None:
        """A seat for one participant's process: a lock in presence/, held while it runs.
        A person has CONNECTIONS_PER_PERSON seats (a window closing while its next opens);
        None when all of them are taken."""
        with self._session(code) as session:
            session.make_folder("presence")
            folder = session.folder("presence")
        if folder is None:
            raise missing(code)
        seats = [_seat(participant_id, n) for n in range(1, CONNECTIONS_PER_PERSON + 1)]
        attendance = Attendance(folder, seats, f"Participant {participant_id}")
        try:
            if attendance.hold():
                return attendance
        except BaseException:
            attendance.close()
            raise
        attendance.close()
        return None

    def present(self, code: str) -> set[int]:
        """Whose presence lock is held: a process that ended holds none (the kernel lets go).
        Anything in presence/ that is not a regular file of ours is not a person."""
        here: set[int] = set()
        try:
            with self._session(code) as session, opened(session.folder("presence")) as folder:
                if folder is None:
                    return here
                for entry in folder.entries():
                    seat = _SEAT.fullmatch(entry.name)
                    if seat is None or int(seat[1]) in here:
                        continue
                    if _held(folder, entry.name):
                        here.add(int(seat[1]))
        except StoreError:
            pass  # an unreadable presence folder: nobody is known to be here
        return here

    def _register(self, root: Folder, entry: IndexEntry) -> None:
        """Add a session to the index; a damaged index is left as it is (index() names it)."""
        with self._index_lock(root):
            tables = _load_index(root) or {}
            if index_rows(tables, self.index_path)[1]:
                return  # a damaged row: the file is never rewritten (index() names it)
            sessions = tables.setdefault("sessions", {})
            next_id = max((int(key) for key in sessions), default=0) + 1
            sessions[str(next_id)] = msgspec.to_builtins(entry)
            root.replace(INDEX_FILE, _payload(tables))

    def delete(self, code: str) -> None:
        """Unlist a session and remove its folder, through descriptors only: a session
        folder swapped for a link while this runs is never entered, and what the link points
        to is never touched."""
        with Folder.root(self.root) as root, self._index_lock(root):
            with self._session(code, root) as folder, self._session_lock(folder, code):
                try:  # first, and said if it fails: a session without its file is gone
                    os.unlink(SESSION_FILE, dir_fd=folder.fd)
                except FileNotFoundError:
                    pass
                except OSError as error:
                    raise StoreError(
                        f"Cannot delete session {code} ({error.strerror}); nothing was "
                        "changed: check the data folder's permissions, or ask its owner."
                    ) from None
                with contextlib.suppress(StoreError):
                    tables = _load_index(root)
                    if tables and not index_rows(tables, self.index_path)[1]:  # damaged: kept
                        sessions = tables.get("sessions", {})
                        for key in [k for k, row in sessions.items() if row["code"] == code]:
                            del sessions[key]
                        root.replace(INDEX_FILE, _payload(tables))
                _empty(folder)
            with opened(root.folder("sessions")) as listing:
                if listing is not None:
                    with contextlib.suppress(OSError):  # a link put there meanwhile stays
                        os.rmdir(code, dir_fd=listing.fd)
                    with contextlib.suppress(OSError):
                        os.fsync(listing.fd)


def _payload(tables: Tables) -> bytes:
    return json.dumps(tables, ensure_ascii=False, separators=(",", ":")).encode()


def _load_index(root: Folder) -> Tables | None:
    return Store._load(root, INDEX_FILE, "the session index", INDEX_FILE_BYTES)


def _seat(participant_id: int, n: int) -> str:
    """The name of a participant's Nth seat in presence/ (see _SEAT)."""
    return f"{participant_id}.lock" if n == 1 else f"{participant_id}-{n}.lock"


def _empty(folder: Folder) -> None:
    """Remove what therapy keeps in a session's folder, its lock (held by the caller) last."""
    for entry in folder.entries():
        if entry.name != "lock":
            folder.remove(entry.name)
    folder.remove("lock")


def _check_code(code: str) -> None:
    if not _CODE.fullmatch(code):
        raise StoreError(
            f"There is no session '{shown(code, 40)}'; a session code is letters and digits, "
            "like K7QX2M (run 'therapy list')."
        )


def _held(folder: Folder, name: str) -> bool:
    """Whether a seat's lock is held by a live process; never opens a link or a FIFO."""
    try:
        fd = folder.open_file(name, os.O_RDONLY, "a presence lock")
    except (StoreError, OSError):
        return False  # not ours, or not ours to read: not known to be here
    if fd is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def index_rows(tables: Tables, path: Path) -> tuple[list[IndexEntry], list[str]]:
    """The index's rows that are sound, and a sentence for each that is not."""
    rows, problems = [], []
    for key, row in tables.get("sessions", {}).items():
        try:
            if not (key.isascii() and key.isdigit()):  # '²' is a digit, not a number
                raise ValueError(f"its key '{shown(key, 20)}' is not a number")
            entry = msgspec.convert(row, IndexEntry)
            if not _CODE.fullmatch(entry.code):
                raise ValueError(f"'{shown(entry.code, 40)}' is not a session code")
            for field, value in row.items():
                check_text(field, value, "it")
        except (msgspec.ValidationError, ValueError, TypeError) as error:
            problems.append(
                f"Row {shown(key, 20)} of the session index {path} is damaged ({error}); it "
                "was skipped and left as it is."
            )
            continue
        rows.append(entry)
    return rows, problems


def _only_leftovers(sessions: Folder, name: str) -> bool:
    """Whether a session folder without a session file holds nothing a person could want
    back: a lock, temp files and an empty presence folder."""
    try:
        with opened(sessions.folder(name)) as folder:
            if folder is None:
                return False
            for entry in folder.entries():
                if entry.name == "lock" or entry.name.endswith(TMP_SUFFIX):
                    continue
                if entry.name == "presence" and entry.is_dir(follow_symlinks=False):
                    with opened(folder.folder("presence")) as presence:
                        if presence is not None and not presence.entries():
                            continue
                return False
    except (StoreError, OSError):
        return False
    return True
