"""How many cards each cause has, as a bar chart: on diagnose and on the projector."""

from __future__ import annotations

from textual.content import Content

from therapy.tui.widgets.cards import inert

BAR_WIDTH = 40
NAME_WIDTH = 32  # a longer name (from a user's prompts folder) is cut to keep the bars


# The colour of each lane's bar in the chart, in lane order (Unsorted first).
LANE_STYLES = ("$text-muted", "$primary", "$warning", "$success", "$secondary", "$error")


def cause_chart(rows: list[tuple[str, int]], marked: int | None = None) -> Content:
    """One bar of █ per lane, scaled to the fullest lane, with its count; ▸ marks the lane
    that is shown, if one is."""
    most = max((count for _, count in rows), default=0) or 1
    width = min(max((len(name) for name, _ in rows), default=0), NAME_WIDTH)
    lines = []
    for index, (name, count) in enumerate(rows):
        bar = "█" * round(BAR_WIDTH * count / most) or "▏"
        mark = "" if marked is None else "▸ " if index == marked else "  "
        lines.append(
            Content.assemble(
                (mark, "bold $accent"),
                (f"{index} ", "bold"),
                inert(name).truncate(width, ellipsis=True, pad=True),
                "  ",
                (bar, LANE_STYLES[index % len(LANE_STYLES)]),
                (f" {count}", "bold"),
            )
        )
    return Content("\n").join(lines)
