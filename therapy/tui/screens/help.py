"""F1: what the current phase is for, and its keys."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static


def keys_of(screen: Screen) -> list[tuple[str, str]]:
    """(key, description) of every binding active on a screen, app bindings included; those
    the footer shows first."""
    rows = []
    seen = set()
    actives = sorted(screen.active_bindings.items(), key=lambda item: not item[1].binding.show)
    for key, active in actives:
        binding = active.binding
        if active.node not in (screen, screen.app):
            continue  # a focused widget's own keys (scroll, copy) would drown the phase's
        if not binding.description or (binding.action, binding.description) in seen:
            continue
        seen.add((binding.action, binding.description))
        rows.append((screen.app.get_key_display(binding) or key, binding.description))
    return rows


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close help")]

    def __init__(self, title: str, text: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.keys = keys

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Label(Content(self.title_text).stylize("bold"), classes="dialog-title")
            with VerticalScroll(id="help-scroll"):
                if self.text:
                    yield Static(Content(self.text), classes="help-text")
                width = max((len(key) for key, _ in self.keys), default=4) + 2
                lines = [
                    Content.assemble((key.ljust(width), "bold $accent"), description)
                    for key, description in self.keys
                ]
                yield Static(Content("\n").join(lines), classes="help-keys")
            yield Label("escape to close", classes="hint")
