"""End to end over a real sshd on 127.0.0.1: a participant's key runs `therapy ssh` through
an authorized_keys command= (or a ForceCommand), in a tmux pane whose screen is read back.

Never skipped in CI (CI=true): .ci/run installs openssh-server, openssh-client and tmux.
"""

from __future__ import annotations

import getpass
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ssh_support import (
    Sshd,
    Tmux,
    require_tools,
    running_sshd,
    stop_processes_with,
    therapy_script,
    tmux_server,
    wait_until,
)

from therapy.model import Phase
from therapy.service import Sessions
from therapy.store import Store

TITLE = "Q3 lead handoff"
OWN = "Leads arrive cold"  # Sales, added by another process
OTHER = "Sales skip our demos"  # Marketing: hidden from Sales until diagnose
MINE = "Need battlecards"  # typed by Alex over SSH
NO_CODE = "Say which session to join after the host"


def entry(data_dir: Path, *options: str) -> str:
    """The command sshd runs for the key, as the README has it (absolute paths: sshd's
    PATH does not know this virtual environment)."""
    return (
        f"umask 002; THERAPY_DATA_DIR={shlex.quote(str(data_dir))} "
        f"TEXTUAL_COLOR_SYSTEM=truecolor {shlex.quote(str(therapy_script()))} ssh "
        + shlex.join(options)
    ).strip()


class World:
    def __init__(self, data_dir: Path, sshd: Sshd, tmux: Tmux) -> None:
        self.data_dir = data_dir
        self.sessions = Sessions(Store(data_dir))
        self.sshd = sshd
        self.tmux = tmux

    def therapy(self, *args: str) -> str:
        """The facilitator's side: another process, from the shell."""
        result = subprocess.run(
            [str(therapy_script()), "--data-dir", str(self.data_dir), *args],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def connect(self, name: str, code: str | None) -> None:
        self.tmux.start(name, self.sshd.client(code))

    def wait_for(self, name: str, text: str, what: str, seconds: float = 10) -> str:
        return self.tmux.wait_for(
            name,
            lambda shown: text in shown,
            f"{what} ({text!r}); sshd:\n{self.sshd.log_tail()}",
            seconds,
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """sshd with Alex's key bound to Sales, and tmux; stopped whatever happens."""
    require_tools()
    data_dir = tmp_path / "data"
    command = entry(data_dir, "--name", "Alex", "--side", "Sales")
    options = f'restrict,pty,command="{command}"'
    with running_sshd(tmp_path / "sshd", options) as sshd, tmux_server(tmp_path) as tmux:
        try:
            yield World(data_dir, sshd, tmux)
        finally:
            tmux.kill()
            stop_processes_with(f"THERAPY_DATA_DIR={data_dir}")


def test_participant_over_ssh_sees_own_side_live_and_cannot_move_the_phase(
    world: World,
) -> None:
    sessions = world.sessions
    code = sessions.create(TITLE, ["Sales", "Marketing"]).code
    sessions.set_phase(code, "vent")

    # (a) the screen opens on the session, and Alex is here
    world.connect("alex", code)
    world.wait_for("alex", TITLE, "the session's title", seconds=20)
    world.wait_for("alex", "no complaints yet", "the vent board")
    alex = next(p for p in sessions.board(code).participants if p.name == "Alex")
    assert alex.side == "Sales"
    wait_until(lambda: alex.id in sessions.present(code), 5, lambda: "Alex is not present")

    # (b) a card of Alex's own side, added by another process, shows up
    world.therapy("add", code, "--side", "Sales", "--name", "Sam", OWN)
    world.wait_for("alex", OWN, "the new Sales card")

    # (c) a card of the other side shows only as a count
    world.therapy("add", code, "--side", "Marketing", "--name", "Mo", OTHER)
    shown = world.wait_for("alex", "1 hidden until the reveal", "the hidden Marketing count")
    assert OTHER not in shown

    def still_vent() -> bool:
        return sessions.session(code).phase is Phase.VENT

    # (d) the facilitator's keys move nothing for a participant (refused, or not offered):
    # first the keys forward; keys are handled in order, so once the form that the next
    # key opens shows, they have been handled
    world.tmux.keys("alex", "C-n", "C-Right")
    # (e) what Alex types is stored under the name bound in the key
    world.tmux.keys("alex", "a")
    world.tmux.wait_for(
        "alex",
        lambda shown: "A complaint from Sales" in shown or not still_vent(),
        "the add form",
    )
    assert still_vent(), "ctrl+n or ctrl+→ from a participant moved the phase"
    world.tmux.type("alex", MINE)
    world.tmux.keys("alex", "Enter")
    world.tmux.wait_for(
        "alex",
        lambda shown: MINE in shown and "A complaint from" not in shown,
        "Alex's own card",
    )
    mine = [c for c in sessions.board(code).complaints if c.text == MINE]
    assert [(c.side, c.author, c.participant) for c in mine] == [("Sales", "Alex", alex.id)]
    assert OTHER not in world.tmux.screen("alex")

    # (d) then the keys back, each way of saying it, and the palette after them: it offers
    # no screenshot (that writes a file) and no phase moves
    world.tmux.keys("alex", "C-b", "C-Left", "C-p")
    shown = world.wait_for("alex", "Search for commands", "the command palette")
    assert "Screenshot" not in shown and "Next phase" not in shown
    world.tmux.type("alex", "screensh")
    world.wait_for("alex", "No matches found", "no screenshot command")
    world.tmux.keys("alex", "Escape")
    world.tmux.wait_for(
        "alex", lambda shown: "Search for commands" not in shown, "the palette to close"
    )
    assert still_vent(), "ctrl+b or ctrl+← from a participant moved the phase"

    # (c) the facilitator moves on to diagnose: the other side's card is revealed
    assert world.therapy("phase", code, "diagnose").strip() == "diagnose"
    world.wait_for("alex", OTHER, "the revealed Marketing card")
    print(world.tmux.screen("alex"))  # what a participant sees; pytest -s shows it

    # leaving: ctrl+q ends the app, the connection closes cleanly, Alex drops off
    world.tmux.keys("alex", "C-q")
    assert world.tmux.wait_ended("alex") == 0
    wait_until(lambda: alex.id not in sessions.present(code), 10, lambda: "Alex still here")


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        (None, NO_CODE),  # ssh retro@host: no command at all
        ("bash -i", NO_CODE),
        ("echo ESCAPED", NO_CODE),
        ("K7QX2M; echo ESCAPED", NO_CODE),
        ("nope42", "There is no session NOPE42"),
    ],
    ids=["nothing", "shell", "command", "code-then-command", "unknown-code"],
)
def test_anything_but_a_code_gets_one_sentence_and_no_shell(
    world: World, typed: str | None, said: str
) -> None:
    result = subprocess.run(
        world.sshd.client(typed, tty=False),
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    # the login shell's rc files may say something first; then one sentence, no traceback
    *_, last = result.stderr.strip().splitlines() or [""]
    assert last.startswith(f"Error: {said}"), result.stderr
    assert result.stderr.count("Error:") == 1 and "Traceback" not in result.stderr
    assert "ESCAPED" not in result.stdout + result.stderr


def test_force_command_asks_for_side_and_name(tmp_path: Path) -> None:
    """The sshd_config alternative: Match User + ForceCommand, no name in the key."""
    require_tools()
    data_dir = tmp_path / "data"
    settings = [
        f"Match User {getpass.getuser()}",
        f"    ForceCommand {entry(data_dir)}",
        "    DisableForwarding yes",
        "    PermitTTY yes",
    ]
    with running_sshd(tmp_path / "sshd", "", settings) as sshd, tmux_server(tmp_path) as tmux:
        try:
            world = World(data_dir, sshd, tmux)
            code = world.sessions.create(TITLE, ["Sales", "Marketing"]).code
            refused = subprocess.run(
                sshd.client("bash -i", tty=False),
                capture_output=True,
                text=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )
            assert refused.returncode != 0 and f"Error: {NO_CODE}" in refused.stderr

            world.connect("kim", code.lower())
            world.wait_for("kim", "Your side", "the join screen", seconds=20)
            # the last side (Marketing), then the name field: keys are handled in order
            tmux.keys("kim", "End", "Tab")
            tmux.type("kim", "Kim")
            tmux.keys("kim", "Enter")
            world.wait_for("kim", "Check in", "the session itself")
            kim = next(p for p in world.sessions.board(code).participants if p.name == "Kim")
            assert kim.side == "Marketing"
            tmux.keys("kim", "C-q")
            assert tmux.wait_ended("kim") == 0
        finally:
            tmux.kill()
            stop_processes_with(f"THERAPY_DATA_DIR={data_dir}")
