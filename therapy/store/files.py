"""Folders reached through descriptors, files that are always whole, and locks that say who
holds them up.

Nothing in the data folder is trusted: anyone who may write in it (a group member on a
shared host) can put a link, a FIFO or a huge file where ours should be. So every folder is
opened with O_NOFOLLOW | O_DIRECTORY and everything inside it is reached relative to that
descriptor; every file is opened with O_NOFOLLOW | O_NONBLOCK | O_NOCTTY and checked with
fstat before it is read or written: anything but a regular file of a sane size is damage,
named and left alone, never followed, never waited on.

Every write is atomic: a temp file in the same folder, fsync, rename, fsync of the folder,
so a reader sees the old file or the new one, never a torn one. Every lock is an exclusive
flock on a separate lock file, waited for in arrival order and given up with a clear
sentence once its holder has made no progress for a while.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from therapy.limits import LOCK_FILE_BYTES, LOCK_WAIT_TURNS
from therapy.model import TherapyError
from therapy.text import shown

LOCK_TIMEOUT = 8.0  # seconds in which no process was granted a lock: its holder is stuck
PROGRESS_POLL = 0.1  # seconds between a waiter's looks at a lock's grant count
GRANT_COUNT = 8  # bytes at the start of a lock file
TMP_SUFFIX = ".tmp"
Tables = dict[str, dict[str, Any]]

_CLOSE = os.O_CLOEXEC
_LOOKS = 8  # a name that keeps changing under us is damage after this many looks
_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOSE
_FILE = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | _CLOSE
_KINDS = {
    stat.S_IFLNK: "a link",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFDIR: "a folder",
    stat.S_IFREG: "a file",
}


class StoreError(TherapyError):
    pass


class Missing(StoreError):
    """There is no such session (or not yet: its `new` is under way)."""


def missing(code: str) -> StoreError:
    return Missing(f"There is no session {code}; run 'therapy list' to see the session codes.")


def damaged(path: Path, reason: str) -> StoreError:
    return StoreError(
        f"The file {shown(path, 200)} is damaged ({shown(reason, 200)}); it was left untouched: "
        "restore it from a backup, or move its session's folder out of the data folder (other "
        "sessions still work)."
    )


def not_ours(path: Path, found: str, wanted: str) -> StoreError:
    """Something a person put where therapy keeps its own file or folder."""
    return StoreError(
        f"{shown(path, 200)} is {found} where therapy keeps {wanted}; it was left alone and not "
        "followed: remove it (anyone who may write in the data folder could have put it there)."
    )


def kind_of(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "something that is not a file")


def cannot_write(path: Path, error: OSError) -> StoreError:
    return StoreError(
        f"Cannot write in the folder {shown(path, 200)} ({error.strerror}); nothing was changed: "
        "check the data folder's permissions (a shared folder wants a group and umask 002), or "
        "ask its owner."
    )


def temp_name(name: str) -> str:
    """A fresh name beside NAME for a file being written (leftovers end in TMP_SUFFIX)."""
    return f".{name}.{os.getpid()}.{os.urandom(4).hex()}{TMP_SUFFIX}"


class Folder:
    """One open folder of the data folder: names inside it are looked up from its descriptor,
    so a folder renamed or swapped for a link while we work can never send us elsewhere."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    @classmethod
    def root(cls, path: Path) -> Folder:
        """The data folder itself: where the person pointed, links in that path included."""
        try:
            return cls(os.open(path, os.O_RDONLY | os.O_DIRECTORY | _CLOSE), path)
        except OSError as error:
            raise StoreError(
                f"Cannot use the data folder {shown(path, 200)} ({error.strerror}); choose "
                "another with --data-dir or THERAPY_DATA_DIR."
            ) from None

    def folder(self, name: str) -> Folder | None:
        """A folder inside this one, never through a link; None if there is none."""
        for _ in range(_LOOKS):
            try:
                return Folder(os.open(name, _FOLDER, dir_fd=self.fd), self.path / name)
            except FileNotFoundError:
                return None
            except OSError as error:
                if error.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise StoreError(
                        f"Cannot open the folder {shown(self.path / name, 200)} "
                        f"({error.strerror}); check the data folder's permissions."
                    ) from None
            found = self.lstat(name)  # what stood there may be gone already: look again
            if found is not None and not stat.S_ISDIR(found.st_mode):
                raise not_ours(self.path / name, kind_of(found.st_mode), "a folder")
        raise not_ours(self.path / name, "something that kept changing", "a folder")

    def make_folder(self, name: str) -> bool:
        """Make a folder here; False if the name is taken. Its mode follows the umask, so a
        group can share the data folder."""
        try:
            os.mkdir(name, 0o777, dir_fd=self.fd)
        except FileExistsError:
            return False
        except OSError as error:
            raise cannot_write(self.path, error) from None
        return True

    def kind(self, name: str) -> str:
        try:
            return kind_of(os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_mode)
        except OSError:
            return "something it cannot look at"

    def lstat(self, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def entries(self) -> list[os.DirEntry[str]]:
        with os.scandir(self.fd) as scan:
            return list(scan)

    def open_file(self, name: str, flags: int, what: str) -> int | None:
        """A regular file here, opened without following a link or waiting on a FIFO; None
        if there is none. Anything else under its name is damage."""
        try:
            fd = os.open(name, flags | _FILE, 0o666, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise not_ours(self.path / name, "a link", what) from None
            if error.errno in (errno.ENXIO, errno.EISDIR, errno.ENOTDIR, errno.EOPNOTSUPP):
                raise not_ours(self.path / name, self.kind(name), what) from None
            raise
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise not_ours(self.path / name, kind_of(mode), what)
        return fd

    def read(self, name: str, limit: int, what: str) -> bytes | None:
        """A whole file of at most `limit` bytes; None if there is none."""
        try:
            fd = self.open_file(name, os.O_RDONLY, what)
        except OSError as error:
            raise StoreError(
                f"Cannot read {what} {shown(self.path / name, 200)} ({error.strerror})."
            ) from None
        if fd is None:
            return None
        with os.fdopen(fd, "rb") as handle:
            size = os.fstat(fd).st_size
            if size > limit:
                raise damaged(self.path / name, f"it is {size:,} bytes, over the {limit:,} allowed")
            payload = handle.read(limit + 1)
        if len(payload) > limit:  # it grew while we read
            raise damaged(self.path / name, f"it is over the {limit:,} bytes allowed")
        return payload

    def replace(self, name: str, payload: bytes) -> None:
        """Write a file whole: a reader sees the old one or the new one, never a torn one."""
        try:
            self.write_whole(name, payload)
        except OSError as error:
            raise StoreError(
                f"Cannot save {shown(self.path / name, 200)} ({error.strerror}); nothing was "
                "changed: free some disk space or fix the data folder's permissions, then try "
                "again."
            ) from None

    def write_whole(self, name: str, payload: bytes, mode: int | None = None) -> None:
        """replace, saying nothing: a temp file beside NAME (never opened through a link),
        fsync, rename over NAME; MODE for the new file, else the umask decides."""
        temp = temp_name(name)
        # O_EXCL never opens what is there, link or not; 0o666 lets the umask decide.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _FILE, 0o666, dir_fd=self.fd)
        try:
            with os.fdopen(fd, "wb") as handle:
                if mode is not None:
                    os.fchmod(handle.fileno(), mode)
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=self.fd)
            raise
        # The new file is in place: a folder that cannot be synced makes the change less
        # durable (a power cut may lose it), not undone, so it is not reported as unchanged.
        with contextlib.suppress(OSError):
            os.fsync(self.fd)

    def remove(self, name: str) -> None:
        """Remove a name here, as far as therapy made it: a file or link is unlinked (a
        link's target is never touched), a folder (presence/) emptied of its files through
        its descriptor and removed. A folder therapy never makes deeper down, or a file not
        ours to remove, stays where it is, and so does its parent."""
        with contextlib.suppress(OSError, StoreError):
            found = self.lstat(name)
            if found is None:
                return
            if not stat.S_ISDIR(found.st_mode):
                os.unlink(name, dir_fd=self.fd)
                return
            inner = self.folder(name)  # a link swapped in meanwhile: StoreError, left alone
            if inner is not None:
                with inner:
                    for entry in inner.entries():
                        if not entry.is_dir(follow_symlinks=False):
                            with contextlib.suppress(OSError):
                                os.unlink(entry.name, dir_fd=inner.fd)
            os.rmdir(name, dir_fd=self.fd)

    def lock(self, name: str, what: str, timeout: float) -> Lock:
        return Lock(self, name, what, timeout)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def opened(folder: Folder | None) -> Iterator[Folder | None]:
    """Close a folder that may be None when the block ends."""
    try:
        yield folder
    finally:
        if folder is not None:
            folder.close()


class Lock:
    """An exclusive flock on a lock file, given up with a clear error only when stuck.

    A waiter blocks in flock, so the kernel queues it and grants the lock in arrival order
    (polling for it lets the processes that keep trying win, and starves the others). Stuck
    means that no process was granted the lock for `timeout` s: a waiter behind a long queue
    that moves waits its turn. Each grant is counted in the lock file itself, whose content
    means nothing else: the kernel lets go of a dead process's lock, and nothing is left
    that says "taken". The count is written only into a regular file with one name, opened
    without following a link: never into a file someone pointed the lock at.
    """

    def __init__(self, folder: Folder, name: str, what: str, timeout: float) -> None:
        self.folder = folder
        self.name = name
        self.what = what
        self.timeout = timeout
        self.fd = -1

    @property
    def path(self) -> Path:
        return self.folder.path / self.name

    def _open(self) -> int:
        try:
            fd = self.folder.open_file(self.name, os.O_RDWR | os.O_CREAT, "a lock file")
        except OSError as error:
            raise cannot_write(self.folder.path, error) from None
        assert fd is not None  # O_CREAT: there is one now
        found = os.fstat(fd)
        if found.st_nlink != 1 or found.st_size > LOCK_FILE_BYTES:
            os.close(fd)
            found_as = (
                "a second name (a hard link) of another file"
                if found.st_nlink != 1
                else "a file too large to be a lock"
            )
            raise not_ours(self.path, found_as, "a lock file")
        return fd

    def acquire(self, blocking: bool = True) -> bool:
        fd = self._open()
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
        started = since
        while not waiter.granted.wait(PROGRESS_POLL):
            now = time.monotonic()
            if (seen := _grants(fd)) != grants:
                grants, since = seen, now  # the queue moved: whoever holds it now is new
            if now - since >= self.timeout:
                raise StoreError(
                    f"{self.what} has been locked by another process for over "
                    f"{self.timeout:g} s; if a therapy process is stopped (Ctrl-Z), resume "
                    "or end it, then try again."
                )
            if now - started >= self.timeout * LOCK_WAIT_TURNS:
                raise StoreError(
                    f"{self.what} kept changing hands for {now - started:.0f} s "
                    "without coming to this process: it is very busy, or someone is holding "
                    "it on purpose; try again."
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
    """Held by a participant's process while it runs; see Store.attend. It keeps the
    presence folder open, so taking a seat again later never looks its path up anew."""

    def __init__(self, folder: Folder, names: list[str], what: str) -> None:
        self.folder = folder
        self.locks = [Lock(folder, name, what, 0) for name in names]
        self.held: Lock | None = None

    def hold(self) -> bool:
        """Take a free seat if this process holds none; the same person may still be
        connected from a window they are closing, so try again later rather than wait."""
        if self.held is not None:
            return True
        for lock in self.locks:
            if lock.acquire(blocking=False):
                self.held = lock
                return True
        return False

    def close(self) -> None:
        if self.held is not None:
            self.held.release()
            self.held = None
        self.folder.close()
