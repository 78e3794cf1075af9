"""Who may come through the browser door, and how many: its caps and counts.

textual-serve caps nothing. Here websockets are capped in all and per address (an IPv6
client's /64: therapy.serve.addresses), and new ones per address in rate, with the SSH door's
limits (a `Gate`: the SSH door's Server counts the same way, so that one gate can count both
doors together), and so are raw TCP connections, which a browser opens several of for one
page's files, and which must send a request in time. A websocket opens only for a name the
door is reached by (DNS rebinding points another name at its address) and from a page of
that same origin: another site's page in a visitor's browser may reach a door that listens
on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from therapy.limits import (
    SERVE_CONNECTION_SECONDS,
    SERVE_CONNECTIONS,
    SERVE_CONNECTIONS_PER_ADDRESS,
    SERVE_HANGUP_SECONDS,
    SERVE_IDLE_SECONDS,
    SERVE_JOIN_SECONDS,
    SERVE_LOGIN_SECONDS,
    SERVE_WEB_INPUT_BYTES,
    SERVE_WEB_MESSAGE_BYTES,
)
from therapy.serve.addresses import Arrivals, Clients, client


class Gate(Protocol):
    """Counts connections: why one from `address` is refused, or None (it is counted in)."""

    def admit(self, address: str) -> str | None: ...
    def leave(self, address: str) -> None: ...


@dataclass(frozen=True)
class Caps:
    connections: int = SERVE_CONNECTIONS
    per_address: int = SERVE_CONNECTIONS_PER_ADDRESS  # an IPv6 client's /64 is one address
    burst: int = SERVE_CONNECTIONS_PER_ADDRESS  # new ones from an address at once, then
    connection_seconds: float = SERVE_CONNECTION_SECONDS  # one every this often
    join_seconds: float = SERVE_JOIN_SECONDS  # for a page's app to join a session
    idle_seconds: float = SERVE_IDLE_SECONDS
    hangup_seconds: float = SERVE_HANGUP_SECONDS
    request_seconds: float = SERVE_LOGIN_SECONDS
    message_bytes: int = SERVE_WEB_MESSAGE_BYTES
    input_bytes: int = SERVE_WEB_INPUT_BYTES  # a second, after a burst of 16 times this
    # TCP connections, websockets included: a browser loads a page's files over up to six
    tcp_connections: int = 4 * SERVE_CONNECTIONS
    tcp_per_address: int = 4 * SERVE_CONNECTIONS_PER_ADDRESS


class Counted(Clients):
    """The websockets of one door, counted as the SSH door's Server counts its connections
    (therapy.serve.addresses.Clients), with the caps of `caps`."""

    def __init__(self, caps: Caps) -> None:
        super().__init__(
            caps.connections, caps.per_address, Arrivals(caps.burst, caps.connection_seconds)
        )


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
        address = client(str((transport.get_extra_info("peername") or ("?",))[0]))
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


class Names:
    """The names a door is reached by, as a request's Host gives them: the address it
    listens on, the name it is given (--host-name), this host's name when it listens on
    every address, and localhost's names when it listens on loopback. DNS rebinding points
    a site's own name at the door's address: a page of that site then has the door's
    answers as its own, Origin and Host agreeing. An IP address is never rebound (its page
    is the door's), so where the door listens on every address, any of them is taken."""

    def __init__(self, listening: str, names: Iterable[str]) -> None:
        self.anywhere = listening in ("", "0.0.0.0", "::")
        self.names = {_normal(name) for name in (listening, *names) if name}
        if self.anywhere or _loopback(listening):
            self.names |= {"localhost", "127.0.0.1", "::1"}

    def __contains__(self, host: str | None) -> bool:
        if host is None:
            return False
        host = _normal(host)
        return host in self.names or (self.anywhere and _address(host))


def strange_host(request: web.BaseRequest, names: Names) -> bool:
    """Whether a request names a host the door is not reached by (answered with 421)."""
    host = _split(f"//{request.host}")
    return host is None or host[0] not in names


def same_origin(request: web.BaseRequest) -> bool:
    """Whether a websocket is asked for by a page of the door's own origin: the Host's name
    and port, over http or https (a proxy may add TLS; a Host without a port has the
    scheme's). A request with no Origin is no browser's page: the door has no cookies that
    another could use."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    found, host = _split(origin), _split(f"//{request.host}")
    if found is None or host is None or found[1] not in ("http", "https"):
        return False
    name, scheme, port = found
    default = 443 if scheme == "https" else 80
    return (name, port or default) == (host[0], host[2] or default)


def _split(address: str) -> tuple[str, str, int | None] | None:
    """An address's host name (lower case, no brackets), its scheme and its port (None
    where it gives none)."""
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return _normal(parts.hostname), parts.scheme.lower(), port


def _normal(host: str) -> str:
    host = host.strip("[]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def _address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() == "localhost"
