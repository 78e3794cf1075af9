"""Which name each SSH key chose in each session of therapy serve: the key is the person.

Kept in DATA/serve/names/CODE/ as two small files per binding, each made once (a temp file
linked to its name, which fails if the name is taken), so two connections choosing at once
cannot both win a name, and a reader never sees an empty claim: `key-<id>` holds the name,
and `name-<hash of the name>` holds the key's id. Nothing there is followed through a link.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from therapy.model import TherapyError
from therapy.serve.private import make_once, private
from therapy.store.files import Folder
from therapy.text import name_key

_MOST = 1024  # bytes in one file: a name or a key's id


def _read(folder: Folder, name: str) -> str | None:
    found = folder.read(name, _MOST, "a name chosen with an SSH key")
    return None if found is None else found.decode("utf-8", errors="replace")


class KeyNames:
    """The names SSH keys chose in the sessions of one data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    @contextmanager
    def _session(self, code: str) -> Iterator[Folder]:
        if not code.isalnum() or not code.isascii():
            raise TherapyError(f"There is no session {code}.")
        with private(self.data_dir, "serve", "names", code) as folder:
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
            if not make_once(folder, taken, key.encode()) and _read(folder, taken) != key:
                return None
            make_once(folder, f"key-{key}", name.encode())  # a key that chose already keeps it
            return _read(folder, f"key-{key}")


def _id(key: str) -> str:
    """A key's id as serve passes it (the SHA-256 of its public blob, in hex), checked."""
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise TherapyError("A key's id is 64 hex digits.")
    return key
