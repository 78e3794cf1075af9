"""A child process for tests/test_store.py: a writer whose every turn holds the lock a while.

lock_worker.py turns ROOT CODE WORKER TURNS HOLD TIMEOUT BARRIER
    with Store(ROOT, lock_timeout=TIMEOUT), wait for BARRIER/go, then TURNS times: add a
    complaint "pWORKER nN" in a transaction that keeps the session's lock for HOLD seconds;
    print each id once its transaction has ended, or "err MESSAGE" and exit 1
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from therapy.service import Sessions
from therapy.store import Store, StoreError

BARRIER_TIMEOUT = 30.0


def turns(
    root: str, code: str, worker: str, count: str, hold: str, timeout: str, barrier: str
) -> None:
    store = Store(root, lock_timeout=float(timeout))
    sessions = Sessions(store)
    folder = Path(barrier)
    (folder / f"ready-{worker}").touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT
    while not (folder / "go").exists():
        if time.monotonic() > deadline:
            sys.exit("the barrier never opened")
        time.sleep(0.002)
    for n in range(int(count)):
        try:
            with store.transaction(code):
                complaint = sessions.add_complaint(code, "Sales", f"p{worker} n{n}")
                time.sleep(float(hold))  # the work of a slow writer, done under the lock
        except StoreError as error:
            print("err", error, flush=True)
            sys.exit(1)
        print(complaint.id, flush=True)


if __name__ == "__main__":
    turns(*sys.argv[2:]) if sys.argv[1] == "turns" else sys.exit(f"unknown mode {sys.argv[1]}")
