"""The SSH door: no account, no password; any key the client offers is the person, and a
client without one gets in too. Each connection's session channel runs `therapy door` (the
code, then the app) in a process of its own on a pty of the client's size; nothing else
goes through: no shell, no subsystem, no forwarding.

Here: what one server serves (`Door`), its connections counted and stopped together
(`Server`), and running it (`serve`). The host key and the facilitators' keys are in `keys`,
a connection and its channel in `connection`, the app process on its pty in `process`, and
the warm spawner each app is forked from in `spawner`.
"""

from __future__ import annotations

import asyncio
import signal
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # cryptography deprecates DSA, which asyncssh still names
    import asyncssh

from therapy.limits import (
    SERVE_HANGUP_SECONDS,
    SERVE_LOGIN_SECONDS,
)
from therapy.model import TherapyError
from therapy.serve import doors
from therapy.serve.addresses import Clients
from therapy.serve.connection import Visitor
from therapy.serve.doors import DoorsRecord
from therapy.serve.keys import host_key, key_id, read_facilitators
from therapy.serve.process import AppProcess, Spawner
from therapy.service.invitation import ssh_line

__all__ = ["Door", "Server", "host_key", "key_id", "read_facilitators", "serve"]

SPAWNER_READY_SECONDS = 30  # serve says where to join once its spawner is ready, or after this


@dataclass(frozen=True)
class Door:
    """What one server serves, and to whom."""

    data_dir: Path
    prompts: Path | None
    pair: str | None
    facilitators: frozenset[str]  # key ids (key_id) that may facilitate
    host: str
    port: int
    name: str  # the host as people type it, in the lines to give them
    web: tuple[str, int] | None = None  # the browser door's address, if it is open
    web_url: str | None = None  # the browser door's address as people open it (a proxy's)

    def line(self, what: str = "CODE") -> str:
        return ssh_line(self.name, self.port, what)


class Server:
    """Every connection of one `therapy serve`: counted, and stopped together."""

    def __init__(self, door: Door) -> None:
        self.door = door
        self.clients = Clients()  # as the browser door counts its pages
        self.apps: set[AppProcess] = set()
        self.tasks: set[asyncio.Task[None]] = set()  # each channel's run
        self.visitors: set[Visitor] = set()
        self.spawner: Spawner | None = None  # None: each app starts in a fresh process
        self.stopping = False

    def admit(self, address: str) -> str | None:
        """Why a new connection from `address` is refused, or None: it is counted in (a
        client is its address, or its IPv6 /64; therapy.serve.addresses)."""
        if self.stopping:
            return "therapy serve is stopping."
        return self.clients.admit(address)

    def leave(self, address: str) -> None:
        self.clients.leave(address)

    @property
    def addresses(self) -> Counter[str]:
        return self.clients.addresses

    async def stop(self) -> None:
        """Every app is told (SIGHUP) and given time to end; then every connection closes."""
        self.stopping = True
        for app in list(self.apps):
            app.hang_up()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=SERVE_HANGUP_SECONDS + 2)
        for visitor in list(self.visitors):
            visitor.close("therapy serve stopped; what you saved is kept.")


# -- running it ------------------------------------------------------------------------------


def serve(door: Door, say: Callable[[str], None]) -> None:
    """Serve in the foreground until Ctrl+C (or SIGTERM)."""
    key = host_key(door.data_dir)
    asyncio.run(_serve(door, key, say))


async def _serve(door: Door, key: asyncssh.SSHKey, say: Callable[[str], None]) -> None:
    server = Server(door)
    server.spawner = spawner = Spawner(door.data_dir, say)
    await spawner.start()  # its imports run while serve starts to listen
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
        await spawner.close()
        raise TherapyError(
            f"therapy serve cannot listen on {door.host}:{door.port} ({error.strerror})."
        ) from None
    web_door = None
    if door.web is not None:
        from therapy.serve.web import open_web  # aiohttp only when asked

        try:
            public = door.name if door.web_url is None else urlsplit(door.web_url).hostname
            web_door = await open_web(door, *door.web, say, name=public or door.name)
        except TherapyError:
            listener.close()
            await listener.wait_closed()
            await spawner.close()
            raise
        if door.web_url is not None:
            web_door.url = door.web_url
            say(f"therapy serve: people open the browser door at {door.web_url}")
    await spawner.wait_ready(SPAWNER_READY_SECONDS)  # the first to join need not wait for it
    fingerprint = key.get_fingerprint("sha256")
    web_url = None if web_door is None else web_door.url
    try:
        doors.record(door.data_dir, DoorsRecord(door.name, door.port, fingerprint, web_url))
    except TherapyError as error:  # the lines are printed below anyway
        say(f"therapy invite will not know this server: {error}")
    say(f"therapy serve: SSH on {door.host}:{door.port}, serving {door.data_dir}")
    say(f"Host key fingerprint: {fingerprint}")
    say(f"Give people this line: {door.line()}   (projector: {door.line('watch CODE')})")
    say("therapy invite CODE prints the lines to paste into a chat. Ctrl+C stops it.")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    try:
        await stop.wait()
    finally:
        doors.forget(door.data_dir)
        listener.close()
        await asyncio.gather(server.stop(), *([] if web_door is None else [web_door.close()]))
        await listener.wait_closed()
        await spawner.close()
    say("therapy serve stopped.")
