"""What people type, checked and cleaned (through the text policy) before it is stored."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date

from therapy.limits import COMPLAINT_CHARS, NAME_CHARS, SIDE_CHARS, TITLE_CHARS
from therapy.model import TherapyError
from therapy.text import clean_line, clean_text, shown

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6


def complaint_text(text: str, what: str = "A complaint") -> str:
    cleaned = clean_text(text)
    if not 1 <= len(cleaned) <= COMPLAINT_CHARS:
        raise TherapyError(
            f"{what} must be 1 to {COMPLAINT_CHARS:,} characters after trimming; "
            f"this one has {len(cleaned):,}."
        )
    return cleaned


def line_text(text: str, what: str, limit: int = TITLE_CHARS, required: bool = True) -> str:
    cleaned = clean_line(text)
    if required and not cleaned:
        raise TherapyError(f"{what} is empty; give one of 1 to {limit} characters.")
    if len(cleaned) > limit:
        raise TherapyError(f"{what} is {len(cleaned)} characters long; keep it to {limit}.")
    return cleaned


def name_text(name: str | None) -> str | None:
    if name is None:
        return None
    return line_text(name, "A name", NAME_CHARS, required=False) or None


def parse_sides(sides: Iterable[str]) -> list[str]:
    cleaned = [line_text(side, "A side's name", SIDE_CHARS) for side in sides]
    if len(cleaned) < 2:
        raise TherapyError(
            "A session needs two or more sides, for example --sides Sales,Marketing."
        )
    folded = [side.casefold() for side in cleaned]
    if len(set(folded)) != len(folded):
        raise TherapyError("Each side must have a different name; check --sides for a repeat.")
    if any("," in side for side in cleaned):
        raise TherapyError("A side's name cannot contain a comma; separate sides with commas.")
    return cleaned


def parse_due(text: str, today: str) -> str:
    """A due date as it is set: a real date, today or later."""
    try:
        due = date.fromisoformat(clean_line(text)).isoformat()
    except ValueError:
        raise TherapyError(
            f"The due date '{shown(text)}' is not a date; write it as YYYY-MM-DD, "
            f"for example {today}."
        ) from None
    if due < today:
        raise TherapyError(
            f"The due date {due} is in the past; give today ({today}) or a later date."
        )
    return due


def new_code() -> str:
    """Six characters that are easy to read out and type (no 0/O, 1/I)."""
    return "".join(CODE_ALPHABET[byte % len(CODE_ALPHABET)] for byte in os.urandom(CODE_LENGTH))


def normalise_code(code: str) -> str:
    """A session code as typed, checked: letters and digits only, a sane length."""
    cleaned = clean_line(code).upper()
    if not cleaned.isalnum() or not cleaned.isascii() or len(cleaned) > 32:
        raise TherapyError(
            f"There is no session '{shown(code, 40)}'; a session code is letters and digits, "
            "like K7QX2M (run 'therapy list')."
        )
    return cleaned
