"""Suggests a root cause for a complaint, and finds near-duplicate complaints.

Honest and simple: a complaint scores a point for each word or phrase of a cause's
vocabulary it contains, and a little for the words it shares with the cause's example
complaints. The suggestion always carries the words that decided it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from therapy.model import Cause, Suggestion

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STOP = frozenset(
    (
        "a an and are as at be but by do does don't for from get gets give gives got "
        "had has have i i'm in is it it's me my never no not of on or our so that the "
        "their them they they're this to too us was we were what when why with you your"
    ).split()
)
_SUFFIXES = ("ing", "ed", "es", "s", "ly")


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def words(text: str) -> list[str]:
    """Lower-case stems of the meaningful words of a text."""
    return [_stem(w) for w in _WORD.findall(text.casefold()) if w not in _STOP]


@dataclass(frozen=True)
class _Vocabulary:
    cause: str
    by_first_stem: dict[str, list[tuple[str, tuple[str, ...]]]]  # (as written, stems)
    example_words: frozenset[str]

    def matches(self, stems: list[str]) -> list[str]:
        """The phrases found in a text's stems, in the order they appear, each once."""
        found: dict[str, None] = {}
        for start, stem in enumerate(stems):
            for phrase, phrase_stems in self.by_first_stem.get(stem, ()):
                if tuple(stems[start : start + len(phrase_stems)]) == phrase_stems:
                    found.setdefault(phrase)
        return list(found)


def _phrases(vocabulary: tuple[str, ...]) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """Each phrase with its stems, by first stem; phrases that stem alike ("what I need",
    "what we need") count once, as first written."""
    seen: dict[tuple[str, ...], str] = {}
    for phrase in vocabulary:
        seen.setdefault(tuple(words(phrase)), phrase)
    by_first: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for stems, phrase in seen.items():
        if stems:
            by_first.setdefault(stems[0], []).append((phrase, stems))
    return by_first


@cache
def _vocabularies(causes: tuple[Cause, ...]) -> tuple[_Vocabulary, ...]:
    return tuple(
        _Vocabulary(
            cause=cause.key,
            by_first_stem=_phrases(cause.vocabulary),
            example_words=frozenset(w for example in cause.examples for w in words(example)),
        )
        for cause in causes
    )


def suggest(text: str, causes: tuple[Cause, ...]) -> Suggestion:
    stems = words(text)
    best = Suggestion(None, 0.0, ())
    for vocabulary in _vocabularies(causes):
        matched = vocabulary.matches(stems)
        shared = set(stems) & vocabulary.example_words
        points = len(matched) + 0.25 * len(shared)
        if matched and points > best.score:
            best = Suggestion(vocabulary.cause, points, tuple(matched))
    if best.cause is None:
        return best
    # Confidence in 0..1: one vocabulary hit is a hint, three make it likely.
    return Suggestion(best.cause, round(min(1.0, best.score / 3), 2), best.words)


def suggest_for(texts: list[str], causes: tuple[Cause, ...]) -> Suggestion:
    """The suggestion for a group of complaints: its most confident member's."""
    return max((suggest(text, causes) for text in texts), key=lambda s: s.score)


def similarity(first: str, second: str) -> float:
    """How alike two complaints are, 0 to 1: the share of the shorter one's words that the
    other has too (so a short complaint inside a longer one counts as alike); fewer than
    two shared words is never alike."""
    a, b = set(words(first)), set(words(second))
    shared = len(a & b)
    if shared < 2:
        return 0.0
    return shared / min(len(a), len(b))


def near_duplicates(texts: dict[int, str], threshold: float = 0.5) -> dict[int, int]:
    """For each complaint with a near-duplicate, the id of the most alike other one."""
    best: dict[int, tuple[float, int]] = {}
    ids = sorted(texts)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            score = similarity(texts[a], texts[b])
            if score < threshold:
                continue
            for one, other in ((a, b), (b, a)):
                if score > best.get(one, (0.0, 0))[0]:
                    best[one] = (score, other)
    return {one: other for one, (_, other) in best.items()}
