"""The one clock: every now and today in therapy comes from here, so that a test (and the
processes it starts) can fix it with THERAPY_NOW, and nothing depends on the day it runs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from therapy.model import TherapyError


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class FixedClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


def parse_instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def clock_from_environment() -> Clock:
    """THERAPY_NOW (an ISO timestamp) fixes the clock: for tests and reproducible demos."""
    fixed = os.environ.get("THERAPY_NOW", "").strip()
    if not fixed:
        return SystemClock()
    try:
        return FixedClock(parse_instant(fixed))
    except ValueError:
        raise TherapyError(
            f"THERAPY_NOW is '{fixed[:40]}', not a time; write it like 2026-03-02T09:00:00+00:00 "
            "or unset it."
        ) from None


def stamp(clock: Clock) -> str:
    """The clock's now as the store keeps it: ISO 8601, to the second, UTC."""
    return clock.now().astimezone(UTC).isoformat(timespec="seconds")
