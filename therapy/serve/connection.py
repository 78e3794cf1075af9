"""One connection to the SSH door: who it is (the key it proved, if any), how long it has
been idle, and its one session channel, which runs `therapy door` as an app process on a pty
for `CODE`, `watch CODE` or `facilitate CODE` (a listed key only), and refuses anything else:
no shell, no subsystem, no forwarding.
"""

from __future__ import annotations

import asyncio
import re
import time
import warnings
from typing import TYPE_CHECKING

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # cryptography deprecates DSA, which asyncssh still names
    import asyncssh

from therapy.limits import SERVE_IDLE_SECONDS, SERVE_WEB_COLUMNS, SERVE_WEB_ROWS
from therapy.serve.keys import key_id
from therapy.serve.process import AppProcess, base_environment

if TYPE_CHECKING:
    from therapy.serve.server import Server

# What a killed app leaves on the client's terminal: the main screen, a cursor, no mouse.
RESET = b"\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\x1b[?1049l\x1b[?25h\x1b[0m"
_TERM = re.compile(r"[A-Za-z0-9._+-]{1,64}")
_CODE = re.compile(r"[A-Za-z0-9]{1,32}")


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
        self.channel: Channel | None = None

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
            said = f"Nothing happened for {_duration(SERVE_IDLE_SECONDS)}; connect again."
            if self.channel is None or not self.channel.end(said):
                self.close(said)
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
        self.channel = Channel(self)
        return self.channel

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
        self.ending = "therapy serve stopped; what you saved is kept."

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self.chan = chan

    def pty_requested(
        self, term_type: str, term_size: tuple[int, int, int, int], term_modes: object
    ) -> bool:
        self.term = term_type if _TERM.fullmatch(term_type or "") else "xterm-256color"
        self.size = _clamped(term_size[0] or 80, term_size[1] or 24)
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
        self.size = _clamped(width or 80, height or 24)
        if self.app is not None:
            self.app.resize(*self.size)

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
        chosen = self.role()  # first: a command we do not serve (scp -t) is not told to use -t
        if isinstance(chosen, str):
            self.refuse(chosen)
            return
        if self.term is None:
            self.refuse(f"therapy needs a terminal: connect with {self.door.line('CODE')}.")
            return
        role, code = chosen
        app = AppProcess(chan, self.visitor.touch, self.visitor.server.spawner)
        try:
            await app.start(self.args(role), self.env(code), self.size)
        except Exception as error:  # noqa: BLE001 - the person is told, never left hanging
            reason = error.strerror if isinstance(error, OSError) else type(error).__name__
            self.refuse(f"therapy serve could not start the app ({reason}).")
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
            chan.write(RESET + f"\r\n{self.ending}\r\n".encode())
        if not chan.is_closing():
            chan.exit(status)
        await chan.wait_closed()  # its last bytes sent: stop() may close the connection now

    def end(self, said: str) -> bool:
        """End the app, then the connection, and say why on the person's screen (an SSH
        disconnect's reason is not shown by every client). False if there is no app."""
        if self.app is None or self.chan is None or self.chan.is_closing():
            return False
        self.ending = said
        self.app.hang_up()
        return True

    def args(self, role: str) -> list[str]:
        """The app's command line, after `therapy`."""
        door = self.door
        prompts = [] if door.prompts is None else ["--prompts", str(door.prompts)]
        pair = [] if door.pair is None else ["--pair", door.pair]
        return ["--data-dir", str(door.data_dir), *prompts, "door", "--as", role, *pair]

    def env(self, code: str) -> dict[str, str]:
        """The app's whole environment: nothing the client sent but its TERM and COLORTERM."""
        env = {
            **base_environment(),
            "TERM": self.term or "xterm-256color",
            "THERAPY_DATA_DIR": str(self.door.data_dir),
            "SSH_ORIGINAL_COMMAND": code,
        }
        assert self.chan is not None
        colour = self.chan.get_environment().get("COLORTERM", "")
        if colour in ("truecolor", "24bit"):
            env["COLORTERM"] = colour
        if self.visitor.key is not None:
            env["THERAPY_SERVE_KEY"] = key_id(self.visitor.key)
        return env


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds % 60 == 0:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"


def _clamped(width: int, height: int) -> tuple[int, int]:
    """A terminal size the app can draw: the app's screen lives in memory cell by cell, so a
    client asking for thousands of rows would make it draw (and send) them all."""
    return max(1, min(width, SERVE_WEB_COLUMNS)), max(1, min(height, SERVE_WEB_ROWS))
