"""Defects that must stay fixed: damaged rows and index entries, atomic creation, read-only
data folders, the observer, all-or-none votes, bad bytes and invisible characters in what
people type, links out of user text, anonymity against a reader of the data folder and
inputs echoed back at length.

Each test states the behaviour we want; see the docstrings for what it guards.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import grp
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

import therapy.store as store_module
from therapy.cli import cli
from therapy.export import markdown_text
from therapy.model import OBSERVER, Actor, Role, TherapyError
from therapy.service import Sessions
from therapy.store import Store

TIMEOUT = 30


# -- helpers ----------------------------------------------------------------------------


def invoke(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, ["--data-dir", str(data_dir), *args])


def assert_one_sentence(result: Result, names: Path | None = None) -> None:
    """A refusal: exit 1 and one sentence on stderr; for damage, the sentence names the file."""
    shown = f"exit {result.exit_code}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"
    assert result.exit_code == 1, shown
    assert "Traceback" not in result.output, shown
    assert "did not expect" not in result.output, shown
    assert len(result.stderr.strip().splitlines()) == 1, shown
    if names is not None:
        assert str(names) in result.stderr, shown


def therapy_script() -> Path:
    script = Path(sys.executable).parent / "therapy"
    if script.exists():
        return script
    found = shutil.which("therapy")
    if found is None:
        pytest.skip("the installed therapy script is not found beside python nor on PATH")
    return Path(found)


def session_file(data_dir: Path, code: str) -> Path:
    return data_dir / "sessions" / code / "session.json"


def tables(path: Path) -> dict[str, Any]:
    return json.loads(path.read_bytes())


def rewrite(path: Path, change: Callable[[dict[str, Any]], None]) -> bytes:
    """Change a JSON file in place; its new bytes."""
    data = tables(path)
    change(data)
    raw = json.dumps(data).encode()
    path.write_bytes(raw)
    return raw


def session_record(data: dict[str, Any]) -> dict[str, Any]:
    return data["session"]["1"]


def folders(data_dir: Path) -> set[str]:
    return {p.name for p in (data_dir / "sessions").iterdir()}


def listed_codes(data_dir: Path) -> list[str]:
    result = invoke(data_dir, "list", "--json")
    assert result.exit_code == 0, result.output
    return [row["code"] for row in json.loads(result.stdout)]


# -- 1. rows of the wrong shape are damage -----------------------------------------------


DAMAGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "complaint row without fields": lambda d: d.__setitem__("complaints", {"1": {}}),
    "sides is a string": lambda d: session_record(d).__setitem__("sides", "Sales"),
    "next_ids is a list": lambda d: session_record(d).__setitem__("next_ids", []),
    # found by review: right types, content a rewrite would lose or that would crash later
    "an unknown field": lambda d: d["complaints"]["1"].__setitem__("mood", "grumpy"),
    "an unknown table": lambda d: d.__setitem__("notes", {}),
    "a time that is not one": lambda d: session_record(d).__setitem__("phase_started", "noon"),
    "a lone surrogate": lambda d: d["complaints"]["1"].__setitem__("text", "bad \udcff"),
    "a budget of none": lambda d: session_record(d).__setitem__("vote_budget", 0),
}


@pytest.fixture(params=list(DAMAGES))
def damaged_session(request: pytest.FixtureRequest, data_dir: Path) -> tuple[str, str, Path]:
    """(damaged code, healthy code, damaged file); each session had one complaint."""
    sessions = Sessions(Store(data_dir))
    damaged = sessions.create("Broken rows", ["Sales", "Marketing"]).code
    healthy = sessions.create("Healthy", ["Sales", "Marketing"]).code
    sessions.add_complaint(damaged, "Sales", "one")
    sessions.add_complaint(healthy, "Sales", "one")
    path = session_file(data_dir, damaged)
    rewrite(path, DAMAGES[request.param])
    return damaged, healthy, path


@pytest.mark.parametrize(
    "command",
    [
        ["status", "{code}"],
        ["export", "{code}"],
        ["export", "{code}", "--format", "json"],
        ["facilitate", "{code}"],  # told before anything needs a terminal
        ["join", "{code}", "--name", "Alex", "--side", "Sales"],
        ["add", "{code}", "--side", "Sales", "hello"],
        ["phase", "{code}", "next"],
    ],
    ids=["status", "export-md", "export-json", "facilitate", "join", "add", "phase-next"],
)
def test_wrong_shaped_rows_are_damage(
    data_dir: Path, damaged_session: tuple[str, str, Path], command: list[str]
) -> None:
    code, _, path = damaged_session
    before = path.read_bytes()
    result = invoke(data_dir, *[part.format(code=code) for part in command])
    assert_one_sentence(result, names=path)
    assert path.read_bytes() == before, "a damaged file was rewritten"


def test_list_marks_a_session_with_wrong_shaped_rows(
    data_dir: Path, damaged_session: tuple[str, str, Path]
) -> None:
    code, healthy, path = damaged_session
    before = path.read_bytes()
    table = invoke(data_dir, "list")
    assert table.exit_code == 0, table.output
    assert healthy in table.stdout, table.output
    marked = " ".join(line for line in table.output.splitlines() if code in line)
    as_json = invoke(data_dir, "list", "--json")
    assert as_json.exit_code == 0, as_json.output
    found = {row["code"]: row for row in json.loads(as_json.stdout)}
    assert found[healthy]["problem"] is None
    assert found[healthy]["complaints"] == 1
    problem = found.get(code, {}).get("problem") or ""
    assert "damage" in marked.lower() or "damage" in problem.lower(), (marked, problem)
    assert path.read_bytes() == before


# -- 2. a damaged earlier session of the same pair ---------------------------------------


@pytest.fixture
def pair_with_damaged_earlier(data_dir: Path) -> tuple[str, str, Path]:
    sessions = Sessions(Store(data_dir))
    earlier = sessions.create(
        "Earlier", ["Sales", "Marketing"], created="2026-01-01T10:00:00+00:00"
    ).code
    sessions.set_phase(earlier, "remedy")
    sessions.add_action(earlier, "Sign a lead agreement", "Alex", "2026-12-31")
    later = sessions.create("Later", ["Sales", "Marketing"], created="2026-02-01T10:00:00+00:00")
    sessions.add_complaint(later.code, "Sales", "still cold leads")
    path = session_file(data_dir, earlier)
    rewrite(path, lambda d: d.__setitem__("actions", {"1": {"what": 5}}))
    return earlier, later.code, path


@pytest.mark.parametrize("command", [["status"], ["export"]], ids=["status", "export-md"])
def test_a_damaged_earlier_session_is_skipped_and_said_so(
    data_dir: Path, pair_with_damaged_earlier: tuple[str, str, Path], command: list[str]
) -> None:
    _, later, path = pair_with_damaged_earlier
    before = path.read_bytes()
    result = invoke(data_dir, *command, later)
    assert result.exit_code == 0, result.output
    assert "did not expect" not in result.output and "Traceback" not in result.output
    assert "skipped" in result.output.lower(), result.output
    assert path.read_bytes() == before


def test_a_damaged_earlier_session_is_listed_as_skipped_in_json(
    data_dir: Path, pair_with_damaged_earlier: tuple[str, str, Path]
) -> None:
    earlier, later, _ = pair_with_damaged_earlier
    result = invoke(data_dir, "export", later, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["session"]["code"] == later
    assert earlier in result.stdout, "the JSON does not say which earlier session was skipped"


# -- 3. one bad row in the index ---------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "row"),
    [("9999", 5), ("9999", {"title": "no code"}), ("abc", {"code": "ABC123"})],
    ids=["a number", "no code", "a key that is not a number"],
)
def test_one_bad_index_row_spoils_nothing(data_dir: Path, key: str, row: object) -> None:
    sessions = Sessions(Store(data_dir))
    good = sessions.create("Good one", ["Sales", "Marketing"]).code
    sessions.add_complaint(good, "Sales", "a healthy complaint")
    index = data_dir / "index.json"
    damaged = rewrite(index, lambda d: d["sessions"].__setitem__(key, row))

    table = invoke(data_dir, "list")
    assert table.exit_code == 0, table.output
    assert good in table.stdout
    assert listed_codes(data_dir).count(good) == 1
    status = invoke(data_dir, "status", good)
    assert status.exit_code == 0, status.output
    assert "Good one" in status.stdout
    plan = invoke(data_dir, "export", good)
    assert plan.exit_code == 0, plan.output
    assert "a healthy complaint" in plan.stdout

    made = invoke(data_dir, "new", "Another")
    assert made.exit_code == 0, made.output
    assert "did not expect" not in made.output
    code = made.stdout.strip()
    assert index.read_bytes() == damaged, "a damaged index was rewritten"
    assert code in listed_codes(data_dir)


# -- 4. creating a session is atomic -----------------------------------------------------


def test_a_folder_left_before_its_session_file_takes_nothing(data_dir: Path) -> None:
    """What a `therapy new` killed before its session file was written leaves behind."""
    Sessions(Store(data_dir)).create("Healthy", ["Sales", "Marketing"])
    folder = data_dir / "sessions" / "ABC123"
    folder.mkdir()
    (folder / "lock").touch()
    temp = folder / ".session.json.1234.abcd.tmp"
    temp.write_bytes(b'{"se')

    added = invoke(data_dir, "add", "ABC123", "--side", "Sales", "x")
    assert added.exit_code != 0, added.output
    assert "Traceback" not in added.output
    assert not (folder / "session.json").exists()

    listed = invoke(data_dir, "list", "--json")
    assert listed.exit_code == 0, listed.output
    codes = [row["code"] for row in json.loads(listed.stdout)]
    gone = not folder.exists() and not temp.exists()
    assert "ABC123" in codes or gone, sorted(p.name for p in folder.iterdir())


def test_a_session_whose_index_row_was_never_written_is_listed(data_dir: Path) -> None:
    """What a `therapy new` killed between the session file and the index row leaves."""
    sessions = Sessions(Store(data_dir))
    kept = sessions.create("Indexed", ["Sales", "Marketing"]).code
    orphan = sessions.create("Not indexed", ["Sales", "Marketing"]).code
    sessions.add_complaint(orphan, "Sales", "still here")
    index = data_dir / "index.json"

    def drop(data: dict[str, Any]) -> None:
        rows = data["sessions"]
        for key in [k for k, row in rows.items() if row["code"] == orphan]:
            del rows[key]

    rewrite(index, drop)
    codes = listed_codes(data_dir)
    assert kept in codes
    assert orphan in codes


def test_a_full_disk_while_creating_is_told_truthfully(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = Sessions(Store(data_dir))
    sessions.create("Before", ["Sales", "Marketing"])
    before = folders(data_dir)

    def full(path: object) -> OSError:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    if hasattr(store_module, "_replace"):
        real_replace = store_module._replace

        def replace(path: Path, *args: Any, **kwargs: Any) -> Any:
            if Path(path).name == "index.json":
                raise full(path)
            return real_replace(path, *args, **kwargs)

        monkeypatch.setattr(store_module, "_replace", replace)
    real_os_replace = os.replace

    def os_replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if Path(os.fsdecode(dst)).name == "index.json":
            raise full(dst)
        real_os_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", os_replace)

    try:
        created = sessions.create("On a full disk", ["Sales", "Marketing"])
    except TherapyError as error:
        left = folders(data_dir) - before
        if left:
            assert "nothing was changed" not in str(error).lower(), (left, str(error))
    else:
        for reader in (sessions, Sessions(Store(data_dir))):
            assert reader.board(created.code).session.title == "On a full disk"
            assert created.code in [s.code for s in reader.summaries()]


def test_a_timed_out_index_lock_leaves_nothing_half_made(data_dir: Path) -> None:
    Sessions(Store(data_dir)).create("Before", ["Sales", "Marketing"])
    before = folders(data_dir)
    fd = os.open(data_dir / "index.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        sessions = Sessions(Store(data_dir, lock_timeout=0.3))
        try:
            created = sessions.create("While locked", ["Sales", "Marketing"])
        except TherapyError:
            created = None
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    if created is None:
        assert folders(data_dir) == before, "a failed create left a folder behind"
    else:
        listed = Sessions(Store(data_dir)).summaries()
        assert created.code in [s.code for s in listed]


# -- 5. reads take no write lock ---------------------------------------------------------


def _walk(root: Path) -> Iterator[Path]:
    yield root
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            yield Path(dirpath) / name


def _read_only(root: Path) -> None:
    """Readable by all, writable by nobody (the owner included)."""
    for path in _walk(root):
        mode = stat.S_IMODE(path.lstat().st_mode)
        extra = 0o055 if path.is_dir() else 0o044
        os.chmod(path, (mode | extra) & ~0o222)


def _writable_again(root: Path) -> None:
    for path in _walk(root):
        with contextlib.suppress(OSError):
            os.chmod(path, stat.S_IMODE(path.lstat().st_mode) | 0o200)


def _nobody() -> dict[str, Any] | None:
    try:
        user = pwd.getpwnam("nobody")
    except KeyError:
        return None
    group: int | str = user.pw_gid
    for name in ("nogroup", "nobody"):
        with contextlib.suppress(KeyError):
            group = grp.getgrnam(name).gr_gid
            break
    return {"user": user.pw_uid, "group": group, "extra_groups": []}


def _reader(base: Path, env: dict[str, str]) -> tuple[list[str], dict[str, Any]]:
    """How to run therapy as someone the file modes apply to. Root ignores them: run as
    nobody, or (when nobody cannot run the venv's python) as root without capabilities."""
    script = str(therapy_script())
    if os.geteuid() != 0:
        return [script], {}

    def works(command: list[str], extra: dict[str, Any]) -> bool:
        try:
            probe = subprocess.run(
                [*command, "--version"],
                cwd=base,
                env=env,
                capture_output=True,
                timeout=TIMEOUT,
                **extra,
            )
        except OSError:  # the script or its python cannot be executed by this user
            return False
        return probe.returncode == 0

    nobody = _nobody()
    if nobody is not None and works([script], nobody):
        return [script], nobody
    setpriv = shutil.which("setpriv")
    if setpriv is not None:
        dropped = [setpriv, "--inh-caps=-all", "--bounding-set=-all", "--", script]
        if works(dropped, {}):
            return dropped, {}
    pytest.skip(
        "running as root, and neither user nobody can run the venv's therapy script (its "
        "python is not readable by nobody) nor can setpriv drop root's capabilities"
    )


def test_reads_work_in_a_data_folder_nobody_may_write(tmp_path: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="therapy-readonly-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        home = base / "home"
        home.mkdir(mode=0o755)
        data = base / "data"
        sessions = Sessions(Store(data))
        code = sessions.create("Read only", ["Sales", "Marketing"]).code
        sessions.set_phase(code, "vent")
        sessions.add_complaint(code, "Sales", "leads go cold")
        folder = data / "sessions" / code
        (folder / ".session.json.99999.dead.tmp").write_bytes(b'{"se')
        (data / ".index.json.99999.dead.tmp").write_bytes(b'{"se')
        env = {
            **os.environ,
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "THERAPY_DATA_DIR": str(data),
            "PYTHONDONTWRITEBYTECODE": "1",
            "LC_ALL": "C.UTF-8",
        }
        command, extra = _reader(base, env)
        _read_only(base)

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*command, *args],
                cwd=base,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                **extra,
            )

        listed = run("list")
        assert listed.returncode == 0, listed.stderr
        assert code in listed.stdout and "Read only" in listed.stdout
        status = run("status", code)
        assert status.returncode == 0, status.stderr
        assert "Read only" in status.stdout and "phase: vent" in status.stdout
        plan = run("export", code)
        assert plan.returncode == 0, plan.stderr
        assert "leads go cold" in plan.stdout
        as_json = run("export", code, "--format", "json")
        assert as_json.returncode == 0, as_json.stderr
        assert [c["text"] for c in json.loads(as_json.stdout)["complaints"]] == ["leads go cold"]

        added = run("add", code, "--side", "Sales", "x")
        assert added.returncode != 0, added.stdout
        assert "Traceback" not in added.stderr and "did not expect" not in added.stderr
        assert len(added.stderr.strip().splitlines()) == 1, added.stderr
        assert str(data) in added.stderr, added.stderr  # the data folder or the session's
        lowered = added.stderr.lower()
        assert "writ" in lowered or "permission" in lowered or "read-only" in lowered
    finally:
        _writable_again(base)
        shutil.rmtree(base, ignore_errors=True)


# -- 6. the observer changes nothing -----------------------------------------------------


OBSERVER_TRIES: dict[str, tuple[str, Callable[[Sessions, str, int], object]]] = {
    "edit_complaint": ("vent", lambda s, c, p: s.edit_complaint(c, 1, "changed", actor=OBSERVER)),
    "delete_complaint": ("vent", lambda s, c, p: s.delete_complaint(c, 1, actor=OBSERVER)),
    "add_complaint": ("vent", lambda s, c, p: s.add_complaint(c, "Sales", "x", actor=OBSERVER)),
    "vote": ("vote", lambda s, c, p: s.vote(c, p, 1, actor=OBSERVER)),
    "add_win": ("celebrate", lambda s, c, p: s.add_win(c, "Sales", "a win", actor=OBSERVER)),
    "set_phase": ("vent", lambda s, c, p: s.set_phase(c, "next", actor=OBSERVER)),
    "group": ("diagnose", lambda s, c, p: s.group(c, 2, 1, actor=OBSERVER)),
    "set_cause": (
        "diagnose",
        lambda s, c, p: s.set_cause(c, 1, "misaligned-expectations", actor=OBSERVER),
    ),
}


@pytest.mark.parametrize("what", list(OBSERVER_TRIES))
def test_the_observer_changes_nothing(data_dir: Path, what: str) -> None:
    sessions = Sessions(Store(data_dir))
    code = sessions.create("Projected", ["Sales", "Marketing"]).code
    voter = sessions.join(code, "Sales", "Alex", bound=True).id
    sessions.set_phase(code, "vent")
    sessions.add_complaint(code, "Sales", "first")
    sessions.add_complaint(code, "Marketing", "second")
    phase, attempt = OBSERVER_TRIES[what]
    sessions.set_phase(code, phase)
    path = session_file(data_dir, code)
    before = path.read_bytes()
    with pytest.raises(TherapyError):
        attempt(sessions, code, voter)
    assert path.read_bytes() == before


# -- 7. votes: all or none ---------------------------------------------------------------


def _votes(data_dir: Path, code: str, participant: int | None = None) -> list[Any]:
    board = Sessions(Store(data_dir)).board(code)
    return [v for v in board.votes if participant is None or v.participant == participant]


def test_a_vote_on_a_missing_complaint_stores_no_vote(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    code = sessions.create("Votes", ["Sales", "Marketing"]).code
    sessions.add_complaint(code, "Sales", "one")
    sessions.set_phase(code, "vote")
    result = invoke(data_dir, "vote", code, "1", "999", "--name", "Alex", "--side", "Sales")
    assert_one_sentence(result)
    assert _votes(data_dir, code) == []


def test_votes_over_the_budget_store_none_of_them(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    code = sessions.create("Votes", ["Sales", "Marketing"], votes=3).code
    for n in range(4):
        sessions.add_complaint(code, "Sales", f"complaint {n + 1}")
    alex = sessions.join(code, "Sales", "Alex", bound=True).id
    sessions.set_phase(code, "vote")
    sessions.vote(code, alex, 1)
    result = invoke(data_dir, "vote", code, "2", "3", "4", "--name", "Alex")
    assert_one_sentence(result)
    assert len(_votes(data_dir, code, alex)) == 1


# -- 8. invalid UTF-8 in arguments -------------------------------------------------------


def _run_bytes(data_dir: Path, *args: bytes) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "THERAPY_DATA_DIR": str(data_dir), "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        [os.fsencode(therapy_script()), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=TIMEOUT,
    )


def _assert_clean_run(result: subprocess.CompletedProcess[bytes]) -> None:
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, err
    assert "did not expect" not in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("argv", "field", "wanted"),
    [
        ([b"--side", b"Sales", b"bad \xff byte"], "text", "bad \ufffd byte"),
        ([b"--side", b"Sales", b"--name", b"Al\xffex", b"ok"], "author", "Al\ufffdex"),
    ],
    ids=["text", "name"],
)
def test_bad_bytes_in_a_complaint_become_replacement_characters(
    data_dir: Path, argv: list[bytes], field: str, wanted: str
) -> None:
    code = Sessions(Store(data_dir)).create("Bytes", ["Sales", "Marketing"]).code
    _assert_clean_run(_run_bytes(data_dir, b"add", code.encode(), *argv))
    complaints = Sessions(Store(data_dir)).board(code).complaints
    assert [getattr(c, field) for c in complaints] == [wanted]


def test_bad_bytes_in_a_title_become_a_replacement_character(data_dir: Path) -> None:
    result = _run_bytes(data_dir, b"new", b"Q3 \xff title")
    _assert_clean_run(result)
    code = result.stdout.decode().split()[0]
    assert Sessions(Store(data_dir)).session(code).title == "Q3 \ufffd title"


# -- 9. invisible format characters are removed ------------------------------------------


INVISIBLE = [
    "\u200b",
    "\u200d",
    "\ufeff",
    "\u00ad",
    "\u2061",
    "\u2062",
    "\u2063",
    "\u2064",
    "\U000e0001",
    "\U000e0041",
    "\U000e007f",
    "\u3164",
    "\u115f",
    "\u1160",
    "\uffa0",
]


@pytest.mark.parametrize("ch", INVISIBLE, ids=[f"U+{ord(ch):04X}" for ch in INVISIBLE])
def test_invisible_characters_are_removed_before_storing(data_dir: Path, ch: str) -> None:
    sessions = Sessions(Store(data_dir))
    code = sessions.create(f"Ti{ch}tle", ["Sales", "Marketing"]).code
    assert sessions.session(code).title == "Title"
    assert [s.title for s in sessions.summaries()] == ["Title"]
    alex = sessions.join(code, "Sales", "Alex", bound=True).id
    assert sessions.join(code, "Sales", f"Al{ch}ex", bound=True).id == alex
    sessions.set_phase(code, "vent")
    complaint = sessions.add_complaint(code, "Sales", f"Le{ch}ads")
    assert sessions.board(code).complaint(complaint.id).text == "Leads"  # type: ignore[union-attr]
    sessions.set_phase(code, "remedy")
    sessions.add_action(code, "Share the lead list", f"Al{ch}ex", "2026-12-31")
    assert [a.owner for a in sessions.board(code).action_items] == ["Alex"]
    for fmt in ("md", "json", "csv"):
        exported = invoke(data_dir, "export", code, "--format", fmt)
        assert exported.exit_code == 0, exported.output
        text = exported.stdout
        if fmt == "json":
            text = json.dumps(json.loads(text), ensure_ascii=False)
        assert ch not in text, f"U+{ord(ch):04X} in the {fmt} export"


# -- 10. no link out of user text in the Markdown ----------------------------------------


MARKDOWN = MarkdownIt("gfm-like")  # linkify on


def _token_types(source: str) -> set[str]:
    def walk(tokens: list[Any]) -> Iterator[Any]:
        for token in tokens:
            yield token
            if token.children:
                yield from walk(token.children)

    return {token.type for token in walk(MARKDOWN.parse(source))}


UNLINKED = {"link_open", "image", "html_inline", "html_block"}


@pytest.mark.parametrize(
    "text",
    ["log in at paypal🔒.com/verify", "¬.AL", "see ¬.AL now", "x\u00a7.com", "é.com", "»a.io"],
)
def test_no_link_comes_out_of_user_text(text: str) -> None:
    rendered = markdown_text(text)
    assert not _token_types(rendered) & UNLINKED, rendered


# symbols (which linkify counts as letters of a host name) and punctuation, non-ASCII
BEFORE_DOT = "¬°±©®×÷€£¥¦¨¯´¸¤§»«¿¡·•…☃★♥✓→∑√∞🔒😀é"


@st.composite
def link_bait(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.text(max_size=12), min_size=1, max_size=3))
    out = []
    for piece in pieces:
        symbol = draw(st.sampled_from(BEFORE_DOT))
        tld = draw(st.from_regex(r"[A-Za-z]{2,6}", fullmatch=True))
        out.append(f"{piece}{symbol}.{tld}")
    out.append(draw(st.text(max_size=12)))
    return "".join(out)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(link_bait())
def test_no_link_comes_out_of_any_text_before_a_dot(text: str) -> None:
    rendered = markdown_text(text)
    assert not _token_types(rendered) & UNLINKED, (text, rendered)


# -- 11. anonymous sessions against a reader of the data folder --------------------------


def _anonymous(sessions: Sessions) -> tuple[str, Any, Any, Actor, Actor]:
    code = sessions.create("Anon", ["Sales", "Marketing"], anonymous=True, votes=3).code
    for _ in range(10):  # others in the room, so that the ids are not small numbers
        sessions.join(code, "Sales")
    alex = sessions.join(code, "Sales", "Alex", bound=True)
    priya = sessions.join(code, "Marketing", "Priya", bound=True)
    # the owning process makes each Actor once and keeps it
    return code, alex, priya, Actor(Role.PARTICIPANT, alex.id), Actor(Role.PARTICIPANT, priya.id)


def _values(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for inner in value.values():
            yield from _values(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _values(inner)
    else:
        yield value


def _is_timestamp(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def test_anonymous_files_name_no_one_and_tie_no_card_to_a_person(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    code, alex, priya, as_alex, as_priya = _anonymous(sessions)
    sessions.set_phase(code, "vent")
    mine = [sessions.add_complaint(code, "Sales", f"sales card {n}", as_alex).id for n in (1, 2)]
    theirs = [
        sessions.add_complaint(code, "Marketing", f"marketing card {n}", as_priya).id
        for n in (1, 2)
    ]
    sessions.set_phase(code, "vote")
    sessions.vote(code, alex.id, theirs[0], as_alex)
    sessions.vote(code, priya.id, mine[0], as_priya)
    sessions.set_phase(code, "celebrate")
    sessions.add_win(code, "Sales", "sales win", actor=as_alex)
    sessions.add_win(code, "Marketing", "marketing win", actor=as_priya)

    for path in [p for p in data_dir.rglob("*") if p.is_file()]:
        raw = path.read_bytes().lower()
        assert b"alex" not in raw and b"priya" not in raw, f"a name is in {path}"

    data = tables(session_file(data_dir, code))
    people = data.get("participants", {})
    sides = {"Sales", "Marketing"}
    identifying = {
        value
        for row in people.values()
        for value in _values(row)
        if isinstance(value, str)
        and value  # an empty field ties nothing to anyone
        and value not in sides
        and value not in set(Role)
        and not _is_timestamp(value)
    }
    authors = {alex.id, priya.id}
    assert data.get("complaints") and data.get("wins")
    for table in ("complaints", "wins"):
        for row_id, row in data[table].items():
            for value in _values(row):
                if isinstance(value, int) and not isinstance(value, bool):
                    assert value not in authors, f"{table} row {row_id} carries an author: {row}"
                if isinstance(value, str):
                    assert value not in identifying, f"{table} row {row_id} carries a seat: {row}"


def test_anonymous_authors_edit_only_their_own_cards(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    code, _, _, as_alex, as_priya = _anonymous(sessions)
    sessions.set_phase(code, "vent")
    card = sessions.add_complaint(code, "Sales", "first words", as_alex).id
    sessions.add_complaint(code, "Marketing", "other words", as_priya)
    sessions.edit_complaint(code, card, "better words", actor=as_alex)
    assert sessions.board(code).complaint(card).text == "better words"  # type: ignore[union-attr]
    path = session_file(data_dir, code)
    before = path.read_bytes()
    with pytest.raises(TherapyError):
        sessions.edit_complaint(code, card, "not yours", actor=as_priya)
    with pytest.raises(TherapyError):
        sessions.delete_complaint(code, card, actor=as_priya)
    assert path.read_bytes() == before


def test_anonymous_rejoin_is_the_same_seat_and_the_same_budget(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    code, alex, _, as_alex, _ = _anonymous(sessions)
    sessions.set_phase(code, "vent")
    cards = [sessions.add_complaint(code, "Marketing", f"card {n}").id for n in range(5)]
    sessions.set_phase(code, "vote")
    sessions.vote(code, alex.id, cards[0], as_alex)

    again = sessions.join(code, "Sales", "Alex", bound=True)
    assert again.id == alex.id
    as_again = Actor(Role.PARTICIPANT, again.id)
    for card in cards[1:] * 2:
        try:
            sessions.vote(code, again.id, card, as_again)
        except TherapyError:
            break
    board = sessions.board(code)
    budget = board.session.vote_budget
    assert board.votes_left(alex.id) == 0
    # anonymous votes name no one: every vote stored is Alex's, from both windows together
    assert len(board.votes) == budget


@pytest.mark.parametrize("anonymous", [True, False], ids=["anonymous", "named"])
def test_ssh_without_a_terminal_joins_no_one(data_dir: Path, anonymous: bool) -> None:
    code = Sessions(Store(data_dir)).create("Remote", anonymous=anonymous).code
    result = invoke(
        data_dir, "ssh", "--name", "Alex", "--side", "Sales", env={"SSH_ORIGINAL_COMMAND": code}
    )
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert tables(session_file(data_dir, code)).get("participants", {}) == {}


# -- 12. an input echoed back is cut -----------------------------------------------------


def test_a_huge_ssh_command_is_not_echoed_back(data_dir: Path) -> None:
    result = invoke(data_dir, "ssh", "--name", "Alex", env={"SSH_ORIGINAL_COMMAND": "A" * 100_000})
    assert result.exit_code != 0
    assert len(result.stderr) < 400, f"{len(result.stderr)} characters on stderr"


def test_a_huge_code_is_not_echoed_back(data_dir: Path) -> None:
    result = invoke(data_dir, "status", "A" * 100_000)
    assert result.exit_code != 0
    assert len(result.stderr) < 400, f"{len(result.stderr)} characters on stderr"


# -- 13. wording -------------------------------------------------------------------------


def test_editing_someone_elses_complaint_is_worded_right(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    code = sessions.create("Words", ["Sales", "Marketing"]).code
    alex = Actor(Role.PARTICIPANT, sessions.join(code, "Sales", "Alex", bound=True).id)
    sam = Actor(Role.PARTICIPANT, sessions.join(code, "Sales", "Sam", bound=True).id)
    sessions.set_phase(code, "vent")
    card = sessions.add_complaint(code, "Sales", "mine", alex).id
    with pytest.raises(TherapyError) as caught:
        sessions.edit_complaint(code, card, "yours now", actor=sam)
    assert "edit a complaint" in str(caught.value)


# -- found by review ---------------------------------------------------------------------


def test_a_session_file_moved_aside_in_its_folder_is_never_cleaned_away(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    code = sessions.create("Broken", ["Sales", "Marketing"]).code
    path = session_file(data_dir, code)
    path.write_bytes(b"{not json")
    moved = path.with_name("session.json.damaged")
    path.rename(moved)  # what a person does with a file "left untouched"
    assert invoke(data_dir, "list").exit_code == 0
    sessions.create("Next", ["Sales", "Marketing"])
    assert moved.read_bytes() == b"{not json"


def test_the_orphan_cleaner_waits_for_a_new_session_being_made(data_dir: Path) -> None:
    store = Store(data_dir)
    half_made = data_dir / "sessions" / "NEW123"
    half_made.mkdir()  # a `new` between its mkdir and its lock: it holds the index lock
    fd = os.open(data_dir / "index.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        store.clean_orphans()
        assert half_made.is_dir(), "cleaned from under a `new` that was making it"
    finally:
        os.close(fd)
    store.clean_orphans()
    assert not half_made.exists()


def test_a_blank_name_votes_for_no_one(data_dir: Path) -> None:
    sessions = Sessions(Store(data_dir))
    code = sessions.create("Q3", ["Sales", "Marketing"]).code
    sessions.add_complaint(code, "Sales", "one")
    sessions.set_phase(code, "vote")
    for blank in (" ", "\u200b"):
        result = invoke(data_dir, "vote", code, "1", "--name", blank, "--side", "Sales")
        assert_one_sentence(result)
    assert sessions.board(code).participants == [] and sessions.board(code).votes == []
