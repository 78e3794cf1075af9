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

from therapy.cli.app import TRIES, Key, open_session
from therapy.model import Phase, TherapyError
from therapy.service import Sessions
from therapy.store import Store

TITLE = "Q3 lead handoff"
OWN = "Leads arrive cold"  # Sales, added by another process
OTHER = "Sales skip our demos"  # Marketing: hidden from Sales until diagnose
MINE = "Need battlecards"  # typed by Alex over SSH
NO_CODE = "Say which session to join after the host"
EMEA = "EMEA Sales x Marketing"


def entry(data_dir: Path, *options: str) -> str:
    """The command sshd runs for the key: what the README's /usr/local/bin/therapy does
    (the umask, the data folder), then `therapy ssh` by its absolute path (sshd's PATH
    does not know this virtual environment). tests/test_ssh_setup.py runs the README's own."""
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

    def connect(self, name: str, code: str | None, key: str = "client") -> None:
        self.tmux.start(name, self.sshd.client(code, key=key))

    def wait_for(self, name: str, text: str, what: str, seconds: float = 10) -> str:
        return self.tmux.wait_for(
            name,
            lambda shown: text in shown,
            f"{what} ({text!r}); sshd:\n{self.sshd.log_tail()}",
            seconds,
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """sshd with Alex's key bound to Sales (client), Eve's bound to the EMEA pair and Sales
    (emea), and tmux; stopped whatever happens."""
    require_tools()
    data_dir = tmp_path / "data"
    keys = {
        "client": entry(data_dir, "--name", "Alex", "--side", "Sales"),
        "emea": entry(data_dir, "--pair", EMEA, "--name", "Eve", "--side", "Sales"),
    }
    options = {key: f'restrict,pty,command="{command}"' for key, command in keys.items()}
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
        ("nope42", "There is no session NOPE42 that you can join"),  # no terminal: one try
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


def unreachable(code: str) -> str:
    return f"There is no session {code} that you can join; check the code with your facilitator."


@pytest.fixture
def rooms(sessions: Sessions) -> dict[str, str]:
    """Sessions of two named pairs, one unnamed, and one of the EMEA pair without Sales."""
    return {
        "emea": sessions.create(TITLE, ["Sales", "Marketing"], pair=EMEA).code,
        "apac": sessions.create(TITLE, ["Sales", "Marketing"], pair="APAC Sales x Marketing").code,
        "unnamed": sessions.create(TITLE, ["Marketing", "Sales"]).code,
        "payroll": sessions.create("Payroll", ["HR", "Finance"], pair=EMEA).code,
    }


@pytest.mark.parametrize(
    ("key", "opens"),
    [
        (Key(), {"emea", "apac", "unnamed", "payroll"}),  # no binding: every session
        (Key(pair="emea sales x MARKETING"), {"emea", "payroll"}),
        (Key(pair=EMEA, side="sales"), {"emea"}),
        (Key(pair="Sales x Marketing"), {"unnamed"}),  # an unnamed pair is its sides
        (Key(pair="Marketing x Sales"), {"unnamed"}),
        (Key(side="HR"), {"payroll"}),
        (Key(session="apac"), {"apac"}),
        (Key(session="apac", pair=EMEA), set()),
    ],
    ids=["open", "pair", "pair-and-side", "sides", "sides-reversed", "side", "session", "both"],
)
def test_a_key_opens_only_the_sessions_it_binds(
    sessions: Sessions, rooms: dict[str, str], key: Key, opens: set[str]
) -> None:
    if key.session is not None:
        key = Key(key.pair, rooms[key.session], key.side)
    assert {name for name, code in rooms.items() if key.opens(sessions, code.lower())} == opens


def test_wrong_codes_get_one_sentence_and_a_growing_wait_then_the_right_one_opens(
    sessions: Sessions, rooms: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter([rooms["payroll"], f" {rooms['emea'].lower()} "])
    asked: list[int] = []
    waits: list[float] = []

    def ask(attempt: int) -> str:
        asked.append(attempt)
        return next(answers)

    key = Key(pair=EMEA, side="Sales")
    session = open_session(sessions, key, rooms["apac"], ask, waits.append)
    assert session.code == rooms["emea"]
    assert asked == [2, 3] and waits == [1, 2]
    said = capsys.readouterr()
    assert said.err.splitlines() == [unreachable(rooms["apac"]), unreachable(rooms["payroll"])]
    assert said.out == ""


def test_after_the_last_wrong_code_the_connection_closes_saying_nothing_of_other_sessions(
    sessions: Sessions, rooms: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter([rooms["apac"], "bash -i"])
    waits: list[float] = []
    with pytest.raises(TherapyError) as refused:
        open_session(
            sessions,
            Key(pair=EMEA, side="Sales"),
            rooms["payroll"],
            lambda _: next(answers),
            waits.append,
        )
    assert waits == [1, 2, 4] and TRIES == 3
    assert str(refused.value) == unreachable("BASH -I")
    said = capsys.readouterr().err
    assert said.splitlines() == [unreachable(rooms["payroll"]), unreachable(rooms["apac"])]
    assert "Finance" not in said and "one of" not in said


def test_without_a_terminal_a_wrong_code_is_the_only_try(
    sessions: Sessions, rooms: dict[str, str]
) -> None:
    waits: list[float] = []
    with pytest.raises(TherapyError) as refused:
        open_session(sessions, Key(pair=EMEA), rooms["apac"], None, waits.append)
    assert waits == [1] and str(refused.value) == unreachable(rooms["apac"])


def test_ssh_refuses_what_it_cannot_bind_in_one_sentence(sessions: Sessions) -> None:
    from click.testing import CliRunner

    from therapy.cli import cli

    result = CliRunner().invoke(cli, ["ssh", "--pair", " "], env={"SSH_ORIGINAL_COMMAND": "K7QX2M"})
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1


def test_a_key_bound_to_a_pair_meets_one_sentence_for_every_other_session(world: World) -> None:
    sessions = world.sessions
    emea = sessions.create("EMEA handoff", ["Sales", "Marketing"], pair=EMEA).code
    apac = sessions.create("APAC secrets", ["Sales", "Marketing"], pair="APAC Sales x Marketing")
    payroll = sessions.create("Payroll", ["HR", "Finance"], pair=EMEA).code

    # another pair's session, a session without the key's side, an unknown code: the same
    # sentence each time, and the connection closes after the third
    world.connect("eve", apac.code, key="emea")
    world.wait_for("eve", "(try 2 of 3)", "the second try", seconds=20)
    world.tmux.type("eve", payroll)
    world.tmux.keys("eve", "Enter")
    world.wait_for("eve", "(try 3 of 3)", "the third try")
    world.tmux.type("eve", "nope42")
    world.tmux.keys("eve", "Enter")
    assert world.tmux.wait_ended("eve", seconds=20) != 0
    shown = world.tmux.screen("eve", scrolled=True)
    said = [line.strip() for line in shown.splitlines() if "There is no session" in line]
    assert said == [unreachable(apac.code), unreachable(payroll), "Error: " + unreachable("NOPE42")]
    assert "APAC secrets" not in shown and "Finance" not in shown and "one of" not in shown

    # a wrong code first, then the right one: the session opens, with Eve in it as bound
    world.connect("eve-again", apac.code, key="emea")
    world.wait_for("eve-again", "(try 2 of 3)", "the second try", seconds=20)
    world.tmux.type("eve-again", emea)
    world.tmux.keys("eve-again", "Enter")
    world.wait_for("eve-again", "EMEA handoff", "the EMEA session")
    eve = [(p.name, p.side, p.keyed) for p in sessions.board(emea).participants]
    assert eve == [("Eve", "Sales", True)]
    assert sessions.board(apac.code).participants == []
    world.tmux.keys("eve-again", "C-q")
    assert world.tmux.wait_ended("eve-again") == 0
