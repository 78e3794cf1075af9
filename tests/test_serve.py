"""End to end through `therapy serve`: the real OpenSSH client, in tmux, against our own SSH
door on a free port of 127.0.0.1. No account, no sshd: a key offered is the person.

Never skipped in CI (CI=true): .ci/run installs openssh-client and tmux.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from ssh_support import Tmux, free_port, in_ci, keygen, tmux_server, wait_until

from therapy.service import Sessions
from therapy.store import Store

TITLE = "Q3 lead handoff"
CARD = "Need battlecards"
SIDE_PROMPT = "Your side (1 Sales, 2 Marketing)"
NAME_PROMPT = "Your name (it stays with your SSH key"


def require_client() -> None:
    missing = [name for name in ("ssh", "ssh-keygen", "tmux") if shutil.which(name) is None]
    if not missing:
        return
    message = f"the serve tests need {', '.join(missing)} (apt-get install openssh-client tmux)"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def apps_of(data_dir: Path) -> list[int]:
    """The app processes serve started for this data folder (their environment names it)."""
    needle = f"THERAPY_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


class Door:
    """therapy serve as a subprocess, the keys of its visitors, and tmux to run them in."""

    def __init__(self, folder: Path, tmux: Tmux) -> None:
        self.folder = folder
        self.data_dir = folder / "data"
        self.sessions = Sessions(Store(self.data_dir))
        self.tmux = tmux
        for name in ("alex", "blake", "fay"):
            keygen(folder / name)
        (folder / "facilitators").write_text(
            "# who may facilitate\n" + (folder / "fay.pub").read_text()
        )
        self.log = folder / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(
        self,
        idle: int | None = None,
        login: int | None = None,
        setup: str = "",
        options: tuple[str, ...] = (),
    ) -> None:
        """Start serve; `idle`, `login`: the time limits in seconds, shortened for a test by
        setting them in the modules that read them before the command runs; `setup`: Python
        run in serve before it, to change it for a test."""
        program = ["-m", "therapy.cli"]
        if idle is not None or login is not None or setup:
            program = [
                "-c",
                f"{setup}\nimport therapy.serve.connection as c, therapy.serve.server as s; "
                f"c.SERVE_IDLE_SECONDS = {idle or 3600}; s.SERVE_LOGIN_SECONDS = {login or 30}; "
                "from therapy.cli import main; main()",
            ]
        for _attempt in range(5):
            self.port = free_port()
            with self.log.open("wb") as log:
                self.process = subprocess.Popen(
                    [
                        *(sys.executable, *program, "--data-dir", str(self.data_dir)),
                        *("serve", "--ssh", f"127.0.0.1:{self.port}"),
                        *("--facilitators", str(self.folder / "facilitators")),
                        *(option.format(port=free_port()) for option in options),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            wait_until(
                lambda: "Give people" in self.said() or self.process.poll() is not None,  # type: ignore[union-attr]
                30,
                self.said,
            )
            if self.process.poll() is None:
                return
            if "cannot listen" not in self.said():
                raise AssertionError(f"therapy serve stopped at start:\n{self.said()}")
        raise AssertionError("no free port for therapy serve after 5 tries")

    def said(self) -> str:
        with suppress(OSError):
            return self.log.read_text(errors="replace")
        return ""

    def stop(self) -> int | None:
        """Ctrl+C, bounded in time; SIGKILL if it hangs (and the test fails on it)."""
        process = self.process
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        os.kill(process.pid, signal.SIGINT)
        try:
            return process.wait(15)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
            raise AssertionError(f"therapy serve did not stop on Ctrl+C:\n{self.said()}") from None

    def client(self, command: str | None, key: str | None, tty: bool = True) -> list[str]:
        argv = [
            *("ssh", "-F", "/dev/null", "-tt" if tty else "-T", "-p", str(self.port)),
            *("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"),
            *("-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "-o", "IdentityAgent=none"),
        ]
        if key is None:
            argv += ["-o", "PubkeyAuthentication=no"]
            argv += ["-o", "PreferredAuthentications=keyboard-interactive"]
        else:
            argv += ["-i", str(self.folder / key), "-o", "IdentitiesOnly=yes"]
            argv += ["-o", "PreferredAuthentications=publickey"]
        argv.append("127.0.0.1")
        return argv if command is None else [*argv, command]

    def connect(self, pane: str, command: str | None, key: str | None = "alex") -> None:
        self.tmux.start(pane, self.client(command, key))

    def wait_for(self, pane: str, text: str, what: str, seconds: float = 20) -> str:
        return self.tmux.wait_for(
            pane, lambda shown: text in shown, f"{what} ({text!r}); serve:\n{self.said()}", seconds
        )

    def wait_said(self, pane: str, text: str, what: str) -> None:
        """Wait for a line the pane printed, scrolled off its top or not."""
        wait_until(
            lambda: text in self.tmux.screen(pane, scrolled=True),
            20,
            lambda: f"{what} ({text!r}): {self.tmux.screen(pane, scrolled=True)}",
        )

    def participant(self, code: str, name: str) -> int:
        found = [p for p in self.sessions.board(code).participants if p.name == name]
        assert len(found) == 1, found
        return found[0].id


@pytest.fixture
def door(tmp_path: Path) -> Iterator[Door]:
    require_client()
    with tmux_server(tmp_path) as tmux:
        door = Door(tmp_path, tmux)
        try:
            door.start()
            yield door
        finally:
            tmux.kill()
            status = door.stop()
            wait_until(lambda: not apps_of(door.data_dir), 10, lambda: "app processes left")
            assert status in (0, None), door.said()


@pytest.fixture
def code(door: Door) -> str:
    code = door.sessions.create(TITLE, ["Sales", "Marketing"]).code
    door.sessions.set_phase(code, "vent")
    return code


def join_with_key(door: Door, pane: str, code: str, key: str, name: str, side: str = "1") -> None:
    """A key's first visit: its name and side asked together before the app."""
    door.connect(pane, code, key)
    answer(door, pane, name, side)


def answer(door: Door, pane: str, name: str, side: str) -> None:
    door.wait_for(pane, NAME_PROMPT, "the name asked for the key")
    door.tmux.keys(pane, "-l", name)
    door.tmux.keys(pane, "Enter")
    door.wait_for(pane, SIDE_PROMPT, "the side asked for the key")
    door.tmux.keys(pane, "-l", side)
    door.tmux.keys(pane, "Enter")


def key_id(public: Path) -> str:
    """What serve calls a key: the SHA-256 of its public blob, in hex."""
    return hashlib.sha256(base64.b64decode(public.read_text().split()[1])).hexdigest()


def test_a_key_is_the_person_across_visits_and_keeps_its_name(door: Door, code: str) -> None:
    sessions = door.sessions
    join_with_key(door, "alex", code, "alex", "Alex")  # Sales, the first
    door.wait_for("alex", "no complaints yet", "the vent board")
    alex = door.participant(code, "Alex")
    wait_until(lambda: alex in sessions.present(code), 10, lambda: "Alex is not present")

    door.tmux.keys("alex", "a")
    door.wait_for("alex", "A complaint from Sales", "the add form")
    door.tmux.type("alex", CARD)
    door.tmux.keys("alex", "Enter")
    door.tmux.wait_for(
        "alex", lambda s: CARD in s and "A complaint from" not in s, "Alex's card on the board"
    )
    cards = [c for c in sessions.board(code).complaints if c.text == CARD]
    assert [(c.side, c.author, c.participant) for c in cards] == [("Sales", "Alex", alex)]
    assert next(p for p in sessions.board(code).participants if p.id == alex).keyed

    door.tmux.keys("alex", "C-q")  # quitting closes the connection with the app's status
    assert door.tmux.wait_ended("alex") == 0
    wait_until(lambda: alex not in sessions.present(code), 10, lambda: "Alex still present")

    # the same key again: no question, straight to the board as the same participant
    door.connect("again", code, "alex")
    door.wait_for("again", CARD, "Alex's own card, on coming back")
    assert SIDE_PROMPT not in door.tmux.screen("again", scrolled=True)
    assert NAME_PROMPT not in door.tmux.screen("again", scrolled=True)
    wait_until(lambda: alex in sessions.present(code), 10, lambda: "Alex is not back")
    assert [p.id for p in sessions.board(code).participants] == [alex]

    # another key cannot take the name, with Alex here or not
    join_with_key(door, "blake", code, "blake", "alex", side="marketing")
    door.wait_for("blake", "The name alex belongs to someone's SSH key", "the name refused")
    answer(door, "blake", "Blake", "2")
    door.wait_for("blake", "1 hidden until the reveal", "Blake's board")
    blake = door.participant(code, "Blake")
    assert blake != alex
    assert {(p.name, p.side) for p in sessions.board(code).participants} == {
        ("Alex", "Sales"),
        ("Blake", "Marketing"),
    }

    # the session keeps the keys (as keyed hashes): serve keeps nothing of them beside it
    kept = sorted(path.name for path in (door.data_dir / "serve").iterdir())
    assert kept == ["doors.json", "ssh_host_ed25519_key"]  # the doors of the running server
    ids = [key_id(door.folder / f"{name}.pub").encode() for name in ("alex", "blake")]
    for path in [path for path in door.data_dir.rglob("*") if path.is_file()]:
        assert not any(raw in path.read_bytes() for raw in ids), f"a key's id is in {path}"


def test_without_a_key_the_name_is_typed_in_the_app(door: Door, code: str) -> None:
    sessions = door.sessions
    join_with_key(door, "alex", code, "alex", "Alex")  # a key's name is not for the taking
    door.wait_for("alex", "no complaints yet", "the vent board")
    door.tmux.keys("alex", "C-q")
    door.tmux.wait_ended("alex")

    door.connect("sam", code, key=None)
    door.wait_for("sam", "Your side", "the join screen")
    door.tmux.keys("sam", "Enter")  # Sales; the name field takes the focus
    door.tmux.type("sam", "Alex")
    door.tmux.keys("sam", "Enter")
    door.wait_for("sam", "someone's SSH key", "the keyed name refused")
    door.tmux.keys("sam", "C-u")
    door.tmux.type("sam", "Sam")
    door.tmux.keys("sam", "Enter")
    door.wait_for("sam", "no complaints yet", "the vent board")
    sam = next(p for p in sessions.board(code).participants if p.name == "Sam")
    assert not sam.keyed
    wait_until(lambda: sam.id in sessions.present(code), 10, lambda: "Sam is not present")


def test_in_an_anonymous_session_a_key_is_asked_its_side_only(door: Door) -> None:
    sessions = door.sessions
    code = sessions.create(TITLE, ["Sales", "Marketing"], anonymous=True).code
    sessions.set_phase(code, "vent")
    door.connect("alex", code, "alex")
    door.wait_for("alex", SIDE_PROMPT, "the side asked for the key")
    door.tmux.keys("alex", "-l", "1")
    door.tmux.keys("alex", "Enter")
    door.wait_for("alex", "no complaints yet", "the vent board")
    assert NAME_PROMPT not in door.tmux.screen("alex", scrolled=True)
    (alex,) = sessions.board(code).participants
    assert (alex.name, alex.side, alex.key is not None) == (None, "Sales", True)
    door.tmux.keys("alex", "C-q")
    assert door.tmux.wait_ended("alex") == 0

    door.connect("again", code, "alex")
    door.wait_for("again", "no complaints yet", "the vent board, on coming back")
    assert SIDE_PROMPT not in door.tmux.screen("again", scrolled=True)
    assert [p.id for p in sessions.board(code).participants] == [alex.id]


def test_watch_and_facilitate_only_for_listed_keys(door: Door, code: str) -> None:
    door.connect("wall", f"watch {code}", key=None)
    door.wait_for("wall", TITLE, "the projector view")

    door.connect("alex", f"facilitate {code}", "alex")
    door.wait_said("alex", "Only the facilitators' keys may facilitate", "the refusal")
    assert door.tmux.wait_ended("alex") == 1

    door.connect("fay", f"facilitate {code}", "fay")
    door.wait_for("fay", TITLE, "the facilitator's app")
    door.tmux.keys("fay", "C-n")  # the facilitator moves the phase on
    wait_until(
        lambda: door.sessions.session(code).phase.value == "diagnose",
        10,
        lambda: f"still {door.sessions.session(code).phase}:\n{door.tmux.screen('fay')}",
    )


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ("bash", "There is no session BASH that you can join"),
        ("sh -c id", "This door opens retro sessions and nothing else"),
        ("watch K7QX2M; bash", "This door opens retro sessions and nothing else"),
    ],
    ids=["shell", "command", "code-then-command"],
)
def test_no_shell_and_no_command(door: Door, command: str, said: str) -> None:
    door.connect("eve", command, "alex")
    door.wait_said("eve", said, "the refusal")
    assert "uid=" not in door.tmux.screen("eve", scrolled=True)


def test_no_terminal_no_subsystem_no_forwarding(door: Door, code: str) -> None:
    result = subprocess.run(
        door.client(code, "alex", tty=False),
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"therapy needs a terminal: connect with ssh -t -p {door.port} 127.0.0.1 CODE."
    )

    sftp = subprocess.run(
        [
            *("sftp", "-F", "/dev/null", "-P", str(door.port), "-b", "-"),
            *("-i", str(door.folder / "alex"), "-o", "IdentitiesOnly=yes"),
            *("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"),
            "127.0.0.1",
        ],
        input="ls /\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert sftp.returncode != 0 and "subsystem request failed" in sftp.stderr, sftp.stderr

    # -L to the door itself: a forward that worked would bring back its SSH banner
    local = free_port()
    door.tmux.start(
        "tunnel",
        [
            *door.client(None, "alex", tty=False),
            *("-N", "-L", f"127.0.0.1:{local}:127.0.0.1:{door.port}"),
        ],
    )

    def tunnel_answers() -> bool:
        with suppress(OSError), socket.create_connection(("127.0.0.1", local), 2) as probe:
            probe.settimeout(10)
            assert probe.recv(64) == b"", "the -L tunnel forwarded a connection"
            return True
        return False

    wait_until(tunnel_answers, 20, lambda: door.tmux.screen("tunnel"))


def test_a_resize_reaches_the_app(door: Door, code: str) -> None:
    door.connect("wall", f"watch {code}", key=None)
    door.wait_for("wall", TITLE, "the projector view")

    def width(shown: str) -> int:  # the boards' frames reach the right edge
        return max(len(line.rstrip()) for line in shown.splitlines())

    assert width(door.tmux.screen("wall")) <= 120
    door.tmux.run("resize-window", "-t", "wall", "-x", "200", "-y", "40")
    door.tmux.wait_for(
        "wall",
        lambda shown: TITLE in shown and 180 < width(shown) <= 200,
        "the boards redrawn at the new width",
    )


def test_a_killed_client_leaves_no_process_and_no_presence(door: Door, code: str) -> None:
    sessions = door.sessions
    door.connect("sam", code, key=None)
    door.wait_for("sam", "Your side", "the join screen")
    door.tmux.keys("sam", "Enter")
    door.tmux.type("sam", "Sam")
    door.tmux.keys("sam", "Enter")
    door.wait_for("sam", "no complaints yet", "the vent board")
    sam = door.participant(code, "Sam")
    wait_until(lambda: sam in sessions.present(code), 10, lambda: "Sam is not present")
    assert apps_of(door.data_dir)

    shell = int(door.tmux.run("display-message", "-p", "-t", "sam", "#{pane_pid}"))
    clients = [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _parent(entry) == shell
    ]
    assert clients, "no ssh client under the pane's shell"
    for pid in clients:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: sam not in sessions.present(code), 15, lambda: "Sam is still present")
    wait_until(lambda: not apps_of(door.data_dir), 15, lambda: f"apps: {apps_of(door.data_dir)}")


def test_ctrl_c_stops_the_server_and_tells_everyone(door: Door, code: str) -> None:
    door.connect("wall", f"watch {code}", key=None)
    door.wait_for("wall", TITLE, "the projector view")
    join_with_key(door, "alex", code, "alex", "Alex")
    door.wait_for("alex", "no complaints yet", "the vent board")
    door.sessions.add_complaint(code, "Sales", CARD, author="Alex")

    assert door.stop() == 0
    for pane in ("wall", "alex"):
        door.tmux.wait_ended(pane)
        door.tmux.wait_for(
            pane,
            lambda shown: "therapy serve stopped" in shown,
            "the stop told",
        )
    assert not apps_of(door.data_dir)
    assert [c.text for c in door.sessions.board(code).complaints] == [CARD]
    assert (door.data_dir.stat().st_mode & 0o777) == 0o700


def test_the_host_key_is_made_once_and_private(door: Door) -> None:
    key = door.data_dir / "serve" / "ssh_host_ed25519_key"
    assert key.stat().st_mode & 0o777 == 0o600
    first = key.read_bytes()
    fingerprint = next(
        line for line in door.said().splitlines() if line.startswith("Host key fingerprint")
    )
    assert door.stop() == 0
    door.log.write_text("")
    door.start()
    assert key.read_bytes() == first
    assert fingerprint in door.said()


def _parent(entry: Path) -> int | None:
    with suppress(OSError, ValueError, IndexError):
        return int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    return None


def test_a_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, to give the folder to another user")
    data_dir = tmp_path / "theirs"
    data_dir.mkdir()
    data_dir.chmod(0o770)
    os.chown(data_dir, 65534, 65534)
    result = subprocess.run(
        [sys.executable, "-m", "therapy.cli", "--data-dir", str(data_dir), "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: The data folder {data_dir} belongs to another user")
    assert result.stderr.count("\n") == 1
    assert data_dir.stat().st_mode & 0o777 == 0o770 and not list(data_dir.iterdir())


def test_the_shell_commands_do_not_import_asyncssh() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from therapy.cli import cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'asyncssh'))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_connections_are_capped_in_all_and_per_address(tmp_path: Path) -> None:
    from therapy.limits import SERVE_CONNECTIONS, SERVE_CONNECTIONS_PER_ADDRESS
    from therapy.serve.server import Door as Served
    from therapy.serve.server import Server

    server = Server(Served(tmp_path, None, None, frozenset(), "127.0.0.1", 2222, "127.0.0.1"))
    for _ in range(SERVE_CONNECTIONS_PER_ADDRESS):
        assert server.admit("10.0.0.1") is None
    assert "Your address holds" in (server.admit("10.0.0.1") or "")
    server.leave("10.0.0.1")
    # a place is free again, but the address spent its burst of new connections at once
    assert "Too many new connections" in (server.admit("10.0.0.1") or "")
    # an IPv6 client is its /64: a machine cannot pass as a crowd by changing addresses
    for n in range(SERVE_CONNECTIONS_PER_ADDRESS):
        assert server.admit(f"2001:db8::{n + 1:x}") is None
    assert "Your address holds" in (server.admit("2001:db8::ffff:1") or "")
    others = (f"10.0.1.{n}" for n in range(SERVE_CONNECTIONS))
    while sum(server.addresses.values()) < SERVE_CONNECTIONS:
        assert server.admit(next(others)) is None
    assert "connections already" in (server.admit(next(others)) or "")


def test_questions_left_unanswered_end_the_connection(tmp_path: Path) -> None:
    """A door whose code (or name) is never typed ends itself with a sentence once the join
    time is over, instead of holding its process for the idle hour."""
    import pty

    master, slave = pty.openpty()
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import therapy.cli.serve as s; s.SERVE_JOIN_SECONDS = 2; "
            "from therapy.cli import main; main()",
            *("--data-dir", str(tmp_path / "data"), "door"),
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "SSH_ORIGINAL_COMMAND": ""},
        start_new_session=True,
    )
    os.close(slave)
    said = b""
    try:
        while b"connect again to join" not in said:
            ready, _, _ = select.select([master], [], [], 30)
            assert ready, f"nothing said within 30 s: {said!r}"
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            said += chunk
        assert process.wait(30) == 4, said
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        os.close(master)
    assert b"No session was joined within" in said, said
    assert b"Traceback" not in said


# -- what the door refuses, tried with the real OpenSSH tools ------------------------------


def test_scp_with_the_old_protocol_is_refused(door: Door, tmp_path: Path) -> None:
    sent = tmp_path / "payload.txt"
    sent.write_text("not for the server\n")
    result = subprocess.run(
        [
            *("scp", "-O", "-F", "/dev/null", "-P", str(door.port)),
            *("-i", str(door.folder / "alex"), "-o", "IdentitiesOnly=yes"),
            *("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"),
            *("-o", "LogLevel=ERROR", "-o", "IdentityAgent=none"),
            str(sent),
            "127.0.0.1:/tmp/therapy-scp-landed.txt",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "This door opens retro sessions and nothing else" in result.stderr, result.stderr
    assert not Path("/tmp/therapy-scp-landed.txt").exists()
    assert not list(door.data_dir.rglob("payload*"))


def test_a_port_on_the_servers_side_is_refused(door: Door, code: str) -> None:
    """-R: the server is asked to listen and forward back; it refuses, and OpenSSH, told to
    give up on a refused forward, ends at once."""
    result = subprocess.run(
        [
            *door.client(None, "alex", tty=False),
            *("-N", "-o", "ExitOnForwardFailure=yes", "-R", "127.0.0.1:0:127.0.0.1:9"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 255
    assert "remote port forwarding failed" in result.stderr.lower(), result.stderr


def test_a_socks_proxy_through_the_door_reaches_nothing(door: Door) -> None:
    """-D: OpenSSH opens a SOCKS proxy on the client's side; each connection through it asks
    the server for a channel to the target, which the door refuses."""
    local = free_port()
    door.tmux.start(
        "socks",
        [*door.client(None, "alex", tty=False), "-N", "-D", f"127.0.0.1:{local}"],
    )

    def refused() -> bool:
        # SOCKS5, no authentication, CONNECT to the door's own port (which would answer
        # with its SSH banner if the channel were opened)
        with suppress(OSError), socket.create_connection(("127.0.0.1", local), 2) as probe:
            probe.settimeout(10)
            probe.sendall(b"\x05\x01\x00")
            assert probe.recv(2) == b"\x05\x00"
            probe.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1"))
            probe.sendall(struct.pack(">H", door.port))
            reply = probe.recv(64)
            assert not reply.startswith(b"\x05\x00"), "the SOCKS proxy reached the target"
            return True
        return False

    wait_until(refused, 20, lambda: door.tmux.screen("socks"))


def test_no_agent_and_no_display_reach_the_app(door: Door, code: str, tmp_path: Path) -> None:
    """-A and -X: the door says no to the X11 display (OpenSSH reports the refusal), and the
    app's process gets neither the client's agent nor a display."""
    agent = subprocess.run(
        ["ssh-agent", "-s", "-a", str(tmp_path / "agent.sock")],
        capture_output=True,
        text=True,
        check=True,
    )
    agent_pid = int(agent.stdout.split("SSH_AGENT_PID=")[1].split(";")[0])
    try:
        client = door.client(code, "alex")
        client = ["LogLevel=INFO" if arg == "LogLevel=ERROR" else arg for arg in client]
        env = ["env", f"SSH_AUTH_SOCK={tmp_path / 'agent.sock'}", "DISPLAY=127.0.0.1:99"]
        door.tmux.start("alex", [*env, client[0], "-A", "-X", *client[1:]])
        door.wait_said("alex", "X11 forwarding request failed", "the display refused")
        door.wait_for("alex", NAME_PROMPT, "the name asked for the key")
        apps = apps_of(door.data_dir)
        assert apps, "no app process"
        for pid in apps:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            names = {item.split(b"=", 1)[0] for item in environ}
            assert not names & {b"SSH_AUTH_SOCK", b"DISPLAY", b"XAUTHORITY"}, names
    finally:
        with suppress(ProcessLookupError):
            os.kill(agent_pid, 15)


def test_an_idle_connection_ends(tmp_path: Path) -> None:
    """Nobody types and nothing is drawn (a name prompt left alone): the connection ends, with
    a sentence, and its app process with it."""
    require_client()
    with tmux_server(tmp_path) as tmux:
        door = Door(tmp_path, tmux)
        door.start(idle=2)
        try:
            code = door.sessions.create(TITLE, ["Sales", "Marketing"]).code
            door.connect("alex", code, "alex")
            door.wait_for("alex", NAME_PROMPT, "the name asked for the key")
            door.wait_said("alex", "Nothing happened for", "the idle connection ended")
            assert door.tmux.wait_ended("alex") != 0
            wait_until(lambda: not apps_of(door.data_dir), 10, lambda: "app processes left")
        finally:
            tmux.kill()
            door.stop()


def test_a_login_never_finished_is_cut_off(tmp_path: Path) -> None:
    """A client that connects and never finishes the SSH handshake holds no place for long."""
    require_client()
    with tmux_server(tmp_path) as tmux:
        door = Door(tmp_path, tmux)
        door.start(login=2)
        try:
            with socket.create_connection(("127.0.0.1", door.port), 5) as silent:
                silent.settimeout(30)
                assert silent.recv(64).startswith(b"SSH-2.0-")  # the banner, then silence
                received = b""
                with suppress(ConnectionResetError):
                    while chunk := silent.recv(4096):
                        received += chunk
            # the server hung up, well before the socket's own 30 s (which would raise)
        finally:
            tmux.kill()
            door.stop()


def test_invite_prints_the_line_of_the_running_server(door: Door, code: str) -> None:
    """therapy invite reads the doors serve recorded: the ssh line with this session's code
    and serve's port, and the host key's fingerprint as serve printed it; once serve
    stopped, it says no server runs."""

    def invite() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "therapy.cli", "--data-dir", str(door.data_dir), "invite", code],
            capture_output=True,
            text=True,
            timeout=60,
        )

    running = invite()
    assert running.returncode == 0, running.stderr
    assert f"  ssh -t -p {door.port} 127.0.0.1 {code}\n" in running.stdout
    fingerprint = door.said().split("Host key fingerprint: ")[1].split()[0]
    assert fingerprint in running.stdout
    assert f"ssh -t -p {door.port} 127.0.0.1 {code}" in door.said().replace("CODE", code)

    door.tmux.kill()
    assert door.stop() == 0
    stopped = invite()
    assert stopped.returncode == 1
    assert "ssh -p" not in stopped.stdout and f"join {code}" in stopped.stdout
    assert "serve" in stopped.stderr, stopped.stderr


# -- the warm spawner: each connection's app is a fork of it -------------------------------


def _stat(pid: int) -> list[str]:
    """Fields 3 on of /proc/PID/stat (index 0: the state); [] once it is gone."""
    with suppress(OSError):
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]).split()
    return []


def _gone(pid: int) -> bool:
    state = _stat(pid)
    return not state or state[0] == "Z"


def spawners_of(server: int) -> list[int]:
    """serve's children that run `therapy spawner` (the apps, forks of it, keep its command
    line but are its children, not serve's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _parent(entry) == server:
            with suppress(OSError):
                if b"\0spawner\0" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def spawner(door: Door) -> int:
    assert door.process is not None
    server = door.process.pid
    wait_until(lambda: len(spawners_of(server)) == 1, 20, lambda: f"spawners: {door.said()}")
    return spawners_of(server)[0]


def _sockets(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with suppress(OSError):
            if (target := os.readlink(fd)).startswith("socket:"):
                found.add(target)
    return found


def test_each_app_is_a_fork_of_the_spawner_on_its_own_pty(door: Door, code: str) -> None:
    forks = spawner(door)
    door.connect("wall", f"watch {code}", key=None)
    door.wait_for("wall", TITLE, "the projector view")
    (app,) = apps_of(door.data_dir)  # by its environment, which the spawner's is not
    parent, group, session, terminal = (int(field) for field in _stat(app)[1:5])
    assert parent == forks
    assert group == session == app  # the leader of a session of its own, as serve kills it
    pty = os.stat(f"/proc/{app}/fd/0").st_rdev
    assert terminal == pty and os.major(pty) in range(136, 144)  # its controlling tty: the pty
    assert all(os.stat(f"/proc/{app}/fd/{fd}").st_rdev == pty for fd in (1, 2))
    assert not _sockets(app) & _sockets(forks)  # the spawner's socket is closed in the app
    environ = Path(f"/proc/{app}/environ").read_bytes().split(b"\0")
    assert f"SSH_ORIGINAL_COMMAND={code}".encode() in environ  # its own, not the spawner's
    assert not [entry for entry in environ if b"ROOM" in entry]

    door.tmux.keys("wall", "C-q")  # the app's end comes from the spawner, with its status
    assert door.tmux.wait_ended("wall") == 0
    wait_until(lambda: _gone(app), 10, lambda: f"the app {app} is still there")
    assert door.stop() == 0
    wait_until(lambda: _gone(forks), 10, lambda: "the spawner outlived serve's Ctrl+C")


def test_a_killed_serve_leaves_no_spawner_and_no_app(tmp_path: Path) -> None:
    require_client()
    with tmux_server(tmp_path) as tmux:
        door = Door(tmp_path, tmux)
        door.start()
        try:
            code = door.sessions.create(TITLE, ["Sales", "Marketing"]).code
            forks = spawner(door)
            door.connect("wall", f"watch {code}", key=None)
            door.wait_for("wall", TITLE, "the projector view")
            (app,) = apps_of(door.data_dir)
            assert door.process is not None
            door.process.kill()  # SIGKILL: nothing of serve runs to stop anything
            door.process.wait(10)
            wait_until(
                lambda: _gone(forks) and _gone(app) and not apps_of(door.data_dir),
                10,
                lambda: f"left: spawner {_stat(forks)[:1]}, apps {apps_of(door.data_dir)}",
            )
        finally:
            tmux.kill()
            door.stop()


def test_a_killed_spawner_is_replaced_and_the_next_connection_works(door: Door, code: str) -> None:
    first = spawner(door)
    door.connect("wall", f"watch {code}", key=None)
    door.wait_for("wall", TITLE, "the projector view")
    (wall,) = apps_of(door.data_dir)
    os.kill(first, signal.SIGKILL)
    said = "the app spawner ended; a new one is starting"
    wait_until(lambda: said in door.said(), 10, door.said)
    second = spawner(door)
    assert second != first

    join_with_key(door, "alex", code, "alex", "Alex")
    door.wait_for("alex", "no complaints yet", "the vent board, from the new spawner")
    (alex,) = set(apps_of(door.data_dir)) - {wall}
    assert int(_stat(alex)[1]) == second
    assert door.said().count(said) == 1

    # the projector's app, an orphan now, goes on; its end is still seen (by its pidfd)
    door.wait_for("wall", "here: Alex", "the projector, live after its spawner died")
    door.tmux.keys("wall", "C-q")
    door.tmux.wait_ended("wall")
    wait_until(lambda: _gone(wall), 10, lambda: "the orphan app is still there")


def test_without_a_spawner_each_app_starts_in_a_fresh_process(tmp_path: Path) -> None:
    """A spawner that never gets ready (here: one that ends at once) is said once on serve's
    stderr, and every app starts the slow way: a fresh interpreter, serve's own child."""
    require_client()
    broken = "\n".join(
        [
            "import sys, therapy.serve.process as p",
            "made = p.Spawner.__init__",
            "def broken(self, *args):",
            "    made(self, *args)",
            "    self.command = [sys.executable, '-c', 'raise SystemExit(3)']",
            "p.Spawner.__init__ = broken",
        ]
    )
    with tmux_server(tmp_path) as tmux:
        door = Door(tmp_path, tmux)
        door.start(setup=broken)
        try:
            code = door.sessions.create(TITLE, ["Sales", "Marketing"]).code
            said = "the app spawner ended before it was ready; apps start in a fresh process"
            assert said in door.said()
            for pane in ("wall", "again"):
                door.connect(pane, f"watch {code}", key=None)
                door.wait_for(pane, TITLE, "the projector view, from a fresh process")
            assert door.process is not None
            apps = apps_of(door.data_dir)
            assert len(apps) == 2 and {int(_stat(app)[1]) for app in apps} == {door.process.pid}
            assert door.said().count(said) == 1
        finally:
            tmux.kill()
            assert door.stop() == 0
        wait_until(lambda: not apps_of(door.data_dir), 10, lambda: "app processes left")


def test_the_spawner_refuses_what_is_not_a_request(tmp_path: Path) -> None:
    """Only serve talks to the spawner, over the socket pair it was given; still, what is not
    a request is answered with a refusal, and nothing is forked."""
    from therapy.serve.spawner import REQUEST_BYTES

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    command = [sys.executable, "-m", "therapy.cli", "--data-dir", str(tmp_path / "data")]
    process = subprocess.Popen(
        [*command, "spawner", "--socket", str(theirs.fileno())],
        pass_fds=(theirs.fileno(),),
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    theirs.close()
    ours.settimeout(60)
    master, slave = os.openpty()
    try:
        assert json.loads(ours.recv(1024)) == {"ready": True}
        descriptors = len(os.listdir(f"/proc/{process.pid}/fd"))
        env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
        request = {"args": ["--version"], "env": env}
        wrong: list[tuple[bytes, list[int]]] = [
            (json.dumps(request).encode(), []),  # no terminal
            (json.dumps(request).encode(), [slave, slave]),  # two
            (b"\xff{not json", [slave]),
            (json.dumps({"args": "--version", "env": env}).encode(), [slave]),
            (json.dumps({**request, "shell": "sh"}).encode(), [slave]),
            (json.dumps({"args": ["--version"], "env": {"A=B": "c"}}).encode(), [slave]),
            (json.dumps({"args": ["a\0b"], "env": env}).encode(), [slave]),
            (json.dumps({"args": ["\ud800"], "env": env}).encode(), [slave]),
            (b" " * (REQUEST_BYTES + 1), [slave]),
        ]
        for data, fds in wrong:
            socket.send_fds(ours, [data], fds)
            answer = json.loads(ours.recv(1024))
            assert list(answer) == ["refused"], (data[:60], answer)
        assert not [e for e in Path("/proc").iterdir() if _parent(e) == process.pid]
        assert len(os.listdir(f"/proc/{process.pid}/fd")) == descriptors  # none kept

        # a request: the child runs the CLI with its arguments on the terminal, and its end
        # (an error, said in one sentence, exit 2) comes after
        socket.send_fds(ours, [json.dumps({"args": ["nope"], "env": env}).encode()], [slave])
        pid = json.loads(ours.recv(1024))["started"]
        assert json.loads(ours.recv(1024)) == {"ended": pid, "status": 2}
        os.close(slave)
        slave = -1
        shown = b""
        with suppress(OSError):  # EIO once every end of the slave is closed
            while chunk := os.read(master, 4096):
                shown += chunk
        assert b"Error: No such command 'nope'." in shown and b"Traceback" not in shown
    finally:
        ours.close()  # the spawner's end of file: it ends
        os.close(master)
        if slave >= 0:
            os.close(slave)
        try:
            assert process.wait(15) == 0
        finally:
            process.kill()
            process.wait()
    assert process.stderr is not None and process.stderr.read() == b""


def test_an_app_that_fails_ends_with_a_sentence_and_a_status() -> None:
    """Whatever the app raises, its fork ends there, with a status and one sentence on its
    terminal: never a traceback, never back in the spawner's loop."""
    from therapy.serve.spawner import child

    def broken() -> None:
        raise RuntimeError("a bug")

    master, slave = os.openpty()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child ends in os._exit)
        child(broken, ["therapy"], {"PATH": "/usr/bin:/bin"}, slave, theirs)
    os.close(slave)
    theirs.close()
    ours.close()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
    shown = b""
    with suppress(OSError):
        while chunk := os.read(master, 4096):
            shown += chunk
    os.close(master)
    assert shown == b"therapy could not run the app (RuntimeError: a bug).\r\n"


def test_serve_opens_the_browser_door_when_asked(tmp_path: Path) -> None:
    """--web opens the browser door beside the SSH door: serve says its address, invite
    gives it with --web-url's public address, and the page is ours (titled therapy, no
    path of the server in it); Ctrl+C closes both."""
    require_client()
    with tmux_server(tmp_path) as tmux:
        door = Door(tmp_path, tmux)
        door.start(options=("--web", "127.0.0.1:{port}", "--web-url", "https://retro.example/"))
        try:
            wait_until(lambda: "browsers join at" in door.said(), 30, door.said)
            local = door.said().split("browsers join at ")[1].split()[0]
            assert local.startswith("http://127.0.0.1:"), local
            with socket.create_connection(
                ("127.0.0.1", int(local.rsplit(":", 1)[1].strip("/"))), 10
            ) as web:
                web.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                page = b""
                while chunk := web.recv(65536):
                    page += chunk
            assert b"<title>therapy</title>" in page, page[:400]
            assert str(door.data_dir).encode() not in page and b"door" not in page.lower()
            code = door.sessions.create(TITLE, ["Sales", "Marketing"]).code
            invited = subprocess.run(
                [
                    *(sys.executable, "-m", "therapy.cli", "--data-dir", str(door.data_dir)),
                    "invite",
                    code,
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert invited.returncode == 0, invited.stderr
            assert "Open https://retro.example/ in a browser" in invited.stdout, invited.stdout
        finally:
            tmux.kill()
            assert door.stop() == 0, door.said()
        assert "therapy serve stopped." in door.said()


def test_a_bad_web_address_is_one_sentence(tmp_path: Path) -> None:
    for options, said in [
        (["--web", "no:port:here"], "--web takes HOST:PORT"),
        (["--web-url", "https://retro.example/"], "--web-url takes"),
        (["--web", "8080", "--web-url", "javascript:alert(1)"], "--web-url takes"),
    ]:
        result = subprocess.run(
            [
                *(sys.executable, "-m", "therapy.cli", "--data-dir", str(tmp_path / "data")),
                *("serve", "--ssh", "127.0.0.1:1", *options),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0 and said in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_the_line_serve_gives_people_opens_the_app(door: Door, code: str) -> None:
    """The line as serve prints it, typed into a terminal: OpenSSH gives a command no
    terminal unless asked (-t), and without one the app cannot run."""
    line = door.said().split("Give people this line: ")[1].split("   ")[0]
    words = line.replace("CODE", code).split()
    assert words[0] == "ssh"
    quiet = [
        *(
            "-F",
            "/dev/null",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ),
        *("-o", "LogLevel=ERROR", "-o", "IdentityAgent=none", "-o", "IdentitiesOnly=yes"),
        *("-i", str(door.folder / "alex")),
    ]
    door.tmux.start("typed", ["ssh", *quiet, *words[1:]])
    door.wait_for("typed", NAME_PROMPT, "the name asked, on a terminal")
