"""`therapy serve`, the SSH door, and `therapy door`, what each of its connections runs."""

from __future__ import annotations

import fcntl
import os
import sys
import termios
import time
from contextlib import suppress
from pathlib import Path

import click

from therapy.cli import Config, cli, fail, pass_config
from therapy.cli.app import (
    Key,
    ask_on_terminal,
    open_session,
    require_terminal,
    run_app,
    run_participant,
)
from therapy.model import OBSERVER, TherapyError
from therapy.text import name_key

NAME_TRIES = 3  # names a key may try before the connection ends


@cli.command()
@click.option(
    "--ssh",
    "address",
    default="0.0.0.0:2222",
    show_default=True,
    help="Where the SSH door listens (HOST:PORT).",
)
@click.option("--pair", help="Serve only this pair's sessions (its name, or its sides).")
@click.option(
    "--facilitators",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Keys that may facilitate remotely (authorized_keys format).",
)
@pass_config
def serve(config: Config, address: str, pair: str | None, facilitators: Path | None) -> None:
    """An SSH server of its own in the foreground: people join with `ssh -p PORT HOST CODE`,
    no account needed; Ctrl+C stops it."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        fail(f"--ssh takes HOST:PORT, like 0.0.0.0:2222, not {address!r}.")
    if pair is not None and not pair.strip():
        fail("--pair needs the pair's name, like --pair 'EMEA Sales x Marketing'.")
    from therapy.serve.server import Door, read_facilitators
    from therapy.serve.server import serve as run_server

    door = Door(
        data_dir=config.data_dir.absolute(),
        prompts=None if config.prompts is None else config.prompts.absolute(),
        pair=pair,
        facilitators=frozenset() if facilitators is None else read_facilitators(facilitators),
        host=host.strip("[]"),
        port=int(port),
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
    the client proved, which keeps the name it chooses in the session."""
    # serve started it as the leader of a new session on the pty: the pty becomes its
    # terminal (resizes, hang-ups); run by hand, the terminal is the shell's already
    with suppress(OSError):
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    require_terminal()
    sessions = config.sessions
    typed = os.environ.get("SSH_ORIGINAL_COMMAND", "").strip() or ask_on_terminal(1)
    code = open_session(sessions, Key(pair), typed, ask_on_terminal, time.sleep).code
    if role == "facilitator":
        run_app(config, code, restricted=True, one_session=True)
        return
    if role == "observer":
        run_app(config, code, viewer=OBSERVER, restricted=True, one_session=True)
        return
    key = os.environ.get("THERAPY_SERVE_KEY") or None
    name = side = None
    if key is not None:
        name = key_name(config, code, key)
        side = next(
            (
                p.side
                for p in sessions.board(code).participants
                if name_key(p.name or "") == name_key(name)
            ),
            None,
        )
    run_participant(config, code, name, side, restricted=True, one_session=True)


def key_name(config: Config, code: str, key: str) -> str:
    """The name this key chose in the session, asked (and kept for it) the first time."""
    from therapy.serve.names import KeyNames
    from therapy.service.validate import name_text

    names = KeyNames(config.data_dir)
    known = names.name(code, key)
    if known is not None:
        return known
    sessions = config.sessions
    for attempt in range(1, NAME_TRIES + 1):
        click.echo("Your name (it stays with your SSH key in this session): ", nl=False, err=True)
        line = sys.stdin.buffer.readline(400)  # bytes: a stray byte is replaced, not a crash
        if not line:
            raise click.Abort()
        try:
            name = name_text(line.decode(errors="replace"))
            if name is None:
                raise TherapyError("Type a name, like Alex.")
            here = sessions.present(code)
            for participant in sessions.board(code).participants:
                if name_key(participant.name or "") != name_key(name):
                    continue
                if participant.keyed:
                    raise TherapyError(f"The name {name} belongs to someone else's key here.")
                if participant.id in here:
                    raise TherapyError(f"Someone called {name} is connected now.")
            bound = names.claim(code, key, name)
            if bound is None:
                raise TherapyError(f"The name {name} belongs to someone else's key here.")
            return bound
        except TherapyError as refusal:
            if attempt == NAME_TRIES:
                raise TherapyError(
                    f"{str(refusal).rstrip('.')}; choose another next time."
                ) from None
            click.echo(f"{refusal} Choose another.", err=True)
    raise AssertionError("unreachable")
