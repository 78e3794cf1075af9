"""What an unexpected error leaves behind: its whole story in a log file under the data folder
(never anywhere else: a locked-down SSH account may write only there), and one sentence for
the person at the screen, who should never see a traceback or the server's paths."""

from __future__ import annotations

import errno
import io
import os
import platform
import stat
import sys
import traceback
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from rich.console import Console, RenderableType
from rich.text import Text
from textual._context import active_message_pump
from textual.app import App
from textual.driver import Driver
from textual.message import Message
from textual.worker import NoActiveWorker, get_current_worker

from therapy.text import strip_controls

LOGS = "logs"


class ReportingApp(App[None]):
    """An app that ends no one's session with a traceback: Textual's own exception paths
    (the pinned version's _dispatch_message, _handle_exception and panic) lead here."""

    def report(self, details: str) -> str:
        """Save a report (save_report); where it is, as the sentence on the screen says it."""
        raise NotImplementedError

    def get_driver_class(self) -> type[Driver]:
        chosen = super().get_driver_class()
        if sys.platform == "win32":
            return chosen
        from textual.drivers.linux_driver import LinuxDriver

        from therapy.tui.driver import LenientDriver

        return LenientDriver if chosen is LinuxDriver else chosen

    async def _dispatch_message(self, message: Message) -> None:
        # A bug in one of the app's own handlers (any key's action, a new view to show)
        # costs that one message: Textual would end the app's message loop, and the app.
        if not (self._is_mounted and self.is_running):
            return await super()._dispatch_message(message)
        try:
            await super()._dispatch_message(message)
        except Exception as error:
            self._failed(as_text(error), fatal=False)

    def _handle_exception(self, error: Exception) -> None:
        """Every other unexpected error (Textual's own path would print a traceback)."""
        fatal = not self._goes_on()
        if fatal and self._exception is None:
            self._exception = error  # as Textual does: run_test raises it for the tests
            self._exception_event.set()
        self._failed(as_text(error), fatal)

    def panic(self, *renderables: RenderableType) -> None:
        """Textual's way out when its input thread fails: logged, and said in one sentence."""
        self._failed(rendered(renderables), fatal=True)

    def _goes_on(self) -> bool:
        """After an error in a worker or a callback the app works on, except without the
        worker that follows the session; where a screen's or widget's handler failed,
        Textual has stopped its message loop: the app cannot be trusted to go on."""
        try:
            return get_current_worker().group != "watch"  # (Live's worker)
        except NoActiveWorker:
            return self._is_mounted and active_message_pump.get(None) is self

    def _failed(self, details: str, fatal: bool) -> None:
        saved = self.report(details)
        if not fatal:
            self.notify(goes_on(saved), severity="error", timeout=30)
        elif not self._exit:  # one sentence, also when more errors follow on the way out
            self.exit(return_code=1, message=Text(stopped(saved)))


def goes_on(saved: str) -> str:
    return f"Something unexpected went wrong; the app goes on, and {saved}."


def stopped(saved: str) -> str:
    return f"therapy stopped after an unexpected error; {saved}. Start it again to go on."


def log_name() -> str:
    """One file per process: participants' processes never write into each other's."""
    return f"{LOGS}/therapy-{os.getpid()}.log"


def as_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def rendered(renderables: tuple[RenderableType, ...]) -> str:
    """What Textual would have printed (its panic's tracebacks), as plain text for the log."""
    out = io.StringIO()
    console = Console(file=out, width=120, color_system=None, force_terminal=False)
    for renderable in renderables:
        console.print(renderable)
    return out.getvalue()


def save_report(data_folder: Path, when: str, about: str, details: str, restricted: bool) -> str:
    """Write the report; where it is, in the words of the sentence on the screen. A locked-down
    account is not told the server's paths, only the file's name in the data folder."""
    try:
        path = write_report(data_folder, when, about, details)
    except OSError as error:
        return f"the details could not be saved ({error.strerror or error})"
    shown = f"{log_name()} in the data folder" if restricted else strip_controls(str(path))
    return f"the details are in {shown}"


def write_report(data_folder: Path, when: str, about: str, details: str) -> Path:
    """Append one report to this process's log file and say which it is. The folder and the
    file are opened without following links, so that the report stays in the data folder;
    raises OSError when it cannot be written."""
    logs = data_folder / LOGS
    logs.mkdir(exist_ok=True)
    folder = os.open(logs, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        # a FIFO or device put at the log's name is neither waited on nor written to
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK
        name = Path(log_name()).name
        # the umask decides, as for the session files: a shared data folder's group (the
        # facilitator) reads what the retro account's apps logged
        descriptor = os.open(name, flags | os.O_NOCTTY, 0o666, dir_fd=folder)
    finally:
        os.close(folder)
    found = os.fstat(descriptor)
    if not stat.S_ISREG(found.st_mode) or found.st_nlink != 1:
        os.close(descriptor)
        raise OSError(errno.EPERM, "not a log file of ours", str(logs / name))
    with open(descriptor, "a", encoding="utf-8", errors="replace") as log:
        log.write(f"== {when} · {about} · {_versions()} · pid {os.getpid()}\n{details}\n")
    return logs / name


def _versions() -> str:
    try:
        therapy, textual = version("therapy"), version("textual")
    except PackageNotFoundError:
        therapy = textual = "?"
    return f"therapy {therapy}, textual {textual}, Python {platform.python_version()}"
