"""The temporary repository that a wiki reached by URL is fetched into.

Its name carries the publishing process's id: a publish that was killed (SIGKILL, a power
cut) cannot clean up after itself, so each publish first removes the ones whose process is
gone, but only real folders of this user (never another user's, never through a symlink).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PREFIX = "therapy-wiki-"
_OWNED = re.compile(rf"{PREFIX}(\d+)-")


@contextmanager
def scratch() -> Iterator[Path]:
    """A new temporary folder, removed afterwards."""
    made = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


def sweep() -> None:
    """Removes from the temporary folder what killed publishes of this user left behind."""
    folder = tempfile.gettempdir()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        owner = _OWNED.match(entry.name)
        if owner is None:
            continue
        try:
            found = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        ours = stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid()
        if ours and not _running(int(owner[1])):
            shutil.rmtree(entry.path, ignore_errors=True)  # it never follows a symlink


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):  # another user's, or no pid at all
        return True
    return True
