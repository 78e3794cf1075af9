"""Other Unix users on the host, for the tests of a shared data folder (root only).

A user is a forked child that switched uid, not a new process: the test's Python may live
where another user cannot go (a venv under /root), and setuid needs no /etc/passwd entry.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

NOBODY = 65534  # a second Unix user
OTHER = 4242  # a third one
GROUP = 4343  # a group both may share (the data folder's)

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as other users")


def as_user(uid: int, work: Callable[[], object], groups: tuple[int, ...] = ()) -> str:
    """Run `work` in a forked child as UID (and GROUPS); what it raised, or ""."""
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
    os.waitpid(pid, 0)
    return raised
