"""Diagnose's lanes, on the facilitator's screen and on the projector: a session's cards
sorted into a lane per cause (Unsorted first), one line each, saying its number, its side
and what the app suggests before its text."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.content import Content

from therapy.model import NO_SUGGESTION, Item, Suggestion
from therapy.service import SessionView
from therapy.tui.widgets.cards import CardList, inert
from therapy.tui.widgets.causes import LANE_STYLES

SIDE_WIDTH = 12  # a longer side name is cut in a row (it is shown in full with the card)


@dataclass
class Lane:
    number: int  # the key that moves a card here
    cause: str | None  # None: Unsorted
    name: str
    items: list[Item] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many complaints: a group counts each of its members."""
        return sum(len(item.complaints) for item in self.items)


def lanes_of(view: SessionView) -> list[Lane]:
    """The view's cards in their lanes, in the order they were logged; a card whose cause
    left the prompts folder is back in Unsorted."""
    causes = [None, *view.prompts.cause_keys]
    lanes = [Lane(n, cause, view.prompts.cause_name(cause)) for n, cause in enumerate(causes)]
    for item in sorted(view.board.items(), key=lambda item: item.lead.id):
        cause = item.lead.cause
        lanes[causes.index(cause) if cause in causes else 0].items.append(item)
    return lanes


def item_suggestion(item: Item, suggestions: dict[int, Suggestion]) -> Suggestion:
    """A group's suggestion is its members' most confident one (the lead's on a tie)."""
    found = [suggestions[c.id] for c in item.complaints if c.id in suggestions]
    return max(found, key=lambda s: s.score, default=NO_SUGGESTION)


def alike_of(item: Item, alike: dict[int, int]) -> int | None:
    """A near-duplicate of one of the item's complaints outside the item, if any."""
    return next(
        (alike[c.id] for c in item.complaints if alike.get(c.id) not in (None, *item.ids)),
        None,
    )


def sides_of(item: Item) -> list[str]:
    return list(dict.fromkeys(c.side for c in item.complaints))


def side_label(item: Item) -> str:
    """The side that said it: 'both' for a group of two sides' complaints."""
    sides = sides_of(item)
    return sides[0] if len(sides) == 1 else "both" if len(sides) == 2 else f"{len(sides)} sides"


def suggestion_mark(item: Item, view: SessionView) -> Content:
    """'→2 0.82': the app suggests lane 2, so sure; '✓ 0.82': it is where the app suggests;
    '–': no suggestion; '…': suggestions are on their way; nothing for a participant."""
    if view.suggesting == "hidden":
        return Content("")
    if view.suggesting == "pending":
        return Content.styled("…".ljust(7), "$text-muted")
    suggestion = item_suggestion(item, view.suggestions)
    if suggestion.cause not in view.prompts.cause_keys:
        return Content.styled("–".ljust(7), "$text-muted")
    score = Content.styled(f" {suggestion.score:.2f}", "$text-muted")
    if suggestion.cause == item.lead.cause:
        return Content.assemble(("✓ ", "bold $success"), score)
    lane = view.prompts.cause_keys.index(suggestion.cause) + 1
    return Content.assemble((f"→{lane}", f"bold {LANE_STYLES[lane % len(LANE_STYLES)]}"), score)


def lane_row(item: Item, view: SessionView, merging: bool = False) -> Content:
    """'#2 +2  Marketing  →2 1.0 ≈ Sales follows up too slowly…': the lead's text on one line
    (the lane's style cuts it to the width); +2: two more complaints grouped with it; ≈: it
    looks like another card."""
    more = f" +{len(item.complaints) - 1}" if item.group is not None else ""
    number = Content(f"#{item.lead.id}{more}".ljust(7))
    if merging:
        number = number.stylize("bold reverse $warning")
    width = min(max(len(side) for side in [*view.session.sides, "both"]), SIDE_WIDTH)
    side = inert(side_label(item)).truncate(width, ellipsis=True, pad=True).stylize("$text-muted")
    alike = ("≈ ", "$warning") if alike_of(item, view.alike) is not None else "  "
    text = inert(" ".join(item.lead.text.split()))  # one line, however it was typed
    mark = suggestion_mark(item, view)
    gap = " " if mark.cell_length else ""
    return Content.assemble(number, " ", side, "  ", mark, gap, alike, text)


class LaneList(CardList):
    """A lane of one-line cards, with no rule between them; the screen shows the highlighted
    one in full."""

    def __init__(self, *, empty: str = "nothing yet", **kwargs: object) -> None:
        super().__init__(empty=empty, divided=False, **kwargs)
