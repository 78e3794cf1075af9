"""The only module that touches disk: one TinyDB file per session plus a small index.

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

from tinydb import TinyDB
from tinydb.storages import Storage

from therapy.model import TherapyError

LOCK_TIMEOUT = 8.0
_TMP_SUFFIX = ".tmp"
_CODE = re.compile(r"[A-Z0-9]{1,32}")

Tables = dict[str, dict[str, Any]]


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
                f"Cannot open the lock file {self.path} ({error.strerror}); check the data "
                "folder's permissions (a shared folder wants a group and umask 002)."
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
        if not leftovers or (lock is not None and not lock.acquire(blocking=False)):
            return
        try:
            for temp in leftovers:
                with contextlib.suppress(FileNotFoundError):
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

    def read(self, code: str) -> TinyDB:
        """A consistent, read-only snapshot of one session (no lock needed: writes are atomic);
        inside a transaction on it, a copy of what the transaction holds so far."""
        path = self.path(code)
        joined = self._open().get(code)
        if joined is not None:
            held = joined.storage.read()
            return TinyDB(storage=_Buffer, tables=copy.deepcopy(held), path=path)
        tables = self._load(path, f"session {code}")
        if tables is None:
            raise missing(code)
        self._clean_leftovers(path.parent, self._session_lock(code))
        return TinyDB(storage=_Buffer, tables=tables, path=path)

    def stamp(self, code: str) -> tuple[int, int, int] | None:
        """Changes whenever the session file is replaced: cheap to poll from other processes."""
        try:
            stat = self.path(code).stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def index(self) -> list[dict[str, Any]]:
        tables = self._load(self.index_path, "session index") or {}
        return list(tables.get("sessions", {}).values())

    # -- writing ----------------------------------------------------------------------

    def reserve(self, code: str) -> bool:
        """Claim a new session's folder; False if the code is taken already."""
        try:
            self.session_folder(code).mkdir(mode=0o777)
        except FileExistsError:
            return False
        return True

    @contextlib.contextmanager
    def transaction(self, code: str, create: bool = False) -> Iterator[TinyDB]:
        """Exclusive access to one session; all changes are written at once when it ends.

        If the block raises, nothing is written. A transaction opened while this thread
        holds one on the same session joins it: its changes are written with the outer one.
        """
        joined = self._open().get(code)
        if joined is not None and not create:
            yield joined
            return
        if not self.session_folder(code).is_dir():
            raise missing(code)
        with self._session_lock(code):
            path = self.path(code)
            self._clean_leftovers(path.parent, None)  # we hold the lock: all are leftovers
            tables = self._load(path, f"session {code}")
            if tables is None and not create:
                raise missing(code)
            if tables is not None and create:
                raise StoreError(f"Session {code} exists already.")
            db = TinyDB(storage=_Buffer, tables=tables, path=path)
            self._open()[code] = db
            try:
                yield db
            finally:
                del self._open()[code]
            buffer = db.storage
            assert isinstance(buffer, _Buffer)
            if buffer.dirty or create:
                _write_atomic(path, buffer.tables or {})

    def _open(self) -> dict[str, TinyDB]:
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

    def register(self, code: str, entry: dict[str, Any]) -> None:
        """Add a session to the index."""
        with self._index_lock():
            tables = self._load(self.index_path, "session index") or {}
            sessions = tables.setdefault("sessions", {})
            next_id = max((int(key) for key in sessions), default=0) + 1
            sessions[str(next_id)] = {"code": code, **entry}
            _write_atomic(self.index_path, tables)

    def delete(self, code: str) -> None:
        folder = self.session_folder(code)
        with self._index_lock(), self._session_lock(code):
            tables = self._load(self.index_path, "session index") or {}
            sessions = tables.get("sessions", {})
            for key in [key for key, row in sessions.items() if row.get("code") == code]:
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


def missing(code: str) -> StoreError:
    return StoreError(f"There is no session {code}; run 'therapy list' to see the session codes.")


def damaged(path: Path, reason: str) -> StoreError:
    return StoreError(
        f"The file {path} is damaged ({reason}); it was left untouched: restore it from a "
        "backup or move it aside (other sessions still work)."
    )
