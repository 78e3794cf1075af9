"""Writers: many processes adding to one session at once lose nothing and duplicate nothing.

In a fresh temporary data folder, one session gets --writers writer processes x --adds
complaints each. A writer is a Python process with its own Sessions(Store(DATA)) that says
it is ready, waits until every writer is, then calls Sessions.add_complaint --adds times in
a row (sides alternating, text "wW nN", author "writer W"), printing (flushed) each id it got
back with the seconds the add took, or the error it got. So every add contends with the
others for the session's lock across processes, not threads. At the same time:
  - 2 readers loop on `therapy status`, `therapy export --format json|md|csv` and `therapy
    list [--json]` of the data folder (an error: a non-zero exit, or JSON that does not
    parse);
  - one process moves the phase back and forth, `therapy phase CODE vent` / `therapy phase
    CODE check-in` (complaints can be logged in both, so no add may fail for it).

Counted at the end, from Sessions.board of the session (goal 0 each): failed adds (with the
first error's text), lost (acknowledged, but not in the session with its text), duplicate
ids (an id acknowledged to two adds, or stored twice), complaints stored twice, stored but
never acknowledged, reader errors, phase move errors. Info: adds attempted, cards/s (the
acknowledged adds over the time from "go" until the last writer ended), seconds one add took
(median, p90, p99, max), adds of others between two adds of one writer (min, median, max:
ids are given in lock order, so with the lock granted in arrival order all three are near
--writers - 1; 0 is a writer that took the lock again before the next in line), reads and
phase moves done.

Child processes run with bytecode cached in a temporary PYTHONPYCACHEPREFIX; every process
still alive at the end (or on an error or Ctrl-C) is killed and reaped, and the temporary
folder is removed unless --keep is given.
Usage: python bench/writers.py [--writers N] [--adds N] [--quick] [--keep]
Prints counts and RESULT: ok / FAILED; exits 1 when a goal count is not 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# First: importing common puts the checkout on sys.path for the therapy imports below.
from common import environment, interrupted, percentile, run_campaign, table, therapy_command

from therapy.service import Sessions
from therapy.store import Store

SIDES = ("Sales", "Marketing")
READS = (
    ("status",),
    ("export", "--format", "json"),
    ("export", "--format", "md"),
    ("export", "--format", "csv"),
    ("list",),
    ("list", "--json"),
)
READY_TIMEOUT = 60.0  # for every writer to have imported therapy and said so
# For every writer to end once told to go: a fair lock has them all end near the end, so the
# budget grows with the adds (at 10 cards/s, slower than any run seen on 2 busy cores).
RUN_TIMEOUT = 60.0
RUN_TIMEOUT_PER_ADD = 0.1
STEP_TIMEOUT = 30.0  # for one reader or phase command
TIME_POINTS = (("median", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
TURN_POINTS = (("min", 0.0), ("median", 0.5), ("max", 1.0))


def writer(code: str, number: int, adds: int) -> None:
    """One writer process: ready, wait for go on stdin, add, print each outcome."""
    sessions = Sessions(Store(os.environ["THERAPY_DATA_DIR"]))
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    for n in range(adds):
        start = time.perf_counter()
        try:
            complaint = sessions.add_complaint(
                code, SIDES[(number + n) % 2], f"w{number} n{n}", author=f"writer {number}"
            )
        except Exception as error:
            message = " ".join(f"{type(error).__name__}: {error}".split())
            print(f"err {n} {message}", flush=True)
        else:
            print(f"ok {complaint.id} {n} {time.perf_counter() - start:.4f}", flush=True)


def spread(
    what: str, values: list[float], points: tuple[tuple[str, float], ...], digits: int
) -> list[tuple[str, object, str]]:
    """A table's rows for points (name, quantile) of a distribution."""
    return [
        (f"{what}, {name}", f"{percentile(values, q):.{digits}f}" if values else "-", "")
        for name, q in points
    ]


class Stopped(Exception):
    """The bench is ending: start no more processes."""


@dataclass
class Children:
    """Every process this bench started, so that all of them can be killed at the end."""

    env: dict[str, str]
    cwd: Path
    lock: threading.Lock = field(default_factory=threading.Lock)
    live: set[subprocess.Popen[str]] = field(default_factory=set)
    closed: bool = False

    def start(self, argv: list[str], stdin: int | None = None) -> subprocess.Popen[str]:
        with self.lock:  # so that kill_all, once closed, misses no process
            if self.closed:
                raise Stopped
            proc = subprocess.Popen(
                argv,
                env=self.env,
                cwd=self.cwd,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            self.live.add(proc)
        return proc

    def finish(self, proc: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
        try:
            return proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return out, err + f"\n(killed after {timeout:g} s)"
        finally:
            with self.lock:
                self.live.discard(proc)

    def run(self, argv: list[str]) -> tuple[int, str, str]:
        proc = self.start(argv, stdin=subprocess.DEVNULL)
        out, err = self.finish(proc, STEP_TIMEOUT)
        return proc.returncode, out, err

    def kill_all(self) -> None:
        with self.lock:
            self.closed = True
            procs = list(self.live)
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
        for proc in procs:  # reap only: the thread that started one reads its pipes
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)


@dataclass
class Loop:
    """A background loop of commands: how many ran, how many failed, the first failure."""

    done: int = 0
    errors: int = 0
    first: str = ""

    def failed(self, what: str) -> None:
        self.errors += 1
        if not self.first:
            self.first = " ".join(what.split())[:300]


def reader(
    children: Children, cmd: list[str], code: str, offset: int, stop: threading.Event, loop: Loop
) -> None:
    step = offset
    while not stop.is_set():
        args = list(READS[step % len(READS)])
        step += 1
        if args[0] in ("status", "export"):
            args.insert(1, code)
        try:
            rc, out, err = children.run([*cmd, *args])
        except Stopped:
            return
        loop.done += 1
        if rc != 0:
            loop.failed(f"therapy {' '.join(args)}: exit {rc}: {err.strip()}")
        elif "json" in args:
            try:
                json.loads(out)
            except ValueError as error:
                loop.failed(f"therapy {' '.join(args)}: not JSON ({error})")


def mover(children: Children, cmd: list[str], code: str, stop: threading.Event, loop: Loop) -> None:
    step = 0
    while not stop.is_set():
        target = ("vent", "check-in")[step % 2]
        step += 1
        try:
            rc, out, err = children.run([*cmd, "phase", code, target])
        except Stopped:
            return
        loop.done += 1
        if rc != 0:
            loop.failed(f"therapy phase {code} {target}: exit {rc}: {err.strip()}")
        elif out.strip() != target:
            loop.failed(f"therapy phase {code} {target} printed {out.strip()!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=30, help="writer processes")
    parser.add_argument("--adds", type=int, default=20, help="adds per writer")
    parser.add_argument("--quick", action="store_true", help="a ~20 s smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    parser.add_argument("--writer", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        code, number, adds = args.writer
        writer(code, int(number), int(adds))
        return 0
    if args.quick:
        args.writers, args.adds = min(args.writers, 10), min(args.adds, 10)

    signal.signal(signal.SIGTERM, interrupted)
    base = Path(tempfile.mkdtemp(prefix="therapy-bench-writers-"))
    data = base / "data"
    env = environment(base / "pycache")
    env["THERAPY_DATA_DIR"] = str(data)
    children = Children(env, base)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    started = time.perf_counter()
    try:
        cmd, shown = therapy_command()
        code = Sessions(Store(data)).create("Writers", SIDES).code
        rc, _, err = children.run([*cmd, "status", code])  # also warms the bytecode cache
        if rc != 0:
            raise SystemExit(f"therapy status {code} failed: {err}")
        print(
            f"writers: {shown}, data {data}; {args.writers} writers x {args.adds} adds, "
            "2 readers, 1 phase mover",
            flush=True,
        )
        script = str(Path(__file__).resolve())
        procs = [
            children.start(
                [sys.executable, script, "--writer", code, str(w), str(args.adds)],
                stdin=subprocess.PIPE,
            )
            for w in range(args.writers)
        ]
        until = time.monotonic() + READY_TIMEOUT
        for w, proc in enumerate(procs):
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, until - time.monotonic()))
            line = proc.stdout.readline() if ready else "(nothing in time)"
            if line.strip() != "ready":
                raise SystemExit(f"writer {w} did not get ready: {line!r} {proc.poll()}")

        reads, moves = Loop(), Loop()
        threads = [
            threading.Thread(target=reader, args=(children, cmd, code, i * 3, stop, reads))
            for i in range(2)
        ]
        threads.append(threading.Thread(target=mover, args=(children, cmd, code, stop, moves)))
        for thread in threads:
            thread.daemon = True
            thread.start()

        t0 = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()  # communicate() closes it
        outputs = []
        deadline = time.monotonic() + RUN_TIMEOUT + RUN_TIMEOUT_PER_ADD * args.writers * args.adds
        for proc in procs:
            outputs.append(children.finish(proc, max(1.0, deadline - time.monotonic())))
        elapsed = time.perf_counter() - t0
        stop.set()
        for thread in threads:
            thread.join(STEP_TIMEOUT + 5)

        acked: list[tuple[int, str]] = []  # id, text
        took: list[float] = []  # seconds per acknowledged add
        overtaken: list[float] = []  # others' adds between two of one writer's (ids are in order)
        failed: list[str] = []
        writer_crashes: list[str] = []
        for w, (proc, (out, err)) in enumerate(zip(procs, outputs, strict=True)):
            last = None
            for line in out.split("\n"):  # "ready" was read already
                if match := re.fullmatch(r"ok (\d+) (\d+) ([\d.]+)", line):
                    acked.append((int(match[1]), f"w{w} n{match[2]}"))
                    took.append(float(match[3]))
                    if last is not None:
                        overtaken.append(int(match[1]) - last - 1)
                    last = int(match[1])
                elif line.startswith("err "):
                    failed.append(f"writer {w}: {line[4:]}")
            if proc.returncode != 0:
                writer_crashes.append(f"writer {w}: exit {proc.returncode}: {err.strip()[-300:]}")

        board = Sessions(Store(data)).board(code)
        stored = [(c.id, c.text) for c in board.complaints]
        stored_by_id = dict(stored)
        acked_ids = Counter(cid for cid, _ in acked)
        stored_ids = Counter(cid for cid, _ in stored)
        stored_texts = Counter(text for _, text in stored)
        acked_texts = {text for _, text in acked}
        lost = [(cid, text) for cid, text in acked if stored_by_id.get(cid) != text]
        attempted = args.writers * args.adds

        info: list[tuple[str, object, str]] = [
            ("adds attempted", attempted, ""),
            ("adds acknowledged", len(acked), str(attempted)),
            ("complaints stored", len(stored), str(attempted)),
            ("seconds, go to last writer done", f"{elapsed:.1f}", ""),
            ("cards/s", f"{len(acked) / elapsed:.1f}" if elapsed else "-", ""),
            *spread("seconds per add", took, TIME_POINTS, 2),
            *spread("others' adds between two of a writer", overtaken, TURN_POINTS, 0),
            ("reads done", reads.done, ""),
            ("phase moves done", moves.done, ""),
        ]
        goals = {
            "failed adds": attempted - len(acked),
            "lost (acknowledged, missing)": len(lost),
            "duplicate ids": sum(n - 1 for n in acked_ids.values() if n > 1)
            + sum(n - 1 for n in stored_ids.values() if n > 1),
            "complaints stored twice": sum(n - 1 for n in stored_texts.values() if n > 1),
            "stored, never acknowledged": sum(1 for _, t in stored if t not in acked_texts),
            "reader errors": reads.errors,
            "phase move errors": moves.errors,
            "writer processes failed": len(writer_crashes),
        }
        table("campaign", info)
        table("checks", [(name, value, "0") for name, value in goals.items()])
        print(f"\ntotal {time.perf_counter() - started:.1f} s")
        if failed:
            print(f"  first failed add: {failed[0]}")
        for cid, text in lost[:3]:
            print(f"  lost: #{cid} {text!r} (stored under that id: {stored_by_id.get(cid)!r})")
        if reads.first:
            print(f"  first reader error: {reads.first}")
        if moves.first:
            print(f"  first phase move error: {moves.first}")
        for line in writer_crashes[:3]:
            print(f"  {line}")
        bad = [name for name, value in goals.items() if value]
        if bad:
            print(f"RESULT: FAILED ({', '.join(bad)})")
            return 1
        print("RESULT: ok")
        return 0
    finally:
        stop.set()
        children.kill_all()
        for thread in threads:
            thread.join(STEP_TIMEOUT + 5)
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    run_campaign(main)
