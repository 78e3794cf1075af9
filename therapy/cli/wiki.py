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
    for sentence in done.said():
        click.echo(sentence)
