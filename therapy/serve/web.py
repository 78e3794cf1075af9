"""The browser door (`therapy serve --web`): the participant's app in a web page.

The page is textual-serve's terminal (its textual.js: xterm.js, sized to the window, speaking
Textual's web driver protocol); each websocket runs one app process (therapy.serve.browser_app)
on pipes, with the door's driver, and the app asks the code, the name and the side itself.

Served with aiohttp's low-level server rather than textual-serve's own, which runs its command
through a shell with the server's whole environment, titles the page with that command line,
lists its static folder, serves downloads, trusts every message and caps nothing. Here: one page
(titled "therapy"), five static files, the websocket; every other path is refused. Websockets
are capped in all and per address (the SSH door's limits), and so are TCP connections; a
message is checked and bounded, a size clamped, an idle page ended, and an app whose page went
is asked to quit, then killed with everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.web_protocol import RequestHandler

from therapy.limits import (
    SERVE_CONNECTIONS,
    SERVE_CONNECTIONS_PER_ADDRESS,
    SERVE_HANGUP_SECONDS,
    SERVE_IDLE_SECONDS,
    SERVE_LOGIN_SECONDS,
    SERVE_WEB_COLUMNS,
    SERVE_WEB_INPUT_BYTES,
    SERVE_WEB_MESSAGE_BYTES,
    SERVE_WEB_ROWS,
)
from therapy.model import TherapyError
from therapy.serve.doors import reachable_host
from therapy.text import plural, shown

# the app's driver, by import path (TEXTUAL_DRIVER); therapy.cli.app's has_terminal knows it
BROWSER_DRIVER = "therapy.tui.driver:BrowserDriver"
WRONG_CODES = 3  # the app's exit status after wrong codes (therapy.tui.screens.code's)
SCREEN_BYTES = 32 * 1024 * 1024  # one frame from the app, at most: far beyond a full redraw
RESIZE_SECONDS = 0.1  # a storm of resizes reaches the app as one every this often
STOPPED = "therapy serve stopped; what you saved is kept."

# What the page loads, from textual-serve's package (its static folder, never listed).
_TEXTUAL_SERVE = files("textual_serve") / "static"
_STATIC = {
    "/static/js/textual.js": (_TEXTUAL_SERVE / "js" / "textual.js", "text/javascript"),
    "/static/css/xterm.css": (_TEXTUAL_SERVE / "css" / "xterm.css", "text/css"),
    "/static/fonts/RobotoMono.ttf": (
        _TEXTUAL_SERVE / "fonts" / "RobotoMono-VariableFont_wght.ttf",
        "font/ttf",
    ),
    "/static/fonts/RobotoMono-Italic.ttf": (
        _TEXTUAL_SERVE / "fonts" / "RobotoMono-Italic-VariableFont_wght.ttf",
        "font/ttf",
    ),
    "/static/page.js": (files("therapy.serve") / "page.js", "text/javascript"),
}
_PAGE = files("therapy.serve") / "page.html"
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "font-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
    "Server": "therapy",
}


class Served(Protocol):
    """What the door serves: therapy.serve.server's Door has these."""

    @property
    def data_dir(self) -> Path: ...
    @property
    def prompts(self) -> Path | None: ...
    @property
    def pair(self) -> str | None: ...


class Gate(Protocol):
    """Counts connections: why one from `address` is refused, or None (it is counted in)."""

    def admit(self, address: str) -> str | None: ...
    def leave(self, address: str) -> None: ...


@dataclass(frozen=True)
class Caps:
    connections: int = SERVE_CONNECTIONS
    per_address: int = SERVE_CONNECTIONS_PER_ADDRESS
    idle_seconds: float = SERVE_IDLE_SECONDS
    hangup_seconds: float = SERVE_HANGUP_SECONDS
    request_seconds: float = SERVE_LOGIN_SECONDS
    message_bytes: int = SERVE_WEB_MESSAGE_BYTES
    input_bytes: int = SERVE_WEB_INPUT_BYTES  # a second, after a burst of 16 times this
    # TCP connections, websockets included: a browser loads a page's files over up to six
    tcp_connections: int = 4 * SERVE_CONNECTIONS
    tcp_per_address: int = 4 * SERVE_CONNECTIONS_PER_ADDRESS


class Counted:
    """The websockets of one door, in all and by address (the SSH door's Server counts the
    same way: pass it as the gate to count both doors together)."""

    def __init__(self, caps: Caps) -> None:
        self.caps = caps
        self.addresses: Counter[str] = Counter()

    def admit(self, address: str) -> str | None:
        if sum(self.addresses.values()) >= self.caps.connections:
            held = plural(self.caps.connections, "connection")
            return f"therapy serve holds {held} already; try later."
        if self.addresses[address] >= self.caps.per_address:
            held = plural(self.caps.per_address, "connection")
            return f"Your address holds {held} already; close one first."
        self.addresses[address] += 1
        return None

    def leave(self, address: str) -> None:
        self.addresses[address] -= 1
        if self.addresses[address] <= 0:
            del self.addresses[address]


def web_address(text: str) -> tuple[str, int]:
    """--web HOST:PORT, or a bare PORT, which listens on 127.0.0.1 only."""
    host, _, port = text.strip().rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536 or (_ and not host):
        raise TherapyError(
            f"--web takes HOST:PORT, or a PORT on 127.0.0.1, like 8080 or 0.0.0.0:8080, "
            f"not {text!r}."
        )
    return (host.strip("[]") or "127.0.0.1"), int(port)


# -- the door ------------------------------------------------------------------------------


async def open_web(
    served: Served,
    host: str,
    port: int,
    say: Callable[[str], None],
    *,
    name: str | None = None,
    gate: Gate | None = None,
    caps: Caps = Caps(),
) -> WebDoor:
    """Listen on HOST:PORT (0: any free port) until `await door.close()`. NAME: the host as
    people reach it, for the address said (`door.url`) when it listens on every address."""
    door = WebDoor(served, say, caps, gate or Counted(caps))
    await door.listen(host, port, name)
    return door


class WebDoor:
    def __init__(self, served: Served, say: Callable[[str], None], caps: Caps, gate: Gate):
        self.served = served
        self.say = say
        self.caps = caps
        self.gate = gate
        self.visits: set[Visit] = set()
        self.tasks: set[asyncio.Task[Any]] = set()  # each page's run, waited for on closing
        self.closing = False
        self.page = _PAGE.read_bytes()
        self.static = {path: (file.read_bytes(), kind) for path, (file, kind) in _STATIC.items()}
        self.server = _Listener(self, caps)
        self.runner = web.ServerRunner(self.server, shutdown_timeout=1)
        self.port = 0
        self.url = ""

    async def listen(self, host: str, port: int, name: str | None) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        try:
            await site.start()
        except OSError as error:
            await self.runner.cleanup()
            raise TherapyError(
                f"therapy serve cannot listen on {host}:{port} for browsers ({error.strerror})."
            ) from None
        self.port = int(self.runner.addresses[0][1])
        reached = name if name and host in ("0.0.0.0", "::", "") else reachable_host(host)
        self.url = f"http://{f'[{reached}]' if ':' in reached else reached}:{self.port}/"
        self.say(f"therapy serve: browsers join at {self.url} (participants only)")

    async def close(self) -> None:
        """Every page is told the server stops, every app ends; then the port closes."""
        self.closing = True
        for visit in list(self.visits):
            visit.end(STOPPED)
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=self.caps.hangup_seconds + 12)
        await self.runner.cleanup()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.method != "GET":
            return _plain(405, "This page is read only.")
        if request.path == "/ws":
            return await self.connect(request)
        if request.path == "/":
            if request.query_string:  # textual.js acts on ?ping= and ?delay=: not ours
                raise web.HTTPSeeOther("./", headers={"Server": "therapy", "Connection": "close"})
            return _response(self.page, "text/html")
        if request.path in self.static:
            body, kind = self.static[request.path]
            return _response(body, kind)
        return _plain(404, "Not found.")

    async def connect(self, request: web.BaseRequest) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and not _host(origin) == _host(f"//{request.host}") is not None:
            # another site's page in a visitor's browser (the door has no cookies to steal,
            # but it may be reachable from that browser only, as on 127.0.0.1)
            return _plain(403, "This page opens only from its own address.")
        websocket = web.WebSocketResponse(
            heartbeat=30,  # a browser gone without a word is found within 45 seconds
            max_msg_size=self.caps.message_bytes,
            compress=False,  # nothing to inflate: a small message stays small
            timeout=5,
        )
        if not websocket.can_prepare(request).ok:
            return _plain(400, "Open the page, not this address.")
        await websocket.prepare(request)
        address = request.remote or "?"
        refusal = STOPPED if self.closing else self.gate.admit(address)
        if refusal is not None:
            await websocket.close(code=WSCloseCode.TRY_AGAIN_LATER, message=_reason(refusal))
            return websocket
        size = _size(request.query.get("width"), request.query.get("height"))
        visit = Visit(self, request, websocket, size)
        task = asyncio.current_task()
        assert task is not None
        self.visits.add(visit)
        self.tasks.add(task)
        try:
            await visit.run()
        finally:
            self.visits.discard(visit)
            self.tasks.discard(task)
            self.gate.leave(address)
        return websocket


class _Listener(web.Server):
    """aiohttp's low-level server, counting TCP connections in all and by address; one that
    sends no request in time ends, and one that has had its answer (not a websocket) too."""

    def __init__(self, door: WebDoor, caps: Caps) -> None:
        super().__init__(door.handle, keepalive_timeout=caps.request_seconds, access_log=None)
        self.caps = caps
        self.peers: dict[RequestHandler, str] = {}
        self.by_address: Counter[str] = Counter()

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        address = str((transport.get_extra_info("peername") or ("?",))[0])
        full = len(self.peers) >= self.caps.tcp_connections
        if full or self.by_address[address] >= self.caps.tcp_per_address:
            # closed once aiohttp has set the connection up (closed now, it trips over it)
            asyncio.get_running_loop().call_soon(transport.close)
            return
        self.peers[handler] = address
        self.by_address[address] += 1

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        address = self.peers.pop(handler, None)
        if address is not None:
            self.by_address[address] -= 1
            if self.by_address[address] <= 0:
                del self.by_address[address]


def _response(body: bytes, kind: str) -> web.Response:
    response = web.Response(body=body, content_type=kind, headers=_HEADERS)
    response.force_close()  # a page's few files: no connection kept waiting for more
    return response


def _plain(status: int, sentence: str) -> web.Response:
    response = web.Response(status=status, text=sentence, headers=_HEADERS)
    response.force_close()
    return response


def _host(address: str) -> str | None:
    """The host name of an address, any port aside: a proxy may pass the Host without it."""
    try:
        return urlsplit(address).hostname
    except ValueError:
        return None


def _packet(kind: bytes, payload: bytes | dict[str, object]) -> bytes:
    """What the app's driver reads: a kind (D: keys, M: meta), a length, the payload."""
    if isinstance(payload, dict):
        payload = json.dumps(payload).encode()
    return kind + len(payload).to_bytes(4, "big") + payload


def _meta_type(payload: bytes) -> object:
    try:
        meta = json.loads(payload)
    except ValueError:
        return None
    return meta.get("type") if isinstance(meta, dict) else None


def _reason(sentence: str) -> bytes:
    """A close frame's reason: 123 bytes at most, cut on a character."""
    return sentence.encode()[:123].decode(errors="ignore").encode()


def _size(width: object, height: object) -> tuple[int, int]:
    """A terminal size as the page asks it: whole numbers, clamped to what the door draws."""

    def clamped(value: object, most: int, default: int) -> int:
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value) if len(value) < 10 else most
        if not isinstance(value, int) or isinstance(value, bool):
            return default
        return max(1, min(value, most))

    return clamped(width, SERVE_WEB_COLUMNS, 80), clamped(height, SERVE_WEB_ROWS, 24)


# -- one page: a websocket and its app ------------------------------------------------------


class _Refused(Exception):
    """The page sent what this door does not take: the sentence that closes it."""


class Visit:
    def __init__(
        self,
        door: WebDoor,
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
            await self.socket.close(code=WSCloseCode.INTERNAL_ERROR, message=_reason(message))
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
                await self.socket.close(code=WSCloseCode.OK, message=_reason(sentence))
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
        last = self.errors.decode(errors="replace").strip().splitlines()[-1:]
        self.door.say(f"therapy serve: a browser's app ended ({status}): {shown(''.join(last))}")
        return "The app stopped; what you saved is kept. Reload the page to go on."

    def argv(self) -> list[str]:
        served = self.door.served
        prompts = [] if served.prompts is None else ["--prompts", str(served.prompts)]
        pair = [] if served.pair is None else ["--pair", served.pair]
        command = [sys.executable, "-m", "therapy.serve.browser_app"]
        return [*command, "--data-dir", str(served.data_dir), *prompts, *pair]

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
        seconds = int(self.door.caps.idle_seconds)
        idle = plural(seconds // 60, "minute") if seconds % 60 == 0 else plural(seconds, "second")
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
                elif kind == b"M" and _meta_type(payload) == "exit":
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
                    raise _Refused("This page's messages only; reload the page.")
                self.touch()
                await self.take(message.data)
        except _Refused as refused:
            self.ending = str(refused)
        except (ConnectionError, RuntimeError):
            pass  # the app's stdin closed: it is ending

    async def take(self, text: str) -> None:
        try:
            envelope = json.loads(text)
        except ValueError:
            raise _Refused("This page's messages only; reload the page.") from None
        if not isinstance(envelope, list) or not envelope or not isinstance(envelope[0], str):
            raise _Refused("This page's messages only; reload the page.")
        kind, *rest = envelope
        if kind == "stdin" and len(rest) == 1 and isinstance(rest[0], str):
            await self.send(b"D", rest[0].encode("utf-8", errors="replace"))
        elif kind == "resize" and len(rest) == 1 and isinstance(rest[0], dict):
            self.resize(_size(rest[0].get("width"), rest[0].get("height")))
        elif kind in ("focus", "blur") and not rest:
            await self.send(b"M", json.dumps({"type": kind}).encode())
        elif kind == "ping" and len(rest) == 1 and isinstance(rest[0], str) and len(rest[0]) < 32:
            await self.socket.send_json(["pong", rest[0]])
        else:
            raise _Refused("This page's messages only; reload the page.")

    async def send(self, kind: bytes, payload: bytes) -> None:
        assert self.process is not None and self.process.stdin is not None
        await self.meter(max(len(payload), 64))
        self.process.stdin.write(_packet(kind, payload))
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
        stdin.write(_packet(b"M", {"type": "resize", "width": width, "height": height}))

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
                process.stdin.write(_packet(b"M", {"type": "quit"}))
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
