"""The terminal driver for Linux and macOS: Textual's own, except that it reads stdin leniently
and ends the app when its terminal goes away.

Textual's LinuxDriver decodes stdin as strict UTF-8, in its input thread: one byte that is not
UTF-8 (a terminal set to Latin-1, a paste, `tmux send-keys -H ff`) raises there and ends the
app with a traceback, taking what was being typed with it. Here such a byte becomes U+FFFD,
which the text policy keeps as it is, and the app reads on.

A pty whose master closes reads as end-of-file and fails writes with EIO. Where no SIGHUP
comes with it (no controlling terminal, or the signal ignored), Textual's input thread reads
that end-of-file again and again at 100 % of a core, and its output thread dies on the EIO,
leaving the app to block once its queue is full: the app never ends. Here either ends the app.

BrowserDriver is Textual's web driver for the browser door (therapy.serve.web), which frames
the page's keys and sizes on the app's stdin and reads its screen from its stdout: both pipes.
A closed stdin or a failed write says the door (or the browser) is gone, and ends the app; it
opens no address in the browser and delivers no file to it.

Both draw on a terminal of TERMINAL_COLUMNS x TERMINAL_ROWS at most (the browser door's on
SERVE_WEB_COLUMNS x SERVE_WEB_ROWS), whatever size it says it is: Textual takes an in-band
resize report (CSI 48;rows;cols;..t) from the keys as it comes, so a client of either door
can type one, and a pty may be 65535 x 65535. The screen is drawn in memory, cell by cell.
"""

from __future__ import annotations

import os
import selectors
import sys
from codecs import getincrementaldecoder
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Literal, TextIO

from textual import events
from textual._loop import loop_last
from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver
from textual.drivers.web_driver import WebDriver
from textual.geometry import Size
from textual.message import Message

from therapy.limits import SERVE_WEB_COLUMNS, SERVE_WEB_ROWS, TERMINAL_COLUMNS, TERMINAL_ROWS


def stdin_decoder() -> Callable[[bytes, bool], str]:
    """Decodes stdin piece by piece as it arrives: a character split between two reads is
    kept for the next, and bytes that are not UTF-8 become U+FFFD instead of raising."""
    return getincrementaldecoder("utf-8")(errors="replace").decode


def clamped(size: tuple[int, int], columns: int, rows: int) -> tuple[int, int]:
    width, height = size
    return max(1, min(width, columns)), max(1, min(height, rows))


def clamped_resize(message: Message, columns: int, rows: int) -> Message:
    """A resize (an in-band report typed as keys, too) to a size drawn at most this large."""
    if not isinstance(message, events.Resize):
        return message
    size = Size(*clamped(message.size, columns, rows))
    if size == message.size:
        return message
    return events.Resize(size, size)  # (its pixel size no longer matches: left out)


class Writes:
    """Writes to a terminal (a pty, or the browser door's pipe). The first that fails (EIO: the
    pty's master closed; EPIPE: nobody reads) says the terminal is gone; later ones are dropped."""

    def __init__(self, gone: Callable[[], None]) -> None:
        self.gone = gone
        self.lost = False

    def attempt(self, write: Callable[..., object], *args: Any) -> None:
        if self.lost:
            return  # a thread goes on emptying its queue: the app, blocked on it, can end
        try:
            write(*args)
        except OSError:
            self.lost = True
            self.gone()


class TerminalOutput:
    """The terminal as LinuxDriver's output thread writes to it, through Writes."""

    def __init__(self, terminal: Any, gone: Callable[[], None]) -> None:
        self.terminal = terminal
        self.writes = Writes(gone)

    def write(self, text: str) -> None:
        self.writes.attempt(self.terminal.write, text)

    def flush(self) -> None:
        self.writes.attempt(self.terminal.flush)

    def fileno(self) -> int:
        return int(self.terminal.fileno())


class LenientDriver(LinuxDriver):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # what LinuxDriver's output thread writes to: it uses only write, flush and fileno
        self._file = TerminalOutput(sys.__stderr__, self.terminal_gone)  # type: ignore[assignment]

    def terminal_gone(self) -> None:
        """End the app, from any thread, as a hangup signal would have (none may come)."""
        self._loop.call_soon_threadsafe(self._app.exit)

    def _get_terminal_size(self) -> tuple[int, int]:
        """The pty's size (at the start, and on each SIGWINCH), as the app draws it."""
        return clamped(super()._get_terminal_size(), TERMINAL_COLUMNS, TERMINAL_ROWS)

    def process_message(self, message: Message) -> None:
        super().process_message(clamped_resize(message, TERMINAL_COLUMNS, TERMINAL_ROWS))

    def run_input_thread(self) -> None:
        """LinuxDriver.run_input_thread of the pinned Textual, with stdin_decoder as its
        decoder (Textual builds its strict one inside this method: there is no smaller seam),
        and an end of input that ends the app."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        fileno = self.fileno
        parser = XTermParser(self._debug)
        decode = stdin_decoder()

        def process_selector_events(
            selector_events: list[tuple[selectors.SelectorKey, int]], final: bool = False
        ) -> bool:
            """Read what arrived; False when the terminal is gone."""
            for last, (_key, mask) in loop_last(selector_events):
                if mask & selectors.EVENT_READ:
                    try:
                        read = os.read(fileno, 1024 * 4)
                    except OSError:  # EIO: the pty has no master any more
                        return False
                    if not read:
                        return False  # end of input: a hung-up pty (or a closed pipe) for good
                    text = decode(read, final and last)
                    if not text:
                        break  # half a character, kept for the next read
                    for event in parser.feed(text):
                        self.process_message(event)
            for event in parser.tick():
                self.process_message(event)
            return True

        try:
            while not self.exit_event.is_set():
                if not process_selector_events(selector.select(0.1)):
                    self.terminal_gone()
                    return  # rather than read the same end-of-file at 100 % of a core
            selector.unregister(self.fileno)
            process_selector_events(selector.select(0.1), final=True)
        finally:
            selector.close()
            try:
                for _event in parser.feed(""):
                    pass
            except (EOFError, ParseError):
                pass


class BrowserDriver(WebDriver):
    columns = min(SERVE_WEB_COLUMNS, TERMINAL_COLUMNS)
    rows = min(SERVE_WEB_ROWS, TERMINAL_ROWS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.writes = Writes(self.terminal_gone)  # to the door's pipe (EPIPE: nobody reads)
        super().__init__(*args, **kwargs)
        if self._size is not None:  # from COLUMNS and ROWS, which the door clamps already
            self._size = clamped(self._size, self.columns, self.rows)

    def process_message(self, message: Message) -> None:
        """The page's keys, parsed: a resize report among them is clamped as the door
        clamps the size the page sends."""
        super().process_message(clamped_resize(message, self.columns, self.rows))

    def on_meta(self, packet_type: str, payload: dict[str, object]) -> None:
        if packet_type == "resize":  # the door's, clamped there: clamped again all the same
            width, height = payload.get("width"), payload.get("height")
            if not isinstance(width, int) or not isinstance(height, int):
                return
            width, height = clamped((width, height), self.columns, self.rows)
            payload = {**payload, "width": width, "height": height}
        super().on_meta(packet_type, payload)

    def terminal_gone(self) -> None:
        """End the app, from any thread: the door closed its end, or stopped reading."""
        self._loop.call_soon_threadsafe(self._app.exit)

    def run_input_thread(self) -> None:
        super().run_input_thread()  # returns at the end of stdin, or once the app stops
        if not self.exit_event.is_set():
            self.terminal_gone()

    def write(self, data: str) -> None:
        self.writes.attempt(super().write, data)

    def write_meta(self, data: dict[str, object]) -> None:
        self.writes.attempt(super().write_meta, data)

    def open_url(self, url: str, new_tab: bool = True) -> None:
        """Never: a link in someone's card must not take a participant's page elsewhere."""

    def deliver_binary(
        self,
        binary: BinaryIO | TextIO,
        *,
        delivery_key: str,
        save_path: Path,
        open_method: Literal["browser", "download"] = "download",
        encoding: str | None = None,
        mime_type: str | None = None,
        name: str | None = None,
    ) -> None:
        """Never: the door serves the app's screen and nothing else."""
        binary.close()
        refused = PermissionError("the browser door delivers no files")
        self._delivery_failed(delivery_key, exception=refused, name=name)
