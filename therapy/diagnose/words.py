"""The words of a complaint as the suggester counts them: lower-case stems of the words that
mean something, and the pairs of them that stand next to each other."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?", re.IGNORECASE)
STOP = frozenset(
    (
        "a an and are as at be but by do does don't for from get gets give gives got "
        "had has have i i'm in is it it's me my of on or our so that the their them they "
        "they're this to too us was we were what when why with you your just all its into "
        "then than there these those which who will would can could should been being am "
        "about after again also any because before both each more most other some such "
        "only own same very s t re ll ve d m"
    ).split()
)
_SUFFIXES = ("ing", "ed", "es", "s", "ly")


def stem(word: str) -> str:
    word = word.replace("’", "'")
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def words(text: str) -> list[str]:
    """Lower-case stems of the meaningful words of a text, in order."""
    return [stem for _, stem in surface(text)]


def surface(text: str) -> list[tuple[str, str]]:
    """Each meaningful word of a text as written, with its stem, in order."""
    found = []
    for match in _WORD.finditer(text):
        word = match.group().casefold().replace("’", "'")
        if word not in STOP:
            found.append((match.group(), stem(word)))
    return found


def features(text: str) -> dict[str, tuple[str, ...]]:
    """Each stem, and each pair of neighbouring stems ("follow up" -> "follow_up"), once,
    with the words as written that make it."""
    stems = surface(text)
    found: dict[str, tuple[str, ...]] = {}
    for written, stemmed in stems:
        found.setdefault(stemmed, (written,))
    for (first, a), (second, b) in zip(stems, stems[1:], strict=False):
        found.setdefault(f"{a}_{b}", (first, second))
    return found


def meaningful(text: str) -> list[str]:
    """The words that say something: not stop words, not numbers, three letters or more."""
    return [stem for _, stem in surface(text) if len(stem) >= 3 and not stem.isdigit()]
