"""`therapy invite CODE`: the lines to paste into a chat so that people join."""

from __future__ import annotations

import click

from therapy.cli import Config, _code, cli, pass_config


@cli.command()
@click.argument("code", callback=lambda ctx, param, value: _code(value))
@pass_config
def invite(config: Config, code: str) -> None:
    """Print the lines to paste into a chat: the ssh line (and the web address) of the
    running therapy serve, its host key's fingerprint, and a word for people new to ssh."""
    from therapy.service.invitation import invite as invitation

    made = invitation(config.sessions, code)
    click.echo(made.text, nl=False)
    if made.warning is not None:
        # only people on this host can use what was printed: a script must not post it
        click.echo(made.warning, err=True)
        raise SystemExit(1)
