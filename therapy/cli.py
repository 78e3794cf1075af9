"""The `therapy` command: thin; parses and calls the service, the export or the TUI.

Textual and Jinja2 are imported only by the commands that need them, so that
`therapy add` starts fast.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from therapy.model import FACILITATOR, Actor, TherapyError
from therapy.service import Sessions, parse_sides
from therapy.text import shown

if TYPE_CHECKING:
    from therapy.tui.app import Joining

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclass
class Config:
    data_dir: Path
    prompts: Path | None
    debug: bool

    @property
    def sessions(self) -> Sessions:
        from therapy.store import Store

        return Sessions(Store(self.data_dir), self.prompts)


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("therapy", appauthor=False))


class TherapyGroup(click.Group):
    """Turns every error into one sentence on stderr and a non-zero exit (--debug: traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except TherapyError as error:
            if _debug(ctx):
                raise
            raise click.ClickException(str(error)) from None
        except KeyboardInterrupt:
            raise click.Abort() from None
        except BrokenPipeError:
            # the reader went away (therapy list | head): nothing more to say to it
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(141) from None
        except Exception as error:
            if _debug(ctx):
                raise
            raise click.ClickException(
                f"Something went wrong that therapy did not expect ({type(error).__name__}: "
                f"{shown(error, 200)}); run the command again with --debug and report what "
                "it shows."
            ) from None


def _debug(ctx: click.Context) -> bool:
    return bool(ctx.obj and ctx.obj.debug) or "--debug" in sys.argv


def fail(message: str) -> NoReturn:
    raise TherapyError(message)


@click.group(cls=TherapyGroup, context_settings=CONTEXT, invoke_without_command=True)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="THERAPY_DATA_DIR",
    help="Folder that holds the sessions (default: your user data folder).",
)
@click.option(
    "--prompts",
    "prompts_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="THERAPY_PROMPTS",
    help="Folder with your own prompts/*.toml, overriding the shipped ones file by file.",
)
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.version_option(package_name="therapy")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, prompts_dir: Path | None, debug: bool) -> None:
    """Couples therapy for two teams that keep fighting: a retrospective in the terminal
    that ends in a Markdown action plan ready for a wiki."""
    ctx.obj = Config(data_dir or default_data_dir(), prompts_dir, debug)
    if ctx.invoked_subcommand is None:
        run_app(ctx.obj)


pass_config = click.make_pass_decorator(Config)


def _code(value: str) -> str:
    from therapy.service import normalise_code

    return normalise_code(value)


# -- sessions ---------------------------------------------------------------------------


@cli.command()
@click.argument("title")
@click.option(
    "--sides",
    default="Sales,Marketing",
    show_default=True,
    help="Two or more side names, separated by commas.",
)
@click.option("--anonymous", is_flag=True, help="Store no author names at all.")
@click.option("--votes", default=3, show_default=True, type=int, help="Dot votes per person.")
@pass_config
def new(config: Config, title: str, sides: str, anonymous: bool, votes: int) -> None:
    """Create a session and print its join code."""
    session = config.sessions.create(title, parse_sides(sides.split(",")), anonymous, votes)
    click.echo(session.code)
    click.echo(
        f"Created '{session.title}' for {' x '.join(session.sides)}; "
        f"open it with: therapy facilitate {session.code}",
        err=True,
    )


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the sessions as JSON.")
@pass_config
def list_sessions(config: Config, as_json: bool) -> None:
    """List the sessions in the data folder, newest first."""
    everything = config.sessions.summaries()
    summaries = [s for s in everything if s.code]
    for problem in [s.problem for s in everything if not s.code and s.problem]:
        click.echo(problem, err=True)  # a damaged index row: named, the rest still listed
    if as_json:
        import json

        rows = [
            {
                "code": s.code,
                "title": s.title,
                "sides": s.sides,
                "phase": s.phase.value if s.phase else None,
                "complaints": s.complaints,
                "participants": s.participants,
                "action_items": s.action_items,
                "created": s.created,
                "updated": s.updated,
                "problem": s.problem,
            }
            for s in summaries
        ]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not summaries:
        click.echo('No sessions yet; start one with: therapy new "Q3 lead handoff"', err=True)
        return
    click.echo(f"{'CODE':<8}{'PHASE':<11}{'CARDS':>6}  {'UPDATED':<17}  TITLE (SIDES)")
    for s in summaries:
        phase = s.phase.value if s.phase else "damaged"
        updated = (s.updated or s.created)[:16].replace("T", " ")
        click.echo(
            f"{s.code:<8}{phase:<11}{s.complaints:>6}  {updated:<17}  "
            f"{s.title} ({' x '.join(s.sides)})"
        )


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@pass_config
def status(config: Config, code: str) -> None:
    """Show a session's phase, counts and relationship status."""
    sessions = config.sessions
    board = sessions.board(code)
    session = board.session
    relationship = sessions.relationship(code, board, sessions.history(session).items)
    click.echo(f"{session.title} [{session.code}]  {' x '.join(session.sides)}")
    click.echo(f"phase: {session.phase.value}")
    per_side = {side: 0 for side in session.sides}
    for complaint in board.complaints:
        per_side[complaint.side] += 1
    click.echo(
        "complaints: "
        + ", ".join(f"{side} {count}" for side, count in per_side.items())
        + f"; votes: {len(board.votes)}; action items: {len(board.action_items)}; "
        f"wins: {len(board.wins)}; participants: {len(board.participants)}"
    )
    score = "" if relationship.score is None else f" ({relationship.score:.2f})"
    click.echo(f"relationship: {relationship.label}{score}")
    for signal in relationship.signals:
        value = "n/a " if signal.value is None else f"{signal.value:.2f}"
        click.echo(f"  {signal.name:<15}{value}  {signal.reason}")
    history = sessions.history(session)
    if history.skipped:
        click.echo(
            f"earlier sessions of this pair skipped (they could not be read): "
            f"{', '.join(history.skipped)}"
        )
    open_items = [e for e in history.items if e.item.status.value == "open"]
    if open_items:
        click.echo("earlier open action items (therapy review CODE REF done|carried|dropped):")
        for earlier in open_items:
            click.echo(
                f"  {earlier.ref}  {earlier.item.what} ({earlier.item.owner}, "
                f"due {earlier.item.due})"
            )


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@click.argument("target", required=False)
@pass_config
def phase(config: Config, code: str, target: str | None) -> None:
    """Show the session's phase, or move it: a phase's name, next or back."""
    sessions = config.sessions
    if target is None:
        click.echo(sessions.session(code).phase.value)
        return
    click.echo(sessions.set_phase(code, target, FACILITATOR).phase.value)


# -- complaints -------------------------------------------------------------------------


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@click.argument("text")
@click.option("--side", required=True, help="The side the complaint comes from.")
@click.option("--name", help="Who says it (ignored in an anonymous session).")
@pass_config
def add(config: Config, code: str, text: str, side: str, name: str | None) -> None:
    """Log a complaint from the shell and print its id."""
    complaint = config.sessions.add_complaint(code, side, text, author=name)
    click.echo(complaint.id)


@cli.command("import")
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_config
def import_csv(config: Config, code: str, file: Path) -> None:
    """Log complaints from a CSV file (side,text[,author]): all rows or none."""
    rows, numbers = read_complaints_csv(file)
    if not rows:
        fail(f"{file} has no complaints; give one per row as side,text[,author].")
    try:
        added = config.sessions.add_complaints(code, rows, lines=numbers)
    except TherapyError as error:
        fail(f"{file}: {error} Nothing was imported.")
    click.echo(f"Imported {len(added)} complaints into {code}.")


def read_complaints_csv(file: Path) -> tuple[list[tuple[str, str, str | None]], list[int]]:
    """The rows of a side,text[,author] file (a header row is optional) and their lines."""
    import csv

    try:
        handle = file.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        fail(f"Cannot read {file} ({error.strerror}).")
    rows: list[tuple[str, str, str | None]] = []
    numbers: list[int] = []
    with handle:
        reader = csv.reader(handle)
        try:
            for record in reader:
                line = reader.line_num
                if not any(field.strip() for field in record):
                    continue
                if not rows and [f.strip().lower() for f in record][:2] == ["side", "text"]:
                    continue
                if len(record) not in (2, 3):
                    fail(
                        f"Line {line} of {file} has {len(record)} columns; each row must be "
                        "side,text or side,text,author. Nothing was imported."
                    )
                rows.append((record[0], record[1], record[2] if len(record) == 3 else None))
                numbers.append(line)
        except UnicodeDecodeError:
            fail(f"{file} is not UTF-8 text; save it as UTF-8 CSV and import again.")
        except csv.Error as error:
            fail(f"Line {reader.line_num} of {file} is not valid CSV ({error}).")
    return rows, numbers


# -- the rest of a session from the shell -----------------------------------------------


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@click.argument("complaint", type=int)
@click.argument("cause")
@pass_config
def cause(config: Config, code: str, complaint: int, cause: str) -> None:
    """Agree a complaint's root cause (key or name; 'none' for unsorted)."""
    config.sessions.set_cause(code, complaint, cause)


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@click.argument("complaint", type=int)
@click.argument("into", type=int)
@pass_config
def group(config: Config, code: str, complaint: int, into: int) -> None:
    """Group a complaint with another (near-duplicates) during diagnose."""
    click.echo(config.sessions.group(code, complaint, into))


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@click.argument("complaints", type=int, nargs=-1, required=True)
@click.option("--name", required=True, help="Whose votes these are.")
@click.option("--side", help="Their side, when they have not joined yet.")
@pass_config
def vote(
    config: Config, code: str, complaints: tuple[int, ...], name: str, side: str | None
) -> None:
    """Spend a participant's dot votes on complaints; print the votes left."""
    click.echo(config.sessions.vote_as(code, name, side, complaints))


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@click.argument("what")
@click.option("--owner", required=True, help="Who does it.")
@click.option("--due", required=True, help="By when, as YYYY-MM-DD.")
@click.option("--metric", default="", help="How the pair will know it worked.")
@click.option("--cause", "cause_", help="The root cause it remedies.")
@click.option(
    "--complaint",
    "complaints",
    type=int,
    multiple=True,
    help="A complaint it answers (repeatable).",
)
@pass_config
def action(
    config: Config,
    code: str,
    what: str,
    owner: str,
    due: str,
    metric: str,
    cause_: str | None,
    complaints: tuple[int, ...],
) -> None:
    """Agree an action item (remedy phase onwards); print its id."""
    item = config.sessions.add_action(code, what, owner, due, cause_, metric, complaints)
    click.echo(item.id)


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@click.argument("text")
@click.option("--side", required=True, help="The side that says it.")
@click.option("--appreciation", is_flag=True, help="An appreciation rather than a win.")
@click.option("--name", help="Who says it (ignored in an anonymous session).")
@pass_config
def win(
    config: Config, code: str, text: str, side: str, appreciation: bool, name: str | None
) -> None:
    """Celebrate a win or an appreciation (celebrate phase); print its id."""
    kind = "appreciation" if appreciation else "win"
    click.echo(config.sessions.add_win(code, side, text, kind, author=name).id)


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@click.argument("ref")
@click.argument("outcome", type=click.Choice(["done", "carried", "dropped"]))
@pass_config
def review(config: Config, code: str, ref: str, outcome: str) -> None:
    """Close the loop on an earlier action item of the pair (see therapy status)."""
    earlier = config.sessions.review(code, ref, outcome)
    click.echo(f"{earlier.ref} {earlier.item.status.value}")


# -- export and demo --------------------------------------------------------------------


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@click.option(
    "--format", "fmt", type=click.Choice(["md", "json", "csv"]), default="md", show_default=True
)
@click.option("--template", help="A shipped template's name or the path of your own .j2 file.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of the screen.",
)
@pass_config
def export(config: Config, code: str, fmt: str, template: str | None, output: Path | None) -> None:
    """Export the action plan as Markdown, JSON or CSV."""
    from therapy.export import write_file

    text = config.sessions.plan(code, fmt, template)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_file(output, text)
        click.echo(f"Wrote {output}", err=True)


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
@pass_config
def ssh(config: Config, name: str | None, side: str | None) -> None:
    """Entry for an OpenSSH command= or ForceCommand: the session code is what the person
    typed after the host (ssh -t retro@host CODE)."""
    for variable in [v for v in os.environ if v.startswith("TEXTUAL_SCREENSHOT")]:
        del os.environ[variable]  # Textual would write a screenshot file: not from here
    typed = os.environ.get("SSH_ORIGINAL_COMMAND", "")[:200].split()
    if len(typed) != 1 or not typed[0].isalnum() or len(typed[0]) > 32:
        fail(
            "Say which session to join after the host, like: ssh -t retro@host K7QX2M "
            "(ask the facilitator for the code)."
        )
    run_participant(config, _code(typed[0]), name, side, restricted=True)


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@pass_config
def watch(config: Config, code: str) -> None:
    """A read-only view of a session for a shared screen or projector."""
    from therapy.model import OBSERVER

    config.sessions.session(code)  # a wrong code is told here, in one sentence
    run_app(config, code, viewer=OBSERVER)


def run_participant(
    config: Config, code: str, name: str | None, side: str | None, restricted: bool = False
) -> None:
    """Join (asking in the app for what is missing), then follow the session."""
    from therapy.model import Actor, Role

    sessions = config.sessions
    session = sessions.session(code)
    if side is not None:
        side = sessions.side_name(session, side)  # a wrong side is told here, in one sentence
    require_terminal()  # before joining: a refused connection leaves no participant behind
    if side is not None and (name or session.anonymous):
        participant = sessions.join(code, side, name, bound=name is not None)
        run_app(config, code, Actor(Role.PARTICIPANT, participant.id), restricted=restricted)
    else:
        run_app(config, code, joining=(session, name, side), restricted=restricted)


def require_terminal() -> None:
    # Without a terminal the app cannot draw, and nothing would end it when the
    # connection goes (ssh without -t): say so instead of hanging on.
    if not sys.stdin.isatty() or not (sys.stdout.isatty() or sys.stderr.isatty()):
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
) -> None:
    require_terminal()
    from therapy.tui.app import TherapyApp

    sessions = config.sessions
    opened = None
    if code is not None and joining is None:  # loaded first: the first frame is the phase
        stamp = sessions.stamp(code)
        opened = (sessions.view(code, viewer), stamp)
    app = TherapyApp(sessions, code, viewer, opened=opened, joining=joining, restricted=restricted)
    app.run()
    if app.return_code:
        raise SystemExit(app.return_code)
    if app.farewell:
        click.echo(app.farewell, err=True)


def main() -> None:
    cli(prog_name="therapy", auto_envvar_prefix=None)


if __name__ == "__main__":  # pragma: no cover
    main()
