"""Cost of one write against the size of the history: does a write grow with the data folder?

DESIGN.md: "One TinyDB file per session plus a small index, so the cost of a write grows with
the session, not with history." This measures Sessions.add_complaint on a session holding 20
complaints in a data folder where it is alone (A, the baseline) and in one where 500 other
sessions exist (B), interleaved A, B, A, B ... so that machine noise hits both alike. After
each timed write the complaint is deleted again (untimed), so the session stays at 20.

Rows marked "info" carry no goal; they help locate a cost:
  - "CLI path": a fresh Store + Sessions per write, as every `therapy` command builds one
    (Store() sweeps the folders for leftover temp files);
  - "no fsync": os.fsync stubbed out in this process, which removes the disk flush that
    dominates a write and leaves the CPU and directory-scan part, where history shows.

Ratio = median(B) / median(A). Goal: ratio <= 1.1 for the plain write.
Usage: python bench/write_cost.py [--rounds N] [--others N] [--strict]
Reports only; exits 0 unless --strict is given and the goal is missed.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# First: importing common puts the checkout on sys.path for the therapy imports below.
from common import p90

from therapy.service import Sessions, new_code
from therapy.store import Store

GOAL = 1.1
COMPLAINTS = 20
SIDES = ("Sales", "Marketing")
TEXT = "Leads are not ready to buy; they only downloaded an ebook."


def make_target(root: Path) -> str:
    """A session of COMPLAINTS complaints in the vent phase; its code."""
    sessions = Sessions(Store(root))
    code = sessions.create("Write cost target", SIDES).code
    sessions.set_phase(code, "vent")
    rows: list[tuple[str, str, str | None]] = [
        (SIDES[i % 2], f"Complaint number {i}: {TEXT}", None) for i in range(COMPLAINTS)
    ]
    sessions.add_complaints(code, rows)
    return code


def add_history(root: Path, count: int) -> None:
    """COUNT other sessions: copies of one real session file, each in its own folder with
    the lock file a used session has, each written and registered by Store.create."""
    store = Store(root)
    sessions = Sessions(store)
    template = make_target(root)  # one more realistic session (20 complaints) as the model
    model = store.read(template)
    made = 0
    while made < count - 1:
        snapshot = copy.deepcopy(model)
        snapshot.session.code = new_code()
        snapshot.session.title = "Earlier retro"
        snapshot.session.created = f"2025-{1 + made % 12:02d}-{1 + made % 28:02d}T09:00:00+00:00"
        if store.create(snapshot):
            made += 1
    assert len(sessions.store.index()[0]) == count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="timed writes per folder")
    parser.add_argument("--others", type=int, default=500, help="other sessions in folder B")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the goal is missed")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="therapy-bench-write-"))
    real_fsync = os.fsync
    try:
        root_a, root_b = base / "alone", base / "history"
        started = time.perf_counter()
        code_a = make_target(root_a)
        add_history(root_b, args.others)
        code_b = make_target(root_b)
        setup = time.perf_counter() - started
        files_b = sum(1 for _ in (root_b / "sessions").glob("*/*"))

        long_lived = {
            "A": (Sessions(Store(root_a)), code_a),
            "B": (Sessions(Store(root_b)), code_b),
        }
        roots = {"A": root_a, "B": root_b}

        def plain(which: str) -> tuple[float, Sessions, str]:
            sessions, code = long_lived[which]
            t0 = time.perf_counter()
            complaint = sessions.add_complaint(code, "Sales", TEXT)
            elapsed = time.perf_counter() - t0
            sessions.delete_complaint(code, complaint.id)
            return elapsed, sessions, code

        def cli_path(which: str) -> tuple[float, Sessions, str]:
            code = long_lived[which][1]
            t0 = time.perf_counter()
            sessions = Sessions(Store(roots[which]))
            complaint = sessions.add_complaint(code, "Sales", TEXT)
            elapsed = time.perf_counter() - t0
            sessions.delete_complaint(code, complaint.id)
            return elapsed, sessions, code

        def measure(
            kind: Callable[[str], tuple[float, Sessions, str]], rounds: int, fsync: bool = True
        ) -> dict[str, list[float]]:
            times: dict[str, list[float]] = {"A": [], "B": []}
            os.fsync = real_fsync if fsync else (lambda fd: None)
            try:
                for which in ("A", "B"):  # warm-up, untimed
                    kind(which)
                for _ in range(rounds):
                    for which in ("A", "B"):
                        times[which].append(kind(which)[0])
            finally:
                os.fsync = real_fsync
            return times

        results = [
            ("add_complaint", measure(plain, args.rounds), True),
            ("CLI path: Store()+add", measure(cli_path, max(20, args.rounds // 4)), False),
            ("no fsync: add_complaint", measure(plain, args.rounds, fsync=False), False),
        ]
        for sessions, code in long_lived.values():
            assert len(sessions.board(code).complaints) == COMPLAINTS
    finally:
        os.fsync = real_fsync
        shutil.rmtree(base, ignore_errors=True)

    print(
        f"write_cost: one add_complaint on a {COMPLAINTS}-complaint session; "
        f"A = alone in its data dir, B = {args.others} other sessions "
        f"({files_b} files in sessions/); setup {setup:.1f} s"
    )
    print(
        f"{'measure':<26}{'dir':<4}{'n':>5}{'median ms':>11}{'p90 ms':>9}"
        f"{'ratio B/A':>11}{'goal':>9}"
    )
    verdict = True
    for name, times, gated in results:
        med_a, med_b = statistics.median(times["A"]), statistics.median(times["B"])
        ratio = med_b / med_a
        for which, med in (("A", med_a), ("B", med_b)):
            last = which == "B"
            print(
                f"{name if not last else '':<26}{which:<4}{len(times[which]):>5}"
                f"{med * 1e3:>11.3f}{p90(times[which]) * 1e3:>9.3f}"
                f"{(f'{ratio:.3f}' if last else ''):>11}"
                f"{((f'<= {GOAL}' if gated else 'info') if last else ''):>9}"
            )
        if gated:
            verdict = ratio <= GOAL
    print("PASS" if verdict else "MISS")
    return 1 if args.strict and not verdict else 0


if __name__ == "__main__":
    sys.exit(main())
