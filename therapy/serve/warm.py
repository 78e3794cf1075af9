"""What the warm spawner loads once, before its first fork, so that no connection's app pays
for it again: the modules the app imports on its way to its first frame, the shipped prompts,
and Textual's parsed CSS. Nothing here starts a thread or reads the data folder.

Measured with a connection's app forked from the spawner, its CPU until its first frame (the
vent board, 120x36): imports alone left 0.128 s; the modules Textual and the service import
lazily and the prompts, 0.114 s; the parsed CSS, about 0.02 s less again.
"""

from __future__ import annotations

import contextlib
import types
from pathlib import Path
from typing import Any


def warm() -> None:
    preload()
    share_parsed_css()


def preload() -> None:
    """The modules a connection's app imports before its first frame: the app, its driver,
    every screen it may open on (a phase's, the join screen, the projector's), and what
    Textual and the service import lazily on the way (found by comparing sys.modules)."""
    import concurrent.futures.thread  # noqa: F401 (asyncio's default executor)

    import textual.drivers.linux_driver  # noqa: F401
    import textual.layouts.factory  # noqa: F401
    import textual.pilot  # noqa: F401 (App.run_async imports it)
    import textual.scrollbar  # noqa: F401
    from rich._unicode_data import load as load_cell_widths
    from textual._xterm_parser import XTermParser  # noqa: F401

    import therapy.relationship  # noqa: F401
    from therapy.model import Phase
    from therapy.prompts import load_prompts
    from therapy.tui import app, driver  # noqa: F401
    from therapy.tui.screens import join, phase_screen, watch  # noqa: F401

    for phase in Phase:
        phase_screen(phase)
    load_cell_widths()  # "auto": UNICODE_VERSION, which no app's environment sets
    load_prompts()  # the shipped ones (cached by folder: a --prompts folder is read as before)


def share_parsed_css() -> None:
    """Every stylesheet parses its sources itself, once per app: here they are parsed once for
    all (the .tcss files of the app, the DEFAULT_CSS of every widget class imported), for the
    variables of the default theme, and a stylesheet with those variables takes them from
    here. A key holds all a parse depends on: a source or theme not seen here parses as
    before. Textual is pinned to one version: Stylesheet._parse_rules is its own cache's
    entry point, the one wrapped here."""
    from textual.app import App
    from textual.css.stylesheet import Stylesheet
    from textual.dom import DOMNode

    import therapy.tui

    variables = App().get_css_variables()
    sheet = Stylesheet(variables=variables)
    original = Stylesheet._parse_rules
    parsed: dict[tuple[Any, ...], Any] = {}

    def parse(css: str, read_from: tuple[str, str], default: bool, tie: int, scope: str) -> None:
        with contextlib.suppress(Exception):  # a source that does not parse: parsed as before
            parsed[css, read_from, default, tie, scope] = original(
                sheet, css, read_from, default, tie, scope
            )

    for path in Path(therapy.tui.__file__).parent.rglob("*.tcss"):
        parse(path.read_text(encoding="utf-8"), (str(path.absolute()), ""), False, 0, "")
    for node in _subclasses(DOMNode):
        # what DOMNode._get_default_css gives a node of this class: its bases' DEFAULT_CSS
        bases = types.SimpleNamespace(_node_bases=DOMNode._css_bases(node))
        for read_from, css, tie, scope in DOMNode._get_default_css(bases):  # type: ignore[arg-type]
            parse(css, read_from, True, tie, scope)

    def _parse_rules(
        self: Stylesheet,
        css: str,
        read_from: tuple[str, str],
        is_default_rules: bool = False,
        tie_breaker: int = 0,
        scope: str = "",
    ) -> Any:
        if self._variables == variables:
            rules = parsed.get((css, read_from, is_default_rules, tie_breaker, scope))
            if rules is not None:
                return rules
        return original(self, css, read_from, is_default_rules, tie_breaker, scope)

    Stylesheet._parse_rules = _parse_rules  # type: ignore[method-assign]


def _subclasses(root: type) -> list[type]:
    found: list[type] = []
    waiting = [root]
    while waiting:
        subclasses: list[type] = waiting.pop().__subclasses__()
        for subclass in subclasses:
            if subclass not in found:
                found.append(subclass)
                waiting.append(subclass)
    return found
