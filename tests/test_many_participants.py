"""Twenty participant processes at once: every complaint kept exactly once, each under the
right person, and joining again under the same name is the same person, never a second one.

Each child is a real process (`python -c WORKER`) over the same data folder, going through
the service as a participant's app does: Sessions.join, then add_complaint as
Actor(Role.PARTICIPANT, id). The children wait on a barrier (a file appearing) so that they
all write at the same time. Every wait is bounded and every child is killed in the end.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from therapy.model import FACILITATOR
from therapy.service import Sessions
from therapy.store import Store

PARTICIPANTS = 20
EACH = 5
SIDES = ("Sales", "Marketing")
READY_TIMEOUT = 20.0  # seconds for every child to reach the barrier
DONE_TIMEOUT = 20.0  # seconds for every child to finish once the barrier opens

# argv: MODE ROOT CODE SIDE NAME BARRIER COUNT, MODE "add" (join, wait, add COUNT complaints)
# or "join" (wait, join). Prints "joined ID" and, for "add", "start T", each id, "end T".
WORKER = """
import sys, time
from pathlib import Path
from therapy.model import Actor, Role
from therapy.service import Sessions
from therapy.store import Store

mode, root, code, side, name, barrier, count = sys.argv[1:]
sessions = Sessions(Store(root))
folder = Path(barrier)

def wait_for_go():
    (folder / f"ready-{name}").touch()
    deadline = time.monotonic() + 30
    while not (folder / "go").exists():
        if time.monotonic() > deadline:
            sys.exit("the barrier never opened")
        time.sleep(0.002)

if mode == "add":
    me = sessions.join(code, side, name)
    print("joined", me.id, flush=True)
    wait_for_go()
    print("start", time.monotonic(), flush=True)
    for n in range(int(count)):
        text = f"{name} says n{n}"
        complaint = sessions.add_complaint(code, side, text, Actor(Role.PARTICIPANT, me.id))
        print(complaint.id, flush=True)  # only once stored: an acknowledged complaint
    print("end", time.monotonic(), flush=True)
else:
    wait_for_go()
    print("joined", sessions.join(code, side, name, bound=True).id, flush=True)
"""


def name_of(i: int) -> str:
    return f"P{i}"


def side_of(i: int) -> str:
    return SIDES[i % 2]


def run_at_once(
    tmp_path: Path, tag: str, mode: str, root: Path, code: str, names: list[str]
) -> list[list[str]]:
    """Start one child per name, open the barrier once all are at it, and return each
    child's stdout lines (in the order of NAMES); fails on any error or timeout."""
    barrier = tmp_path / f"barrier-{tag}"
    barrier.mkdir()
    children: list[subprocess.Popen[str]] = []
    try:
        for i, name in enumerate(names):
            args = [mode, root, code, side_of(i), name, barrier, EACH]
            children.append(
                subprocess.Popen(
                    [sys.executable, "-c", WORKER, *map(str, args)],
                    cwd=tmp_path,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while len(list(barrier.glob("ready-*"))) < len(names):
            ended = [c for c in children if c.poll() is not None]
            if ended:
                out, err = ended[0].communicate(timeout=5)
                pytest.fail(f"a {mode} child ended ({ended[0].returncode}) early: {err}")
            if time.monotonic() > deadline:
                pytest.fail(f"{mode}: not every child reached the barrier in {READY_TIMEOUT} s")
            time.sleep(0.01)
        (barrier / "go").touch()
        outputs = []
        deadline = time.monotonic() + DONE_TIMEOUT
        for child in children:
            left = max(0.1, deadline - time.monotonic())
            try:
                out, err = child.communicate(timeout=left)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{mode}: a child did not finish within {DONE_TIMEOUT} s")
            assert child.returncode == 0, err
            outputs.append(out.splitlines())
        return outputs
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.communicate(timeout=10)


def test_twenty_participants_adding_at_once_lose_nothing_and_join_once(tmp_path: Path) -> None:
    root = tmp_path / "data"
    sessions = Sessions(Store(root))
    code = sessions.create("Many hands", SIDES).code
    sessions.set_phase(code, "vent")
    names = [name_of(i) for i in range(PARTICIPANTS)]

    outputs = run_at_once(tmp_path, "add", "add", root, code, names)

    joined = {}
    acknowledged: dict[str, list[int]] = {}
    windows = []
    for name, lines in zip(names, outputs, strict=True):
        assert lines[0].startswith("joined ") and lines[1].startswith("start "), lines
        assert lines[-1].startswith("end "), lines
        joined[name] = int(lines[0].split()[1])
        windows.append((float(lines[1].split()[1]), float(lines[-1].split()[1])))
        acknowledged[name] = [int(line) for line in lines[2:-1]]
        assert len(acknowledged[name]) == EACH, lines
    assert max(start for start, _ in windows) < min(end for _, end in windows), (
        "the participants did not all add at the same time"
    )

    board = Sessions(Store(root)).board(code, FACILITATOR)
    # all 20 joined, each exactly once, under their own id
    assert len(board.participants) == PARTICIPANTS
    assert Counter(p.name for p in board.participants) == Counter(names)
    assert len({p.id for p in board.participants}) == PARTICIPANTS
    assert {p.name: p.id for p in board.participants} == joined
    assert {p.name: p.side for p in board.participants} == {
        name_of(i): side_of(i) for i in range(PARTICIPANTS)
    }
    # all 100 complaints stored exactly once, with unique ids, each under its author
    total = PARTICIPANTS * EACH
    complaints = board.complaints
    assert len(complaints) == total
    assert len({c.id for c in complaints}) == total, "two complaints share an id"
    assert Counter(c.text for c in complaints) == Counter(
        f"{name} says n{n}" for name in names for n in range(EACH)
    )
    stored = {c.id: c for c in complaints}
    all_acknowledged = [i for ids in acknowledged.values() for i in ids]
    assert sorted(all_acknowledged) == sorted(stored), "an acknowledged id is not stored"
    for i, name in enumerate(names):
        assert acknowledged[name] == sorted(acknowledged[name])
        for n, complaint_id in enumerate(acknowledged[name]):
            complaint = stored[complaint_id]
            assert complaint.text == f"{name} says n{n}"
            assert complaint.participant == joined[name], complaint
            assert complaint.author == name, complaint
            assert complaint.side == side_of(i), complaint

    # the same twenty join again, all at once (every other one in another case): the same
    # people come back, nobody new appears
    again = [name.lower() if i % 2 else name for i, name in enumerate(names)]
    outputs = run_at_once(tmp_path, "rejoin", "join", root, code, again)
    for name, lines in zip(names, outputs, strict=True):
        assert lines == [f"joined {joined[name]}"], (name, lines)
    board = Sessions(Store(root)).board(code, FACILITATOR)
    assert len(board.participants) == PARTICIPANTS
    assert {p.name: p.id for p in board.participants} == joined
    assert len(board.complaints) == total
