"""Wins and appreciations as cards: on the celebrate screen and on the projector."""

from __future__ import annotations

from textual.content import Content

from therapy.model import Win
from therapy.tui.widgets.cards import card

KINDS = ("win", "appreciation")


def win_card(win: Win) -> Content:
    return card(win.text, win.kind, f"from {win.author}" if win.author else "")
