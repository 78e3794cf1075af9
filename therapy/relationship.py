"""Where the pair stands: four signals from 0 to 1, each with its reason, and their mean."""

from __future__ import annotations

from therapy.model import ActionStatus, Board, EarlierItem, Relationship, Signal
from therapy.text import plural


def appreciation(board: Board) -> Signal:
    wins, complaints = len(board.wins), len(board.complaints)
    if not wins and not complaints:
        return Signal("appreciation", None, "no complaints and no wins yet")
    value = 1.0 if not complaints else min(1.0, wins / complaints)
    return Signal(
        "appreciation",
        round(value, 2),
        f"{plural(wins, 'win or appreciation', 'wins and appreciations')} for "
        f"{plural(complaints, 'complaint')}",
    )


def balance(board: Board) -> Signal:
    counts = {side: 0 for side in board.session.sides}
    for complaint in board.complaints:
        counts[complaint.side] = counts.get(complaint.side, 0) + 1
    if not any(counts.values()):
        return Signal("balance", None, "no complaints yet")
    value = min(counts.values()) / max(counts.values())
    heard = ", ".join(f"{side} {count}" for side, count in counts.items())
    return Signal("balance", round(value, 2), f"complaints per side: {heard}")


def coverage(board: Board) -> Signal:
    top = board.top_items()
    if not top:
        return Signal("coverage", None, "no votes yet")
    committed = [a for a in board.action_items if a.owner and a.due]
    covered = [item for item in top if any(item.ids & set(a.complaints) for a in committed)]
    if len(top) == 1:
        has = "has an" if covered else "has no"
        reason = f"the top voted item {has} action item with an owner and a due date"
    else:
        has = "has" if len(covered) == 1 else "have"
        reason = (
            f"{len(covered)} of the top {len(top)} voted items {has} an action item with an "
            "owner and a due date"
        )
    return Signal("coverage", round(len(covered) / len(top), 2), reason)


def follow_through(earlier: list[EarlierItem]) -> Signal:
    # Carried-over items live on as a copy in a later session and are counted there.
    counted = [e for e in earlier if e.item.status is not ActionStatus.CARRIED]
    if not counted:
        return Signal("follow-through", None, "no earlier action items of this pair")
    done = sum(1 for e in counted if e.item.status is ActionStatus.DONE)
    return Signal(
        "follow-through",
        round(done / len(counted), 2),
        f"{done} of {plural(len(counted), 'earlier action item')} done"
        if len(counted) > 1
        else f"the earlier action item is {'done' if done else 'not done'}",
    )


LABELS = (
    (0.75, "Power Couple"),
    (0.5, "Friends with Benefits"),
    (0.3, "It's Complicated"),
    (0.0, "Couples Therapy, Stat"),
)


def measure(board: Board, earlier: list[EarlierItem]) -> Relationship:
    own = [appreciation(board), balance(board), coverage(board)]
    signals = [*own, follow_through(earlier)]
    if all(s.value is None for s in own):  # the pair's past alone says nothing of today
        return Relationship("Too early to tell", None, signals)
    values = [s.value for s in signals if s.value is not None]
    score = round(sum(values) / len(values), 2)
    label = next(name for floor, name in LABELS if score >= floor)
    return Relationship(label, score, signals)
