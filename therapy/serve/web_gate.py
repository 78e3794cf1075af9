"""Who may come through the browser door, and how many: its caps and counts.

textual-serve caps nothing. Here websockets are capped in all and per address, with the SSH
door's limits (a `Gate`: the SSH door's Server counts the same way, so that one gate can count
both doors together), and so are raw TCP connections, which a browser opens several of for
one page's files, and which must send a request in time. A websocket opens only from a page
of the door's own address: another site's page in a visitor's browser may reach a door that
listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from therapy.limits import (
    SERVE_CONNECTIONS,
    SERVE_CONNECTIONS_PER_ADDRESS,
    SERVE_HANGUP_SECONDS,
    SERVE_IDLE_SECONDS,
    SERVE_LOGIN_SECONDS,
    SERVE_WEB_INPUT_BYTES,
    SERVE_WEB_MESSAGE_BYTES,
)
from therapy.text import plural


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


class Listener(web.Server):
    """aiohttp's low-level server, counting TCP connections in all and by address; one that
    sends no request in time ends, and one that has had its answer (not a websocket) too."""

    def __init__(
        self, handle: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]], caps: Caps
    ) -> None:
        super().__init__(handle, keepalive_timeout=caps.request_seconds, access_log=None)
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


def same_origin(request: web.BaseRequest) -> bool:
    """Whether a websocket is asked for by a page of the door's own address (a request with
    no Origin is no browser's page: the door has no cookies that another could use)."""
    origin = request.headers.get("Origin")
    return origin is None or _host(origin) == _host(f"//{request.host}") is not None


def _host(address: str) -> str | None:
    """The host name of an address, any port aside: a proxy may pass the Host without it."""
    try:
        return urlsplit(address).hostname
    except ValueError:
        return None
