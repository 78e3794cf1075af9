"""A child process for tests/test_store.py: a writer whose every turn holds the lock a while.

lock_worker.py turns ROOT CODE WORKER TURNS HOLD TIMEOUT BARRIER
    with Store(ROOT, lock_timeout=TIMEOUT), wait for BARRIER/go, then TURNS times: add a
    complaint "pWORKER nN" in a transaction that keeps the session's lock for HOLD seconds;
    print each id once its transaction has ended, or "err MESSAGE" and exit 1
"""

from __future__ import annotations

import sys
import time

from store_worker import at_barrier  # this folder is on sys.path: the script's own

from therapy.service import Sessions
from therapy.store import Store, StoreError


def turns(
    root: str, code: str, worker: str, count: str, hold: str, timeout: str, barrier: str
) -> None:
    store = Store(root, lock_timeout=float(timeout))
    sessions = Sessions(store)
    at_barrier(barrier, worker)
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
