"""The terminal driver for Linux and macOS: Textual's own, except that it reads stdin leniently.

Textual's LinuxDriver decodes stdin as strict UTF-8, in its input thread: one byte that is not
UTF-8 (a terminal set to Latin-1, a paste, `tmux send-keys -H ff`) raises there and ends the
app with a traceback, taking what was being typed with it. Here such a byte becomes U+FFFD,
which the text policy keeps as it is, and the app reads on.
"""

from __future__ import annotations

import os
import selectors
from codecs import getincrementaldecoder
from collections.abc import Callable

from textual._loop import loop_last
from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver


def stdin_decoder() -> Callable[[bytes, bool], str]:
    """Decodes stdin piece by piece as it arrives: a character split between two reads is
    kept for the next, and bytes that are not UTF-8 become U+FFFD instead of raising."""
    return getincrementaldecoder("utf-8")(errors="replace").decode


class LenientDriver(LinuxDriver):
    def run_input_thread(self) -> None:
        """LinuxDriver.run_input_thread of the pinned Textual, with stdin_decoder as its
        decoder (Textual builds its strict one inside this method: there is no smaller seam)."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        fileno = self.fileno
        parser = XTermParser(self._debug)
        decode = stdin_decoder()

        def process_selector_events(
            selector_events: list[tuple[selectors.SelectorKey, int]], final: bool = False
        ) -> None:
            for last, (_key, mask) in loop_last(selector_events):
                if mask & selectors.EVENT_READ:
                    text = decode(os.read(fileno, 1024 * 4), final and last)
                    if not text:
                        break  # end of input (a pipe), or half a character kept for the next
                    for event in parser.feed(text):
                        self.process_message(event)
            for event in parser.tick():
                self.process_message(event)

        try:
            while not self.exit_event.is_set():
                process_selector_events(selector.select(0.1))
            selector.unregister(self.fileno)
            process_selector_events(selector.select(0.1), final=True)
        finally:
            selector.close()
            try:
                for _event in parser.feed(""):
                    pass
            except (EOFError, ParseError):
                pass
