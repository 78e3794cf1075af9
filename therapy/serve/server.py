"""The SSH door: no account, no password; any key the client offers is the person, and a
client without one gets in too. Each connection's session channel runs `therapy door` (the
code, then the app) in a process of its own on a pty of the client's size; nothing else
goes through: no shell, no subsystem, no forwarding.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import re
import signal
import socket
import struct
import sys
import termios
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # cryptography deprecates DSA, which asyncssh still names
    import asyncssh

from therapy.limits import (
    SERVE_CONNECTIONS,
    SERVE_CONNECTIONS_PER_ADDRESS,
    SERVE_HANGUP_SECONDS,
    SERVE_IDLE_SECONDS,
    SERVE_LOGIN_SECONDS,
)
from therapy.model import TherapyError
from therapy.serve.private import make_once, private
from therapy.store.files import Folder

HOST_KEY = "ssh_host_ed25519_key"
# What a killed app leaves on the client's terminal: the main screen, a cursor, no mouse.
RESET = b"\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\x1b[?1049l\x1b[?25h\x1b[0m"
_TERM = re.compile(r"[A-Za-z0-9._+-]{1,64}")
_CODE = re.compile(r"[A-Za-z0-9]{1,32}")


@dataclass(frozen=True)
class Door:
    """What one server serves, and to whom."""

    data_dir: Path
    prompts: Path | None
    pair: str | None
    facilitators: frozenset[str]  # key ids (key_id) that may facilitate
    host: str
    port: int

    def line(self, what: str = "CODE") -> str:
        host = socket.gethostname() if self.host in ("0.0.0.0", "::", "") else self.host
        return f"ssh -p {self.port} {host} {what}"


def key_id(key: asyncssh.SSHKey) -> str:
    return hashlib.sha256(key.public_data).hexdigest()


# -- the host key ----------------------------------------------------------------------------


def host_key(data_dir: Path) -> asyncssh.SSHKey:
    """DATA/serve/ssh_host_ed25519_key: made once (mode 600), then reused."""
    with private(data_dir, "serve") as folder:
        text = _read_key(folder)
        if text is None:
            new = asyncssh.generate_private_key("ssh-ed25519", comment="therapy serve")
            make_once(folder, HOST_KEY, new.export_private_key())
            text = _read_key(folder)  # ours, or another server's that was first
    try:
        return asyncssh.import_private_key(text or b"")
    except (asyncssh.KeyImportError, ValueError):
        raise TherapyError(
            f"{data_dir / 'serve' / HOST_KEY} is not a private key; move it away and a new "
            "one is made (people will be told the host key changed)."
        ) from None


def _read_key(folder: Folder) -> bytes | None:
    # opened rather than Folder.read: its owner is checked and its mode kept 600 on that fd
    fd = folder.open_file(HOST_KEY, os.O_RDONLY, "the SSH host key")
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as file:
        if os.fstat(fd).st_uid != os.geteuid():
            raise TherapyError(f"{folder.path / HOST_KEY} is not a key file of yours.")
        os.fchmod(fd, 0o600)
        return file.read(64 * 1024)


def read_facilitators(path: Path) -> frozenset[str]:
    """The key ids in an authorized_keys-format file: options before a key are skipped."""
    ids = set()
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        for at in range(len(words) - 1):
            try:
                ids.add(key_id(asyncssh.import_public_key(f"{words[at]} {words[at + 1]}")))
                break
            except (asyncssh.KeyImportError, ValueError):
                continue
        else:
            raise TherapyError(f"Line {number} of {path} holds no public key.")
    return frozenset(ids)


# -- one app process on a pty ----------------------------------------------------------------


def _winsize(width: int, height: int) -> bytes:
    return struct.pack("HHHH", max(height, 1), max(width, 1), 0, 0)


class AppProcess:
    """`therapy door` on a pty, its bytes forwarded both ways without blocking."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], touch: Callable[[], None]) -> None:
        self.chan = chan
        self.touch = touch
        self.master = -1
        self.process: asyncio.subprocess.Process | None = None
        self.pending = bytearray()  # typed, not yet taken by the pty
        self.reading = False
        self.killed = False

    async def start(self, argv: list[str], env: dict[str, str], size: tuple[int, int]) -> None:
        self.master, slave = os.openpty()
        try:
            fcntl.ioctl(slave, termios.TIOCSWINSZ, _winsize(*size))
            self.process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                start_new_session=True,  # `therapy door` makes the pty its terminal
            )
        finally:
            os.close(slave)
        os.set_blocking(self.master, False)
        self.resume()

    def resume(self) -> None:
        if not self.reading and self.master >= 0:
            asyncio.get_running_loop().add_reader(self.master, self._readable)
            self.reading = True

    def pause(self) -> None:
        if self.reading:
            asyncio.get_running_loop().remove_reader(self.master)
            self.reading = False

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO: every end of the pty's slave is closed
        if not data:
            self.pause()
            return
        self.touch()
        self.chan.write(data)

    def feed(self, data: bytes) -> None:
        """What the person typed, to the app."""
        if self.master < 0:
            return
        self.pending += data
        self._writable()

    def _writable(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.pending:
                done = os.write(self.master, self.pending)
                del self.pending[:done]
        except BlockingIOError:
            loop.add_writer(self.master, self._writable)
            if len(self.pending) > 65536:
                self.chan.pause_reading()  # a paste storm waits at the client, not in memory
            return
        except OSError:
            self.pending.clear()
        loop.remove_writer(self.master)
        self.chan.resume_reading()

    def resize(self, width: int, height: int) -> None:
        if self.master >= 0:  # the kernel sends the app SIGWINCH
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, _winsize(width, height))

    def hang_up(self) -> None:
        """The connection is gone (or the server stops): the app is told, then killed."""
        process = self.process
        if process is None or process.returncode is not None or self.killed:
            return
        self.killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGHUP)
        asyncio.get_running_loop().call_later(SERVE_HANGUP_SECONDS, self._kill)

    def _kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    async def wait(self) -> int:
        """The app's exit status once it ended and its last output was forwarded."""
        assert self.process is not None
        status = await self.process.wait()
        self.pause()
        with contextlib.suppress(OSError):
            while data := os.read(self.master, 65536):
                self.chan.write(data)
        loop = asyncio.get_running_loop()
        loop.remove_writer(self.master)
        os.close(self.master)
        self.master = -1
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # anything the app left behind
        return status if status >= 0 else 128 - status


# -- the SSH side ----------------------------------------------------------------------------


class Server:
    """Every connection of one `therapy serve`: counted, and stopped together."""

    def __init__(self, door: Door) -> None:
        self.door = door
        self.addresses: Counter[str] = Counter()
        self.apps: set[AppProcess] = set()
        self.tasks: set[asyncio.Task[None]] = set()  # each channel's run
        self.visitors: set[Visitor] = set()
        self.stopping = False

    def admit(self, address: str) -> str | None:
        """Why a new connection from `address` is refused, or None: it is counted in."""
        if self.stopping:
            return "therapy serve is stopping."
        if sum(self.addresses.values()) >= SERVE_CONNECTIONS:
            return f"therapy serve holds {SERVE_CONNECTIONS} connections already; try later."
        if self.addresses[address] >= SERVE_CONNECTIONS_PER_ADDRESS:
            return (
                f"Your address holds {SERVE_CONNECTIONS_PER_ADDRESS} connections already; "
                "close one first."
            )
        self.addresses[address] += 1
        return None

    def leave(self, address: str) -> None:
        self.addresses[address] -= 1
        if self.addresses[address] <= 0:
            del self.addresses[address]

    async def stop(self) -> None:
        """Every app is told (SIGHUP) and given time to end; then every connection closes."""
        self.stopping = True
        for app in list(self.apps):
            app.hang_up()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=SERVE_HANGUP_SECONDS + 2)
        for visitor in list(self.visitors):
            visitor.close("therapy serve stopped; what you saved is kept.")


class Visitor(asyncssh.SSHServer):
    """One connection: its address, the key it proved (if any), how long it has been idle."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.conn: asyncssh.SSHServerConnection | None = None
        self.address = ""
        self.counted = False
        self.key: asyncssh.SSHKey | None = None
        self.sessions = 0
        self.last = time.monotonic()
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.address = str((conn.get_extra_info("peername") or ("?",))[0])
        refusal = self.server.admit(self.address)
        if refusal is not None:
            asyncio.get_running_loop().call_soon(self.close, refusal)
            return
        self.counted = True
        self.server.visitors.add(self)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.server.visitors.discard(self)
        if self.counted:
            self.counted = False
            self.server.leave(self.address)

    def close(self, reason: str) -> None:
        if self.conn is not None:
            self.conn.disconnect(asyncssh.DISC_BY_APPLICATION, reason)

    def touch(self) -> None:
        self.last = time.monotonic()

    def _arm(self) -> None:
        left = self.last + SERVE_IDLE_SECONDS - time.monotonic()
        if left <= 0:
            self.close(f"Nothing happened for {SERVE_IDLE_SECONDS // 60} minutes; connect again.")
            return
        self.timer = asyncio.get_running_loop().call_later(left + 0.5, self._arm)

    # No account and no password: a key offered is the person; without one, kbd-interactive
    # with no question lets the client in, and the name is typed in the app.
    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        self.key = key  # the last key checked before success is the one proved by signature
        return True

    def kbdint_auth_supported(self) -> bool:
        return True

    def get_kbdint_challenge(self, username: str, lang: str, submethods: str) -> bool:
        self.key = None  # in without a key: a key only offered proves nothing
        return True

    def password_auth_supported(self) -> bool:
        return False

    def session_requested(self) -> asyncssh.SSHServerSession[bytes] | bool:
        if self.sessions:
            return False  # one session a connection: the caps count connections
        self.sessions += 1
        return Channel(self)

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        return False  # -L and -D: no port forwarding

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        return False  # -R


class Channel(asyncssh.SSHServerSession[bytes]):
    """The one session channel of a connection: a pty, then `CODE`, `watch CODE` or
    `facilitate CODE` (or nothing: the code is asked), run as an app process."""

    def __init__(self, visitor: Visitor) -> None:
        self.visitor = visitor
        self.door = visitor.server.door
        self.chan: asyncssh.SSHServerChannel[bytes] | None = None
        self.term: str | None = None
        self.size = (80, 24)
        self.command = ""
        self.app: AppProcess | None = None

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self.chan = chan

    def pty_requested(
        self, term_type: str, term_size: tuple[int, int, int, int], term_modes: object
    ) -> bool:
        self.term = term_type if _TERM.fullmatch(term_type or "") else "xterm-256color"
        self.size = (term_size[0] or 80, term_size[1] or 24)
        return True

    def shell_requested(self) -> bool:
        return True  # the code is asked

    def exec_requested(self, command: str) -> bool:
        self.command = command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        return False  # sftp, and scp over it

    def session_started(self) -> None:
        tasks = self.visitor.server.tasks
        task = asyncio.get_running_loop().create_task(self.run())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self.visitor.touch()
        if self.app is not None:
            self.app.feed(data)

    def eof_received(self) -> bool:
        return True  # the app decides when it ends

    def terminal_size_changed(self, width: int, height: int, pw: int, ph: int) -> None:
        self.size = (width, height)
        if self.app is not None:
            self.app.resize(width, height)

    def pause_writing(self) -> None:
        if self.app is not None:
            self.app.pause()  # a slow client: the app's output waits in its pty

    def resume_writing(self) -> None:
        if self.app is not None:
            self.app.resume()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.app is not None:
            self.app.hang_up()

    def refuse(self, message: str) -> None:
        assert self.chan is not None
        self.chan.write_stderr(f"{message}\r\n".encode())
        self.chan.exit(1)

    def role(self) -> tuple[str, str] | str:
        """(role, code) for the command, or the sentence that refuses it."""
        line = self.door.line()
        words = self.command.split()
        if len(self.command) > 200 or len(words) > 2:
            return f"This door opens retro sessions and nothing else: {line}."
        if len(words) == 2 and words[0] in ("watch", "facilitate") and _CODE.fullmatch(words[1]):
            if words[0] == "facilitate":
                key = self.visitor.key
                if key is None or key_id(key) not in self.door.facilitators:
                    return "Only the facilitators' keys may facilitate; join with " + line + "."
                return "facilitator", words[1]
            return "observer", words[1]
        if len(words) == 1 and _CODE.fullmatch(words[0]):
            return "participant", words[0]
        if not words:
            return "participant", ""
        return f"This door opens retro sessions and nothing else: {line}."

    async def run(self) -> None:
        chan = self.chan
        assert chan is not None
        if self.term is None:
            self.refuse(f"therapy needs a terminal: connect with {self.door.line('-t CODE')}.")
            return
        chosen = self.role()
        if isinstance(chosen, str):
            self.refuse(chosen)
            return
        role, code = chosen
        app = AppProcess(chan, self.visitor.touch)
        try:
            await app.start(self.argv(role), self.env(code), self.size)
        except OSError as error:
            self.refuse(f"therapy serve could not start the app ({error.strerror}).")
            return
        self.app = app
        self.visitor.server.apps.add(app)
        if self.visitor.server.stopping:
            app.hang_up()  # started while the server stops, which waits for this run too
        try:
            status = await app.wait()
        finally:
            self.visitor.server.apps.discard(app)
        if app.killed and not chan.is_closing():
            chan.write(RESET + b"\r\ntherapy serve stopped; what you saved is kept.\r\n")
        if not chan.is_closing():
            chan.exit(status)
        await chan.wait_closed()  # its last bytes sent: stop() may close the connection now

    def argv(self, role: str) -> list[str]:
        door = self.door
        prompts = [] if door.prompts is None else ["--prompts", str(door.prompts)]
        pair = [] if door.pair is None else ["--pair", door.pair]
        command = [sys.executable, "-m", "therapy.cli", "--data-dir", str(door.data_dir)]
        return [*command, *prompts, "door", "--as", role, *pair]

    def env(self, code: str) -> dict[str, str]:
        """The app's whole environment: nothing the client sent but its TERM and COLORTERM."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/"),
            "LANG": "C.UTF-8",
            "TERM": self.term or "xterm-256color",
            "THERAPY_DATA_DIR": str(self.door.data_dir),
            "SSH_ORIGINAL_COMMAND": code,
        }
        for name in ("THERAPY_NOW", "TMPDIR"):  # a pinned clock (tests), the temporary folder
            if name in os.environ:
                env[name] = os.environ[name]
        assert self.chan is not None
        colour = self.chan.get_environment().get("COLORTERM", "")
        if colour in ("truecolor", "24bit"):
            env["COLORTERM"] = colour
        if self.visitor.key is not None:
            env["THERAPY_SERVE_KEY"] = key_id(self.visitor.key)
        return env


# -- running it ------------------------------------------------------------------------------


def serve(door: Door, say: Callable[[str], None]) -> None:
    """Serve in the foreground until Ctrl+C (or SIGTERM)."""
    key = host_key(door.data_dir)
    asyncio.run(_serve(door, key, say))


async def _serve(door: Door, key: asyncssh.SSHKey, say: Callable[[str], None]) -> None:
    server = Server(door)
    try:
        listener = await asyncssh.create_server(
            lambda: Visitor(server),
            door.host,
            door.port,
            server_host_keys=[key],
            encoding=None,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_scp=False,
            login_timeout=SERVE_LOGIN_SECONDS,
            keepalive_interval=30,  # a client gone without a word is found within 2 minutes
            keepalive_count_max=4,
        )
    except OSError as error:
        raise TherapyError(
            f"therapy serve cannot listen on {door.host}:{door.port} ({error.strerror})."
        ) from None
    say(f"therapy serve: SSH on {door.host}:{door.port}, serving {door.data_dir}")
    say(f"Host key fingerprint: {key.get_fingerprint('sha256')}")
    say(f"Give people this line: {door.line()}   (projector: {door.line('watch CODE')})")
    say("Ctrl+C stops it.")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    try:
        await stop.wait()
    finally:
        listener.close()
        await server.stop()
        await listener.wait_closed()
    say("therapy serve stopped.")
