"""How many cards each cause has, as a bar chart: on diagnose and on the projector."""

from __future__ import annotations

from textual.content import Content

from therapy.tui.widgets.cards import inert

BAR_WIDTH = 40


NAME_WIDTH = 24


# The colour of each lane's bar in the chart, in lane order (Unsorted first).
LANE_STYLES = ("$text-muted", "$primary", "$warning", "$success", "$secondary", "$error")


def cause_chart(rows: list[tuple[str, int]]) -> Content:
    """One bar of █ per lane, scaled to the fullest lane, with its count."""
    most = max((count for _, count in rows), default=0) or 1
    lines = []
    for index, (name, count) in enumerate(rows):
        bar = "█" * round(BAR_WIDTH * count / most) or "▏"
        lines.append(
            Content.assemble(
                (f"{index} ", "bold"),
                inert(name).truncate(NAME_WIDTH, ellipsis=True, pad=True),
                " ",
                (bar, LANE_STYLES[index % len(LANE_STYLES)]),
                (f" {count}", "bold"),
            )
        )
    return Content("\n").join(lines)
