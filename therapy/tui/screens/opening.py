"""What shows while a session's first view loads (when it was not loaded before the start)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static


class Opening(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Static("Opening the session…", id="opening")
