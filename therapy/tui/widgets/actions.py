"""Action items and the remedy of the item under discussion: on remedy and on the
projector."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content

from therapy.model import ActionItem, Board, Item
from therapy.tui.widgets.cards import card, inert

if TYPE_CHECKING:
    from therapy.service import Prompts

MUTED = "$text-muted"


def discussed_item(board: Board) -> Item | None:
    """The item on everyone's screen: the one the facilitator picked, else the top-voted."""
    chosen = board.session.discussing
    picked = next((item for item in board.items() if item.lead.id == chosen), None)
    return picked or next(iter(board.top_items(1)), None)


def overdue_mark(action: ActionItem, today: str) -> Content:
    """'overdue', in the warning colour, for an open item past its due date; else nothing."""
    return Content.styled("overdue", "bold $warning") if action.overdue(today) else Content()


def action_card(action: ActionItem, prompts: Prompts, today: str = "") -> Content:
    """An agreed action item; marked overdue when `today` (the view's) is past its date."""
    return card(
        action.what,
        f"owner {action.owner}",
        f"due {action.due}",
        overdue_mark(action, today),
        f"metric {action.metric}" if action.metric else "",
        prompts.cause_name(action.cause),
        action.status.value,
        f"carried over from {action.carried_from}" if action.carried_from else "",
    )


def remedy_text(
    item: Item | None, prompts: Prompts, chosen: str | None = None, facilitating: bool = True
) -> Content:
    """The remedy and questions of the item's cause; of the form's cause (`chosen`) when it
    has none. What to do about a missing item or cause is said to the facilitator only."""
    heading = "bold $accent"
    if item is None:
        if not facilitating:
            return Content("No item got a vote: nothing is under discussion.").stylize(MUTED)
        return Content(
            "No item got a vote. Go back to vote (ctrl+b), or agree action items "
            "without linked complaints in the form."
        ).stylize(MUTED)
    cause = prompts.find_cause(item.lead.cause)
    parts: list[Content | str | tuple[str, str]] = []
    if cause is None:
        missing = "No cause agreed for this item yet"
        if facilitating:
            missing += ": pick one in the form's Cause field (it is saved with the action item)"
        parts.append((f"{missing}.\n\n", MUTED))
        cause = prompts.find_cause(chosen)
        if cause is None:
            return Content.assemble(*parts)
    parts += [("Remedy\n", heading), inert(cause.remedy), ("\n\nQuestions to ask\n", heading)]
    parts.append(Content("\n").join(inert(f"• {question}") for question in cause.questions))
    return Content.assemble(*parts)
