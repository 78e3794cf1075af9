"""The terminal app's commands: facilitate, join, ssh, watch, demo, and how the app is run."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from therapy.cli import Config, _code, cli, fail, pass_config
from therapy.model import FACILITATOR, Actor, Session, TherapyError, pair_keys
from therapy.service import Sessions, normalise_code
from therapy.text import shown

if TYPE_CHECKING:
    from therapy.tui.app import Joining


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@pass_config
def facilitate(config: Config, code: str) -> None:
    """Open a session in the terminal app as its facilitator."""
    config.sessions.session(code)  # a wrong code is told here, in one sentence
    run_app(config, code)


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@click.option("--name", help="Your name (not asked or stored in an anonymous session).")
@click.option("--side", help="Your side; asked when not given.")
@pass_config
def join(config: Config, code: str, name: str | None, side: str | None) -> None:
    """Join a session as a participant; asks for what is missing."""
    run_participant(config, code, name, side)


@cli.command()
@click.option("--name", help="The person this key belongs to: bound, they cannot change it.")
@click.option("--side", help="Their side, if it is fixed too.")
@click.option("--pair", help="The pair whose sessions this key opens (its name, or its sides).")
@click.option("--session", "only", help="The one session this key opens (its code).")
@pass_config
def ssh(
    config: Config, name: str | None, side: str | None, pair: str | None, only: str | None
) -> None:
    """Entry for an OpenSSH command= or ForceCommand: the session code is what the person
    typed after the host (ssh -t retro@host CODE)."""
    for variable in [v for v in os.environ if v.startswith("TEXTUAL_SCREENSHOT")]:
        del os.environ[variable]  # Textual would write a screenshot file: not from here
    if pair is not None and not pair.strip():
        fail("--pair needs the pair's name, like --pair 'EMEA Sales x Marketing'.")
    key = Key(pair, None if only is None else _code(only), side)
    typed = os.environ.get("SSH_ORIGINAL_COMMAND", "")[:200].split()
    if len(typed) != 1 or not typed[0].isalnum() or len(typed[0]) > 32:
        fail(
            "Say which session to join after the host, like: ssh -t retro@host K7QX2M "
            "(ask the facilitator for the code)."
        )
    ask = ask_on_terminal if has_terminal() else None  # without one: one try, then the end
    session = open_session(config.sessions, key, typed[0], ask, time.sleep)
    run_participant(config, session.code, name, side, restricted=True, one_session=only is not None)


TRIES = 3  # codes one connection may try


@dataclass(frozen=True)
class Key:
    """What an SSH key's command binds: the sessions it opens, and the side it joins as."""

    pair: str | None = None
    session: str | None = None
    side: str | None = None

    def opens(self, sessions: Sessions, typed: str) -> Session | None:
        """The session behind a typed code if this key may join it; else None, whatever
        the reason, so that nothing is learnt of a session the key may not open."""
        try:
            code = normalise_code(typed)
            if self.session not in (None, code):
                return None
            session = sessions.session(code)
            if self.side is not None:
                sessions.side_name(session, self.side)
        except TherapyError:
            return None
        if self.pair is not None and session.pair not in pair_keys(self.pair):
            return None
        return session


def open_session(
    sessions: Sessions,
    key: Key,
    typed: str,
    ask: Callable[[int], str] | None,
    pause: Callable[[float], None],
) -> Session:
    """The session a code opens for this key, asking again (if it can) after a wrong one;
    each wrong code waits twice as long as the last before it is answered, and after
    TRIES it ends."""
    attempt = 1
    while (session := key.opens(sessions, typed)) is None:
        pause(2 ** (attempt - 1))  # guessing codes on one connection is slow
        refusal = (
            f"There is no session {shown(typed, 32).upper()} that you can join; check the "
            "code with your facilitator."
        )
        if attempt == TRIES or ask is None:
            fail(refusal)
        click.echo(refusal, err=True)
        attempt += 1
        typed = ask(attempt)
    return session


def ask_on_terminal(attempt: int) -> str:
    click.echo(f"Session code (try {attempt} of {TRIES}): ", nl=False, err=True)
    line = sys.stdin.buffer.readline(200)  # bytes: a stray byte is a wrong code, not a crash
    if not line:
        raise click.Abort()
    return line.decode(errors="replace")


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@pass_config
def watch(config: Config, code: str) -> None:
    """A read-only view of a session for a shared screen or projector."""
    from therapy.model import OBSERVER

    config.sessions.session(code)  # a wrong code is told here, in one sentence
    run_app(config, code, viewer=OBSERVER)


def run_participant(
    config: Config,
    code: str,
    name: str | None,
    side: str | None,
    restricted: bool = False,
    one_session: bool = False,
    join_seconds: float | None = None,
) -> None:
    """Join (asking in the app for what is missing), then follow the session. JOIN_SECONDS:
    the app ends if what it asks is not answered within them (therapy serve's doors)."""
    from therapy.model import Actor, Role

    sessions = config.sessions
    session = sessions.session(code)
    if side is not None:
        side = sessions.side_name(session, side)  # a wrong side is told here, in one sentence
    require_terminal()  # before joining: a refused connection leaves no participant behind
    if side is not None and (name or session.anonymous):
        bound = name is not None  # over ssh, by the key: it keeps the name for its owner
        participant = sessions.join(code, side, name, bound, keyed=bound and restricted)
        viewer = Actor(Role.PARTICIPANT, participant.id)
        run_app(config, code, viewer, restricted=restricted, one_session=one_session)
    else:
        joining = (session, name, side)
        run_app(
            config,
            code,
            joining=joining,
            restricted=restricted,
            one_session=one_session,
            join_seconds=join_seconds,
        )


def has_terminal() -> bool:
    """A terminal on stdin and on stdout or stderr; or the browser door's pipes, on which the
    app runs with the door's driver (TEXTUAL_DRIVER, set by the door), which ends it when they
    close. `ssh` without -t gives pipes and no such driver: no terminal."""
    driver = os.environ.get("TEXTUAL_DRIVER")
    if driver:  # (aiohttp is imported only then)
        from therapy.serve.web import BROWSER_DRIVER

        if driver == BROWSER_DRIVER:
            return True
    return sys.stdin.isatty() and (sys.stdout.isatty() or sys.stderr.isatty())


def require_terminal() -> None:
    # Without a terminal the app cannot draw, and nothing would end it when the
    # connection goes (ssh without -t): say so instead of hanging on.
    if not has_terminal():
        fail(
            "The terminal app needs a terminal: over SSH connect with ssh -t; for the plan "
            "without the app, use therapy export (or therapy demo --print)."
        )


def run_app(
    config: Config,
    code: str | None = None,
    viewer: Actor = FACILITATOR,
    joining: Joining | None = None,
    restricted: bool = False,
    one_session: bool = False,
    join_seconds: float | None = None,
) -> None:
    require_terminal()
    from therapy.tui.app import TherapyApp

    sessions = config.sessions
    opened = None
    if code is not None and joining is None:  # loaded first: the first frame is the phase
        stamp = sessions.stamp(code)
        opened = (sessions.view(code, viewer), stamp)
    app = TherapyApp(
        sessions,
        code,
        viewer,
        opened=opened,
        joining=joining,
        restricted=restricted,
        one_session=one_session,
        join_seconds=join_seconds,
    )
    app.run()
    if app.farewell:
        click.echo(app.farewell, err=True)
    if app.return_code:
        raise SystemExit(app.return_code)


@cli.command()
@click.option(
    "--print",
    "print_plan",
    is_flag=True,
    help="Walk the demo through every phase and print its code and plan instead.",
)
@pass_config
def demo(config: Config, print_plan: bool) -> None:
    """Open a fresh copy of a ready-made Sales x Marketing session as facilitator."""
    from therapy.demo import build_demo
    from therapy.model import Phase

    if not print_plan:
        require_terminal()  # before the demo is built, not after
    sessions = config.sessions
    code = build_demo(sessions, until=Phase.CLOSE if print_plan else Phase.CHECK_IN)
    if not print_plan:
        run_app(config, code)
        return
    click.echo(f"Demo session: {code} (in {config.data_dir})", err=True)
    click.echo(sessions.plan(code), nl=False)
