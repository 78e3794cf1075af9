"""The rules of a session: phases and who may do what in each (one table, in
`permissions`), hidden cards, vote budgets, anonymity and the validation of everything
people type. The CLI, the TUI and the tests all go through here; none of them touches the
store. One class, `Sessions`, is the public API; each part of it lives in its own module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from therapy.service.celebrate import CelebrateRules
from therapy.service.complaints import ComplaintRules
from therapy.service.people import NoSeat
from therapy.service.publishing import PublishRules
from therapy.service.reading import SessionView
from therapy.service.sessions import SessionRules, SessionSummary
from therapy.service.validate import (
    complaint_text,
    line_text,
    new_code,
    normalise_code,
    parse_due,
    parse_sides,
)
from therapy.service.votes import VoteRules
from therapy.store import Attendance, StoreError

if TYPE_CHECKING:
    from therapy.prompts import Prompts  # the type of SessionView.prompts, for the TUI

__all__ = [
    "Prompts",
    "Attendance",
    "NoSeat",
    "SessionSummary",
    "SessionView",
    "Sessions",
    "StoreError",
    "complaint_text",
    "line_text",
    "new_code",
    "normalise_code",
    "parse_due",
    "parse_sides",
]


class Sessions(
    SessionRules,
    ComplaintRules,
    VoteRules,
    CelebrateRules,
    PublishRules,
):
    """Every rule of every session, over one store."""
