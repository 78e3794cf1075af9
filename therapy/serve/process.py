"""One app process on a pty: `therapy door` started on a pty of the client's size, its bytes
forwarded both ways without blocking (a slow client or a paste storm waits where it is), a
resize passed on, and an end that leaves nothing running: told (SIGHUP), then killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Callable
from typing import TYPE_CHECKING

from therapy.limits import SERVE_HANGUP_SECONDS

if TYPE_CHECKING:
    import asyncssh


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
