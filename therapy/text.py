"""User text is hostile: strip what could steer a terminal or a reader before it is stored."""

from __future__ import annotations

import re

# C0 except tab and newline, DEL, C1, and the bidi embeddings, overrides and isolates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_BLANKS = re.compile(r"\s+")


def strip_controls(text: str) -> str:
    """Text with line breaks normalised to \\n and every control character removed."""
    return _CONTROL.sub("", _LINE_BREAKS.sub("\n", text))


def clean_text(text: str) -> str:
    """Multi-line user text (complaints, wins): controls stripped, outer blanks trimmed."""
    return strip_controls(text).strip()


def plural(count: int, word: str) -> str:
    """'1 complaint', '2 complaints'."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def clean_line(text: str) -> str:
    """One-line user text (titles, names, sides): controls stripped, blanks folded."""
    return _BLANKS.sub(" ", strip_controls(text)).strip()
