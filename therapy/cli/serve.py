"""`therapy serve`, the SSH door; `therapy door`, what each of its connections runs; and
`therapy spawner`, serve's warm spawner, from which each connection's `door` is forked."""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import termios
import time
from contextlib import suppress
from pathlib import Path

import click

from therapy.cli import Config, cli, fail, main, pass_config
from therapy.cli.app import (
    Key,
    ask_on_terminal,
    open_session,
    require_terminal,
    run_app,
    run_participant,
)
from therapy.limits import SERVE_JOIN_SECONDS
from therapy.model import OBSERVER, Actor, Participant, Role, Session, TherapyError
from therapy.service import Sessions

JOIN_TRIES = 3  # a key's tries at a side and a name before the connection ends


@cli.command()
@click.option(
    "--ssh",
    "address",
    default="0.0.0.0:2222",
    show_default=True,
    help="Where the SSH door listens (HOST:PORT).",
)
@click.option(
    "--host-name",
    help="The name people reach this host by, for the lines to give them "
    "(default: the --ssh address, or this host's name when it listens everywhere).",
)
@click.option(
    "--web",
    metavar="[HOST:]PORT",
    help="Also open the browser door there, for participants (off unless given). A bare PORT "
    "listens on 127.0.0.1 only; for anyone beyond this host, put a reverse proxy with TLS "
    "in front.",
)
@click.option(
    "--web-url",
    metavar="URL",
    help="The browser door's address as people open it, behind a reverse proxy "
    "(like https://retro.example.com/), for the lines to give them.",
)
@click.option("--pair", help="Serve only this pair's sessions (its name, or its sides).")
@click.option(
    "--facilitators",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Keys that may facilitate remotely (authorized_keys format).",
)
@pass_config
def serve(
    config: Config,
    address: str,
    host_name: str | None,
    web: str | None,
    web_url: str | None,
    pair: str | None,
    facilitators: Path | None,
) -> None:
    """An SSH server of its own in the foreground: people join with `ssh -t -p PORT HOST CODE`,
    no account needed; Ctrl+C stops it."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        fail(f"--ssh takes HOST:PORT, like 0.0.0.0:2222, not {address!r}.")
    if pair is not None and not pair.strip():
        fail("--pair needs the pair's name, like --pair 'EMEA Sales x Marketing'.")
    from therapy.serve.doors import reachable_host
    from therapy.serve.server import Door, read_facilitators
    from therapy.service.invitation import HOST_NAME, WEB_URL

    name = host_name if host_name is not None else reachable_host(host.strip("[]"))
    if not HOST_NAME.fullmatch(name):
        fail(f"--host-name takes a host's name or address, like retro.example.com, not {name!r}.")
    if web_url is not None and (web is None or not WEB_URL.fullmatch(web_url)):
        fail(
            "--web-url takes the browser door's http:// or https:// address, with --web, "
            f"like --web 8080 --web-url https://retro.example.com/, not {web_url!r}."
        )
    web_at = None
    if web is not None:
        from therapy.serve.web import web_address  # aiohttp only when asked

        try:
            web_at = web_address(web)
        except TherapyError as error:
            fail(str(error))
    from therapy.serve.server import serve as run_server

    door = Door(
        data_dir=config.data_dir.absolute(),
        prompts=None if config.prompts is None else config.prompts.absolute(),
        pair=pair,
        facilitators=frozenset() if facilitators is None else read_facilitators(facilitators),
        host=host.strip("[]"),
        port=int(port),
        name=name,
        web=web_at,
        web_url=web_url,
    )
    run_server(door, lambda line: click.echo(line, err=True))


@cli.command(hidden=True)
@click.option(
    "--as",
    "role",
    type=click.Choice(["participant", "observer", "facilitator"]),
    default="participant",
)
@click.option("--pair", help="The pair whose sessions this door opens.")
@pass_config
def door(config: Config, role: str, pair: str | None) -> None:
    """One connection to therapy serve, on its pty: the code (SSH_ORIGINAL_COMMAND, or asked;
    three tries, slowed, as therapy ssh), then the app. THERAPY_SERVE_KEY: the id of the key
    the client proved, which is the person: the session keeps it (hashed) when they join."""
    # serve started it as the leader of a new session on the pty: the pty becomes its
    # terminal (resizes, hang-ups); run by hand, the terminal is the shell's already
    with suppress(OSError):
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    require_terminal()
    sessions = config.sessions
    _join_deadline(SERVE_JOIN_SECONDS)  # a connection that never answers holds no app for long
    typed = os.environ.get("SSH_ORIGINAL_COMMAND", "").strip() or ask_on_terminal(1)
    code = open_session(sessions, Key(pair), typed, ask_on_terminal, time.sleep).code
    key = os.environ.get("THERAPY_SERVE_KEY") or None
    participant = None
    if role == "participant" and key is not None:
        participant = sessions.participant_for_key(code, key) or join_with_key(sessions, code, key)
    signal.alarm(0)
    if role == "facilitator":
        run_app(config, code, restricted=True, one_session=True)
    elif role == "observer":
        run_app(config, code, viewer=OBSERVER, restricted=True, one_session=True)
    elif participant is None:  # no key: the side and the name are asked in the app
        run_participant(
            config,
            code,
            None,
            None,
            restricted=True,
            one_session=True,
            join_seconds=SERVE_JOIN_SECONDS,
        )
    else:
        viewer = Actor(Role.PARTICIPANT, participant.id)
        run_app(config, code, viewer, restricted=True, one_session=True)


def _join_deadline(seconds: int) -> None:
    """End the connection with a sentence if its questions are not answered in time."""

    def expired(signum: int, frame: object) -> None:
        click.echo(
            f"\r\nNo session was joined within {seconds // 60} minutes; connect again to join.",
            err=True,
        )
        from therapy.tui.app import NOT_JOINED

        raise SystemExit(NOT_JOINED)

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)


@cli.command(hidden=True)
@click.option("--socket", "socket_fd", type=int, required=True, help="serve's end, inherited.")
def spawner(socket_fd: int) -> None:
    """therapy serve's warm spawner (therapy.serve.spawner): what a connection's `door`
    imports on its way to the first frame, imported once; then a fork for each connection,
    which runs `therapy` with the connection's arguments in this same interpreter."""
    from therapy.serve.spawner import run
    from therapy.serve.warm import warm

    warm()
    run(socket_fd, main, sys.argv[0])  # argv[0]: this module's path, as `python -m` gives it


def join_with_key(sessions: Sessions, code: str, key: str) -> Participant:
    """A key's first visit: its name (none in an anonymous session) and its side, asked
    together on the terminal, then joined; the service says which name a key may take."""
    session = sessions.session(code)
    sides = ", ".join(f"{number} {side}" for number, side in enumerate(session.sides, 1))
    if session.anonymous:
        click.echo("This session is anonymous: no names are shown or stored.", err=True)
    for attempt in range(1, JOIN_TRIES + 1):
        try:
            name = None
            if not session.anonymous:
                name = _ask("Your name (it stays with your SSH key in this session): ", 400)
                if not name.strip():
                    raise TherapyError("Type a name, like Alex.")
            side = _side(sessions, session, _ask(f"Your side ({sides}): ", 200))
            return sessions.join(code, side, name, key=key)
        except TherapyError as refusal:
            if attempt == JOIN_TRIES:
                raise
            click.echo(str(refusal), err=True)
    raise AssertionError("unreachable")


def _ask(question: str, most: int) -> str:
    click.echo(question, nl=False, err=True)
    line = sys.stdin.buffer.readline(most)  # bytes: a stray byte is replaced, not a crash
    if not line:
        raise click.Abort()
    return line.decode(errors="replace")


def _side(sessions: Sessions, session: Session, typed: str) -> str:
    """A side by its number in the question, or by its name in any case."""
    number = typed.strip()
    if number.isdecimal() and number.isascii() and 1 <= int(number) <= len(session.sides):
        return session.sides[int(number) - 1]
    return sessions.side_name(session, typed)
