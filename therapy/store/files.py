"""Files that are always whole, and locks that say who holds them up.

Every write is atomic: a temp file in the same folder, fsync, os.replace, fsync of the
folder, so a reader sees the old file or the new one, never a torn one. Every lock is an
exclusive flock on a separate lock file, given up with a clear sentence after a timeout.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from therapy.model import TherapyError
from therapy.text import shown

LOCK_TIMEOUT = 8.0
TMP_SUFFIX = ".tmp"
Tables = dict[str, dict[str, Any]]


class StoreError(TherapyError):
    pass


def missing(code: str) -> StoreError:
    return StoreError(f"There is no session {code}; run 'therapy list' to see the session codes.")


def damaged(path: Path, reason: str) -> StoreError:
    return StoreError(
        f"The file {path} is damaged ({shown(reason, 200)}); it was left untouched: restore it "
        "from a backup, or move its session's folder out of the data folder (other sessions "
        "still work)."
    )


def write_atomic(path: Path, tables: Tables) -> None:
    try:
        _replace(path, tables)
    except OSError as error:
        raise StoreError(
            f"Cannot save {path} ({error.strerror}); nothing was changed: free some disk "
            "space or fix the data folder's permissions, then try again."
        ) from None


def _replace(path: Path, tables: Tables) -> None:
    payload = json.dumps(tables, ensure_ascii=False, separators=(",", ":")).encode()
    temp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}{TMP_SUFFIX}")
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
    # The new file is in place: a folder that cannot be synced makes the change less durable
    # (a power cut may lose it), not undone, so it is not reported as "nothing was changed".
    with contextlib.suppress(OSError):
        fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Lock:
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

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Attendance:
    """Held by a participant's process while it runs; see Store.attend."""

    def __init__(self, lock: Lock) -> None:
        self.lock = lock

    def hold(self) -> bool:
        """Take the presence lock if free; the same person may still be connected from a
        window they are closing, so try again later rather than wait."""
        return self.lock.fd >= 0 or self.lock.acquire(blocking=False)

    def close(self) -> None:
        self.lock.release()
