"""The browser door (`therapy serve --web`): the participant's app in a web page.

The page is textual-serve's terminal (its textual.js: xterm.js, sized to the window, speaking
Textual's web driver protocol); each websocket runs one app process (therapy.serve.browser_app)
on pipes, with the door's driver, and the app asks the code, the name and the side itself.

Served with aiohttp's low-level server rather than textual-serve's own, which runs its command
through a shell with the server's whole environment, titles the page with that command line,
lists its static folder, serves downloads, trusts every message and caps nothing. Here the
door listens and routes, and its parts live beside it: what it answers over HTTP in web_page
(one page, five static files; every other path is refused); who may come in, and how many, in
web_gate (websockets capped in all and per address with the SSH door's limits, new ones in
rate, TCP connections too, a Host and an Origin check); each page's websocket and app
process in web_visit (a message checked and bounded, a size clamped, an idle page ended, an
app whose page went asked to quit, then killed with everything it started). What the CLI and
the tests use is importable from here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import WSCloseCode, web

from therapy.model import TherapyError
from therapy.serve.doors import reachable_host
from therapy.serve.web_gate import Caps, Counted, Gate, Listener, Names, same_origin, strange_host
from therapy.serve.web_page import Pages, plain
from therapy.serve.web_visit import (
    BROWSER_DRIVER,
    NOT_JOINED,
    WRONG_CODES,
    Served,
    Visit,
    close_reason,
    terminal_size,
)

__all__ = [
    "BROWSER_DRIVER",
    "NOT_JOINED",
    "STOPPED",
    "WRONG_CODES",
    "Caps",
    "Counted",
    "Gate",
    "Served",
    "Visit",
    "WebDoor",
    "open_web",
    "web_address",
]

STOPPED = "therapy serve stopped; what you saved is kept."
CAPS = Caps()  # the limits of therapy.limits (Caps is frozen: one default serves every door)


def web_address(text: str) -> tuple[str, int]:
    """--web HOST:PORT, or a bare PORT, which listens on 127.0.0.1 only."""
    host, _, port = text.strip().rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536 or (_ and not host):
        raise TherapyError(
            f"--web takes HOST:PORT, or a PORT on 127.0.0.1, like 8080 or 0.0.0.0:8080, "
            f"not {text!r}."
        )
    return (host.strip("[]") or "127.0.0.1"), int(port)


async def open_web(
    served: Served,
    host: str,
    port: int,
    say: Callable[[str], None],
    *,
    name: str | None = None,
    gate: Gate | None = None,
    caps: Caps = CAPS,
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
        self.pages = Pages()
        self.server = Listener(self.handle, caps)
        self.runner = web.ServerRunner(self.server, shutdown_timeout=1)
        self.port = 0
        self.url = ""
        self.names = Names("", ())  # once it listens: the names it is reached by

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
        self.names = Names(host, (reached, *([name] if name else [])))
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
            return plain(405, "This page is read only.")
        if request.path == "/ws":
            return await self.connect(request)
        return self.pages.answer(request)

    async def connect(self, request: web.BaseRequest) -> web.StreamResponse:
        if strange_host(request, self.names):
            # DNS rebinding: a site's own name pointed at this address, its page in a
            # visitor's browser (its files are the door's, and harmless; its apps are not)
            return plain(421, "This door answers to its own address only; open that one.")
        if not same_origin(request):
            # another site's page in a visitor's browser (the door has no cookies to steal,
            # but it may be reachable from that browser only, as on 127.0.0.1)
            return plain(403, "This page opens only from its own address.")
        websocket = web.WebSocketResponse(
            heartbeat=30,  # a browser gone without a word is found within 45 seconds
            max_msg_size=self.caps.message_bytes,
            compress=False,  # nothing to inflate: a small message stays small
            timeout=5,
        )
        if not websocket.can_prepare(request).ok:
            return plain(400, "Open the page, not this address.")
        await websocket.prepare(request)
        address = request.remote or "?"
        refusal = STOPPED if self.closing else self.gate.admit(address)
        if refusal is not None:
            await websocket.close(code=WSCloseCode.TRY_AGAIN_LATER, message=close_reason(refusal))
            return websocket
        size = terminal_size(request.query.get("width"), request.query.get("height"))
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
