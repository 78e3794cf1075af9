"""Between sessions: who owes what, by when, across every session (`therapy actions`)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from therapy.cli import Config, cli, deliver, fail, output_option, pass_config


@cli.command()
@click.option(
    "--pair", help="Only this pair's items: its name, or its sides ('Sales x Marketing')."
)
@click.option("--owner", help="Only the items this person owns (any case).")
@click.option(
    "--open", "open_", is_flag=True, help="The items still open (the default, but for ics: all)."
)
@click.option("--overdue", is_flag=True, help="The open items past their due date.")
@click.option("--all", "all_", is_flag=True, help="Every item: open, done and dropped.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "md", "json", "csv", "ics"]),
    default="table",
    show_default=True,
    help="ics: an iCalendar file of to-dos to import into a calendar (every item by default, "
    "so that it learns which were done).",
)
@output_option
@pass_config
def actions(
    config: Config,
    pair: str | None,
    owner: str | None,
    open_: bool,
    overdue: bool,
    all_: bool,
    fmt: str,
    output: Path | None,
) -> None:
    """List the action items of every session, soonest due first, so owners know what is
    due; mark one with: therapy review REF done."""
    from therapy.export.actions import Listing, render

    chosen = [
        name for name, given in (("open", open_), ("overdue", overdue), ("all", all_)) if given
    ]
    if len(chosen) > 1:
        given = " and ".join(f"--{name}" for name in chosen)
        fail(f"Give one of --open, --overdue and --all, not {given}.")
    # a calendar must hear that a to-do was done or dropped: it gets every item by default
    which = chosen[0] if chosen else "all" if fmt == "ics" else "open"
    sessions = config.sessions
    history = sessions.tracked(pair=pair, owner=owner, which=which)
    listing = Listing(
        items=history.items,
        today=sessions.today(),
        now=sessions.now(),
        cause_name=sessions.prompts.cause_name,
        which=which,
        pair=pair,
        owner=owner,
        skipped=list(history.skipped),
    )
    for problem in history.unread:  # a session of no known pair: it may be a wanted one's
        click.echo(problem, err=True)
    if listing.skipped:
        click.echo(listing.skipped_sentence(), err=True)
    if not listing.items:
        click.echo(listing.nothing(), err=True)
        if fmt == "table" and output is None:
            return  # a table of nothing is nothing; the other formats stay valid documents
    to_terminal = output is None and fmt == "table" and sys.stdout.isatty()
    text = render(listing, fmt, shutil.get_terminal_size().columns if to_terminal else None)
    if fmt == "table" and output is None:
        click.echo(text, nl=False)  # a table is for people, not a document
    else:
        deliver(text, output)
