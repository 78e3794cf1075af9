"""What the store writes it can read back, and what it says when it cannot: a value equal
to the old one in Python but not in JSON is checked, an index key that is a digit but not a
number is a damaged row, a lock given up while its queue moves says so, and a delete that
cannot remove the session file is refused in a sentence with nothing unlisted."""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

import pytest
from host_support import GROUP, NOBODY, OTHER, as_root, as_user
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from therapy.model import ActionItem, Complaint, Participant, Session, Snapshot, Vote, Win
from therapy.service import Sessions
from therapy.store import Store, StoreError
from therapy.store.files import StoreError as FilesStoreError
from therapy.store.schema import ROWS, check_savable, decode, encode

# -- 1. "check_savable passes => decode succeeds" --------------------------------------------


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
def test_what_check_savable_lets_through_always_reads_back(
    changes: list[tuple[str, int, object, int]], retitle: bool
) -> None:
    """The docstring's promise: a change the check lets through is one the reader accepts.
    The check skips a row whose document is == to the one read; 0 == False == 0.0 in Python,
    but JSON keeps them apart and the reader is strict, so such a row is written unchecked."""
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
    except FilesStoreError:
        return  # refused: fine
    written = json.loads(json.dumps(after, ensure_ascii=False))  # what _payload writes
    decode(written, Path("session.json"))  # must not be damage


def test_a_vote_count_set_to_false_with_another_change_is_written_as_damage(
    sessions: Sessions, code: str, data_dir: Path
) -> None:
    """Through the store itself: a participant's `spent` of 0 set to False (== 0) beside a
    real change is not looked at by check_savable, written as `false`, and the session is
    damaged from then on for every reader."""
    store = Store(data_dir)
    sessions.join(code, "Sales", "Ana")
    # refusing the change would be fine
    with contextlib.suppress(StoreError), store.transaction(code) as snapshot:
        participant = next(iter(snapshot.participants.values()))
        participant.spent = False  # a bug's value (bool is an int to mypy), == 0
        snapshot.session.title = "Q3 again"
    store.read(code)  # the session must still read back


# -- 2. the index: a key str.isdigit() accepts but int() does not -----------------------------


def test_a_superscript_digit_as_an_index_key_does_not_end_new_with_a_traceback(
    sessions: Sessions, code: str, data_dir: Path
) -> None:
    """index_rows calls a row sound when key.isdigit(); '²'.isdigit() is True but int('²')
    raises, and _register's max(int(key) ...) lets the ValueError out of create: `therapy
    new` says "Something went wrong that therapy did not expect" after making the session,
    for everyone, until someone edits the index by hand (a group member can put it there)."""
    index = data_dir / "index.json"
    tables = json.loads(index.read_text())
    tables["sessions"] = {"\u00b2": tables["sessions"]["1"]}
    index.write_text(json.dumps(tables, ensure_ascii=False))
    try:
        sessions.create("Q4", ["Sales", "Marketing"])
    except StoreError:
        pass  # one sentence: fine
    except ValueError as error:
        pytest.fail(f"`new` ended with {type(error).__name__}: {error}")


# -- 3. a lock given up while the queue moves ---------------------------------------------------


def test_a_lock_given_up_while_its_queue_moves_does_not_say_it_was_held_for_0_s(
    sessions: Sessions, code: str, data_dir: Path
) -> None:
    """The cap (LOCK_WAIT_TURNS x the timeout) ends a wait whose queue kept moving: the
    sentence reports now - since, the time since the last grant, which is under the timeout
    and often 0: "locked by another process for over 0 s", after 8 s of waiting."""
    store = Store(data_dir, lock_timeout=1.0)
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
    held.wait(5)
    try:
        with pytest.raises(StoreError) as raised:
            Sessions(store).add_complaint(code, "Sales", "Leads are cold")
    finally:
        stop.set()
        holder.join(5)
    said = re.search(r"for over (\d+) s", str(raised.value))
    assert said is None or int(said[1]) >= 1, str(raised.value)


# -- 4. delete: a session file that could not be removed --------------------------------------


@as_root
def test_a_delete_that_could_not_remove_the_session_file_does_not_pass_in_silence(
    umask_002: None,
) -> None:
    """Folder.remove now swallows every OSError. A session folder the deleter may not write
    in (its owner made it 2755), whose lock file they may: delete unlists the session, fails
    to unlink session.json, says nothing, and the session still lists (from its folder)."""
    top = Path(tempfile.mkdtemp(prefix="therapy-review-"))
    try:
        top.chmod(0o711)
        data = top / "data"
        data.mkdir()
        os.chown(data, 0, GROUP)
        data.chmod(0o2770)
        made_r, made_w = os.pipe()

        def create() -> None:
            code = Sessions(Store(data)).create("Q3", ["Sales", "Marketing"]).code
            (data / "sessions" / code).chmod(0o2755)  # its owner's choice; lock stays 664
            os.write(made_w, code.encode())

        assert as_user(OTHER, create, (GROUP,)) == ""
        os.close(made_w)
        code = os.read(made_r, 64).decode()
        os.close(made_r)
        outcome_r, outcome_w = os.pipe()

        def delete() -> None:
            sessions = Sessions(Store(data))
            try:
                sessions.delete(code)
                said = "deleted"
            except StoreError:
                said = "refused"
            listed = code in {s.code for s in sessions.summaries()}
            os.write(outcome_w, f"{said} {listed}".encode())

        assert as_user(NOBODY, delete, (GROUP,)) == ""
        os.close(outcome_w)
        said, listed = os.read(outcome_r, 64).decode().split()
        os.close(outcome_r)
        assert not (said == "deleted" and listed == "True"), (
            "delete said nothing, and the session still lists"
        )
    finally:
        shutil.rmtree(top)
