"""A group member with a shell on the host, attacking through the shared data folder.

Each test puts what an attacker would (a link, a FIFO, a huge file, a swapped folder, a folder
of their own, a faked count in a lock file) where the store keeps its own file or folder, or
takes one away, runs what the facilitator runs, and checks that nothing outside the data
folder changed, nothing hung and nothing crashed, and what was said. Canaries are
files and folders outside the data folder that the facilitator owns. Commands run as real
processes, each bounded in time.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import select
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from host_support import GROUP, NOBODY, OTHER, answer_as_user, as_root, as_user, shared_folder

from therapy.limits import CONNECTIONS_PER_PERSON, SESSION_FILE_BYTES
from therapy.model import TherapyError
from therapy.service import Sessions
from therapy.store import Store, StoreError
from therapy.store import files as store_files

CLI = [sys.executable, "-m", "therapy.cli"]
HUNG = 20  # seconds: a command still running then is hung (they take well under one)


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [*CLI, "--data-dir", str(data_dir), *args],
            capture_output=True,
            text=True,
            timeout=HUNG,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"therapy {' '.join(args)} hung on the data folder")


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Path]:
    """The facilitator's own files, outside the data folder: a folder of important things
    and a shell start-up file. None of them may change, whatever happens in the folder."""
    home = tmp_path / "home"
    (home / "important").mkdir(parents=True)
    for n in range(3):
        (home / "important" / f"file{n}.txt").write_text(f"keep me {n}\n")
    (home / ".bashrc").write_text("# the facilitator's shell\n")
    before = fingerprint(home)
    yield home
    assert fingerprint(home) == before, "a file outside the data folder changed"


def fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"
        )
        for path in sorted(folder.rglob("*"))
    }


def session_folder(data_dir: Path, code: str) -> Path:
    return data_dir / "sessions" / code


# -- nothing is followed -------------------------------------------------------------------


def test_deleting_a_session_swapped_for_a_link_deletes_nothing_it_points_to(
    sessions: Sessions, code: str, data_dir: Path, canary: Path
) -> None:
    folder = session_folder(data_dir, code)
    folder.rename(data_dir / "moved-away")
    folder.symlink_to(canary / "important")
    with pytest.raises(StoreError, match="is a link where therapy keeps a folder"):
        sessions.delete(code)
    assert folder.is_symlink()  # named and left alone


def test_a_delete_raced_by_swaps_never_reaches_outside(
    data_dir: Path, canary: Path, sessions: Sessions
) -> None:
    """A thread keeps renaming the session folder away and putting a link in its place while
    the facilitator deletes: each delete goes, or is refused because the link or no folder
    stood there, and nothing outside the data folder changes in any round."""
    before = fingerprint(canary)
    linked = 0
    for _ in range(30):
        code = sessions.create("doomed", ["Sales", "Marketing"]).code
        folder = session_folder(data_dir, code)
        stop = threading.Event()
        swapping = threading.Event()
        placed: list[None] = []

        def swap(
            folder: Path = folder,
            stop: threading.Event = stop,
            swapping: threading.Event = swapping,
            placed: list[None] = placed,
        ) -> None:
            aside = folder.with_name(folder.name + "-aside")
            while not stop.is_set():
                try:
                    folder.rename(aside)
                    folder.symlink_to(canary / "important")
                    placed.append(None)
                    swapping.set()
                    folder.unlink()
                    aside.rename(folder)
                except OSError:
                    pass

        swapper = threading.Thread(target=swap)
        swapper.start()
        try:
            assert swapping.wait(5), "the swapper never put its link in place"
            sessions.delete(code)
        except StoreError as error:  # refused while a link, or nothing, stood there
            said = str(error)
            assert (
                "is a link where therapy keeps a folder" in said
                or "is something that kept changing where therapy keeps a folder" in said
                or said.startswith(f"There is no session {code}")
            ), said
        finally:
            stop.set()
            swapper.join()
        linked += len(placed)
        assert fingerprint(canary) == before, "a file outside the data folder changed"
    assert linked >= 30  # the link stood there in every round


def test_a_link_gone_before_it_is_named_is_looked_at_again(
    sessions: Sessions, code: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race CI met: the open finds a link where the session folder should be, and the
    swapper has put the folder back before the store looks at what stood there. The store
    looks again and deletes the folder, instead of naming "something it cannot look at"."""
    folder = session_folder(data_dir, code)
    aside = folder.with_name(folder.name + "-aside")
    folder.rename(aside)
    folder.symlink_to(aside)
    real_open = os.open
    swapped_back: list[None] = []

    def open_then_swap_back(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return real_open(path, flags, *args, **kwargs)
        finally:
            if path == code and flags & os.O_DIRECTORY and not swapped_back:
                folder.unlink()
                aside.rename(folder)
                swapped_back.append(None)

    monkeypatch.setattr(store_files.os, "open", open_then_swap_back)
    sessions.delete(code)
    assert swapped_back, "the link was never met"
    assert not folder.exists() and not aside.exists()


def test_the_orphan_cleaner_never_enters_a_linked_session_folder(
    sessions: Sessions, data_dir: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"  # an empty folder of the facilitator's, outside the data folder
    empty.mkdir()
    (data_dir / "sessions" / "ZZZZZZ").symlink_to(empty)
    sessions.summaries()  # cleans orphans
    assert not list(empty.iterdir()), "a lock was made inside the link's target"
    assert (data_dir / "sessions" / "ZZZZZZ").is_symlink()


@pytest.mark.parametrize("where", ["lock", "presence-lock"])
def test_a_lock_pointed_at_a_file_outside_never_writes_into_it(
    sessions: Sessions, code: str, data_dir: Path, canary: Path, where: str
) -> None:
    folder = session_folder(data_dir, code)
    if where == "lock":
        (folder / "lock").unlink(missing_ok=True)
        (folder / "lock").symlink_to(canary / ".bashrc")
        result = run(data_dir, "add", code, "--side", "Sales", "Leads are cold")
        assert result.returncode != 0
        assert "is a link where therapy keeps a lock file" in result.stderr
        no_traceback(result)
    else:
        (folder / "presence").mkdir(exist_ok=True)
        (folder / "presence" / "1.lock").symlink_to(canary / ".bashrc")
        with pytest.raises(StoreError, match="is a link"):
            sessions.attend(code, 1)
        assert sessions.present(code) == set()


def test_an_index_lock_pointed_outside_with_temp_bait_rewrites_nothing(
    sessions: Sessions, code: str, data_dir: Path, canary: Path
) -> None:
    (data_dir / "index.lock").unlink(missing_ok=True)
    (data_dir / "index.lock").symlink_to(canary / ".bashrc")
    bait = data_dir / ".index.json.1.bait.tmp"
    bait.write_text("bait")
    result = run(data_dir, "list")
    no_traceback(result)
    assert code in result.stdout  # reading needs no lock: the list still shows
    assert bait.read_text() == "bait"  # never cleaned under a lock that is not ours
    assert (data_dir / "index.lock").is_symlink()
    made = run(data_dir, "new", "After the link")
    assert made.returncode != 0
    assert "is a link where therapy keeps a lock file" in made.stderr, made.stderr
    assert (data_dir / "index.lock").is_symlink() and bait.read_text() == "bait"


def test_a_hard_link_in_place_of_a_lock_is_refused(
    sessions: Sessions, code: str, data_dir: Path, canary: Path
) -> None:
    lock = session_folder(data_dir, code) / "lock"
    lock.unlink(missing_ok=True)
    os.link(canary / ".bashrc", lock)
    with pytest.raises(StoreError, match="a hard link"):
        sessions.add_complaint(code, "Sales", "Leads are cold")


def test_linked_session_and_index_files_are_damage_not_followed(
    sessions: Sessions, code: str, data_dir: Path, canary: Path
) -> None:
    other = sessions.create("other", ["Sales", "Marketing"]).code
    path = session_folder(data_dir, code) / "session.json"
    path.unlink()
    path.symlink_to(canary / ".bashrc")
    with pytest.raises(StoreError, match="is a link where therapy keeps"):
        sessions.add_complaint(code, "Sales", "Leads are cold")
    listed = run(data_dir, "list")
    assert other in listed.stdout and code in listed.stdout
    no_traceback(listed)


# -- nothing is waited on -------------------------------------------------------------------


@pytest.mark.parametrize("where", ["session.json", "lock", "presence/1.lock", "index.json"])
def test_a_fifo_where_a_file_should_be_hangs_nothing(
    sessions: Sessions, code: str, data_dir: Path, where: str
) -> None:
    other = sessions.create("unrelated", ["Sales", "Marketing"]).code
    sessions.add_complaint(other, "Sales", "Leads are cold")
    path = data_dir / where if where == "index.json" else session_folder(data_dir, code) / where
    path.parent.mkdir(exist_ok=True)
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    for args in (["list"], ["status", other], ["export", other], ["actions"], ["history"]):
        no_traceback(run(data_dir, *args))
    assert run(data_dir, "status", other).returncode == 0
    damaged = run(data_dir, "add", code, "--side", "Sales", "Another one")
    no_traceback(damaged)
    if where in ("session.json", "lock"):
        assert damaged.returncode != 0 and "is a FIFO where therapy keeps" in damaged.stderr
    if where == "presence/1.lock":
        assert sessions.present(code) == set()
        with pytest.raises(StoreError, match="is a FIFO where therapy keeps a lock file"):
            sessions.attend(code, 1)
    if where == "index.json":
        listed = run(data_dir, "list")
        assert "is a FIFO where therapy keeps" in listed.stdout + listed.stderr, listed
        assert other in listed.stdout
        assert run(data_dir, "new", "After the FIFO").returncode == 0


@as_root
def test_a_group_member_faking_progress_on_a_lock_holds_a_waiter_only_until_the_cap(
    shared: Path,
) -> None:
    """README: a waiter gives up with a sentence after LOCK_WAIT_TURNS times the lock's
    timeout, however the queue seems to move. The lock file is group-writable (umask 002),
    so a group member who holds the lock can keep rewriting its count of grants."""
    sessions = Sessions(Store(shared, lock_timeout=0.5))
    code = sessions.create("Q3", ["Sales", "Marketing"]).code
    lock = session_folder(shared, code) / "lock"
    ready_r, ready_w = os.pipe()
    stop_r, stop_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the group member
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            fd = os.open(lock, os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(ready_w, b"x")
            count = 10**6
            for _ in range(300):  # 30 s at most
                if select.select([stop_r], [], [], 0.1)[0]:
                    break
                count += 1
                os.pwrite(fd, count.to_bytes(8, "little"), 0)
        finally:
            os._exit(0)
    os.close(ready_w)  # a member that died before it held the lock: end of file, no hang
    os.close(stop_r)
    outcome: list[object] = []

    def add() -> None:
        try:
            sessions.add_complaint(code, "Sales", "Leads are cold")
            outcome.append("added")
        except StoreError as error:
            outcome.append(error)

    waiter = threading.Thread(target=add, daemon=True)
    try:
        assert os.read(ready_r, 1) == b"x", "the group member never held the lock"
        waiter.start()
        waiter.join(10)  # twenty times the timeout
        gave_up = not waiter.is_alive()
    finally:
        with contextlib.suppress(BrokenPipeError):
            os.write(stop_w, b"x")
        os.waitpid(pid, 0)
        for fd in (ready_r, stop_w):
            os.close(fd)
    waiter.join(10)
    assert gave_up, "the waiter was still waiting while the group member held the lock"
    assert isinstance(outcome[0], StoreError)
    assert "kept changing hands" in str(outcome[0])
    assert sessions.board(code).complaints == []


def test_a_huge_session_file_is_damage_read_no_further(
    sessions: Sessions, code: str, data_dir: Path
) -> None:
    path = session_folder(data_dir, code) / "session.json"
    with open(path, "r+b") as handle:
        handle.truncate(SESSION_FILE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(StoreError, match="bytes, over the"):
        sessions.board(code)


# -- stored text is checked on the way out --------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "b\x1b]2;TITLEPWN\x07"),
        ("title", "clip\x1b]52;c;ZWNobyBodW50ZXIy\x07"),
        ("title", "Q3\u202eevil"),
        ("title", "x" * 5000),
    ],
)
def test_stored_controls_and_overlong_text_are_damage(
    sessions: Sessions, code: str, data_dir: Path, field: str, value: str
) -> None:
    path = session_folder(data_dir, code) / "session.json"
    tables = json.loads(path.read_text())
    tables["session"]["1"][field] = value
    path.write_text(json.dumps(tables))
    with pytest.raises(StoreError, match="is damaged"):
        sessions.board(code)
    listed = run(data_dir, "list")
    for shown in (listed.stdout, listed.stderr):
        assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown


def test_a_control_character_in_the_index_is_a_damaged_row(
    sessions: Sessions, code: str, data_dir: Path
) -> None:
    index = json.loads((data_dir / "index.json").read_text())
    index["sessions"]["1"]["title"] = "b\x1b]2;TITLEPWN\x07"
    (data_dir / "index.json").write_text(json.dumps(index))
    listed = run(data_dir, "list")
    assert "\x1b" not in listed.stdout + listed.stderr
    assert code in listed.stdout  # found in its folder all the same


# -- folders a group member puts in or takes away -----------------------------------------


def test_deleting_a_session_with_a_folder_1500_deep_in_it_deletes_the_session(
    sessions: Sessions, code: str, data_dir: Path
) -> None:
    """A folder 1,500 levels deep in a session's folder (a group member's) is no folder
    therapy makes: the delete goes through without recursing into it, and the session is
    gone from the list."""
    top = os.open(session_folder(data_dir, code), os.O_RDONLY | os.O_DIRECTORY)
    chain = [top]
    for _ in range(1500):
        os.mkdir("x", dir_fd=chain[-1])
        chain.append(os.open("x", os.O_RDONLY | os.O_DIRECTORY, dir_fd=chain[-1]))
    try:
        sessions.delete(code)  # no RecursionError, nor any other
        assert not (session_folder(data_dir, code) / "session.json").exists()
        assert code not in {s.code for s in sessions.summaries()}
    finally:  # bottom up (pytest's own clean-up and rglob would recurse too)
        for parent in reversed(chain[:-1]):
            os.close(chain.pop())
            with contextlib.suppress(FileNotFoundError):
                os.rmdir("x", dir_fd=parent)
        os.close(top)


def test_a_new_sessions_folder_taken_away_as_it_is_made_is_said_and_nothing_is_listed(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group member removes sessions/CODE between its mkdir and its open (the race made
    certain here): `new` says so in a sentence, and no session is listed."""
    sessions = Sessions(Store(data_dir))
    made = store_files.Folder.make_folder
    removed: list[str] = []

    def raced(self: store_files.Folder, name: str) -> bool:
        done = made(self, name)
        if done and name != "presence" and self.path.name == "sessions":
            os.rmdir(name, dir_fd=self.fd)  # the group member's rmdir
            removed.append(name)
        return done

    monkeypatch.setattr(store_files.Folder, "make_folder", raced)
    with pytest.raises(StoreError, match="was removed as it was made"):
        sessions.create("Q3", ["Sales", "Marketing"])
    assert removed
    assert sessions.summaries() == []


# -- connections per person -----------------------------------------------------------------


def test_a_person_holds_at_most_a_few_connections(
    sessions: Sessions, code: str, attending: list
) -> None:
    alex = sessions.join(code, "Sales", "Alex").id
    for _ in range(CONNECTIONS_PER_PERSON):
        attending.append(sessions.attend(code, alex))
    with pytest.raises(TherapyError, match="windows already"):
        sessions.attend(code, alex)
    assert sessions.present(code) == {alex}
    attending.pop().close()  # a window closes: the next one may come in
    attending.append(sessions.attend(code, alex))


# -- a second Unix user ---------------------------------------------------------------------


@as_root
def test_a_participant_whose_presence_folder_is_not_theirs_gets_the_permissions_sentence(
    shared: Path,
) -> None:
    """presence/ made by a host user with umask 022: the participant's process is told what
    to fix, never 'stopped after an unexpected error'."""
    sessions = Sessions(Store(shared))
    code = sessions.create("Q3", ["Sales", "Marketing"]).code
    folder = session_folder(shared, code)
    os.umask(0o002)
    sessions.join(code, "Sales", "Alex")
    (folder / "presence").mkdir(mode=0o755)
    for path in (folder, folder / "lock", folder / "session.json"):
        os.chown(path, 0, NOBODY)
        path.chmod(0o2770 if path.is_dir() else 0o660)
    raised = as_user(NOBODY, lambda: Sessions(Store(shared)).attend(code, 1))
    assert raised.startswith("StoreError: ")  # a sentence for the app to show, not a crash
    assert "check the data folder's permissions" in raised


@as_root
def test_a_link_planted_by_a_group_member_does_not_turn_root_against_its_files(
    shared: Path, canary: Path
) -> None:
    sessions = Sessions(Store(shared))
    code = sessions.create("Q3", ["Sales", "Marketing"]).code
    folder = session_folder(shared, code)
    for path in (shared / "sessions", folder):
        os.chown(path, 0, NOBODY)
        path.chmod(0o2770)

    def plant() -> None:
        os.rename(folder, f"{folder}-gone")
        os.symlink(canary / "important", folder)

    assert as_user(NOBODY, plant) == ""
    said = {}
    for args in (["list"], ["add", code, "--side", "Sales", "x"], ["status", code]):
        said[args[0]] = run(shared, *args)
        no_traceback(said[args[0]])
    assert said["add"].returncode != 0
    assert "is a link where therapy keeps a folder" in said["add"].stderr, said["add"].stderr
    with pytest.raises(StoreError, match="is a link where therapy keeps a folder"):
        sessions.delete(code)
    assert folder.is_symlink()
    assert (Path(f"{folder}-gone") / "session.json").is_file()


@as_root
def test_deleting_a_session_holding_another_members_folder_deletes_it_and_leaves_theirs(
    umask_002: None,
) -> None:
    """The facilitator (NOBODY) deletes a session in which another member of the group put a
    folder of their own (755) with a file in it: the session goes without a word, and their
    folder and its file, not the facilitator's to remove, stay as they were."""
    with shared_folder(GROUP) as data:
        code = answer_as_user(
            NOBODY,
            lambda: Sessions(Store(data)).create("Q3", ["Sales", "Marketing"]).code,
            (GROUP,),
        )
        folder = data / "sessions" / code
        assert code and (folder / "session.json").is_file(), code

        def plant() -> None:
            os.mkdir(folder / "mine", 0o755)
            (folder / "mine" / "keep").write_text("x")

        assert as_user(OTHER, plant, (GROUP,)) == ""

        def delete() -> None:
            sessions = Sessions(Store(data))
            sessions.delete(code)
            assert code not in {s.code for s in sessions.summaries()}

        raised = as_user(NOBODY, delete, (GROUP,))
        assert raised == "", f"delete ended with {raised}, not a sentence"
        assert not (folder / "session.json").exists()
        assert (folder / "mine" / "keep").read_text() == "x"


@as_root
def test_a_delete_that_cannot_remove_the_session_file_is_refused_and_the_session_stays(
    umask_002: None,
) -> None:
    """A session folder the deleter may not write in (its owner made it 2755), whose lock
    file they may: delete says in a sentence that nothing was changed, and the session still
    lists, file and all."""
    with shared_folder(GROUP) as data:

        def create() -> str:
            made = Sessions(Store(data)).create("Q3", ["Sales", "Marketing"]).code
            (data / "sessions" / made).chmod(0o2755)  # its owner's choice; lock stays 664
            return made

        code = answer_as_user(OTHER, create, (GROUP,))
        assert code and (data / "sessions" / code / "session.json").is_file(), code

        def delete() -> str:
            sessions = Sessions(Store(data))
            try:
                sessions.delete(code)
                said = "deleted"
            except StoreError as error:
                assert "nothing was changed" in str(error), str(error)
                said = "refused"
            listed = code in {s.code for s in sessions.summaries()}
            return f"{said} {listed}"

        said, listed = answer_as_user(NOBODY, delete, (GROUP,)).split()
        assert not (said == "deleted" and listed == "True"), (
            "delete said nothing, and the session still lists"
        )
        assert (said, listed) == ("refused", "True")
        assert (data / "sessions" / code / "session.json").is_file()


# -- the participant's app ------------------------------------------------------------------


async def test_a_participant_app_whose_presence_cannot_be_kept_says_so_and_goes_on(
    sessions: Sessions, code: str, data_dir: Path
) -> None:
    """presence/ that is not a folder we can use: one sentence, and the person takes part
    all the same (it once ended the app with 'stopped after an unexpected error')."""
    from tui_support import participant_app, settle

    alex = sessions.join(code, "Sales", "Alex").id
    (session_folder(data_dir, code) / "presence").write_text("not a folder")
    app = participant_app(sessions, code, alex)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        said = [n.message for n in app._notifications]
        assert any("is a file where therapy keeps a folder" in m for m in said), said
        assert app.is_running and app.screen.id != "_default"


async def test_a_third_window_of_one_person_is_told_why_it_closes(
    sessions: Sessions, code: str, attending: list
) -> None:
    from tui_support import participant_app, settle

    alex = sessions.join(code, "Sales", "Alex").id
    for _ in range(CONNECTIONS_PER_PERSON):
        attending.append(sessions.attend(code, alex))
    app = participant_app(sessions, code, alex)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
    assert "windows already" in (app.farewell or "")
