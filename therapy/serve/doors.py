"""What a running `therapy serve` tells `therapy invite` (and the facilitator's app): its
doors, recorded in DATA/serve/doors.json when it starts listening and forgotten when it
stops. The file is held under an exclusive flock for as long as serve runs, from before it
has its name: a serve that dies however it dies leaves a record that reads as stale. Its
format and its reading are the service's (therapy/service/invitation.py), which the app may
call; the writing is here, in serve's private folder."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from therapy.serve.private import private
from therapy.service.invitation import RECORD, SERVE_FOLDER, DoorsRecord
from therapy.service.invitation import read_doors as read
from therapy.store.files import Folder, StoreError, cannot_write, opened, temp_name

__all__ = ["DoorsRecord", "forget", "reachable_host", "read", "record"]

_ANYWHERE = ("", "0.0.0.0", "::", "*")
_held: dict[Path, int] = {}  # data folder -> the descriptor that holds its record's lock


def reachable_host(listening: str) -> str:
    """The host as people type it, for a server listening on LISTENING: that address, or
    for every address this host's name (its fully qualified one when it has one). A guess:
    the name people reach the host by may be another (a proxy, a NAT)."""
    if listening not in _ANYWHERE:
        return listening
    name = socket.getfqdn()
    if "." not in name or name.startswith("localhost"):
        name = socket.gethostname()
    return name


def record(data_dir: Path, doors: DoorsRecord) -> None:
    """Record this process's doors for DATA (replacing any record there); held until
    `forget` or the end of the process. A record that is not sane is a ValueError."""
    payload = doors.payload()
    forget(data_dir)
    with private(data_dir, SERVE_FOLDER) as folder:
        temp = temp_name(RECORD)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(temp, flags, 0o600, dir_fd=folder.fd)
        except OSError as error:
            raise cannot_write(folder.path, error) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # before it has its name: never seen unheld
            os.write(fd, payload)
            os.fsync(fd)
            os.replace(temp, RECORD, src_dir_fd=folder.fd, dst_dir_fd=folder.fd)
        except OSError as error:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=folder.fd)
            raise cannot_write(folder.path, error) from None
    _held[_key(data_dir)] = fd


def forget(data_dir: Path) -> None:
    """Remove this process's record for DATA, if the name still holds it (a serve started
    since keeps its own), and let go of it. Never raises: serve is stopping."""
    fd = _held.pop(_key(data_dir), None)
    if fd is None:
        return
    try:
        with contextlib.suppress(OSError, StoreError):
            mine = os.fstat(fd)
            with Folder.root(data_dir) as root, opened(root.folder(SERVE_FOLDER)) as folder:
                found = None if folder is None else folder.lstat(RECORD)
                if folder is not None and found is not None and _same(found, mine):
                    os.unlink(RECORD, dir_fd=folder.fd)
    finally:
        os.close(fd)


def _same(one: os.stat_result, other: os.stat_result) -> bool:
    return (one.st_dev, one.st_ino) == (other.st_dev, other.st_ino)


def _key(data_dir: Path) -> Path:
    return Path(data_dir).absolute()
