"""Files that are always whole, and locks that say who holds them up.

Every write is atomic: a temp file in the same folder, fsync, os.replace, fsync of the
folder, so a reader sees the old file or the new one, never a torn one. Every lock is an
exclusive flock on a separate lock file, waited for in arrival order and given up with a
clear sentence once its holder has made no progress for a while.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from therapy.model import TherapyError
from therapy.text import shown

LOCK_TIMEOUT = 8.0  # seconds in which no process was granted a lock: its holder is stuck
PROGRESS_POLL = 0.1  # seconds between a waiter's looks at a lock's grant count
GRANT_COUNT = 8  # bytes at the start of a lock file
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
    """An exclusive flock on a lock file, given up with a clear error only when stuck.

    A waiter blocks in flock, so the kernel queues it and grants the lock in arrival order
    (polling for it lets the processes that keep trying win, and starves the others). Stuck
    means that no process was granted the lock for `timeout` s: a waiter behind a long queue
    that moves waits its turn. Each grant is counted in the lock file itself, whose content
    means nothing else: the kernel lets go of a dead process's lock, and nothing is left
    that says "taken".
    """

    def __init__(self, path: Path, what: str, timeout: float) -> None:
        self.path = path
        self.what = what
        self.timeout = timeout
        self.fd = -1

    def acquire(self, blocking: bool = True) -> bool:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise StoreError(
                f"Cannot write in the folder {self.path.parent} ({error.strerror}); nothing "
                "was changed: check the data folder's permissions (a shared folder wants a "
                "group and umask 002), or ask its owner."
            ) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not blocking:
                    os.close(fd)
                    return False
                self._wait_in_queue(fd)
        except BaseException:
            os.close(fd)  # a lock granted to the waiter's thread after all goes with its copy
            raise
        self.fd = fd
        _count_grant(fd)
        return True

    def _wait_in_queue(self, fd: int) -> None:
        waiter = _Waiter(fd)
        grants, since = _grants(fd), time.monotonic()
        while not waiter.granted.wait(PROGRESS_POLL):
            now = time.monotonic()
            if (seen := _grants(fd)) != grants:
                grants, since = seen, now  # the queue moved: whoever holds it now is new
            elif now - since >= self.timeout:
                raise StoreError(
                    f"{self.what} has been locked by another process for over "
                    f"{self.timeout:g} s; if a therapy process is stopped (Ctrl-Z), resume "
                    "or end it, then try again."
                )
        if waiter.error is not None:
            raise waiter.error

    def release(self) -> None:
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1
            # The kernel has just woken the next in line: let it run before this process can
            # come back for the lock and take it first.
            os.sched_yield()

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class _Waiter(threading.Thread):
    """Blocks in flock on a copy of a waiter's descriptor, so that the waiter can give up.

    Both descriptors share one open file, which is what holds a flock: granted, the lock
    stays with the waiter's descriptor; granted after the waiter gave up and closed its own,
    it goes when this thread closes the copy. Only this thread closes the copy, so no
    descriptor number is ever reused under a flock call.
    """

    def __init__(self, fd: int) -> None:
        super().__init__(name="therapy lock waiter", daemon=True)
        self.fd = os.dup(fd)
        self.granted = threading.Event()
        self.error: OSError | None = None
        self.start()

    def run(self) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as error:
            self.error = error
        finally:
            os.close(self.fd)
            self.granted.set()


def _grants(fd: int) -> bytes:
    try:
        return os.pread(fd, GRANT_COUNT, 0)
    except OSError:
        return b""


def _count_grant(fd: int) -> None:
    """Tell the waiters that the lock changed hands: a count, so a holder that takes it again
    counts too."""
    count = int.from_bytes(_grants(fd), "little") + 1
    with contextlib.suppress(OSError):  # a hint only: a full disk must not fail the lock
        os.pwrite(fd, (count % 2 ** (8 * GRANT_COUNT)).to_bytes(GRANT_COUNT, "little"), 0)


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
