"""What the CLI prints reaches a terminal tame, and what it writes to a file lands whole.

Stored text is hostile here (a group member can edit a session file): it is written into
session.json directly, as such a person would, and every command that shows it is read
for bytes a terminal would act on."""

from __future__ import annotations

import json
import os
import pty
import re
import resource
import select
import signal
import subprocess
import sys
import tty
import unicodedata
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from therapy.cli import cli
from therapy.service import Sessions
from therapy.text import strip_controls

# retitles the window (tmux pane), sets the clipboard (OSC 52), a C1 CSI, bidi, NUL, DEL
NOW = "2026-11-27T10:00:00+00:00"
HOSTILE = "b\x1b]2;TITLEPWN\x07\x1b]52;c;cHduZWQ=\x07\x9b31m\u202eevil\u200b\x7f\x00\r\x1b[2Jend"


def tame(text: str) -> bool:
    """No character a terminal acts on: C0 but tab and newline, DEL, C1, format (bidi)."""
    return not [
        ch
        for ch in text
        if (unicodedata.category(ch) == "Cc" and ch not in "\t\n")
        or unicodedata.category(ch) == "Cf"
    ]


def untamed(result: Result) -> str:
    found = re.findall(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e]", result.output)
    return f"{found[:5]!r} in {result.output[:600]!r}"


def poison(path: Path, change: dict[str, dict[str, Any]]) -> None:
    """Rewrite fields of every document of the named tables, as an editor of the file would."""
    data = json.loads(path.read_bytes())
    for table, fields in change.items():
        for document in data.get(table, {}).values():
            document.update(fields)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def hostile(data_dir: Path, sessions: Sessions) -> str:
    """Two sessions of one pair: an earlier one with an open action item (what `status` and
    `actions` show) and the current one with a complaint; every user text hostile. A store
    that refuses such text names the file as damaged: then that sentence must be tame."""
    earlier = sessions.create("Earlier", ["Sales", "Marketing"], pair="EMEA").code
    sessions.set_phase(earlier, "remedy")
    sessions.add_action(earlier, "Call back", "Alex", "2026-12-15", metric="calls")
    code = sessions.create("Now", ["Sales", "Marketing"], pair="EMEA").code
    sessions.add_complaint(code, "Sales", "Leads are cold", author="Sam")
    for made in (earlier, code):
        poison(
            data_dir / "sessions" / made / "session.json",
            {
                "session": {"title": HOSTILE},
                "complaints": {"text": HOSTILE, "author": HOSTILE},
                "actions": {"what": HOSTILE, "owner": HOSTILE, "metric": HOSTILE},
            },
        )
    poison(data_dir / "index.json", {"sessions": {"title": HOSTILE}})
    return code


def invoke(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args])


# every command that shows stored text
SHOWING = [
    ["list"],
    ["list", "--pair", "EMEA"],
    ["status", "{code}"],
    ["history"],
    ["actions"],
    ["actions", "--format", "md"],
    ["actions", "--format", "csv"],
    ["actions", "--format", "ics"],
    ["export", "{code}"],
    ["export", "{code}", "--format", "csv"],
    # JSON: escaped, never raw
    ["list", "--json"],
    ["history", "--format", "json"],
    ["actions", "--format", "json"],
]


@pytest.fixture
def unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's read check of stored text switched off, wherever it is called from, so
    that hostile text reaches the output and the output's own filter is what is tested."""
    from therapy.store import schema

    check = schema.check_text
    patched = []
    for name, module in list(sys.modules.items()):
        if name.startswith("therapy") and getattr(module, "check_text", None) is check:
            monkeypatch.setattr(module, "check_text", lambda *args: None)
            patched.append(name)
    assert "therapy.store.schema" in patched, patched


@pytest.mark.parametrize("args", SHOWING, ids=[" ".join(args) for args in SHOWING])
def test_stored_text_reaches_the_terminal_tame(
    data_dir: Path, hostile: str, args: list[str]
) -> None:
    """The store refuses the hostile text as damage, and says so, tamely."""
    result = invoke(data_dir, *[a.format(code=hostile) for a in args])
    assert "Traceback" not in result.output
    assert tame(result.stdout) and tame(result.stderr), untamed(result)
    assert "damaged" in result.output, result.output


@pytest.mark.parametrize("args", SHOWING, ids=[" ".join(args) for args in SHOWING])
def test_stored_text_let_through_by_the_store_still_reaches_the_terminal_tame(
    data_dir: Path, hostile: str, unchecked: None, args: list[str]
) -> None:
    """With the store's check off, the hostile text itself is shown: the output's filter
    alone takes out every character a terminal would act on."""
    result = invoke(data_dir, *[a.format(code=hostile) for a in args])
    assert "Traceback" not in result.output
    assert result.exit_code == 0, result.output
    assert "TITLEPWN" in result.output, result.output  # shown, not refused
    assert "damaged" not in result.output, result.output
    assert tame(result.stdout) and tame(result.stderr), untamed(result)


def test_json_is_ascii_and_reads_back_the_same(data_dir: Path, sessions: Sessions) -> None:
    """JSON is ASCII: a parser reads every character back, and a terminal or a pipe gets no
    character to act on, whatever a writer let through."""
    title = "Café ☕ \u05e9\u05dc\u05d5\u05dd"
    sessions.create(title, ["Sales", "Marketing"], pair="EMEA")
    for args in (
        ["list", "--json"],
        ["history", "--format", "json"],
        ["actions", "--all", "--format", "json"],
    ):
        result = invoke(data_dir, *args)
        assert result.exit_code == 0, result.output
        assert result.stdout.isascii(), args
    assert [row["title"] for row in json.loads(invoke(data_dir, "list", "--json").stdout)] == [
        title
    ]


def test_action_item_writers_leave_no_control() -> None:
    """What `actions` writes, built from an item that did not come through the store."""
    from therapy.export import actions
    from therapy.model import ActionItem, EarlierItem

    item = ActionItem(1, HOSTILE, HOSTILE, "2026-12-01", metric=HOSTILE, created=NOW)
    earlier = EarlierItem("K7QX2M", HOSTILE, item, pair_label=HOSTILE)
    listing = actions.Listing([earlier], "2026-11-27", NOW, lambda key: key or "", "all")
    for fmt in actions.FORMATS:
        text = actions.render(listing, fmt, 80 if fmt == "table" else None)
        assert tame(text.replace("\r\n", "\n")), (fmt, text[:600])
    # as a terminal shows it (controls take no column): the columns still line up
    header, row = strip_controls(actions.render(listing, "table")).splitlines()
    assert row.index("open") == header.index("STATUS")


def test_a_path_is_said_tame(data_dir: Path, sessions: Sessions, tmp_path: Path) -> None:
    code = sessions.create("t", ["Sales", "Marketing"]).code
    named = HOSTILE.replace("\x00", "")  # a path holds anything but NUL
    wrote = invoke(data_dir, "export", code, "-o", str(tmp_path / f"plan{named}.md"))
    assert wrote.exit_code == 0, wrote.output
    missing = invoke(data_dir, "import", code, str(tmp_path / f"gone{named}.csv"))
    assert missing.exit_code == 1
    for result in (wrote, missing):
        assert "TITLEPWN" in result.stderr and tame(result.stderr), untamed(result)


def test_a_new_command_cannot_forget_the_policy(data_dir: Path) -> None:
    """The policy sits on the streams, not in each command: one that echoes raw is tamed."""

    @cli.command("forgetful")
    def forgetful() -> None:
        click.echo(HOSTILE)
        click.echo(HOSTILE, err=True)
        raise click.ClickException(HOSTILE)

    try:
        result = invoke(data_dir, "forgetful")
    finally:
        cli.commands.pop("forgetful")
    assert result.exit_code == 1
    assert "TITLEPWN" in result.stdout and "TITLEPWN" in result.stderr
    assert tame(result.stdout) and tame(result.stderr), untamed(result)


def on_a_terminal(data_dir: Path, *args: str) -> tuple[int, str]:
    """Run therapy with its standard output on a pseudo-terminal (raw: no \\r added)."""
    leader, follower = pty.openpty()
    tty.setraw(follower)
    child = subprocess.Popen(
        [sys.executable, "-m", "therapy.cli", "--data-dir", str(data_dir), *args],
        stdout=follower,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    os.close(follower)
    out = b""
    try:
        while select.select([leader], [], [], 30)[0]:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        returncode = child.wait(timeout=30)
    finally:
        os.close(leader)
        if child.poll() is None:
            child.kill()
    assert child.stderr is not None
    with child.stderr:
        return returncode, out.decode() + child.stderr.read().decode()


def test_a_document_on_a_terminal_is_tame(
    data_dir: Path, sessions: Sessions, tmp_path: Path
) -> None:
    """A document piped on is its writer's, byte for byte; on a terminal it is shown tame,
    whatever a template (a file anyone may have written) puts in it."""
    code = sessions.create("t", ["Sales", "Marketing"]).code
    template = tmp_path / "mine.j2"
    template.write_text(f"# {{{{ session.title }}}} {HOSTILE}\n", encoding="utf-8")
    returncode, shown = on_a_terminal(data_dir, "export", code, "--template", str(template))
    assert returncode == 0, shown
    assert "TITLEPWN" in shown and "Traceback" not in shown
    assert tame(shown), repr(shown[:600])


# -- -o FILE: written whole or not at all -----------------------------------------------

WRITERS = [["export", "{code}"], ["actions", "--all", "--format", "md"]]


@pytest.fixture
def with_item(sessions: Sessions) -> str:
    code = sessions.create("Q3 lead handoff", ["Sales", "Marketing"]).code
    sessions.set_phase(code, "remedy")
    sessions.add_action(code, "Answer every lead within a day", "Alex", "2026-12-15")
    return code


def capped(limit: int) -> None:
    """In the child: no file may grow past LIMIT bytes, as on a full disk."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize("args", WRITERS)
def test_a_full_disk_leaves_the_old_file_whole(
    data_dir: Path, with_item: str, tmp_path: Path, args: list[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = out / "plan.md"
    target.write_text("the plan we agreed last time\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "therapy.cli", "--data-dir", str(data_dir)]
        + [a.format(code=with_item) for a in args]
        + ["-o", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: capped(100),
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 1, done.stderr
    assert target.read_text(encoding="utf-8") == "the plan we agreed last time\n"
    assert [p.name for p in out.iterdir()] == ["plan.md"]  # no temp file left behind
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"Error: Cannot write {target} (File too large)")
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", WRITERS)
def test_the_file_is_replaced_whole_and_keeps_its_mode(
    data_dir: Path, with_item: str, tmp_path: Path, args: list[str]
) -> None:
    target = tmp_path / "plan.md"
    target.write_text("old " * 10_000, encoding="utf-8")
    target.chmod(0o640)
    result = invoke(data_dir, *[a.format(code=with_item) for a in args], "-o", str(target))
    assert result.exit_code == 0, result.output
    assert result.stderr == f"Wrote {target}\n"
    assert "Answer every lead within a day" in target.read_text(encoding="utf-8")
    assert "old" not in target.read_text(encoding="utf-8")
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["data", "plan.md"]


@pytest.mark.parametrize("args", WRITERS)
def test_dash_is_standard_output(
    data_dir: Path, with_item: str, tmp_path: Path, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(data_dir, *[a.format(code=with_item) for a in args], "-o", "-")
    assert result.exit_code == 0, result.output
    assert "Answer every lead within a day" in result.stdout
    assert not (tmp_path / "-").exists()


def test_a_planted_link_is_never_written_through(
    data_dir: Path, with_item: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever can write the target's folder cannot make therapy write elsewhere: not with a
    link at the target's name, nor with one at the temp file's name (guessed here)."""
    import therapy.store.files

    shared = tmp_path / "shared"
    shared.mkdir()
    precious = tmp_path / "bashrc"
    precious.write_text("mine\n", encoding="utf-8")
    target = shared / "plan.md"
    target.symlink_to(precious)
    result = invoke(data_dir, "export", with_item, "-o", str(target))
    assert result.exit_code == 1
    assert "is not a regular file" in result.stderr
    target.unlink()

    bait = shared / ".plan.md.guessed.tmp"
    bait.symlink_to(precious)
    monkeypatch.setattr(therapy.store.files, "temp_name", lambda name: bait.name)
    result = invoke(data_dir, "export", with_item, "-o", str(target))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith(f"Error: Cannot write {target}")
    assert precious.read_text(encoding="utf-8") == "mine\n"
    assert not target.exists() and bait.is_symlink()
