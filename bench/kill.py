"""Kill: SIGKILL at any moment loses no acknowledged write and leaves nothing broken behind.

Three kinds of victims, each SIGKILLed while it runs, in a fresh temporary data folder:
  - `therapy add CODE --side Sales TEXT`: acknowledged once it printed the complaint's id;
  - `therapy new TITLE`: acknowledged once it printed the new session's code;
  - a service loop: a Python process calling Sessions.add_complaint over and over, printing
    (flushed) each id it gets back; every id printed is acknowledged.
Each round starts one victim and kills it either after a random delay ("random": 0 to a
little more than the victim's unkilled run time, measured first, so that some finish before
the kill) or as its temp file appears ("at .tmp": a tight loop polls the folder the victim
writes in and kills as soon as a new name ending in .tmp shows; for `new`, either the new
session's folder or the data folder, where the index is written, chosen at random). Rounds
run in --workers threads, each adding to target sessions of its own (a fresh one every
--per-target complaints, so no file grows huge); `new` rounds run one at a time, so that a
temp file seen is the victim's own. The campaign ends once --kills kills have landed, or at
--time-limit, or after 4 x --kills rounds.

Then `therapy list` runs once (the next open), and these are counted; goal 0 for each:
  - acknowledged writes lost: an acknowledged id missing from its session (Sessions.board)
    or there with another text, or an acknowledged new code not in `therapy list --json`;
  - corrupt: `therapy list` failing, `therapy list --json` rows with a problem, `therapy
    status CODE` failing for a listed session, session.json / index.json not valid JSON;
  - orphan sessions: a folder under DATA/sessions/ that `therapy list --json` does not show
    and that accepts `therapy add` (one that refuses it is not an orphan);
  - temp files left: files ending in .tmp anywhere under the data folder;
  - victims that failed on their own (a non-zero exit before any kill: a round that tested
    nothing, or a bug; the last line of the first few errors is printed).
Info rows: kills landed per kind and way, victims that had finished before the kill, temp
files never seen by an "at .tmp" round (the victim finished first), and writes that landed
but were never acknowledged (killed between the commit and the print: allowed).

Child processes run with bytecode cached in a temporary PYTHONPYCACHEPREFIX; every victim
still alive at the end (or on an error or Ctrl-C) is killed and reaped, and the temporary
folder is removed unless --keep is given.
Usage: python bench/kill.py [--kills N] [--workers N] [--tmp-share F] [--time-limit S]
                            [--seed N] [--quick] [--keep]
Prints counts and RESULT: ok / FAILED; exits 1 when a goal count is not 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

# First: importing common puts the checkout on sys.path for the therapy imports below.
from common import environment, interrupted, run_campaign, table, therapy_command

from therapy.service import Sessions
from therapy.store import Store

KINDS = ("add", "new", "loop")
WEIGHTS = (0.45, 0.30, 0.25)
TMP = ".tmp"
LOOP_ADDS = 400  # a service loop ends by itself after this many adds
TMP_WAIT = 5.0  # an "at .tmp" round kills anyway after this long
CHECK_TIMEOUT = 60.0


def loop_victim(code: str, tag: str, adds: int) -> None:
    """The service loop: add, print the id (flushed), again, until killed."""
    sessions = Sessions(Store(os.environ["THERAPY_DATA_DIR"]))
    for n in range(adds):
        complaint = sessions.add_complaint(code, "Marketing", f"{tag} n{n}")
        print(f"{complaint.id} {n}", flush=True)


def lines_of(out: str) -> list[str]:
    """The complete lines of OUT: a line cut off by the kill was never acknowledged."""
    return out.split("\n")[:-1]


def tmp_names(folder: Path) -> set[str]:
    try:
        return {e.name for e in os.scandir(folder) if e.name.endswith(TMP)}
    except FileNotFoundError:
        return set()


def folder_names(folder: Path) -> set[str]:
    try:
        return {e.name for e in os.scandir(folder)}
    except FileNotFoundError:
        return set()


class Stopped(Exception):
    """The campaign is over: start no more victims."""


@dataclass
class Worker:
    index: int
    rng: random.Random
    target: str = ""
    in_target: int = 0  # complaints (at most) put into the current target


@dataclass
class Campaign:
    data: Path
    env: dict[str, str]
    cmd: list[str]
    cwd: Path
    kills: int
    tmp_share: float
    per_target: int
    windows: dict[str, float]
    deadline: float
    max_rounds: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    new_lock: threading.Lock = field(default_factory=threading.Lock)
    live: set[subprocess.Popen[str]] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)
    rounds: int = 0
    landed: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    acked: list[tuple[str, int, str]] = field(default_factory=list)  # code, id, text
    acked_new: list[str] = field(default_factory=list)
    attempted: dict[str, set[str]] = field(default_factory=dict)  # code -> texts tried
    own_errors: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)

    @property
    def sessions_dir(self) -> Path:
        return self.data / "sessions"

    def new_target(self, worker: Worker) -> None:
        with self.new_lock:  # no temp file of its own under a `new` round's eyes
            code = Sessions(Store(self.data)).create(f"Kill target {len(self.targets)}").code
        worker.target, worker.in_target = code, 0
        with self.lock:
            self.targets.append(code)
            self.attempted[code] = set()

    def spawn(self, argv: list[str]) -> subprocess.Popen[str]:
        with self.lock:  # so that kill_all, once stop is set, misses no victim
            if self.stop.is_set():
                raise Stopped
            proc = subprocess.Popen(
                argv,
                env=self.env,
                cwd=self.cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            self.live.add(proc)
        return proc

    def kill_all(self) -> None:
        self.stop.set()
        with self.lock:
            procs = list(self.live)
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
        for proc in procs:  # reap only: the thread that started one reads its pipes
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)

    def run(self, worker: Worker) -> None:
        try:
            while not self.stop.is_set():
                with self.lock:
                    if (
                        self.landed >= self.kills
                        or self.rounds >= self.max_rounds
                        or time.monotonic() >= self.deadline
                    ):
                        self.stop.set()
                        return
                    self.rounds += 1
                    number = self.rounds
                kind = worker.rng.choices(KINDS, WEIGHTS)[0]
                at_tmp = worker.rng.random() < self.tmp_share
                if kind == "new":
                    with self.new_lock:
                        self.round(worker, number, kind, at_tmp)
                else:
                    if not worker.target or worker.in_target >= self.per_target:
                        self.new_target(worker)
                    self.round(worker, number, kind, at_tmp)
        except Stopped:
            return
        except Exception as error:  # a bug here must stop the campaign, not hang it
            with self.lock:
                self.own_errors.append(f"worker {worker.index}: {type(error).__name__}: {error}")
            self.stop.set()

    def round(self, worker: Worker, number: int, kind: str, at_tmp: bool) -> None:
        rng = worker.rng
        code = worker.target
        watch: list[Path] = []
        new_folders = False
        if kind == "add":
            text = f"kill r{number}"
            argv = [*self.cmd, "add", code, "--side", "Sales", text]
            watch = [self.sessions_dir / code]
            with self.lock:
                self.attempted[code].add(text)
        elif kind == "new":
            argv = [*self.cmd, "new", f"Kill new r{number}"]
            if rng.random() < 0.5:
                new_folders = True  # the session file, in the new session's folder
            else:
                watch = [self.data]  # the index, in the data folder
        else:
            tag = f"loop r{number}"
            argv = [sys.executable, str(Path(__file__).resolve()), "--loop-victim", code, tag]
            watch = [self.sessions_dir / code]
        before = {folder: tmp_names(folder) for folder in watch}
        known = folder_names(self.sessions_dir) if new_folders else set()
        proc = self.spawn(argv)
        seen = False
        try:
            if not at_tmp:
                time.sleep(rng.uniform(0, self.windows[kind]))
            else:
                if kind == "loop":  # let it get going first: kill at some later write
                    time.sleep(rng.uniform(0, self.windows["loop"] * 0.7))
                seen = self.wait_tmp(proc, watch, before, known if new_folders else None)
            finished = proc.poll() is not None
            if not finished:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
            out, err = proc.communicate(timeout=CHECK_TIMEOUT)
        finally:
            with self.lock:
                self.live.discard(proc)
        landed = proc.returncode == -signal.SIGKILL
        way = "at .tmp" if at_tmp else "random"
        with self.lock:
            if landed:
                self.landed += 1
                self.counts[f"kills landed: {kind} ({way})"] += 1
            else:
                self.counts[f"finished before the kill: {kind}"] += 1
                if proc.returncode != 0:
                    self.counts["victims failed on their own"] += 1
                    last = (err.strip().splitlines() or ["(nothing on stderr)"])[-1]
                    self.own_errors.append(f"{' '.join(argv[-3:])}: exit {proc.returncode}: {last}")
            if at_tmp and not seen:
                self.counts[f"at .tmp, none seen: {kind}"] += 1
            lines = lines_of(out)
            if kind == "add":
                worker.in_target += 1
                if lines and lines[0].strip().isdigit():
                    self.acked.append((code, int(lines[0]), text))
            elif kind == "new":
                if lines and re.fullmatch(r"[A-Z0-9]+", lines[0].strip()):
                    self.acked_new.append(lines[0].strip())
            else:
                for line in lines:
                    match = re.fullmatch(r"(\d+) (\d+)", line.strip())
                    if match:
                        self.acked.append((code, int(match[1]), f"{tag} n{match[2]}"))
                        self.attempted[code].add(f"{tag} n{match[2]}")
                worker.in_target += len(lines) + 1
                # the one in flight at the kill may have landed
                self.attempted[code].add(f"{tag} n{len(lines)}")

    def wait_tmp(
        self,
        proc: subprocess.Popen[str],
        watch: list[Path],
        before: dict[Path, set[str]],
        known: set[str] | None,
    ) -> bool:
        """Poll until a new temp file shows (True), or the victim ends or TMP_WAIT passes."""
        sessions_dir = self.sessions_dir
        until = time.monotonic() + TMP_WAIT
        while True:
            for folder in watch:
                if tmp_names(folder) - before[folder]:
                    return True
            if known is not None:
                for name in folder_names(sessions_dir) - known:
                    if tmp_names(sessions_dir / name):
                        return True
            if proc.poll() is not None or time.monotonic() >= until:
                return False


def calibrate(campaign: Campaign) -> dict[str, float]:
    """Median wall time of three unkilled runs of `add` and of `new` (they also warm the
    bytecode cache); their results are checked like any other acknowledged write."""
    worker = Worker(-1, random.Random(0))
    campaign.new_target(worker)
    times: dict[str, list[float]] = {"add": [], "new": []}
    for i in range(3):
        for kind, argv in (
            ("add", [*campaign.cmd, "add", worker.target, "--side", "Sales", f"calibrate {i}"]),
            ("new", [*campaign.cmd, "new", f"Calibrate {i}"]),
        ):
            t0 = time.perf_counter()
            done = subprocess.run(
                argv, env=campaign.env, cwd=campaign.cwd, capture_output=True, text=True
            )
            times[kind].append(time.perf_counter() - t0)
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
            if kind == "add":
                campaign.acked.append((worker.target, int(done.stdout.split()[0]), argv[-1]))
                campaign.attempted[worker.target].add(argv[-1])
            else:
                campaign.acked_new.append(done.stdout.split()[0])
    return {kind: statistics.median(values) for kind, values in times.items()}


def cli(campaign: Campaign, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*campaign.cmd, *args],
        env=campaign.env,
        cwd=campaign.cwd,
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT,
    )


def check(campaign: Campaign, goals: dict[str, int], info: dict[str, int]) -> list[str]:
    """Fill GOALS and INFO from the data folder after the campaign; examples of failures."""
    data = campaign.data
    examples: list[str] = []
    first = cli(campaign, "list")  # the next open
    goals["corrupt: therapy list failed"] = int(first.returncode != 0)
    if first.returncode != 0:
        examples.append(f"therapy list: {first.stderr.strip()[:300]}")

    left = [p for p in data.rglob("*") if p.name.endswith(TMP)]
    goals["temp files left after the next open"] = len(left)
    examples += [f"temp file left: {p.relative_to(data)}" for p in left[:3]]

    listed = cli(campaign, "list", "--json")
    rows = json.loads(listed.stdout) if listed.returncode == 0 else []
    if listed.returncode != 0:
        goals["corrupt: therapy list failed"] += 1
        examples.append(f"therapy list --json: {listed.stderr.strip()[:300]}")
    problems = [row for row in rows if row.get("problem")]
    goals["corrupt: list --json rows with a problem"] = len(problems)
    examples += [f"problem: {row['code']}: {row['problem'][:200]}" for row in problems[:3]]
    codes = {row["code"] for row in rows}
    info["sessions listed"] = len(codes)

    def status(code: str) -> tuple[str, subprocess.CompletedProcess[str]]:
        return code, cli(campaign, "status", code)

    ok = sorted(codes - {row["code"] for row in problems})
    with ThreadPoolExecutor(max_workers=4) as pool:
        failed = [(c, done) for c, done in pool.map(status, ok) if done.returncode != 0]
    goals["corrupt: therapy status failed"] = len(failed)
    examples += [f"status {c}: {done.stderr.strip()[:200]}" for c, done in failed[:3]]

    bad_json = []
    for path in [data / "index.json", *data.glob("sessions/*/session.json")]:
        if path.exists():
            try:
                json.loads(path.read_bytes())
            except ValueError as error:
                bad_json.append(f"not JSON: {path.relative_to(data)} ({error})")
    goals["corrupt: files not valid JSON"] = len(bad_json)
    examples += bad_json[:3]

    sessions = Sessions(Store(data))
    stored: dict[str, dict[int, str] | None] = {}
    for code in {code for code, _, _ in campaign.acked} | set(campaign.targets):
        try:
            stored[code] = {c.id: c.text for c in sessions.board(code).complaints}
        except Exception as error:
            stored[code] = None
            examples.append(f"board {code}: {type(error).__name__}: {error}")
    lost = [
        (code, cid, text)
        for code, cid, text in campaign.acked
        if (stored[code] or {}).get(cid) != text
    ]
    lost_new = [code for code in campaign.acked_new if code not in codes]
    goals["acknowledged writes lost"] = len(lost) + len(lost_new)
    examples += [f"lost: {code} #{cid} {text!r}" for code, cid, text in lost[:3]]
    examples += [f"lost: session {code} (printed by new, not listed)" for code in lost_new[:3]]
    acked_texts = {(code, text) for code, _, text in campaign.acked}
    info["acknowledged adds (incl. loop)"] = len(campaign.acked)
    info["acknowledged new sessions"] = len(campaign.acked_new)
    info["writes landed, never acknowledged"] = sum(
        1
        for code, texts in campaign.attempted.items()
        for text in set((stored.get(code) or {}).values()) & texts
        if (code, text) not in acked_texts
    )

    unlisted = sorted(folder_names(campaign.sessions_dir) - codes)
    info["session folders not listed"] = len(unlisted)
    orphans = []
    for name in unlisted:
        if not (campaign.sessions_dir / name).is_dir():
            continue  # gone after the list: not an orphan
        probe = cli(campaign, "add", name, "--side", "Sales", "orphan probe")
        if probe.returncode == 0:
            orphans.append(name)
    goals["orphan sessions (unlisted, accept add)"] = len(orphans)
    examples += [f"orphan: sessions/{name}" for name in orphans[:3]]
    return examples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=1000, help="SIGKILLs that must land")
    parser.add_argument("--workers", type=int, default=2, help="rounds running at once")
    parser.add_argument(
        "--tmp-share", type=float, default=0.4, help="share of rounds killed at a temp file"
    )
    parser.add_argument("--per-target", type=int, default=600, help="complaints per target")
    parser.add_argument("--loop-window", type=float, default=0.6, help="max seconds per loop")
    parser.add_argument("--time-limit", type=float, default=150.0, help="campaign seconds")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--quick", action="store_true", help="a ~20 s smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    parser.add_argument("--loop-victim", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loop_victim:
        loop_victim(*args.loop_victim, LOOP_ADDS)
        return 0
    if args.quick:
        args.kills, args.time_limit = min(args.kills, 150), min(args.time_limit, 15.0)

    signal.signal(signal.SIGTERM, interrupted)
    base = Path(tempfile.mkdtemp(prefix="therapy-bench-kill-"))
    data = base / "data"
    env = environment(base / "pycache")
    env["THERAPY_DATA_DIR"] = str(data)
    campaign: Campaign | None = None
    started = time.perf_counter()
    try:
        cmd, shown = therapy_command()
        campaign = Campaign(
            data=data,
            env=env,
            cmd=cmd,
            cwd=base,
            kills=args.kills,
            tmp_share=args.tmp_share,
            per_target=args.per_target,
            windows={},
            deadline=0.0,
            max_rounds=4 * args.kills,
        )
        medians = calibrate(campaign)
        campaign.windows = {
            "add": 1.2 * medians["add"],
            "new": 1.2 * medians["new"],
            "loop": args.loop_window,
        }
        print(
            f"kill: {shown}, data {data}; unkilled add {medians['add'] * 1e3:.0f} ms, "
            f"new {medians['new'] * 1e3:.0f} ms; {args.workers} workers, seed {args.seed}",
            flush=True,
        )
        campaign.deadline = time.monotonic() + args.time_limit
        workers = [Worker(i, random.Random(args.seed * 1000 + i)) for i in range(args.workers)]
        threads = [threading.Thread(target=campaign.run, args=(w,), daemon=True) for w in workers]
        t0 = time.perf_counter()
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)
        finally:
            campaign.kill_all()
            for thread in threads:
                thread.join(CHECK_TIMEOUT)
        elapsed = time.perf_counter() - t0

        goals: dict[str, int] = {}
        info: dict[str, int] = {}
        examples = check(campaign, goals, info)

        counts = campaign.counts
        info_rows: list[tuple[str, object, str]] = [("rounds", campaign.rounds, "")]
        info_rows.append(("kills landed", campaign.landed, f">= {args.kills}"))
        for kind in KINDS:
            for way in ("random", "at .tmp"):
                name = f"kills landed: {kind} ({way})"
                info_rows.append((name, counts[name], ""))
        for kind in KINDS:
            name = f"finished before the kill: {kind}"
            info_rows.append((name, counts[name], ""))
        for kind in KINDS:
            name = f"at .tmp, none seen: {kind}"
            info_rows.append((name, counts[name], ""))
        info_rows += [(name, value, "") for name, value in info.items()]
        table("campaign", info_rows)
        goals["victims failed on their own (not killed)"] = counts["victims failed on their own"]
        table("checks", [(name, value, "0") for name, value in goals.items()])
        print(f"\ncampaign {elapsed:.1f} s, total {time.perf_counter() - started:.1f} s")
        for line in campaign.own_errors[:3]:
            print(f"  error: {line}")
        for line in examples[:12]:
            print(f"  {line}")
        failed = [name for name, value in goals.items() if value]
        if campaign.landed < args.kills and not args.quick:
            failed.append(f"kills landed {campaign.landed} < {args.kills}")
        if any(e.startswith("worker") for e in campaign.own_errors):
            failed.append("a worker crashed")
        if failed:
            print(f"RESULT: FAILED ({', '.join(failed)})")
            return 1
        print("RESULT: ok")
        return 0
    finally:
        if campaign is not None:
            campaign.kill_all()
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    run_campaign(main)
