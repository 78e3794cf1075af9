"""One page of the browser door: a websocket, and the app process it runs.

Each page runs its own app (therapy.serve.browser_app) on pipes, with the door's driver
(therapy.tui.driver:BrowserDriver) speaking Textual's web driver packets, so that the door
stands between the page and the app and lets through only what it means to: the page's keys,
bounded in rate (a flood waits in the browser, not in the app's memory), its size, clamped
and sent at most every RESIZE_SECONDS, and focus; the app's screen, one frame at most
SCREEN_BYTES, and nothing else it might ask of the page (open_url, file deliveries). The app's
environment is built from scratch, not inherited from the server. A message the door does
not take closes the page with a sentence; a page idle too long is ended; an app whose page
went is asked to quit, then killed with everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from aiohttp import WSCloseCode, WSMsgType, web

from therapy.limits import SERVE_WEB_COLUMNS, SERVE_WEB_ROWS
from therapy.serve.web_gate import Caps
from therapy.text import duration, shown

# the app's driver, by import path (TEXTUAL_DRIVER); therapy.cli.app's has_terminal knows it
BROWSER_DRIVER = "therapy.tui.driver:BrowserDriver"
WRONG_CODES = 3  # the app's exit status after wrong codes (therapy.tui.screens.code's)
NOT_JOINED = 4  # no session joined within Caps.join_seconds (therapy.tui.app's)
SCREEN_BYTES = 32 * 1024 * 1024  # one frame from the app, at most: far beyond a full redraw
RESIZE_SECONDS = 0.1  # a storm of resizes reaches the app as one every this often
NOT_OURS = "This page's messages only; reload the page."  # what textual.js would not send


class Served(Protocol):
    """What the door serves: therapy.serve.server's Door has these."""

    @property
    def data_dir(self) -> Path: ...
    @property
    def prompts(self) -> Path | None: ...
    @property
    def pair(self) -> str | None: ...


class Door(Protocol):
    """What a page needs of its door (therapy.serve.web's WebDoor)."""

    served: Served
    caps: Caps
    say: Callable[[str], None]


def packet(kind: bytes, payload: bytes | dict[str, object]) -> bytes:
    """What the app's driver reads: a kind (D: keys, M: meta), a length, the payload."""
    if isinstance(payload, dict):
        payload = json.dumps(payload).encode()
    return kind + len(payload).to_bytes(4, "big") + payload


def meta_type(payload: bytes) -> object:
    try:
        meta = json.loads(payload)
    except ValueError:
        return None
    return meta.get("type") if isinstance(meta, dict) else None


def close_reason(sentence: str) -> bytes:
    """A close frame's reason: 123 bytes at most, cut on a character."""
    return sentence.encode()[:123].decode(errors="ignore").encode()


def terminal_size(width: object, height: object) -> tuple[int, int]:
    """A terminal size as the page asks it: whole numbers, clamped to what the door draws."""

    def clamped(value: object, most: int, default: int) -> int:
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value) if len(value) < 10 else most
        if not isinstance(value, int) or isinstance(value, bool):
            return default
        return max(1, min(value, most))

    return clamped(width, SERVE_WEB_COLUMNS, 80), clamped(height, SERVE_WEB_ROWS, 24)


class Refused(Exception):
    """The page sent what this door does not take: the sentence that closes it."""


class Visit:
    def __init__(
        self,
        door: Door,
        request: web.BaseRequest,
        socket: web.WebSocketResponse,
        size: tuple[int, int],
    ):
        self.door = door
        self.request = request
        self.socket = socket
        self.size = size
        self.sent_size = size
        self.resize_due: asyncio.TimerHandle | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.last = asyncio.get_running_loop().time()
        self.allowance = 16.0 * door.caps.input_bytes  # what the page may send its app now
        self.metered = self.last
        self.ended = asyncio.Event()
        self.ending: str | None = None  # why, when the door ends it
        self.errors = bytearray()  # the app's stderr, its last lines

    def end(self, reason: str) -> None:
        if self.ending is None:
            self.ending = reason
        self.ended.set()

    async def run(self) -> None:
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.env(),
                start_new_session=True,  # its own group: killed with all it started
            )
        except OSError as error:
            message = f"therapy serve could not start the app ({error.strerror})."
            await self.socket.close(code=WSCloseCode.INTERNAL_ERROR, message=close_reason(message))
            return
        screen = asyncio.create_task(self.screen())
        keys = asyncio.create_task(self.keys())
        errors = asyncio.create_task(self.read_errors())
        idle = asyncio.create_task(self.idle())
        ended = asyncio.create_task(self.ended.wait())
        try:
            await asyncio.wait({screen, keys, idle, ended}, return_when=asyncio.FIRST_COMPLETED)
            status = await self.end_app()
            await asyncio.wait({errors}, timeout=1)
            sentence = self.ending or self.farewell(status)
            with contextlib.suppress(Exception):
                await self.socket.close(code=WSCloseCode.OK, message=close_reason(sentence))
        finally:
            for task in (screen, keys, errors, idle, ended):
                task.cancel()
            await asyncio.gather(screen, keys, errors, idle, ended, return_exceptions=True)
            if self.resize_due is not None:
                self.resize_due.cancel()
            await self.kill()

    def farewell(self, status: int) -> str:
        if status == 0:
            return "The app closed; what you saved is kept. Reload the page to join again."
        if status == WRONG_CODES:
            return "Those codes open no session here; check the code with your facilitator."
        if status == NOT_JOINED:
            given = duration(self.door.caps.join_seconds)
            return f"No session was joined within {given}; reload the page to join again."
        last = self.errors.decode(errors="replace").strip().splitlines()[-1:]
        self.door.say(f"therapy serve: a browser's app ended ({status}): {shown(''.join(last))}")
        return "The app stopped; what you saved is kept. Reload the page to go on."

    def argv(self) -> list[str]:
        served = self.door.served
        prompts = [] if served.prompts is None else ["--prompts", str(served.prompts)]
        pair = [] if served.pair is None else ["--pair", served.pair]
        command = [sys.executable, "-m", "therapy.serve.browser_app"]
        join = ["--join-seconds", f"{self.door.caps.join_seconds:g}"]
        return [*command, "--data-dir", str(served.data_dir), *prompts, *pair, *join]

    def env(self) -> dict[str, str]:
        """The app's whole environment: nothing of the server's but its PATH and HOME."""
        width, height = self.size
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/"),
            "LANG": "C.UTF-8",
            "TERM": "xterm-256color",
            "TEXTUAL_DRIVER": BROWSER_DRIVER,
            "TEXTUAL_COLOR_SYSTEM": "truecolor",
            "TEXTUAL_FPS": "60",
            "COLUMNS": str(width),
            "ROWS": str(height),
            "THERAPY_DATA_DIR": str(self.door.served.data_dir),  # (as the SSH door's apps)
        }
        for name in ("THERAPY_NOW", "TMPDIR"):  # a pinned clock (tests), the temporary folder
            if name in os.environ:
                env[name] = os.environ[name]
        return env

    # -- what flows ------------------------------------------------------------------------

    def touch(self) -> None:
        self.last = asyncio.get_running_loop().time()

    async def idle(self) -> None:
        loop = asyncio.get_running_loop()
        while (left := self.last + self.door.caps.idle_seconds - loop.time()) > 0:
            await asyncio.sleep(left + 0.05)
        idle = duration(self.door.caps.idle_seconds)
        self.ending = f"Nothing happened for {idle}; reload the page to join again."

    async def screen(self) -> None:
        """The app's screen to the page; returns when the app is done with it."""
        assert self.process is not None and self.process.stdout is not None
        out = self.process.stdout
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ValueError):
            for _ in range(10):  # Textual's driver says it is ready with this line
                if await out.readline() == b"__GANGLION__\n":
                    break
            else:
                return
            while True:
                kind = await out.readexactly(1)
                size = int.from_bytes(await out.readexactly(4), "big")
                if size > SCREEN_BYTES:
                    return
                payload = await out.readexactly(size)
                if kind == b"D":
                    self.touch()
                    await self.socket.send_bytes(payload)
                elif kind == b"M" and meta_type(payload) == "exit":
                    return
                # anything else (open_url, a file to deliver) never reaches the page

    async def keys(self) -> None:
        """The page's keys and sizes to the app; returns when the page is gone, or has sent
        what this door does not take (said on closing)."""
        try:
            async for message in self.socket:
                if message.type is WSMsgType.ERROR:
                    return  # too large (closed with 1009, which the page says), or gone
                if message.type is not WSMsgType.TEXT:
                    raise Refused(NOT_OURS)
                self.touch()
                await self.take(message.data)
        except Refused as refused:
            self.ending = str(refused)
        except (ConnectionError, RuntimeError):
            pass  # the app's stdin closed: it is ending

    async def take(self, text: str) -> None:
        try:
            envelope = json.loads(text)
        except ValueError:
            raise Refused(NOT_OURS) from None
        if not isinstance(envelope, list) or not envelope or not isinstance(envelope[0], str):
            raise Refused(NOT_OURS)
        kind, *rest = envelope
        if kind == "stdin" and len(rest) == 1 and isinstance(rest[0], str):
            await self.send(b"D", rest[0].encode("utf-8", errors="replace"))
        elif kind == "resize" and len(rest) == 1 and isinstance(rest[0], dict):
            self.resize(terminal_size(rest[0].get("width"), rest[0].get("height")))
        elif kind in ("focus", "blur") and not rest:
            await self.send(b"M", json.dumps({"type": kind}).encode())
        elif kind == "ping" and len(rest) == 1 and isinstance(rest[0], str) and len(rest[0]) < 32:
            await self.socket.send_json(["pong", rest[0]])
        else:
            raise Refused(NOT_OURS)

    async def send(self, kind: bytes, payload: bytes) -> None:
        assert self.process is not None and self.process.stdin is not None
        await self.meter(max(len(payload), 64))
        self.process.stdin.write(packet(kind, payload))
        await self.process.stdin.drain()

    async def meter(self, size: int) -> None:
        """Waits until the page may send its app SIZE more bytes: a flood waits in the browser
        (this page's messages are not read meanwhile), not in the app's memory."""
        rate = self.door.caps.input_bytes
        self.refill()
        self.allowance -= size
        while self.allowance < 0:
            if self.page_gone():
                raise ConnectionResetError  # else not noticed while this page waits
            await asyncio.sleep(min(-self.allowance / rate, 0.5))
            self.refill()

    def refill(self) -> None:
        rate = self.door.caps.input_bytes
        now = asyncio.get_running_loop().time()
        self.allowance = min(16.0 * rate, self.allowance + (now - self.metered) * rate)
        self.metered = now

    def page_gone(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()

    def resize(self, size: tuple[int, int]) -> None:
        self.size = size
        if self.resize_due is None:
            loop = asyncio.get_running_loop()
            self.resize_due = loop.call_later(RESIZE_SECONDS, self._send_size)

    def _send_size(self) -> None:
        self.resize_due = None
        stdin = self.process.stdin if self.process is not None else None
        if self.size == self.sent_size or stdin is None or stdin.is_closing():
            return
        self.sent_size = width, height = self.size
        stdin.write(packet(b"M", {"type": "resize", "width": width, "height": height}))

    async def read_errors(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while chunk := await self.process.stderr.read(4096):
            self.errors += chunk
            del self.errors[:-4096]

    # -- the end ---------------------------------------------------------------------------

    async def end_app(self) -> int:
        """Ask the app to quit (its presence goes with it); killed if it has not in time."""
        process = self.process
        assert process is not None and process.stdin is not None
        if process.returncode is None:
            with contextlib.suppress(Exception):
                process.stdin.write(packet(b"M", {"type": "quit"}))
                process.stdin.close()  # and the end of its input, if the quit is not heard
        try:
            await asyncio.wait_for(process.wait(), self.door.caps.hangup_seconds)
        except TimeoutError:
            await self.kill()
        return process.returncode if process.returncode is not None else -1

    async def kill(self) -> None:
        """The app's whole group, whatever is left of it."""
        process = self.process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
