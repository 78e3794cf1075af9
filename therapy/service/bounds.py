"""The limits of therapy/limits.py that the service keeps, each checked inside the transaction
that adds: rows per session, and cards (complaints and wins) per person per minute."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from therapy.clock import parse_instant
from therapy.limits import ADDS_PER_MINUTE, ADDS_WINDOW, ROWS_PER_SESSION
from therapy.model import Complaint, Snapshot, TherapyError, Win
from therapy.text import name_key, shown

WINDOW = timedelta(seconds=ADDS_WINDOW)

# a table of the snapshot: its rows' name (one, many)
NAMES = {
    "complaints": ("complaint", "complaints"),
    "wins": ("win or appreciation", "wins and appreciations"),
    "actions": ("action item", "action items"),
    "participants": ("participant", "participants"),
}


def check_room(snapshot: Snapshot, table: str, adding: int = 1) -> None:
    """Refuse, in one sentence, rows that would take a session past its limit."""
    limit, (one, many) = ROWS_PER_SESSION[table], NAMES[table]
    have = len(getattr(snapshot, table))
    if have + adding <= limit:
        return
    code, held = snapshot.session.code, f"{have:,} {one if have == 1 else many}"  # 2,000
    if adding == 1:
        raise TherapyError(f"Session {code} has {held}, the most one session can hold.")
    raise TherapyError(
        f"Session {code} has {held} and can hold {limit:,}: there is room for "
        f"{max(limit - have, 0):,} of these {adding:,}."
    )


def recent_cards(
    snapshot: Snapshot, since: datetime, participant: int | None, name: str | None
) -> list[datetime]:
    """When one person's complaints and wins added after `since` were added, from what is
    stored (so every process counts the same): theirs by participant or by name."""
    key = name_key(name) if name else None
    found = []
    complaints: Iterable[Complaint | Win] = reversed(snapshot.complaints.values())
    wins: Iterable[Complaint | Win] = reversed(snapshot.wins.values())
    for cards in (complaints, wins):  # newest first: ids are given as cards come
        for card in cards:
            at = parse_instant(card.created) if card.created else None
            if at is None or at <= since:
                break  # the rest came earlier still
            theirs = participant is not None and card.participant == participant
            if theirs or (key is not None and name_key(card.author or "") == key):
                found.append(at)
    return found


def check_pace(added: list[datetime], now: datetime, adding: int, who: str | None) -> None:
    """Refuse, in one sentence, cards past ADDS_PER_MINUTE; `added`: the person's within the
    window; `who` None: the person at the screen ("You")."""
    if len(added) + adding <= ADDS_PER_MINUTE:
        return
    # free again once enough of the cards that count are a minute old
    over = len(added) + adding - ADDS_PER_MINUTE
    last_to_go = sorted(added)[min(over, len(added)) - 1] if added else now
    wait = max(math.ceil((last_to_go + WINDOW - now).total_seconds()), 1)
    raise TherapyError(
        f"{shown(who) if who else 'You'} added {len(added)} complaints and wins in the "
        f"last minute, the most anyone may; try again in {wait} s."
    )
