"""The `therapy` command: thin; parses and calls the service, the export or the TUI.

Textual and Jinja2 are imported only by the commands that need them, so that
`therapy add` starts fast.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from therapy.model import TherapyError
from therapy.service import Sessions
from therapy.text import shown

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
        from therapy.cli.app import run_app

        run_app(ctx.obj)


pass_config = click.make_pass_decorator(Config)

# -o FILE, for every command that writes a document
output_option = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of the screen.",
)


def _code(value: str) -> str:
    from therapy.service import normalise_code

    return normalise_code(value)


def main() -> None:
    cli(prog_name="therapy", auto_envvar_prefix=None)


# The commands register themselves on `cli` when their modules are imported.
from therapy.cli import app, followup, history, session, shell, wiki  # noqa: E402, F401

if __name__ == "__main__":  # pragma: no cover
    main()
