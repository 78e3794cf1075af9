"""Which name each SSH key chose in each session of therapy serve: the key is the person.

Kept in DATA/serve/names/CODE/ as two small files per binding, each made with O_EXCL, so
two connections choosing at once cannot both win a name: `key-<id>` holds the name, and
`name-<hash of the name>` holds the key's id. Nothing there is followed through a link.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from therapy.model import TherapyError
from therapy.text import name_key

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MOST = 1024  # bytes in one file: a name or a key's id


@contextmanager
def _folder(root: Path, *parts: str) -> Iterator[int]:
    """The folder root/parts..., made private (0700) where missing, opened without following
    a link at any step below root."""
    fd = os.open(root, _DIRECTORY)
    try:
        for part in parts:
            with suppress(FileExistsError):
                os.mkdir(part, 0o700, dir_fd=fd)
            inner = os.open(part, _DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        if os.fstat(fd).st_uid != os.geteuid():
            raise TherapyError(f"{root.joinpath(*parts)} is not yours; therapy serve keeps out.")
        yield fd
    finally:
        os.close(fd)


def _read(folder: int, name: str) -> str | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
    except FileNotFoundError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise TherapyError(f"{name} in the served data folder is not a file; remove it.")
        return os.read(fd, _MOST).decode("utf-8", errors="replace")
    finally:
        os.close(fd)


def _write_new(folder: int, name: str, text: str) -> bool:
    """Make the file with `text`; False if it is there already."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, 0o600, dir_fd=folder)
    except FileExistsError:
        return False
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    return True


class KeyNames:
    """The names SSH keys chose in the sessions of one data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    @contextmanager
    def _session(self, code: str) -> Iterator[int]:
        if not code.isalnum() or not code.isascii():
            raise TherapyError(f"There is no session {code}.")
        with _folder(self.data_dir, "serve", "names", code) as folder:
            yield folder

    def name(self, code: str, key: str) -> str | None:
        """The name this key chose in this session, if it chose one."""
        with self._session(code) as folder:
            return _read(folder, f"key-{_id(key)}")

    def claim(self, code: str, key: str, name: str) -> str | None:
        """Bind `name` to `key` in this session. Returns the key's name (the one it chose
        before, if it had one), or None if another key holds `name`."""
        key = _id(key)
        taken = f"name-{hashlib.sha256(name_key(name).encode()).hexdigest()[:32]}"
        with self._session(code) as folder:
            if not _write_new(folder, taken, key) and _read(folder, taken) != key:
                return None
            _write_new(folder, f"key-{key}", name)  # a key that chose already keeps its name
            return _read(folder, f"key-{key}")


def _id(key: str) -> str:
    """A key's id as serve passes it (the SHA-256 of its public blob, in hex), checked."""
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise TherapyError("A key's id is 64 hex digits.")
    return key
