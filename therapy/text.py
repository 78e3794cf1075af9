"""One policy for everything a person types: complaints, names, titles, owners, metrics,
wins, CSV cells and the SSH command all pass through here before they are stored, compared
or quoted back.

- Bytes that were not UTF-8 reach Python as lone surrogates (argv, environment): each
  becomes U+FFFD, the replacement character, so that nothing fails later when it is written.
- Terminal controls (C0 but tab and newline, DEL, C1) and bidi controls are removed.
- Invisible format characters (Unicode category Cf: zero-width spaces and joiners, the BOM,
  soft hyphens, invisible operators, tag characters) and the blank fillers are removed, so
  that "Al\\u200bex" is Alex and nothing hides in a card or a wiki page.
"""

from __future__ import annotations

import re
import unicodedata

# Every character of category Cf (Unicode 15.1; a test checks this against unicodedata),
# the Hangul fillers, the combining grapheme joiner and the Khmer inherent vowels: all
# invisible, none needed to write a complaint.
_FORMAT = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
    "\u115f\u1160\u3164\uffa0\u034f\u17b4\u17b5"
)
_INVISIBLE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_FORMAT}]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x85]")
# all three at once (\r and \x85 are controls already): one pass over each stored row
_UNCLEAN = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_FORMAT}\ud800-\udfff\u2028\u2029]")
_BLANKS = re.compile(r"\s+")
ECHO_LIMIT = 60


def strip_controls(text: str) -> str:
    """Text with bad bytes replaced, line breaks normalised to \\n and every control and
    invisible format character removed."""
    text = _SURROGATE.sub("\ufffd", text)
    return _INVISIBLE.sub("", _LINE_BREAKS.sub("\n", text))


def is_clean(text: str) -> bool:
    """Whether text holds nothing the policy would take out (as stored text must)."""
    return _UNCLEAN.search(text) is None


def clean_text(text: str) -> str:
    """Multi-line user text (complaints, wins): controls stripped, outer blanks trimmed."""
    return strip_controls(text).strip()


def clean_line(text: str) -> str:
    """One-line user text (titles, names, sides, owners): controls stripped, blanks folded."""
    return _BLANKS.sub(" ", strip_controls(text)).strip()


def name_key(name: str) -> str:
    """What makes two names the same person's: compatibility-normalised, any case."""
    return unicodedata.normalize("NFKC", clean_line(name)).casefold()


def shown(text: object, limit: int = ECHO_LIMIT) -> str:
    """Something a person typed, quoted back in an error: one tame line, cut to `limit`."""
    line = "".join(ch for ch in clean_line(str(text)) if ch.isprintable())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 complaint', '0 complaints', '2 complaints' ('1 win or appreciation', '2 wins and
    appreciations' when the word's plural is given)."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def duration(seconds: float) -> str:
    """'2 minutes', '90 seconds': in minutes when they are whole."""
    whole = int(seconds)
    return plural(whole // 60, "minute") if whole % 60 == 0 and whole else plural(whole, "second")
