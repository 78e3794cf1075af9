"""A publish killed with SIGKILL leaves its temporary repository behind (nothing runs in a
killed process): the next publish removes it, and only what is surely ours and dead."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import test_publish
from host_support import NOBODY, as_root
from test_publish import ROOT

from therapy.service import Sessions

git_setup = test_publish.git_setup
world = test_publish.world
data_dir = test_publish.data_dir
sessions = test_publish.sessions
demo = test_publish.demo
seeded = test_publish.seeded
bare = test_publish.bare


def until(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def scratch_of(scratch: Path, pid: int) -> list[Path]:
    return sorted(scratch.glob(f"therapy-wiki-{pid}-*"))


def running_in(folder: Path) -> list[int]:
    """The processes whose command line names FOLDER (git working in it)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(folder).encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@as_root  # gives a folder to another user
def test_a_publish_killed_midway_is_cleaned_up_by_the_next(
    seeded: Path, data_dir: Path, sessions: Sessions, demo: str, git_setup: Path, tmp_path: Path
) -> None:
    scratch = git_setup
    # the wiki holds the push until the test lets it go: the fetched wiki is in scratch then
    held, gate = tmp_path / "held", tmp_path / "gate"
    os.mkfifo(gate)
    hook = seeded / "hooks" / "pre-receive"
    hook.write_text(
        f"#!/bin/sh\ncat >/dev/null\n[ -e {held} ] && exit 0\n"
        f"touch {held}\ntimeout 60 cat {gate} >/dev/null\nexit 0\n"
    )
    hook.chmod(0o755)
    publisher = subprocess.Popen(
        [sys.executable, "-m", "therapy.cli", "--data-dir", str(data_dir)]
        + ["publish", demo, "--wiki", str(seeded)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        until(held.exists, "the push to reach the wiki")
        left = sorted(scratch.glob("therapy-wiki-*"))
        assert len(left) == 1 and (left[0] / "objects").is_dir()
        publisher.send_signal(signal.SIGKILL)
        publisher.wait(timeout=30)
    finally:
        publisher.kill()
        publisher.wait(timeout=30)
        if held.exists():
            with open(gate, "w"):  # lets the hook, and the orphaned git push, finish
                pass
    until(lambda: not running_in(left[0]), "the orphaned git push to end")
    assert left[0].is_dir()  # nothing ran in the killed process: its scratch is still there

    # beside it: another user's, a symlink to a folder of ours, and a living process's
    dead = dead_pid()
    theirs = scratch / f"therapy-wiki-{dead}-theirs"
    theirs.mkdir()
    (theirs / "kept").write_text("theirs\n")
    os.chown(theirs, NOBODY, NOBODY)
    target = tmp_path / "precious"
    target.mkdir()
    (target / "kept").write_text("precious\n")
    link = scratch / f"therapy-wiki-{dead}-link"
    link.symlink_to(target, target_is_directory=True)
    living = scratch / f"therapy-wiki-{os.getppid()}-living"
    living.mkdir()
    older = scratch / "therapy-wiki-k2j3h4g5"  # named as before: whose it was is unknown
    older.mkdir()

    assert sessions.publish(demo, str(seeded)).commit is None  # the killed one pushed
    assert not left[0].exists()
    assert (theirs / "kept").read_text() == "theirs\n"
    assert link.is_symlink() and (target / "kept").read_text() == "precious\n"
    assert living.is_dir() and older.is_dir()
    assert scratch_of(scratch, os.getpid()) == []  # its own went too, as always


def test_a_publish_to_a_clone_sweeps_too(
    seeded: Path, sessions: Sessions, demo: str, git_setup: Path, tmp_path: Path
) -> None:
    """A clone needs no temporary repository, but a killed publish's is cleaned at the next
    publish whatever its wiki."""
    left = git_setup / f"therapy-wiki-{dead_pid()}-left"
    (left / "objects").mkdir(parents=True)
    clone = tmp_path / "my-wiki"
    subprocess.run(["git", "clone", "--quiet", str(seeded), str(clone)], check=True)
    assert sessions.publish(demo, str(clone)).pushed
    assert not left.exists()
