"""The messages that carry a session's newest view to the screens (loaded by the service's
read API in a worker thread, or before the app starts)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from therapy.service import SessionView

__all__ = ["SessionChanged", "SessionGone"]


@dataclass
class SessionChanged(Message):
    """The session was changed, here or by another process; the new view of it."""

    view: SessionView
    stamp: tuple[int, int, int]


@dataclass
class SessionGone(Message):
    """The open session can no longer be read (deleted or damaged)."""

    reason: str
