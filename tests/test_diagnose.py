"""The cause suggester and the near-duplicate finder."""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from textual.widgets import Static
from tui_support import app_for, demo_sessions, fix_world, settle

from therapy.diagnose import Settings, Suggester
from therapy.model import Labelled, Phase, Suggestion
from therapy.prompts import PromptError, load_corpus, load_prompts
from therapy.tui.widgets.cards import CardList

CAUSES = load_prompts().causes
CAUSE_KEYS = [cause.key for cause in CAUSES]


@cache
def suggester() -> Suggester:
    return Suggester(CAUSES, load_corpus())


def said(text: str, **ask: object) -> Suggestion:
    return suggester().suggest({1: text}, **ask)[1]  # type: ignore[arg-type]


def test_a_suggestion_has_a_cause_a_confidence_and_the_words_that_weighed() -> None:
    cases = {
        "Their bonus depends on ticket volume, ours on renewals": "different-goals",
        "The spec they call final is missing half the edge cases": "misaligned-expectations",
        "Nobody told us the release moved; we found out from a customer": "communication-gaps",
    }
    for text, cause in cases.items():
        suggestion = said(text)
        assert suggestion.cause == cause, (text, suggestion)
        assert Settings().threshold <= suggestion.score <= 1
        assert suggestion.words and all(w.casefold() in text.casefold() for w in suggestion.words)
        assert suggestion.reason.startswith("words: " + suggestion.words[0])


def test_below_the_threshold_it_says_there_is_no_suggestion() -> None:
    for text in ("It is all so frustrating", "So. Annoying.", "zzz"):
        suggestion = said(text)
        assert suggestion.cause is None, (text, suggestion)
        assert suggestion.score < Settings().threshold
        assert suggestion.reason.startswith("not sure: ")  # and between which causes
    for text in ("Why?", "!!!", "It is what it is"):
        nothing = said(text)
        assert (nothing.cause, nothing.reason) == (
            None,
            "nothing to go on: not one word the app can weigh",
        )
    assert suggester().suggest({}) == {}


def test_sorted_cards_teach_the_rest_of_the_session() -> None:
    """Twenty cards sorted as the room sees them move the other cards' suggestions, and
    the one that decided is named; a card's own cause never counts for itself."""
    texts = {
        1: "The Q-form keeps bouncing between our teams",
        2: "Another Q-form bounced between our teams today",
        3: "Nobody told us the release moved",
    }
    before = suggester().suggest(texts)
    assert before[2].cause != "misaligned-expectations"
    after = suggester().suggest(texts, {1: "misaligned-expectations"}, session="S")
    assert after[2].cause == "misaligned-expectations"
    assert after[2].like == "like #1, which you sorted as Misaligned expectations"
    assert "like #1" in after[2].reason
    assert after[1] == before[1]  # its own cause says nothing about it
    assert after[3].cause == before[3].cause == "communication-gaps"


def test_a_correction_weighs_more_than_an_agreement() -> None:
    settings = Settings()
    agreed = [
        Labelled("Nobody told us the release moved", "communication-gaps", "P", "S", 1),
        Labelled("Nobody told us the price went up", "different-goals", "P", "S", 2),
    ]
    learned = Suggester(CAUSES, load_corpus(), agreed)
    assert list(learned.agreed_weights) == [settings.agreed, settings.corrected]


def test_the_corpus_is_labelled_balanced_and_from_many_pairs() -> None:
    corpus = load_corpus()
    assert len(corpus) >= 400
    pairs = {e.pair for e in corpus}
    assert len(pairs) >= 6
    counts = Counter(e.cause for e in corpus)
    assert set(counts) == set(CAUSE_KEYS)
    assert max(counts.values()) / min(counts.values()) < 1.2  # roughly a third each
    for pair in pairs:
        assert {e.cause for e in corpus if e.pair == pair} == set(CAUSE_KEYS), pair
    texts = [" ".join(e.text.casefold().split()) for e in corpus]
    assert len(set(texts)) == len(texts)  # no complaint twice


def test_a_users_corpus_replaces_or_adds_to_the_shipped_one(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "corpus.toml").write_text(
        '[[pair]]\nsides = ["Legal", "Sales"]\n'
        'different-goals = ["Sales is paid on signature; we are judged on risk"]\n',
        encoding="utf-8",
    )
    assert [e.pair for e in load_corpus(mine)] == ["Legal x Sales"]
    text = (mine / "corpus.toml").read_text(encoding="utf-8")
    (mine / "corpus.toml").write_text("keep_shipped = true\n" + text, encoding="utf-8")
    load_corpus.cache_clear()
    both = load_corpus(mine)
    assert len(both) == len(load_corpus()) + 1 and both[-1].pair == "Legal x Sales"
    (mine / "corpus.toml").write_text(
        '[[pair]]\nsides = ["A", "B"]\nvibes = ["bad vibes"]\n', encoding="utf-8"
    )
    load_corpus.cache_clear()
    with pytest.raises(PromptError, match=r"corpus.toml: key 'pair\[1\].vibes' must be a cause"):
        load_corpus(mine)
    load_corpus.cache_clear()


async def test_diagnose_offers_the_near_duplicate_and_merges_it(
    data_dir: Path, monkeypatch
) -> None:
    fix_world(monkeypatch)
    sessions, code = demo_sessions(data_dir, Phase.DIAGNOSE, finish=False)
    app = app_for(sessions, code)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        unsorted = app.screen.query_one("#lane-0", CardList)
        assert "≈" in str(unsorted.get_option("c2").prompt)  # the row: it looks like one
        unsorted.focus()
        unsorted.highlighted = 1  # #2
        await settle(pilot)
        detail = str(app.screen.query_one("#detail", Static).render())
        assert "≈ Looks like #3: m here, then m on #3 merges them" in detail  # which one
        await pilot.press("m")
        unsorted.highlighted = 2  # #3
        await pilot.press("m")
        await settle(pilot)
        board = sessions.board(code)
        assert [g.complaints for g in board.groups] == [[2, 3]]
        assert "≈" not in str(unsorted.get_option("g3").prompt)
