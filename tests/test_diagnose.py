"""The cause suggester and the near-duplicate finder."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static
from tui_support import app_for, demo_sessions, fix_world, settle

from therapy.diagnose import near_duplicates, similarity, suggest, suggest_for
from therapy.model import Phase
from therapy.prompts import load_prompts
from therapy.tui.widgets.cards import CardList

CAUSES = load_prompts().causes


def test_suggestions_name_their_cause_and_words() -> None:
    cases = {
        "Marketing chases lead volume while we carry the revenue quota": "different-goals",
        "Their leads are not ready to buy and nobody follows up in time": (
            "misaligned-expectations"
        ),
        "Nobody from sales comes to the campaign meetings": "communication-gaps",
    }
    for text, cause in cases.items():
        suggestion = suggest(text, CAUSES)
        assert suggestion.cause == cause, (text, suggestion)
        assert suggestion.words and 0 < suggestion.score <= 1
    nothing = suggest("It is all so frustrating", CAUSES)
    assert (nothing.cause, nothing.words, nothing.reason) == (None, (), "no words of any cause")
    group = suggest_for(["It is all so frustrating", "We miss our revenue quota"], CAUSES)
    assert group.cause == "different-goals"


def test_near_duplicates() -> None:
    texts = {
        1: "Half the leads are not ready to buy.",
        2: "Leads are not ready to buy; they only downloaded an ebook.",
        3: "Nobody comes to the campaign meetings.",
        4: "Campaign meetings: nobody from sales comes.",
        5: "Pricing changes reach us last.",
    }
    assert near_duplicates(texts) == {1: 2, 2: 1, 3: 4, 4: 3}
    assert similarity("ready to buy", "nothing alike here") == 0.0
    assert similarity("lead", "lead") == 0.0  # one shared word is not enough


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
