"""Other Unix users on the host, for the tests of a shared data folder (root only).

A user is a forked child that switched uid, not a new process: the test's Python may live
where another user cannot go (a venv under /root), and setuid needs no /etc/passwd entry.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

NOBODY = 65534  # a second Unix user
OTHER = 4242  # a third one
GROUP = 4343  # a group both may share (the data folder's)

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as other users")


def as_user(uid: int, work: Callable[[], object], groups: tuple[int, ...] = ()) -> str:
    """Run `work` in a forked child as UID (and GROUPS); what it raised, or "". A child
    killed by a signal, or one that ended with a status and said nothing, says so too."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 0
        try:
            os.close(read)
            os.setgroups(list(groups))
            os.setgid(groups[0] if groups else uid)
            os.setuid(uid)
            work()
        except BaseException as error:
            os.write(write, f"{type(error).__name__}: {error}".encode())
            status = 1
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as said:
        raised = said.read().decode()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"{raised}killed by {signal.Signals(os.WTERMSIG(status)).name}"
    if os.waitstatus_to_exitcode(status) != 0 and not raised:
        return f"ended with status {os.waitstatus_to_exitcode(status)}, saying nothing"
    return raised


def answer_as_user(uid: int, work: Callable[[], str], groups: tuple[int, ...] = ()) -> str:
    """Run `work` as UID (and GROUPS), as as_user does, and return what it returned; the
    test fails if it raised or did not end by itself. For short answers (a pipe's worth)."""
    read, write = os.pipe()
    try:
        raised = as_user(uid, lambda: os.write(write, work().encode()), groups)
    finally:
        os.close(write)
    with os.fdopen(read, "rb") as told:
        answer = told.read().decode()
    assert raised == "", f"as uid {uid}: {raised}"
    return answer


@contextmanager
def shared_folder(group: int) -> Iterator[Path]:
    """The README's shared data folder, made by root: setgid 2770, of GROUP, in a folder
    other users may pass through (0711); removed whole at the end."""
    top = Path(tempfile.mkdtemp(prefix="therapy-shared-"))
    try:
        top.chmod(0o711)
        data = top / "data"
        data.mkdir()
        os.chown(data, 0, group)
        data.chmod(0o2770)
        yield data
    finally:
        shutil.rmtree(top)
