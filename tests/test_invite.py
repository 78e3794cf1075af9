"""`therapy invite CODE` and the facilitator's invite key: the lines to paste into a chat,
read from the doors a running `therapy serve` recorded (DATA/serve/doors.json, held by a
lock while serve runs), never from a record that is stale or damaged."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tui_support import app_for, demo_sessions, fix_world, participant_app, settle, wait

from therapy.cli import cli
from therapy.model import Phase
from therapy.serve import doors
from therapy.serve.doors import DoorsRecord
from therapy.service import Sessions
from therapy.service.invitation import NO_SERVE, invite
from therapy.store import Store

FINGERPRINT = "SHA256:" + "Ab3+/" * 8 + "xyz"  # 43 characters of base64, as ssh shows it
SIZE = (100, 36)


def a_record(**changes: object) -> DoorsRecord:
    fields: dict[str, object] = {
        "host": "retro.example.com",
        "port": 2222,
        "fingerprint": FINGERPRINT,
        "web": None,
        "pid": os.getpid(),  # a fake serve: this test's own process
    }
    fields.update(changes)
    return DoorsRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def serving(data_dir: Path) -> Iterator[DoorsRecord]:
    """A serve runs for the data folder: this process recorded its doors and holds them."""
    record = a_record(web="http://retro.example.com:8080/")
    doors.record(data_dir, record)
    yield record
    doors.forget(data_dir)


@pytest.fixture
def recorded(data_dir: Path) -> Iterator[None]:
    """Serve's doors recorded (no browser door), as the app's tests want them."""
    doors.record(data_dir, a_record())
    yield
    doors.forget(data_dir)


@pytest.fixture
def run(data_dir: Path):  # type: ignore[no-untyped-def]
    def invoke(*args: str):  # type: ignore[no-untyped-def]
        result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args])
        assert "Traceback" not in result.output + result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit)
        return result

    return invoke


def record_path(data_dir: Path) -> Path:
    return data_dir / "serve" / "doors.json"


# -- the record ------------------------------------------------------------------------------


def test_a_record_reads_back_while_its_serve_runs_and_is_gone_once_forgotten(
    data_dir: Path, code: str
) -> None:
    assert doors.read(data_dir) is None  # no serve folder at all
    record = a_record(web="https://retro.example.com/")
    doors.record(data_dir, record)
    try:
        assert doors.read(data_dir) == record
        assert record_path(data_dir).stat().st_mode & 0o777 == 0o600
        assert (data_dir / "serve").stat().st_mode & 0o777 == 0o700
    finally:
        doors.forget(data_dir)
    assert not record_path(data_dir).exists()
    assert doors.read(data_dir) is None
    doors.forget(data_dir)  # twice, as serve's finally may: nothing to do, no error


def test_a_record_whose_serve_died_without_forgetting_it_is_stale(
    data_dir: Path, code: str
) -> None:
    """A serve killed (SIGKILL, a crash) leaves its record behind: its lock went with it."""
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from therapy.serve import doors\n"
        "doors.record(Path(sys.argv[1]), doors.DoorsRecord('retro.example.com', 2222, "
        f"{FINGERPRINT!r}, None, os.getpid()))\n"
        "os._exit(0)\n"  # no forget
    )
    subprocess.run([sys.executable, "-c", script, str(data_dir)], check=True, timeout=60)
    assert record_path(data_dir).exists()  # left behind
    assert doors.read(data_dir) is None
    assert invite(Sessions(Store(data_dir)), code).doors is None


def test_a_record_held_by_a_live_lock_but_naming_a_dead_pid_is_stale(
    data_dir: Path, code: str
) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    doors.record(data_dir, a_record(pid=int(gone.stdout)))
    try:
        assert doors.read(data_dir) is None
    finally:
        doors.forget(data_dir)


def test_a_record_that_is_not_whole_and_sane_is_refused_before_it_is_written(
    data_dir: Path,
) -> None:
    for bad in (
        {"host": "retro\x1b]52;c;aGk=\x07.example.com"},
        {"host": ""},
        {"port": 0},
        {"port": 70000},
        {"fingerprint": "SHA256:short"},
        {"web": "javascript:alert(1)"},
        {"web": "http://host/\x1b[2J"},
        {"pid": 0},
    ):
        with pytest.raises(ValueError):
            doors.record(data_dir, a_record(**bad))
        assert not record_path(data_dir).exists()


def test_forget_leaves_a_record_that_another_serve_wrote_since(data_dir: Path) -> None:
    doors.record(data_dir, a_record())
    path = record_path(data_dir)
    os.rename(path, path.with_name("old"))
    path.write_text("{}")  # another serve's, from this process's point of view
    doors.forget(data_dir)
    assert path.read_text() == "{}"


def test_the_host_people_type_is_the_address_served_or_this_hosts_name() -> None:
    assert doors.reachable_host("retro.example.com") == "retro.example.com"
    assert doors.reachable_host("192.0.2.7") == "192.0.2.7"
    for anywhere in ("0.0.0.0", "::", ""):
        name = doors.reachable_host(anywhere)
        assert name and name not in ("0.0.0.0", "::") and " " not in name


def test_the_text_passes_the_text_policy_whatever_title_it_is_given() -> None:
    """The record's fields are checked when written and read; the title is the session's,
    checked by the store: the builder still lets no control through, whoever calls it."""
    from therapy.service.invitation import invitation_text, local_text
    from therapy.text import strip_controls

    title = "\x1b]0;pwned\x07Q3\u202e\u200b retro\x9b2J"
    for text in (
        invitation_text("K7QX2M", a_record(), title),
        local_text("K7QX2M", Path("/srv/retro data"), title),
    ):
        assert text == strip_controls(text)
        assert "pwnedQ3 retro2J" in text  # the controls out, the rest as typed
    assert "--data-dir '/srv/retro data' join K7QX2M" in local_text(
        "K7QX2M", Path("/srv/retro data")
    )


# -- therapy invite --------------------------------------------------------------------------


def test_invite_prints_the_lines_of_the_running_serve(run, code: str, serving: DoorsRecord) -> None:
    result = run("invite", code.lower())
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"ssh -t -p 2222 retro.example.com {code}\n" in out
    assert f"ssh -t -p 2222 retro.example.com watch {code}" in out  # the projector
    assert "http://retro.example.com:8080/" in out  # the browser door
    assert FINGERPRINT in out
    assert "type yes" in out  # for people who never used ssh
    assert "Q3 lead handoff" in out
    assert result.stderr == ""
    assert "\x1b" not in out and all(len(line) <= 200 for line in out.splitlines())


def test_invite_leaves_out_the_doors_that_are_not_open(run, data_dir: Path, code: str) -> None:
    doors.record(data_dir, a_record(port=22))
    try:
        out = run("invite", code).stdout
    finally:
        doors.forget(data_dir)
    assert f"ssh -t retro.example.com {code}\n" in out  # the usual port needs no -p
    assert "http" not in out and "browser" not in out


def test_invite_without_a_serve_gives_the_local_line_and_says_how_to_start_one(
    run, data_dir: Path, code: str
) -> None:
    result = run("invite", code)
    assert result.exit_code == 1
    assert f"join {code}" in result.stdout
    assert str(data_dir) in result.stdout  # people on this host reach this data folder
    assert "ssh" not in result.stdout
    assert result.stderr.strip() == NO_SERVE
    assert "therapy serve" in NO_SERVE and NO_SERVE.count(". ") == 0  # one sentence


def test_invite_an_unknown_session(run, serving: DoorsRecord) -> None:
    result = run("invite", "NOPE42")
    assert result.exit_code != 0
    assert "There is no session NOPE42" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("damage", ["link", "fifo", "folder"])
def test_a_record_that_is_not_a_file_is_named_never_followed(
    run, data_dir: Path, tmp_path: Path, code: str, damage: str
) -> None:
    serve = data_dir / "serve"
    serve.mkdir(mode=0o700)
    secret = tmp_path / "elsewhere.json"
    secret.write_text('{"host": "evil.example.com"}')
    path = record_path(data_dir)
    if damage == "link":
        path.symlink_to(secret)
    elif damage == "fifo":
        os.mkfifo(path)  # a read would wait forever for a writer
    else:
        path.mkdir()
    assert path.is_symlink() or path.exists()  # the damage is in place
    result = run("invite", code)
    assert result.exit_code != 0
    assert "doors.json" in result.stderr and "left alone" in result.stderr
    assert "evil" not in result.output
    assert secret.read_text() == '{"host": "evil.example.com"}'


def held(path: Path, payload: bytes) -> int:
    """A file written and locked as a running serve would hold it; its descriptor."""
    path.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, payload)
    return fd


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"{" * 10, "not JSON"),
        (
            b'{"host": "a\\u001b[2Jb", "port": 2222, "fingerprint": "SHA256:'
            + b"A" * 43
            + b'", "web": null, "pid": 1}',
            "its host is not",
        ),
        (b"[]", "not JSON"),
        (b" " * (1 << 20), "bytes"),
    ],
    ids=["torn", "hostile-host", "wrong-shape", "huge"],
)
def test_a_damaged_record_of_a_running_serve_is_named(
    run, data_dir: Path, code: str, payload: bytes, reason: str
) -> None:
    fd = held(record_path(data_dir), payload)
    try:
        result = run("invite", code)
    finally:
        os.close(fd)
    assert result.exit_code != 0
    assert "doors.json is damaged" in result.stderr and reason in result.stderr
    assert "\x1b" not in result.output


def test_a_record_of_another_user_is_not_trusted(
    run, data_dir: Path, code: str, serving: DoorsRecord
) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    os.chown(record_path(data_dir), 65534, -1)
    result = run("invite", code)
    assert result.exit_code != 0
    assert "doors.json" in result.stderr


# -- the facilitator's app -------------------------------------------------------------------


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> None:
    fix_world(monkeypatch)


def dialog_text(app) -> str:  # type: ignore[no-untyped-def]
    from textual.widgets import Static

    from therapy.tui.dialogs.invitation import InvitationDialog

    assert isinstance(app.screen, InvitationDialog)
    return str(app.screen.query_one("#invitation-text", Static).render())


async def opened_dialog(pilot) -> bool:  # type: ignore[no-untyped-def]
    from therapy.tui.dialogs.invitation import InvitationDialog

    app = pilot.app
    await wait(
        pilot,
        lambda: isinstance(app.screen, InvitationDialog) and app.clipboard,
        "the invitation",
    )
    return True


async def test_the_invite_key_at_check_in_shows_and_copies_the_invitation(
    world: None, data_dir: Path, recorded: None
) -> None:
    from therapy.tui.dialogs.invitation import InvitationDialog
    from therapy.tui.screens.help import keys_of

    sessions, code = demo_sessions(data_dir, Phase.CHECK_IN)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert ("s", "Invite") in keys_of(app.screen)  # the footer and F1 offer it
        await pilot.press("s")
        await opened_dialog(pilot)
        shown = dialog_text(app)
        assert f"ssh -t -p 2222 retro.example.com {code}" in shown
        assert FINGERPRINT in shown
        assert app.clipboard == invite(sessions, code).text
        assert "The invitation is on the clipboard." in [n.message for n in app._notifications]
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, InvitationDialog)


async def test_the_invite_key_on_the_sessions_list_invites_to_the_highlighted_one(
    world: None, data_dir: Path, recorded: None
) -> None:
    from textual.widgets import DataTable

    from therapy.tui.commands import palette

    sessions, code = demo_sessions(data_dir, Phase.VENT, finish=False)
    app = app_for(sessions)
    async with app.run_test(size=SIZE) as pilot:
        await wait(
            pilot,
            lambda: app.screen.query(DataTable) and app.screen.query_one(DataTable).row_count == 2,
            "the sessions",
        )
        highlighted = app.screen.selected_code  # type: ignore[attr-defined]
        assert "Invite people" in [c.title for c in palette(app, [])]
        await pilot.press("s")
        await opened_dialog(pilot)
        assert f"ssh -t -p 2222 retro.example.com {highlighted}" in dialog_text(app)
        assert f"retro.example.com {highlighted}" in app.clipboard


async def test_without_a_serve_the_dialog_says_so_and_copies_the_local_line(
    world: None, data_dir: Path
) -> None:
    from textual.widgets import Static

    sessions, code = demo_sessions(data_dir, Phase.CHECK_IN)
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await opened_dialog(pilot)
        assert f"join {code}" in dialog_text(app)
        warning = str(app.screen.query_one("#invitation-warning", Static).render())
        assert warning == NO_SERVE
        assert f"join {code}" in app.clipboard and "ssh" not in app.clipboard


async def test_the_palette_offers_it_to_the_facilitator_only(
    world: None, data_dir: Path, recorded: None
) -> None:
    from therapy.tui.commands import session_commands

    sessions, code = demo_sessions(data_dir, Phase.VENT)
    app = participant_app(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "Invite people" not in [c.title for c in session_commands(app)]
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        command = next(c for c in session_commands(app) if c.title == "Invite people")
        command.callback()
        await opened_dialog(pilot)
        assert f"retro.example.com {code}" in dialog_text(app)


async def test_participants_have_no_invite_key(world: None, data_dir: Path, recorded: None) -> None:
    from therapy.tui.dialogs.invitation import InvitationDialog
    from therapy.tui.screens.help import keys_of

    sessions, code = demo_sessions(data_dir, Phase.CHECK_IN)
    app = participant_app(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "Invite" not in {d for _, d in keys_of(app.screen)}
        await pilot.press("s")
        await pilot.pause(0.2)
        assert app.clipboard == ""
        assert not isinstance(app.screen, InvitationDialog)


async def test_the_dialog_shows_a_title_as_typed_never_as_markup(
    world: None, data_dir: Path, recorded: None
) -> None:
    sessions = Sessions(Store(data_dir))
    code = sessions.create("[@click=app.quit]Retro[/]", ["Sales", "Marketing"]).code
    app = app_for(sessions, code)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await opened_dialog(pilot)
        assert "[@click=app.quit]Retro[/]" in dialog_text(app)
        assert app.is_running


def test_the_invitation_dialog_fits_80x24(snap_compare, world: None, data_dir: Path) -> None:
    sessions, code = demo_sessions(data_dir, Phase.CHECK_IN)
    doors.record(data_dir, a_record(web="https://retro.example.com/"))

    async def invited(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("s")
        await opened_dialog(pilot)
        await pilot.pause(0.1)

    try:
        assert snap_compare(app_for(sessions, code), terminal_size=(80, 24), run_before=invited)
    finally:
        doors.forget(data_dir)
