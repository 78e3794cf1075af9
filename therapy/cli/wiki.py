"""`therapy publish`: a session's plan and its pair's index page, into a git wiki."""

from __future__ import annotations

import click

from therapy.cli import Config, _code, cli, pass_config


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@click.option(
    "--wiki",
    required=True,
    metavar="REPO",
    help="The wiki's git URL (https://, ssh://, git@host:path, file://), or the path of a "
    "bare repository or of your clone of the wiki.",
)
@click.option("--branch", help="The branch to publish to (default: the wiki's default branch).")
@click.option("--message", help="The commit's message (it also names the session).")
@pass_config
def publish(config: Config, code: str, wiki: str, branch: str | None, message: str | None) -> None:
    """Publish the session's plan and its pair's index page to a git wiki, in one commit."""
    done = config.sessions.publish(code, wiki, branch, message)
    pages = " and ".join(done.pages)
    if done.commit is None:
        click.echo(
            f"Nothing changed on {done.where} ({done.branch}) since {pages} were last "
            "published, so there is no new commit."
        )
        return
    where = (
        f"pushed to {done.where} ({done.branch})"
        if done.pushed
        else f"committed to {done.where} ({done.branch}) only: it has no upstream to push to"
    )
    click.echo(f"Published {pages} in commit {done.commit}, {where}.")
    if done.fallback:
        click.echo(
            f"No git identity is configured here, so the commit carries {done.identity} "
            "(set yours with git config --global user.name and user.email)."
        )
    else:
        click.echo(f"The commit carries {done.identity}.")
    for note in done.notes:
        click.echo(note)
