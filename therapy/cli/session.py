"""Sessions from the shell: new, list, status, phase."""

from __future__ import annotations

import click

from therapy.cli import Config, _code, cli, pass_config
from therapy.model import FACILITATOR
from therapy.service import parse_sides
from therapy.text import shown

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
@click.option(
    "--pair",
    default="",
    help="The pair's name: its sessions share history (default: the sides).",
)
@click.option(
    "--top",
    default=3,
    show_default=True,
    type=int,
    help="How many top-voted items go on to remedy.",
)
@pass_config
def new(
    config: Config, title: str, sides: str, anonymous: bool, votes: int, pair: str, top: int
) -> None:
    """Create a session and print its join code."""
    session = config.sessions.create(
        title, parse_sides(sides.split(",")), anonymous, votes, pair=pair, top=top
    )
    click.echo(session.code)
    of = f" of the pair {session.pair_name}" if session.pair_name else ""
    click.echo(
        f"Created '{session.title}' for {' x '.join(session.sides)}{of}; "
        f"open it with: therapy facilitate {session.code}",
        err=True,
    )


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the sessions as JSON.")
@click.option("--pair", default=None, help="Only the sessions of this pair.")
@pass_config
def list_sessions(config: Config, as_json: bool, pair: str | None) -> None:
    """List the sessions in the data folder, newest first."""
    everything = config.sessions.summaries(pair)
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
                "pair": s.pair_label,
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
        click.echo(json.dumps(rows, indent=2))  # ASCII: no raw control anywhere
        return
    if not summaries:
        if pair is not None:
            click.echo(
                f"No sessions of the pair '{shown(pair)}'; run 'therapy list' to see them all.",
                err=True,
            )
            return
        click.echo('No sessions yet; start one with: therapy new "Q3 lead handoff"', err=True)
        return
    click.echo(f"{'CODE':<8}{'PHASE':<11}{'CARDS':>6}  {'UPDATED':<17}  TITLE (PAIR)")
    for s in summaries:
        phase = s.phase.value if s.phase else "damaged"
        updated = (s.updated or s.created)[:16].replace("T", " ")
        click.echo(
            f"{s.code:<8}{phase:<11}{s.complaints:>6}  {updated:<17}  "
            f"{s.title} ({s.pair_label or ' x '.join(s.sides)})"
        )


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@pass_config
def status(config: Config, code: str) -> None:
    """Show a session's phase, counts and relationship status."""
    sessions = config.sessions
    board = sessions.board(code)
    session = board.session
    history = sessions.history(session)
    relationship = sessions.relationship(code, board, history.items)
    click.echo(f"{session.title} [{session.code}]  {' x '.join(session.sides)}")
    if session.pair_name:
        click.echo(f"pair: {session.pair_name}")
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
    if history.skipped:
        click.echo(
            f"earlier sessions of this pair skipped (they could not be read): "
            f"{', '.join(history.skipped)}"
        )
    open_items = [e for e in history.items if e.item.status.value == "open"]
    today = sessions.today()
    if open_items:
        click.echo("earlier open action items (therapy review CODE REF done|carried|dropped):")
        for earlier in open_items:
            click.echo(
                f"  {earlier.ref}  {earlier.item.what} ({earlier.item.owner}, "
                f"due {earlier.item.due}{', overdue' if earlier.item.overdue(today) else ''})"
            )


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@click.argument("target", required=False)
@pass_config
def phase(config: Config, code: str, target: str | None) -> None:
    """Show the session's phase, or move it: a phase's name, next or back."""
    sessions = config.sessions
    seen = sessions.session(code).phase
    if target is None:
        click.echo(seen.value)
        return
    # next and back are from the phase read here: another move meanwhile refuses this one
    click.echo(sessions.set_phase(code, target, FACILITATOR, from_phase=seen).phase.value)
