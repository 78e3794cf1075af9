"""The `therapy` command: thin; parses and calls the service, the export or the TUI.

Textual and Jinja2 are imported only by the commands that need them, so that
`therapy add` starts fast.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO, cast

import click

from therapy.model import TherapyError
from therapy.service import Sessions
from therapy.text import shown, strip_controls

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


class Policed:
    """Standard output or error while a command runs: every string written passes the text
    policy here, so that no command, and no message of click's own, can forget it."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("text only")  # click probes for a binary stream with b""
        self.stream.write(strip_controls(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:
        return getattr(self.stream, "errors", None)


class TherapyGroup(click.Group):
    """Turns every error into one sentence on stderr and a non-zero exit (--debug: traceback),
    and puts everything printed through the text policy."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        stdout, stderr = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = cast(TextIO, Policed(stdout)), cast(TextIO, Policed(stderr))
        try:
            return super().main(*args, **kwargs)
        finally:
            sys.stdout, sys.stderr = stdout, stderr

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
        from therapy.cli.app import run_app

        run_app(ctx.obj)


pass_config = click.make_pass_decorator(Config)

# -o FILE, for every command that writes a document; `-o -` is standard output (None)
output_option = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    callback=lambda ctx, param, value: None if value == Path("-") else value,
    help="Write to this file instead of the screen (-: the screen).",
)


def deliver(text: str, output: Path | None) -> None:
    """A document to OUTPUT (written whole, or not at all) or, without one, to the screen."""
    if output is None:
        print_document(text)
        return
    from therapy.export import write_file  # whole or not at all, never through a link

    write_file(output, text)
    click.echo(f"Wrote {output}", err=True)


def print_document(text: str) -> None:
    """A document on standard output: into a pipe as its writer made it (each format escapes
    its own text), on a terminal through the text policy like every other line."""
    out = sys.stdout
    if isinstance(out, Policed) and not out.isatty():
        out = out.stream
    out.write(text)
    out.flush()


def _code(value: str) -> str:
    from therapy.service import normalise_code

    return normalise_code(value)


def main() -> None:
    cli(prog_name="therapy", auto_envvar_prefix=None)


# The commands register themselves on `cli` when their modules are imported.
from therapy.cli import (  # noqa: E402, F401
    app,
    followup,
    history,
    invite,
    serve,
    session,
    shell,
    wiki,
)

if __name__ == "__main__":  # pragma: no cover
    main()
