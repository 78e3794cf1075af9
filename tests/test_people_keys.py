"""An SSH key offered to therapy serve is the person, and the session itself keeps it: only
a keyed hash of the key's id (under the session's own secret) is stored, never the id, and
the rules of joining with a key are the service's (`Sessions.join(..., key=...)`)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from therapy.model import TherapyError
from therapy.service import Sessions
from therapy.store import StoreError

ALEX = hashlib.sha256(b"alex's public key blob").hexdigest()
BLAKE = hashlib.sha256(b"blake's public key blob").hexdigest()
TAKEN = "The name {} belongs to someone's SSH key in this session; join under another name."


def session_file(data_dir: Path, code: str) -> Path:
    return data_dir / "sessions" / code / "session.json"


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def test_a_key_rejoins_as_the_same_participant_whatever_name_it_types(
    sessions: Sessions, code: str
) -> None:
    alex = sessions.join(code, "Sales", "Alex", key=ALEX)
    assert alex.keyed and alex.name == "Alex"
    assert sessions.join(code, "Sales", "Someone else", key=ALEX).id == alex.id
    assert sessions.join(code, "Sales", key=ALEX).id == alex.id
    found = sessions.participant_for_key(code, ALEX)
    assert found is not None and (found.id, found.name, found.side) == (alex.id, "Alex", "Sales")
    assert sessions.participant_for_key(code, BLAKE) is None
    assert [p.name for p in sessions.board(code).participants] == ["Alex"]
    with pytest.raises(TherapyError, match="joined this session for Sales already"):
        sessions.join(code, "Marketing", "Alex", key=ALEX)


def test_another_key_is_refused_the_name_here_or_away(
    sessions: Sessions, code: str, attending: list
) -> None:
    alex = sessions.join(code, "Sales", "Alex", key=ALEX)
    with pytest.raises(TherapyError) as refused:
        sessions.join(code, "Marketing", "ALEX", key=BLAKE)
    assert str(refused.value) == TAKEN.format("ALEX")
    attending.append(sessions.attend(code, alex.id))
    with pytest.raises(TherapyError, match="belongs to someone's SSH key"):
        sessions.join(code, "Sales", "alex", key=BLAKE)
    blake = sessions.join(code, "Marketing", "Blake", key=BLAKE)
    assert blake.id != alex.id
    assert {(p.name, p.side) for p in sessions.board(code).participants} == {
        ("Alex", "Sales"),
        ("Blake", "Marketing"),
    }


def test_a_keyed_name_is_refused_to_anyone_without_the_key(sessions: Sessions, code: str) -> None:
    sessions.join(code, "Sales", "Alex", key=ALEX)
    with pytest.raises(TherapyError) as typed:
        sessions.join(code, "Sales", "Alex")  # typed in the join screen
    assert str(typed.value) == TAKEN.format("Alex")
    with pytest.raises(TherapyError, match="belongs to someone's SSH key"):
        sessions.join(code, "Sales", "Alex", bound=True)  # therapy join --name, the shell
    with pytest.raises(TherapyError, match="belongs to someone's SSH key"):
        sessions.join(code, "Sales", "Alex", bound=True, keyed=True)  # OpenSSH's --name
    assert len(sessions.board(code).participants) == 1


def test_a_name_bound_by_the_openssh_route_is_not_for_a_serve_key(
    sessions: Sessions, code: str
) -> None:
    dana = sessions.join(code, "Marketing", "Dana", bound=True, keyed=True)
    with pytest.raises(TherapyError, match="belongs to someone's SSH key"):
        sessions.join(code, "Marketing", "Dana", key=ALEX)
    assert sessions.join(code, "Marketing", "Dana", bound=True, keyed=True).id == dana.id


def test_a_key_never_takes_a_name_someone_joined_under_without_a_key(
    sessions: Sessions, code: str, attending: list
) -> None:
    """A stranger with any SSH key, waiting for a browser participant to drop, could take
    their name, their cards and their votes, and shut them out for good: a key is no proof
    of being the person who typed that name."""
    sam = sessions.join(code, "Sales", "Sam")
    attending.append(sessions.attend(code, sam.id))
    with pytest.raises(TherapyError, match="Someone joined this session as Sam already"):
        sessions.join(code, "Sales", "Sam", key=ALEX)
    attending.pop().close()
    with pytest.raises(TherapyError, match="Someone joined this session as sam already"):
        sessions.join(code, "Sales", "sam", key=ALEX)
    assert sessions.join(code, "Sales", "Sam").id == sam.id  # Sam comes back as Sam
    assert sessions.participant_for_key(code, ALEX) is None


def test_the_session_keeps_a_keyed_hash_of_the_key_never_its_id(
    sessions: Sessions, data_dir: Path
) -> None:
    first = sessions.create("Q3", ["Sales", "Marketing"]).code
    second = sessions.create("Q4", ["Sales", "Marketing"]).code
    one = sessions.join(first, "Sales", "Alex", key=ALEX)
    two = sessions.join(second, "Sales", "Alex", key=ALEX)
    for code in (first, second):
        assert ALEX not in session_file(data_dir, code).read_text()
    assert one.key and two.key and len(one.key) == 64 and ALEX not in (one.key, two.key)
    assert one.key != two.key  # a secret per session: the key's visits do not link up
    raw = session_file(data_dir, first).read_bytes()
    assert json.loads(raw)["participants"]["1"]["key"] == one.key


def test_an_anonymous_session_stores_no_name_and_no_key_id(
    sessions: Sessions, data_dir: Path
) -> None:
    code = sessions.create("Q3", ["Sales", "Marketing"], anonymous=True).code
    alex = sessions.join(code, "Sales", "Alex Secret", key=ALEX)
    assert alex.name is None and alex.seat is None
    assert sessions.join(code, "Sales", "Alex Secret", key=ALEX).id == alex.id
    assert sessions.join(code, "Sales", key=ALEX).id == alex.id
    assert sessions.participant_for_key(code, ALEX).id == alex.id  # type: ignore[union-attr]
    blake = sessions.join(code, "Sales", "Alex Secret", key=BLAKE)  # no name to take
    assert blake.id != alex.id
    for path in files_under(data_dir):
        raw = path.read_bytes()
        assert b"Secret" not in raw and ALEX.encode() not in raw and BLAKE.encode() not in raw


def test_deleting_the_session_leaves_nothing_of_the_key(sessions: Sessions, data_dir: Path) -> None:
    code = sessions.create("Q3", ["Sales", "Marketing"]).code
    alex = sessions.join(code, "Sales", "Alex", key=ALEX)
    assert alex.key
    sessions.delete(code)
    for path in files_under(data_dir):
        raw = path.read_bytes()
        assert ALEX.encode() not in raw and alex.key.encode() not in raw, path
        assert b"Alex" not in raw, path
    with pytest.raises(TherapyError, match=f"no session {code}"):
        sessions.participant_for_key(code, ALEX)


def test_a_key_id_that_is_not_one_is_refused(sessions: Sessions, code: str) -> None:
    with pytest.raises(TherapyError, match="64 hex digits"):
        sessions.join(code, "Sales", "Alex", key="ssh-ed25519 AAAA")
    assert sessions.board(code).participants == []


def test_a_session_file_without_key_hashes_still_reads(
    sessions: Sessions, code: str, data_dir: Path
) -> None:
    """Written before participants had a `key`: read as participants without one."""
    sessions.join(code, "Sales", "Alex", bound=True, keyed=True)
    path = session_file(data_dir, code)
    tables = json.loads(path.read_text())
    for row in tables["participants"].values():
        del row["key"]
    path.write_text(json.dumps(tables))
    (alex,) = sessions.board(code).participants
    assert (alex.name, alex.keyed, alex.key) == ("Alex", True, None)
    assert sessions.join(code, "Sales", "Alex", bound=True, keyed=True).id == alex.id


@pytest.mark.parametrize(
    ("field", "value"),
    [("key", ALEX.upper()), ("key", "x" * 64), ("key", ALEX[:24]), ("seat_key", "not hex")],
)
def test_a_key_hash_or_secret_of_the_wrong_shape_is_damage(
    sessions: Sessions, code: str, data_dir: Path, field: str, value: str
) -> None:
    sessions.join(code, "Sales", "Alex", key=ALEX)
    path = session_file(data_dir, code)
    tables = json.loads(path.read_text())
    row = tables["participants"]["1"] if field == "key" else tables["session"]["1"]
    row[field] = value
    path.write_text(json.dumps(tables))
    with pytest.raises(StoreError, match="is damaged"):
        sessions.board(code)
