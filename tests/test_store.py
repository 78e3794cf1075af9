"""The store under real processes: concurrent writers, kill -9, a stuck lock, waiting in
turn, damaged files, what it writes reading back, ids, permissions and a data folder with a
long history.

Child processes run tests/store_worker.py, tests/lock_worker.py or the installed CLI; every
one is bounded in time and killed at the end of its test, whatever happens.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from therapy.limits import COMPLAINTS_PER_SESSION, LOCK_WAIT_TURNS
from therapy.model import (
    ActionItem,
    Complaint,
    Participant,
    Session,
    Snapshot,
    TherapyError,
    Vote,
    Win,
)
from therapy.service import Sessions
from therapy.store import LOCK_TIMEOUT, Store, StoreError
from therapy.store.schema import ROWS, check_savable, decode, encode

WORKER = Path(__file__).with_name("store_worker.py")
LOCK_WORKER = Path(__file__).with_name("lock_worker.py")
CLI = [sys.executable, "-m", "therapy.cli"]


# -- helpers ----------------------------------------------------------------------------


class Child:
    """A child process whose stdout and stderr are read by threads, so it never blocks."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._out: list[str] = []
        self._err: list[str] = []
        self._readers = [
            threading.Thread(target=self._drain, args=(stream, into), daemon=True)
            for stream, into in ((self.proc.stdout, self._out), (self.proc.stderr, self._err))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _drain(stream: IO[str], into: list[str]) -> None:
        for line in stream:
            into.append(line)

    @property
    def lines(self) -> list[str]:
        """Complete lines of stdout (a line cut by a kill would have no newline)."""
        return [line[:-1] for line in list(self._out) if line.endswith("\n")]

    @property
    def stderr(self) -> str:
        return "".join(self._err)

    def wait_for_line(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.lines:
            if self.proc.poll() is not None:
                self.finish(5)
                pytest.fail(f"child exited ({self.proc.returncode}) before '{text}': {self.stderr}")
            if time.monotonic() > deadline:
                pytest.fail(f"child did not print '{text}' within {timeout} s: {self.stderr}")
            time.sleep(0.005)

    def finish(self, timeout: float = 60.0) -> int:
        """Wait for the child to end and for its output to be read; its exit code."""
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        return code

    def kill(self) -> int:
        if self.proc.poll() is None:
            self.proc.kill()
        return self.finish(10)

    def close(self) -> None:
        self.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Child]]:
    """Start children that are always killed and reaped when the test ends."""
    children: list[Child] = []

    def start(*args: object) -> Child:
        child = Child([str(arg) for arg in args], tmp_path)
        children.append(child)
        return child

    yield start
    for child in children:
        child.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


def open_barrier(barrier: Path, workers: list[Child]) -> None:
    """Once every worker is ready at the barrier (or one has died), let them all go."""
    wait_until(
        lambda: (
            len(list(barrier.glob("ready-*"))) == len(workers)
            or any(w.proc.poll() is not None for w in workers)
        ),
        30,
        f"{len(workers)} workers at the barrier",
    )
    (barrier / "go").touch()


def temp_files(root: Path) -> list[Path]:
    return sorted([*root.glob(".*.tmp"), *(root / "sessions").glob("*/.*.tmp")])


def new_session(root: Path, title: str = "t") -> str:
    return Sessions(Store(root)).create(title).code


def texts(root: Path, code: str) -> list[str]:
    return [c.text for c in Sessions(Store(root)).board(code).complaints]


def run_cli(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "--data-dir", str(root), *args],
        cwd=root.parent,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# -- concurrency ------------------------------------------------------------------------


def test_eight_processes_adding_at_once_lose_and_repeat_nothing(
    tmp_path: Path, spawn: Callable[..., Child]
) -> None:
    root = tmp_path / "data"
    sessions = Sessions(Store(root))
    code = sessions.create("t").code
    sessions.set_phase(code, "vent")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    workers = [spawn(sys.executable, WORKER, "adds", root, code, w, 25, barrier) for w in range(8)]
    open_barrier(barrier, workers)
    for worker in workers:
        assert worker.finish(60) == 0, worker.stderr

    windows = [(float(w.lines[0].split()[1]), float(w.lines[-1].split()[1])) for w in workers]
    assert max(start for start, _ in windows) < min(end for _, end in windows), (
        "the workers did not all try to write at the same time"
    )
    acknowledged = {w: [int(line) for line in child.lines[1:-1]] for w, child in enumerate(workers)}
    all_ids = [i for ids in acknowledged.values() for i in ids]
    assert len(all_ids) == 200
    assert len(set(all_ids)) == 200, "two processes were given the same complaint id"
    for ids in acknowledged.values():
        assert ids == sorted(ids), "a process saw its own later complaint get a lower id"

    complaints = Sessions(Store(root)).board(code).complaints
    assert len(complaints) == 200
    assert sorted(c.id for c in complaints) == list(range(1, 201))
    assert {c.id for c in complaints} == set(all_ids)
    assert Counter(c.text for c in complaints) == Counter(
        f"p{w} n{n}" for w in range(8) for n in range(25)
    )


def test_cli_add_from_several_processes_at_once(tmp_path: Path) -> None:
    root = tmp_path / "data"
    code = new_session(root)  # left at check-in, which accepts complaints too
    jobs = [f"c{stream} n{n}" for stream in range(4) for n in range(5)]
    with ThreadPoolExecutor(max_workers=4) as pool:  # four `therapy add` running at any time
        results = list(
            pool.map(lambda job: run_cli(root, "add", code, "--side", "Sales", job), jobs)
        )

    for result in results:
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert re.fullmatch(r"\d+\n", result.stdout), result.stdout
    printed = [int(result.stdout) for result in results]
    assert sorted(printed) == list(range(1, 21))
    complaints = Sessions(Store(root)).board(code).complaints
    assert {c.id: c.text for c in complaints} == dict(zip(printed, jobs, strict=True))


# -- crashes ----------------------------------------------------------------------------


def test_kill_9_during_writes_loses_no_acknowledged_complaint(
    tmp_path: Path, spawn: Callable[..., Child]
) -> None:
    root = tmp_path / "data"
    code = new_session(root)
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    acknowledged: dict[int, str] = {}
    rounds = 8
    reader = Sessions(Store(root))

    for round_ in range(rounds):
        writer = spawn(sys.executable, WORKER, "loop", root, code, f"r{round_}")
        writer.wait_for_line("ready")
        # Read while it writes: a reader never sees half a file, nor a complaint vanish.
        kill_at = time.monotonic() + rng.uniform(0.05, 0.3)
        seen = 0
        while time.monotonic() < kill_at:
            count = len(reader.board(code).complaints)
            assert count >= seen
            seen = count
        writer.proc.send_signal(signal.SIGKILL)
        assert writer.finish(10) == -signal.SIGKILL, writer.stderr
        for line in writer.lines[1:]:
            complaint_id, n = line.split()
            assert int(complaint_id) not in acknowledged, f"id {complaint_id} acknowledged twice"
            acknowledged[int(complaint_id)] = f"r{round_} n{n}"

        # What a writer killed between creating and renaming its temp file leaves behind.
        folder = root / "sessions" / code
        (folder / f".session.json.{writer.proc.pid}.0badf00d.tmp").write_bytes(b'{"se')
        (root / f".index.json.{writer.proc.pid}.0badf00d.tmp").write_bytes(b'{"se')
        store = Store(root)  # the next open of the store, then of the session
        complaints = Sessions(store).board(code).complaints
        assert temp_files(root) == [], f"round {round_}, seed {seed}"

        stored = {c.id: c.text for c in complaints}
        assert len(stored) == len(complaints), f"an id is used twice (seed {seed})"
        lost = {i: text for i, text in acknowledged.items() if stored.get(i) != text}
        assert not lost, f"acknowledged complaints lost in round {round_} (seed {seed})"
        # At most one write per killed writer was stored but not yet acknowledged.
        assert 0 <= len(stored) - len(acknowledged) <= round_ + 1
        assert sorted(stored) == list(range(1, len(stored) + 1))

    assert len(acknowledged) >= rounds, f"the writers hardly wrote anything (seed {seed})"
    after = Sessions(Store(root)).add_complaint(code, "Sales", "after the crashes")
    assert after.id == len(texts(root, code))


# -- a lock held too long ---------------------------------------------------------------


def assert_lock_message(message: str, code: str) -> None:
    assert code in message
    assert re.search(r"\blocked\b", message), message
    assert "try again" in message, message


def test_lock_held_by_another_process_gives_a_clear_error_in_time(
    tmp_path: Path, spawn: Callable[..., Child]
) -> None:
    root = tmp_path / "data"
    code = new_session(root)
    Sessions(Store(root)).add_complaint(code, "Sales", "before")
    path = Store(root).path(code)
    holder = spawn(sys.executable, WORKER, "hold", root, code)
    holder.wait_for_line("locked")
    live_temp = root / "sessions" / code / f".session.json.{holder.proc.pid}.cafebabe.tmp"
    live_temp.write_bytes(b"{")
    watchdog = threading.Timer(10, holder.proc.kill)  # if the store ever waited forever
    watchdog.start()
    try:
        before = path.read_bytes()
        store = Store(root, lock_timeout=1.0)
        Sessions(store).board(code)
        assert live_temp.exists(), "the next open deleted the temp file of a live writer"

        start = time.monotonic()
        with pytest.raises(StoreError) as caught:
            Sessions(store).add_complaint(code, "Sales", "during")
        elapsed = time.monotonic() - start
        assert 0.9 <= elapsed < 5, elapsed
        assert isinstance(caught.value, TherapyError)
        assert_lock_message(str(caught.value), code)
        assert path.read_bytes() == before

        start = time.monotonic()
        assert texts(root, code) == ["before"]
        assert time.monotonic() - start < 0.9, "a reader waited for the writer's lock"
    finally:
        watchdog.cancel()
        holder.kill()

    Sessions(Store(root)).board(code)
    assert not live_temp.exists(), "the temp file of a dead writer survived the next open"
    Sessions(Store(root, lock_timeout=1.0)).add_complaint(code, "Sales", "after")
    assert texts(root, code) == ["before", "after"]


def test_stopped_lock_holder_fails_within_ten_seconds_with_default_timeout(
    tmp_path: Path, spawn: Callable[..., Child]
) -> None:
    root = tmp_path / "data"
    code = new_session(root)
    holder = spawn(sys.executable, WORKER, "hold", root, code, "stop")
    holder.wait_for_line("locked")
    stat = Path(f"/proc/{holder.proc.pid}/stat")
    wait_until(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "T", 10, "SIGSTOP")
    watchdog = threading.Timer(20, holder.proc.kill)  # if the store ever waited forever
    watchdog.start()
    try:
        # The CLI waits for the same lock meanwhile, with the same default timeout.
        cli = spawn(*CLI, "--data-dir", root, "add", code, "--side", "Sales", "from the shell")
        start = time.monotonic()
        with pytest.raises(StoreError) as caught:
            Sessions(Store(root)).add_complaint(code, "Sales", "during")
        elapsed = time.monotonic() - start
        assert 1.0 <= elapsed < 10.0, f"gave up after {elapsed:.1f} s (timeout {LOCK_TIMEOUT})"
        assert_lock_message(str(caught.value), code)

        assert cli.finish(15) != 0
        assert cli.lines == []
        assert "Traceback" not in cli.stderr
        assert_lock_message(cli.stderr, code)
    finally:
        watchdog.cancel()
        holder.kill()

    Sessions(Store(root, lock_timeout=2.0)).add_complaint(code, "Sales", "after")
    assert texts(root, code) == ["after"]


# -- waiting in turn ---------------------------------------------------------------------


def queued(lock: Path) -> int:
    """How many flock requests wait for this lock file (/proc/locks shows them with ->)."""
    inode = f":{lock.stat().st_ino} "
    return sum(
        1 for line in Path("/proc/locks").read_text().splitlines() if "->" in line and inode in line
    )


def test_a_long_queue_that_moves_is_not_a_stuck_lock(
    tmp_path: Path, spawn: Callable[..., Child]
) -> None:
    """Eight writers each keep the lock 0.25 s a turn: the last in line waits 1.75 s, over the
    1 s timeout, yet the lock changed hands all along, so no add may fail."""
    root = tmp_path / "data"
    code = new_session(root)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    workers = [
        spawn(sys.executable, LOCK_WORKER, "turns", root, code, w, 2, 0.25, 1.0, barrier)
        for w in range(8)
    ]
    open_barrier(barrier, workers)
    for worker in workers:
        assert worker.finish(60) == 0, (worker.lines, worker.stderr)
        assert len(worker.lines) == 2, worker.lines
    assert Counter(texts(root, code)) == Counter(f"p{w} n{n}" for w in range(8) for n in range(2))


def test_waiters_get_the_lock_in_arrival_order_and_none_waits_for_a_dead_or_stopped_one(
    tmp_path: Path, spawn: Callable[..., Child]
) -> None:
    root = tmp_path / "data"
    code = new_session(root)
    lock = root / "sessions" / code / "lock"
    holder = spawn(sys.executable, WORKER, "hold", root, code)
    holder.wait_for_line("locked")
    waiters = []
    for n in range(5):  # each one queued before the next starts: their arrival order is known
        waiters.append(spawn(*CLI, "--data-dir", root, "add", code, "--side", "Sales", f"w{n}"))
        wait_until(lambda: queued(lock) == len(waiters), 30, f"waiter {n} in the queue")
    waiters[2].kill()
    waiters[3].proc.send_signal(signal.SIGSTOP)  # Ctrl-Z while waiting: it steps out of line
    wait_until(lambda: queued(lock) == 3, 10, "the killed and the stopped waiter out of line")
    holder.kill()  # the kernel lets go of a dead holder's lock

    for n in (0, 1, 4):
        assert waiters[n].finish(30) == 0, waiters[n].stderr
    assert texts(root, code) == ["w0", "w1", "w4"]
    waiters[3].proc.send_signal(signal.SIGCONT)
    assert waiters[3].finish(30) == 0, waiters[3].stderr
    assert texts(root, code) == ["w0", "w1", "w4", "w3"]


def test_a_lock_whose_queue_keeps_moving_is_given_up_at_the_cap_and_says_it_kept_changing_hands(
    sessions: Sessions, code: str, data_dir: Path
) -> None:
    """However the queue seems to move (a holder can fake the count in the lock file), a
    waiter gives up after LOCK_WAIT_TURNS times the timeout, and says that the lock kept
    changing hands for as long as it waited: never that it was held for a shorter time."""
    timeout = 1.0
    store = Store(data_dir, lock_timeout=timeout)
    lock = data_dir / "sessions" / code / "lock"
    stop = threading.Event()
    held = threading.Event()

    def fake_progress() -> None:
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # another open file: conflicts with the store's
            held.set()
            count = 10**6
            while not stop.wait(0.05):
                count += 1
                os.pwrite(fd, count.to_bytes(8, "little"), 0)
        finally:
            os.close(fd)

    holder = threading.Thread(target=fake_progress, daemon=True)
    holder.start()
    try:
        assert held.wait(5), "the holder never took the lock"
        with pytest.raises(StoreError) as raised:
            Sessions(store).add_complaint(code, "Sales", "Leads are cold")
    finally:
        stop.set()
        holder.join(5)
    said = re.search(r"for over (\d+) s", str(raised.value))
    assert said is None or int(said[1]) >= 1, str(raised.value)
    waited = re.search(r"kept changing hands for (\d+) s", str(raised.value))
    assert waited is not None, str(raised.value)
    assert int(waited[1]) >= LOCK_WAIT_TURNS * timeout, str(raised.value)
    assert texts(data_dir, code) == []


# -- damaged files ----------------------------------------------------------------------


def _torn(valid: bytes) -> bytes:
    return valid[: len(valid) // 2]


GARBAGE: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda valid: b"",
    "torn": _torn,
    "binary": lambda valid: b"\x89PNG\r\n\x1a\n\x00\x00\xffgarbage\xfe",
    "text": lambda valid: b"this is not json at all\n",
    "not a document": lambda valid: b"[1, 2, 3]",
    "deeply nested": lambda valid: b"[" * 100_000,
    "empty document": lambda valid: b"{}",
    "no session record": lambda valid: b'{"session": {}}',
    "wrong session record": lambda valid: b'{"session": {"1": 5}}',
    "unknown phase": lambda valid: valid.replace(b'"check-in"', b'"lunch"'),
}


@pytest.mark.parametrize("damage", GARBAGE)
def test_damaged_session_file_is_named_left_untouched_and_isolated(
    tmp_path: Path, damage: str
) -> None:
    root = tmp_path / "data"
    sessions = Sessions(Store(root))
    damaged, healthy = sessions.create("damaged").code, sessions.create("healthy").code
    sessions.add_complaint(damaged, "Sales", "one")
    sessions.add_complaint(healthy, "Sales", "one")
    path = Store(root).path(damaged)
    garbage = GARBAGE[damage](path.read_bytes())
    assert garbage != path.read_bytes()
    path.write_bytes(garbage)

    sessions = Sessions(Store(root))
    with pytest.raises(TherapyError) as caught:
        sessions.board(damaged)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == garbage

    with pytest.raises(TherapyError) as caught:
        sessions.add_complaint(damaged, "Sales", "two")
    assert str(path) in str(caught.value)
    assert path.read_bytes() == garbage
    Store(root)
    assert path.read_bytes() == garbage
    assert temp_files(root) == []

    sessions.add_complaint(healthy, "Sales", "two")
    assert texts(root, healthy) == ["one", "two"]

    found = {summary.code: summary for summary in Sessions(Store(root)).summaries()}
    assert set(found) == {damaged, healthy}
    problem = found[damaged].problem
    assert problem is not None and str(path) in problem
    assert found[healthy].problem is None
    assert found[healthy].complaints == 2


def test_a_session_file_with_more_complaints_than_a_session_holds_is_damage(
    sessions: Sessions, code: str, data_dir: Path
) -> None:
    """A session holds COMPLAINTS_PER_SESSION complaints; a file with more (a group member
    can write one of 850,000 small rows under the size cap) is damage, not read on."""
    sessions.add_complaint(code, "Sales", "Leads are cold")
    path = data_dir / "sessions" / code / "session.json"
    tables = json.loads(path.read_text())
    row = tables["complaints"]["1"]
    tables["complaints"] = {str(n): row for n in range(1, COMPLAINTS_PER_SESSION + 2)}
    tables["session"]["1"]["next_ids"]["complaints"] = COMPLAINTS_PER_SESSION + 2
    path.write_text(json.dumps(tables))
    with pytest.raises(StoreError, match="is damaged") as raised:
        sessions.board(code)
    assert "more complaints than a session holds" in str(raised.value)
    assert f"({COMPLAINTS_PER_SESSION:,})" in str(raised.value)


def test_an_index_key_that_is_a_digit_but_not_a_number_is_a_damaged_row_and_new_still_works(
    sessions: Sessions, code: str, data_dir: Path
) -> None:
    """'\u00b2'.isdigit() is True but int('\u00b2') raises: such a key (a group member can put
    it there) is a damaged row, left as it is; `new` still makes and lists a session."""
    index = data_dir / "index.json"
    tables = json.loads(index.read_text())
    tables["sessions"] = {"\u00b2": tables["sessions"]["1"]}
    index.write_text(json.dumps(tables, ensure_ascii=False))
    made = sessions.create("Q4", ["Sales", "Marketing"])
    assert {code, made.code} <= {s.code for s in sessions.summaries()}
    assert "\u00b2" in json.loads(index.read_text())["sessions"]  # the damaged row is kept


# -- what is written reads back ----------------------------------------------------------


def _snapshot() -> Snapshot:
    session = Session(
        code="K7QX2M",
        title="Q3",
        sides=["Sales", "Marketing"],
        next_ids={"participants": 3, "complaints": 3, "votes": 2, "actions": 2, "wins": 2},
    )
    snapshot = Snapshot(session)
    snapshot.participants[1] = Participant(1, "Sales", "Ana")
    snapshot.participants[2] = Participant(2, "Marketing", "Bo", keyed=True)
    snapshot.complaints[1] = Complaint(1, "Sales", "Leads are cold", participant=1)
    snapshot.complaints[2] = Complaint(2, "Marketing", "No feedback", group=1)
    snapshot.votes[1] = Vote(1, 1, 2)
    snapshot.actions[1] = ActionItem(1, "Weekly sync", "Ana", "2027-01-01", complaints=[1])
    snapshot.wins[1] = Win(1, "Sales", "Closed a deal")
    return snapshot


# Values a bug in the service could put in a field: some equal (==) to a stored value of
# another type (0 == False == 0.0, 1 == True == 1.0), some plainly wrong.
_VALUES = st.sampled_from(
    [0, 1, 2, True, False, 0.0, 1.0, "", "x", "Sales", None, "\x1b]2;x\x07", [1], {"a": 1}]
)
_SPENT = 6  # a participant's `spent`, counted among its fields but the id


def _apply(snapshot: Snapshot, table: str, row: int, value: object, field_pick: int) -> None:
    target = snapshot.session if table == "session" else getattr(snapshot, table).get(row)
    if target is None:
        return
    names = [name for name in vars(target) if name != "id"]
    setattr(target, names[field_pick % len(names)], value)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    changes=st.lists(
        st.tuples(
            st.sampled_from(["session", *ROWS]),
            st.integers(1, 2),
            _VALUES,
            st.integers(0, 20),
        ),
        min_size=1,
        max_size=4,
    ),
    retitle=st.booleans(),
)
@example(changes=[("participants", 1, False, _SPENT)], retitle=True)  # 0 == False
@example(changes=[("votes", 1, 1.0, 0)], retitle=True)  # 1 == 1.0
def test_what_check_savable_lets_through_always_reads_back(
    changes: list[tuple[str, int, object, int]], retitle: bool
) -> None:
    """A change the check lets through is one the reader accepts, also when a value is equal
    (==) in Python to the one read but not in JSON, where the reader tells them apart."""
    snapshot = _snapshot()
    before = encode(snapshot)
    for table, row, value, field_pick in changes:
        _apply(snapshot, table, row, copy.deepcopy(value), field_pick)
    if retitle:
        snapshot.session.title = "Q3 again"  # some other change, so that there is a write
    after = encode(snapshot)
    if after == before:
        return  # nothing to write
    try:
        check_savable(snapshot, after, before)
    except StoreError:
        return  # refused: fine
    written = json.loads(json.dumps(after, ensure_ascii=False))  # what _payload writes
    decode(written, Path("session.json"))  # must not be damage


def test_false_for_a_participants_spent_of_0_is_refused_by_check_savable() -> None:
    """The first @example above: it changes what it says it does, and the check refuses it."""
    snapshot = _snapshot()
    before = encode(snapshot)
    _apply(snapshot, "participants", 1, False, _SPENT)
    snapshot.session.title = "Q3 again"
    assert snapshot.participants[1].spent is False
    with pytest.raises(StoreError, match="That change cannot be saved"):
        check_savable(snapshot, encode(snapshot), before)


def test_false_where_an_int_belongs_is_refused_not_written(
    sessions: Sessions, code: str, data_dir: Path
) -> None:
    """A participant's `spent` of 0 set to False (== 0, and an int to mypy) beside a real
    change is refused in a sentence, and nothing of the change is written: the session reads
    back as it was."""
    store = Store(data_dir)
    sessions.join(code, "Sales", "Ana")
    with (
        pytest.raises(StoreError, match="That change cannot be saved"),
        store.transaction(code) as snapshot,
    ):
        participant = next(iter(snapshot.participants.values()))
        participant.spent = False  # a bug's value, == 0
        snapshot.session.title = "Q3 again"
    after = store.read(code)  # the session still reads back
    assert after.session.title == "Q3 lead handoff"
    spent = next(iter(after.participants.values())).spent
    assert type(spent) is int and spent == 0


# -- ids --------------------------------------------------------------------------------


def test_deleted_complaint_ids_are_never_reused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    sessions = Sessions(Store(root))
    code = sessions.create("t").code
    ids = [sessions.add_complaint(code, "Sales", f"n{n}").id for n in range(3)]
    assert ids == [1, 2, 3]
    sessions.delete_complaint(code, 3)

    # Another process (a fresh store) must know about id 3 from the file alone.
    fourth = Sessions(Store(root)).add_complaint(code, "Sales", "n3")
    assert fourth.id == 4
    sessions.delete_complaint(code, 4)
    assert sessions.add_complaint(code, "Sales", "n4").id == 5
    assert {c.id: c.text for c in sessions.board(code).complaints} == {1: "n0", 2: "n1", 5: "n4"}


# -- permissions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("umask", "wanted", "unwanted"),
    [(0o002, 0o020, 0o002), (0o077, 0o000, 0o077)],
    ids=["group-shared", "private"],
)
def test_store_files_follow_the_umask(
    tmp_path: Path, umask: int, wanted: int, unwanted: int
) -> None:
    root = tmp_path / "data"
    old = os.umask(umask)
    try:
        sessions = Sessions(Store(root))
        code = sessions.create("t").code
        sessions.add_complaint(code, "Sales", "one")
    finally:
        os.umask(old)

    made = [
        root,
        root / "sessions",
        root / "index.json",
        root / "index.lock",
        root / "sessions" / code,
        root / "sessions" / code / "session.json",
        root / "sessions" / code / "lock",
    ]
    for path in made:
        mode = path.stat().st_mode & 0o777
        assert mode & wanted == wanted, f"{path.name} is {mode:o} under umask {umask:03o}"
        assert mode & unwanted == 0, f"{path.name} is {mode:o} under umask {umask:03o}"


# -- history ----------------------------------------------------------------------------


def test_a_write_with_500_earlier_sessions_touches_only_its_session(tmp_path: Path) -> None:
    root = tmp_path / "data"
    sessions = Sessions(Store(root))
    earlier = {sessions.create(f"earlier {n}").code for n in range(500)}
    assert len(earlier) == 500
    code = sessions.create("today").code

    def files() -> dict[Path, tuple[int, int, int]]:
        return {
            path: (path.stat().st_ino, path.stat().st_mtime_ns, path.stat().st_size)
            for path in [*root.iterdir(), *root.glob("sessions/*/*")]
            if path.is_file() and path.parent.name != code
        }

    before = files()
    complaint = Sessions(Store(root)).add_complaint(code, "Sales", "the 501st session")
    assert files() == before, "a write to one session rewrote other files"
    assert complaint.id == 1
    assert texts(root, code) == ["the 501st session"]

    index, problems = Store(root).index()
    assert problems == []
    assert sorted(entry.code for entry in index) == sorted([*earlier, code])
    stored_index = json.loads((root / "index.json").read_bytes())
    assert len(stored_index["sessions"]) == 501
    summaries = Sessions(Store(root)).summaries()
    assert len(summaries) == 501
    assert all(summary.problem is None for summary in summaries)
    assert [s.complaints for s in summaries if s.code == code] == [1]


def test_nested_calls_join_one_transaction_and_one_write(tmp_path: Path) -> None:
    root = tmp_path / "data"
    sessions = Sessions(Store(root))
    code = sessions.create("t").code
    path = sessions.store.path(code)
    before = path.stat().st_ino
    with sessions.store.transaction(code):
        first = sessions.add_complaint(code, "Sales", "one")
        second = sessions.add_complaint(code, "Sales", "two")
        assert [c.text for c in sessions.board(code).complaints] == ["one", "two"]  # reads see it
        assert path.stat().st_ino == before  # nothing written yet
        assert texts(root, code) == []  # another store (process) sees only what is written
    assert (first.id, second.id) == (1, 2)
    assert path.stat().st_ino != before
    assert [c.text for c in Sessions(Store(root)).board(code).complaints] == ["one", "two"]

    with pytest.raises(TherapyError), sessions.store.transaction(code):
        sessions.add_complaint(code, "Sales", "three")
        sessions.add_complaint(code, "Nope", "refused")
    assert texts(root, code) == ["one", "two"]  # the whole block was rolled back
