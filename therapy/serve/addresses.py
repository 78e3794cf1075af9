"""Who a connection to therapy serve comes from, as its doors count them (both doors: the SSH
door's Server and the browser door's gate): a client's address, or an IPv6 client's /64 (a
machine on IPv6 holds 2**64 addresses: a cap by address would be no cap); and how often it
may open a new connection.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from therapy.limits import (
    SERVE_CONNECTION_SECONDS,
    SERVE_CONNECTIONS,
    SERVE_CONNECTIONS_PER_ADDRESS,
)
from therapy.text import plural

IPV6_CLIENT = 64  # the prefix one IPv6 client holds (a home, a cloud machine)


def client(address: str) -> str:
    """The client an address is counted as: an IPv4 address (an IPv4-mapped IPv6 one too),
    or an IPv6 address's /64, like 2001:db8:1:2::/64; anything else as it is."""
    try:
        parsed = ipaddress.ip_address(address.partition("%")[0])  # a link-local's zone aside
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv4Address):
        return str(parsed)
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.IPv6Network((parsed, IPV6_CLIENT), strict=False))


@dataclass
class _Bucket:
    tokens: float
    at: float


class Arrivals:
    """New connections by client (see `client`), as a token bucket each: `burst` at once (a
    room behind one NAT joins together), then one every `seconds`. Each connection brings
    CODE_TRIES more session codes to try: reconnecting must not start the slowing again."""

    def __init__(
        self,
        burst: int = SERVE_CONNECTIONS_PER_ADDRESS,
        seconds: float = SERVE_CONNECTION_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.seconds = seconds
        self.clock = clock
        self.buckets: dict[str, _Bucket] = {}
        self.swept = clock()

    def arrive(self, address: str) -> str | None:
        """Why a new connection from ADDRESS is refused now (one sentence), or None: it is
        counted in."""
        now = self.clock()
        self._forget_full(now)
        key = client(address)
        bucket = self.buckets.get(key) or _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) / self.seconds)
        bucket.at = now
        self.buckets[key] = bucket
        if bucket.tokens < 1:
            wait = plural(math.ceil((1 - bucket.tokens) * self.seconds), "second")
            return f"Too many new connections from your address; try again in {wait}."
        bucket.tokens -= 1
        return None

    def _forget_full(self, now: float) -> None:
        """Drop, once a second at most, the buckets that have filled up again (as good as
        none): what is kept is the clients of the last burst x seconds."""
        if now - self.swept < 1:
            return
        self.swept = now
        filling = self.burst * self.seconds  # from empty to full
        for key, bucket in list(self.buckets.items()):
            if bucket.tokens * self.seconds + now - bucket.at >= filling:
                del self.buckets[key]


class Clients:
    """The connections of one door, in all and by client, and the new ones by client in
    rate: why a new one is refused (one sentence), or None and it is counted in."""

    def __init__(
        self,
        connections: int = SERVE_CONNECTIONS,
        per_client: int = SERVE_CONNECTIONS_PER_ADDRESS,
        arrivals: Arrivals | None = None,
    ) -> None:
        self.connections = connections
        self.per_client = per_client
        self.arrivals = arrivals or Arrivals()
        self.addresses: Counter[str] = Counter()

    def admit(self, address: str) -> str | None:
        key = client(address)
        if sum(self.addresses.values()) >= self.connections:
            held = plural(self.connections, "connection")
            return f"therapy serve holds {held} already; try later."
        if self.addresses[key] >= self.per_client:
            held = plural(self.per_client, "connection")
            return f"Your address holds {held} already; close one first."
        refusal = self.arrivals.arrive(address)
        if refusal is not None:
            return refusal
        self.addresses[key] += 1
        return None

    def leave(self, address: str) -> None:
        key = client(address)
        self.addresses[key] -= 1
        if self.addresses[key] <= 0:
            del self.addresses[key]
