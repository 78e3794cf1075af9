"""One app process on a pty: `therapy door` started on a pty of the client's size, its bytes
forwarded both ways without blocking (a slow client or a paste storm waits where it is), a
resize passed on, and an end that leaves nothing running: told (SIGHUP), then killed.

The process is a fork of the warm spawner (therapy.serve.spawner), which has imported the app
already: `Spawner` is serve's end of it. While there is none (it died and a new one is on its
way, or it could not start), the app starts as before, in a fresh interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import signal
import socket
import struct
import sys
import termios
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from subprocess import DEVNULL
from typing import TYPE_CHECKING, Any

from therapy.limits import SERVE_HANGUP_SECONDS
from therapy.serve.spawner import ANSWER_BYTES, ROOM_VARIABLE

if TYPE_CHECKING:
    import asyncssh

# An app's pid, and its exit status once it is reaped (None: unknown, its spawner is gone).
Spawned = tuple[int, "asyncio.Future[int | None]"]
ORPHAN_STATUS = 1  # the status of an app whose spawner died before it: nobody reaped it for us
RESTARTS = 5  # spawners started again after one died, before apps start the slow way for good


def base_environment() -> dict[str, str]:
    """What every app's environment starts from: nothing of serve's but its PATH and HOME, a
    pinned clock (tests) and the temporary folder; the connection adds its own."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "LANG": "C.UTF-8",
    }
    for name in ("THERAPY_NOW", "TMPDIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _winsize(width: int, height: int) -> bytes:
    return struct.pack("HHHH", max(height, 1), max(width, 1), 0, 0)


class SpawnerGone(Exception):
    """The spawner ended before it answered: the app starts another way."""


class Spawner:
    """serve's end of the warm spawner: starts it, asks it for apps and hears of their ends;
    starts a new one if it dies (apps it started go on, watched by their pidfds), or lets
    apps start the slow way if it never got ready. Each of these is said once."""

    def __init__(self, data_dir: Path, say: Callable[[str], None]) -> None:
        # the data folder names it (and its apps, which keep its command line) in `ps`
        self.command = [sys.executable, "-m", "therapy.cli", "--data-dir", str(data_dir)]
        # room for each app's own environment in the memory it shows (spawner.show_environment)
        room = "-" * (len(str(data_dir)) + 2048)
        self.env = {**base_environment(), ROOM_VARIABLE: room}
        self.say = say
        self.sock: socket.socket | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.asked: deque[asyncio.Future[Spawned]] = deque()  # sent, answered in this order
        self.children: dict[int, asyncio.Future[int | None]] = {}
        self.ready = asyncio.Event()  # the current spawner's imports are done (or no spawner)
        self.usable = True
        self.stopping = False
        self.restarts = 0
        self.restarting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """A new spawner: its imports run while serve goes on (requests wait in its socket)."""
        self.ready = asyncio.Event()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                *("spawner", "--socket", str(theirs.fileno())),
                pass_fds=(theirs.fileno(),),
                env=self.env,
                stdin=DEVNULL,
                stdout=DEVNULL,
                start_new_session=True,  # serve's Ctrl+C (its terminal's SIGINT) is serve's
            )
        except OSError as error:
            ours.close()
            self._give_up(f"could not start ({error.strerror})")
            return
        finally:
            theirs.close()
        ours.setblocking(False)
        self.sock = ours
        asyncio.get_running_loop().add_reader(ours, self._readable, ours)

    async def wait_ready(self, seconds: float) -> None:
        """Until the spawner's imports are done (or it is given up), SECONDS at most."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), seconds)

    async def spawn(self, args: list[str], env: dict[str, str], terminal: int) -> Spawned:
        """A child running `therapy ARGS` in ENV on TERMINAL (the pty's slave)."""
        data = json.dumps({"args": args, "env": env}).encode()
        while True:
            sock = self.sock
            if sock is None or not self.usable:
                raise SpawnerGone
            try:
                socket.send_fds(sock, [data], [terminal])
                break
            except BlockingIOError:
                await asyncio.sleep(0.01)  # its queue is full: it is behind
            except OSError:
                raise SpawnerGone from None
        answer: asyncio.Future[Spawned] = asyncio.get_running_loop().create_future()
        self.asked.append(answer)
        return await answer

    def _readable(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(ANSWER_BYTES)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._lost(sock)
                return
            self._heard(json.loads(data))

    def _heard(self, message: dict[str, Any]) -> None:
        if "ready" in message:
            self.ready.set()
        elif "started" in message:
            pid = message["started"]
            answer = self.asked.popleft()
            ended = self.children[pid] = asyncio.get_running_loop().create_future()
            if answer.done():  # its connection went while it was asked: nobody will watch it
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            else:
                answer.set_result((pid, ended))
        elif "refused" in message:
            answer = self.asked.popleft()
            if not answer.done():
                answer.set_exception(OSError(errno.EAGAIN, message["refused"]))
        elif "ended" in message:
            reaped = self.children.pop(message["ended"], None)
            if reaped is not None and not reaped.done():
                reaped.set_result(message["status"])

    def _lost(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(sock)
        sock.close()
        if self.sock is sock:
            self.sock = None
        for answer in self.asked:
            if not answer.done():
                answer.set_exception(SpawnerGone())
        self.asked.clear()
        for ended in self.children.values():
            if not ended.done():
                ended.set_result(None)  # unknown: its app is watched by its pidfd
        self.children.clear()
        if self.stopping:
            return
        if not self.ready.is_set():
            self._give_up("ended before it was ready")
        elif self.restarts >= RESTARTS:
            self._give_up(f"ended {RESTARTS + 1} times")
        else:
            self.restarts += 1
            self.say("therapy serve: the app spawner ended; a new one is starting.")
            self.restarting = loop.create_task(self.start())

    def _give_up(self, why: str) -> None:
        self.usable = False
        self.ready.set()
        self.say(f"therapy serve: the app spawner {why}; apps start in a fresh process instead.")

    async def close(self) -> None:
        """serve stops: the spawner sees its socket end, and ends (its apps with it)."""
        self.stopping = True
        if self.restarting is not None:
            await self.restarting
        if self.sock is not None:
            self._lost(self.sock)
        process = self.process
        if process is not None and process.returncode is None:
            try:
                await asyncio.wait_for(process.wait(), SERVE_HANGUP_SECONDS + 2)
            except TimeoutError:
                process.kill()
                await process.wait()


class AppProcess:
    """`therapy door` on a pty, its bytes forwarded both ways without blocking."""

    def __init__(
        self,
        chan: asyncssh.SSHServerChannel[bytes],
        touch: Callable[[], None],
        spawner: Spawner | None = None,
    ) -> None:
        self.chan = chan
        self.touch = touch
        self.spawner = spawner
        self.master = -1
        self.pid = 0
        self.ended: asyncio.Future[int | None] | None = None
        self.over = False  # its end is known
        self.pending = bytearray()  # typed, not yet taken by the pty
        self.reading = False
        self.killed = False

    async def start(self, args: list[str], env: dict[str, str], size: tuple[int, int]) -> None:
        """`therapy ARGS` in ENV, on a new pty of SIZE (columns, lines)."""
        spawner = self.spawner
        if spawner is not None and spawner.usable:
            with contextlib.suppress(SpawnerGone):  # (its pty is closed: a new one below)
                await self._start(size, lambda terminal: spawner.spawn(args, env, terminal))
                return
        await self._start(size, lambda terminal: _execute(args, env, terminal))

    async def _start(
        self, size: tuple[int, int], begin: Callable[[int], Awaitable[Spawned]]
    ) -> None:
        master, slave = os.openpty()
        try:
            fcntl.ioctl(slave, termios.TIOCSWINSZ, _winsize(*size))
            self.pid, self.ended = await begin(slave)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self.master = master
        os.set_blocking(master, False)
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

    def running(self) -> bool:
        """Started and not known to have ended (reaped, with a status)."""
        if self.ended is None or self.over:
            return False
        return not (self.ended.done() and self.ended.result() is not None)

    def hang_up(self) -> None:
        """The connection is gone (or the server stops): the app is told, then killed."""
        if not self.running() or self.killed:
            return
        self.killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGHUP)  # a session's leader: its group is its pid
        asyncio.get_running_loop().call_later(SERVE_HANGUP_SECONDS, self._kill)

    def _kill(self) -> None:
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)

    async def wait(self) -> int:
        """The app's exit status once it ended and its last output was forwarded."""
        assert self.ended is not None
        status = await self.ended
        if status is None:  # its spawner died: the app, an orphan now, is watched by its pidfd
            await _outlived(self.pid)
            status = ORPHAN_STATUS
        self.over = True
        self.pause()
        with contextlib.suppress(OSError):
            while data := os.read(self.master, 65536):
                self.chan.write(data)
        loop = asyncio.get_running_loop()
        loop.remove_writer(self.master)
        os.close(self.master)
        self.master = -1
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)  # anything the app left behind
        return status if status >= 0 else 128 - status


async def _execute(args: list[str], env: dict[str, str], terminal: int) -> Spawned:
    """`python -m therapy.cli ARGS` in a fresh interpreter: slower to start, needs no spawner."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "therapy.cli", *args),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        start_new_session=True,  # `therapy door` makes the pty its terminal
    )

    async def status() -> int | None:
        return await process.wait()

    return process.pid, asyncio.ensure_future(status())


async def _outlived(pid: int) -> None:
    """Until process PID, not our child, has ended."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()

    def ended() -> None:
        if not gone.done():
            gone.set_result(None)

    loop.add_reader(pidfd, ended)
    try:
        await gone
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
