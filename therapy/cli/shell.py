"""A whole session from the shell: complaints, causes, votes, action items, wins, review,
and export."""

from __future__ import annotations

from pathlib import Path

import click

from therapy.cli import Config, _code, cli, deliver, fail, output_option, pass_config
from therapy.model import TherapyError
from therapy.text import plural

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
    click.echo(f"Imported {plural(len(added), 'complaint')} into {code}.")


def read_complaints_csv(file: Path) -> tuple[list[tuple[str, str, str | None]], list[int]]:
    """The rows of a side,text[,author] file (a header row is optional) and their lines."""
    import csv

    from therapy.limits import COMPLAINTS_PER_SESSION

    try:
        handle = file.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        fail(f"Cannot read {file} ({error.strerror}).")
    rows: list[tuple[str, str, str | None]] = []
    numbers: list[int] = []
    with handle:
        # strict: a quote left open is an error, not the rest of the file as one card
        reader = csv.reader(handle, strict=True)
        start = 1  # the line the current row starts on (a quoted text may span lines)
        try:
            for record in reader:
                line, start = start, reader.line_num + 1
                if not any(field.strip() for field in record):
                    continue
                if not rows and [f.strip().lower() for f in record][:2] == ["side", "text"]:
                    continue
                if len(record) not in (2, 3):
                    fail(
                        f"Line {line} of {file} has {plural(len(record), 'column')}; each row "
                        "must be side,text or side,text,author. Nothing was imported."
                    )
                rows.append((record[0], record[1], record[2] if len(record) == 3 else None))
                numbers.append(line)
                if len(rows) > COMPLAINTS_PER_SESSION:  # read no further than could be kept
                    fail(
                        f"{file} has over {COMPLAINTS_PER_SESSION:,} complaints, more than a "
                        "session holds; nothing was imported."
                    )
        except UnicodeDecodeError:
            fail(f"{file} is not UTF-8 text; save it as UTF-8 CSV and import again.")
        except csv.Error as error:
            # a field over the csv module's limit on its own line is a long text; one that
            # ran on over several lines is an open quote
            if "field larger than field limit" in str(error) and reader.line_num <= start:
                fail(
                    f"Line {start} of {file} holds a text of over {csv.field_size_limit():,} "
                    "characters, far more than a complaint's; nothing was imported."
                )
            fail(
                f"Line {start} of {file} opens a quote that does not close where its text "
                'ends (a quote inside a quoted text is written twice: ""); nothing was imported.'
            )
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
@click.argument("words", nargs=-1, required=True, metavar="[CODE] REF OUTCOME")
@click.option("--by", default="", help="Who says so, kept with the item (between sessions).")
@pass_config
def review(config: Config, words: tuple[str, ...], by: str) -> None:
    """Close the loop on an action item. At a session's check-in, CODE REF done|carried|dropped
    reviews an earlier item of its pair (see therapy status); between sessions, REF
    done|dropped|open marks one (see therapy actions), and the next check-in shows it."""
    if len(words) == 3:
        code, ref, outcome = words
        if by:
            fail("--by is for marking an item between sessions (REF OUTCOME), not at check-in.")
        earlier = config.sessions.review(_code(code), ref, outcome)
    elif len(words) == 2:
        ref, outcome = words
        earlier = config.sessions.mark(ref, outcome, by=by)
    else:
        fail(
            "Give the session, the item and the outcome (therapy review K7QX2M Q2TRCE-1 done) "
            "or, between sessions, the item and the outcome (therapy review Q2TRCE-1 done)."
        )
    click.echo(f"{earlier.ref} {earlier.item.status.value}")


# -- export and demo --------------------------------------------------------------------


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@click.option(
    "--format", "fmt", type=click.Choice(["md", "json", "csv"]), default="md", show_default=True
)
@click.option("--template", help="A shipped template's name or the path of your own .j2 file.")
@output_option
@pass_config
def export(config: Config, code: str, fmt: str, template: str | None, output: Path | None) -> None:
    """Export the action plan as Markdown, JSON or CSV."""
    deliver(config.sessions.plan(code, fmt, template), output)
