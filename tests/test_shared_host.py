"""A group member with a shell on the host, attacking through the shared data folder.

Each test puts what an attacker would (a link, a FIFO, a huge file, a swapped folder) where
the store keeps its own file or folder, runs what the facilitator runs, and checks that
nothing outside the data folder changed, nothing hung and nothing crashed. Canaries are
files and folders outside the data folder that the facilitator owns. Commands run as real
processes, each bounded in time.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from host_support import NOBODY, as_root, as_user

from therapy.limits import CONNECTIONS_PER_PERSON, SESSION_FILE_BYTES
from therapy.model import TherapyError
from therapy.service import Sessions
from therapy.store import Store, StoreError

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


def said_one_sentence(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout


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
    """The swap of the finding, timed by a thread that keeps renaming the folder away and
    putting a link in its place while the facilitator deletes."""
    for _ in range(30):
        code = sessions.create("doomed", ["Sales", "Marketing"]).code
        folder = session_folder(data_dir, code)
        stop = threading.Event()

        def swap(folder: Path = folder, stop: threading.Event = stop) -> None:
            aside = folder.with_name(folder.name + "-aside")
            while not stop.is_set():
                try:
                    folder.rename(aside)
                    folder.symlink_to(canary / "important")
                    folder.unlink()
                    aside.rename(folder)
                except OSError:
                    pass

        swapper = threading.Thread(target=swap)
        swapper.start()
        try:
            sessions.delete(code)
        except StoreError:
            pass  # refused while a link stood there: fine, it said so
        finally:
            stop.set()
            swapper.join()


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
        said_one_sentence(result)
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
    (data_dir / ".index.json.1.bait.tmp").write_text("bait")
    result = run(data_dir, "list")
    said_one_sentence(result)
    assert code in result.stdout  # reading needs no lock: the list still shows


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
    said_one_sentence(listed)


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
        said_one_sentence(run(data_dir, *args))
    assert run(data_dir, "status", other).returncode == 0
    damaged = run(data_dir, "add", code, "--side", "Sales", "Another one")
    said_one_sentence(damaged)
    if where in ("session.json", "lock"):
        assert damaged.returncode != 0 and "is a FIFO where therapy keeps" in damaged.stderr
    if where == "presence/1.lock":
        assert sessions.present(code) == set()
    if where == "index.json":
        assert run(data_dir, "new", "After the FIFO").returncode == 0


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
    for args in (["list"], ["add", code, "--side", "Sales", "x"], ["status", code]):
        said_one_sentence(run(shared, *args))
    with pytest.raises(StoreError):
        sessions.delete(code)


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
