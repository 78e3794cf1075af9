"""Near-duplicate complaints: cards a facilitator would group as the same grievance.

Two complaints are alike when most of the shorter one's words are in the other
(WORDS_ALIKE), or when their word vectors point almost the same way (VECTOR_ALIKE: the same
thing in other words, "the leads" / "the prospects"), and, when the suggester's guesses are
given, only if it guesses the same cause for both: "the leads are junk" and "the leads
arrive late" share their words but not their cause. tests/data/alike.toml is a labelled set
of pairs written to be hard (alike pairs in different words, unlike pairs in the same
words); test_alike.py measures this on it, and the note of issue 9 says how far it is from
meaning: static word vectors do not see that "nobody calls them back" and "follows up a
week later" are one complaint."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from therapy.diagnose.words import words

VECTOR_ALIKE = 0.7
WORDS_ALIKE = 0.5


def similarity(first: str, second: str) -> float:
    """How alike two complaints are by their words, 0 to 1: the share of the shorter one's
    words that the other has too; fewer than two shared words is never alike."""
    a, b = set(words(first)), set(words(second))
    shared = len(a & b)
    if shared < 2:
        return 0.0
    return shared / min(len(a), len(b))


def alike_pairs(
    texts: Sequence[str], unit: np.ndarray | None = None, causes: Sequence[str] | None = None
) -> np.ndarray:
    """For each pair of texts, how alike they are, 0 to 1 on one scale where 0.5 is alike
    enough: word share over WORDS_ALIKE, or vector likeness (UNIT: unit vectors, one per
    text) over VECTOR_ALIKE, the higher wins; 0 where CAUSES (a guess per text) differ."""
    n = len(texts)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = similarity(texts[i], texts[j]) / WORDS_ALIKE * 0.5
    if unit is not None and n:
        out = np.maximum(out, (unit @ unit.T) / VECTOR_ALIKE * 0.5)
    if causes is not None:
        same = np.array([[a == b for b in causes] for a in causes])
        out = np.where(same, out, 0.0)
    np.fill_diagonal(out, 0)
    return out


def near_duplicates(
    texts: dict[int, str], unit: np.ndarray | None = None, causes: Sequence[str] | None = None
) -> dict[int, int]:
    """For each complaint with a near-duplicate, the id of the most alike other one. UNIT
    and CAUSES, if given, are in the order of the sorted ids."""
    ids = sorted(texts)
    if len(ids) < 2:
        return {}
    scores = alike_pairs([texts[i] for i in ids], unit, causes)
    found = {}
    for row, one in enumerate(ids):
        best = int(np.argmax(scores[row]))
        if scores[row, best] >= 0.5:
            found[one] = ids[best]
    return found
