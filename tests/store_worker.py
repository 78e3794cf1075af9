"""A child process for tests/test_store.py: the store as another therapy process uses it.

store_worker.py adds ROOT CODE WORKER COUNT BARRIER   wait for BARRIER/go, add COUNT
                                                      complaints, print each id between
                                                      "start TIME" and "end TIME"
store_worker.py loop ROOT CODE TAG                    add complaints until killed,
                                                      print "ID N" once each is stored
store_worker.py hold ROOT CODE [stop]                 take the session's lock, print
                                                      "locked", then sleep (or SIGSTOP)
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from therapy.service import Sessions
from therapy.store import Store

BARRIER_TIMEOUT = 30.0


def at_barrier(barrier: str, worker: str) -> None:
    """Say this worker is ready, then wait until the test says go (or give up)."""
    folder = Path(barrier)
    (folder / f"ready-{worker}").touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT
    while not (folder / "go").exists():
        if time.monotonic() > deadline:
            sys.exit("the barrier never opened")
        time.sleep(0.002)


def adds(root: str, code: str, worker: str, count: str, barrier: str) -> None:
    sessions = Sessions(Store(root))
    at_barrier(barrier, worker)
    print("start", time.time(), flush=True)
    for n in range(int(count)):
        complaint = sessions.add_complaint(code, "Sales", f"p{worker} n{n}")
        print(complaint.id, flush=True)
    print("end", time.time(), flush=True)


def loop(root: str, code: str, tag: str) -> None:
    sessions = Sessions(Store(root))
    print("ready", flush=True)
    for n in itertools.count():
        complaint = sessions.add_complaint(code, "Sales", f"{tag} n{n}")
        # Printed only once add_complaint has returned: an acknowledged write.
        print(complaint.id, n, flush=True)


def hold(root: str, code: str, how: str = "sleep") -> None:
    store = Store(root)
    with store.transaction(code):
        print("locked", flush=True)
        if how == "stop":
            os.kill(os.getpid(), signal.SIGSTOP)
        time.sleep(120)


if __name__ == "__main__":
    modes: dict[str, Callable[..., None]] = {"adds": adds, "loop": loop, "hold": hold}
    modes[sys.argv[1]](*sys.argv[2:])
