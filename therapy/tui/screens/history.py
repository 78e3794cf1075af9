"""A pair's history: its score from one session to the next, what each session complained
about (a bar per session, by cause) and how much of what was agreed before got done.

A modal screen, so that it sits over home or close like a form: a phase change or a closed
session takes it down with the other dialogs, and escape goes back to what was under it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Header, Static

from therapy.model import SessionPoint, TherapyError, Trend
from therapy.text import plural
from therapy.tui.widgets.cards import inert
from therapy.tui.widgets.causes import LANE_STYLES
from therapy.tui.widgets.footer import KeyFooter

if TYPE_CHECKING:
    from therapy.tui.app import TherapyApp

LEVELS = " ▁▂▃▄▅▆▇█"  # an eighth of a cell each
SPARK_HEIGHT = 3  # rows of the sparkline: 24 steps from 0 to 1
WIDE_SPARK, MAX_SPARK = 16, 40  # columns two cells wide up to 16 sessions; at most 40 shown
BAR_MAX = 40  # cells of the longest bar on a wide terminal
GLYPHS = ("█", "▓", "▒")  # a cause's bar is told by its shape too, not only its colour
UNSORTED_GLYPH = "░"
FOLLOW = "follow-through"
DATE = 12  # "2026-03-02  "


def sparkline(scores: list[float | None], height: int = SPARK_HEIGHT) -> Content:
    """Each session's score (0..1) as a column, oldest on the left: two cells wide, or one
    when there are many (the latest MAX_SPARK of them); a session too early to tell has a
    dotted foot instead of a column."""
    wide = len(scores) <= WIDE_SPARK
    scores = scores[-MAX_SPARK:]
    cell, gap = (2, " ") if wide else (1, "")
    rows = []
    for row in range(height - 1, -1, -1):  # the top row first
        parts: list[tuple[str, str] | str] = []
        for score in scores:
            if score is None:
                parts.append(("·" * cell if row == 0 else " " * cell, "$text-muted"))
            else:
                eighths = max(1, round(score * height * 8)) - row * 8  # a zero shows as a line
                parts.append((LEVELS[min(max(eighths, 0), 8)] * cell, "$accent"))
            parts.append(gap)
        rows.append(Content.assemble(*parts))
    return Content("\n").join(rows)


def spark_width(count: int) -> int:
    return 3 * count if count <= WIDE_SPARK else min(count, MAX_SPARK)


class CauseKey:
    """How one cause is drawn: its name, glyph and colour."""

    def __init__(self, index: int, key: str, name: str) -> None:
        self.key, self.name = key, name
        if key:
            self.glyph = GLYPHS[index % len(GLYPHS)]
            self.style = LANE_STYLES[1 + index % (len(LANE_STYLES) - 1)]  # as diagnose's lanes
        else:
            self.glyph, self.style = UNSORTED_GLYPH, LANE_STYLES[0]


class Legend(Widget):
    """Each cause's glyph and name, wrapped between causes, never inside one."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.causes: list[CauseKey] = []

    def show(self, causes: list[CauseKey]) -> None:
        self.causes = causes
        self.refresh(layout=True)

    def lines(self, width: int) -> list[Content]:
        lines: list[Content] = []
        line = Content("")
        for cause in self.causes:
            entry = Content.assemble((cause.glyph, cause.style), " ", inert(cause.name))
            if line.cell_length and line.cell_length + 2 + entry.cell_length > width:
                lines.append(line)
                line = entry
            else:
                line = Content.assemble(line, "  ", entry) if line.cell_length else entry
        return [*lines, line]

    def render(self) -> Content:
        return Content("\n").join(self.lines(self.content_size.width))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines(width))


class SessionRow(Widget):
    """One session on two lines: its date, title and standing; then its complaints as a bar
    stacked by cause with the count of each, and the follow-through it measured."""

    def __init__(self, point: SessionPoint, causes: list[CauseKey], most: int) -> None:
        """`most`: the complaints of the pair's fullest session, whose bar fills the room."""
        super().__init__()
        self.point, self.causes, self.most = point, causes, most
        self.digits = len(str(most))  # the counts of every row in one column

    def render(self) -> Content:
        width = self.content_size.width
        return Content("\n").join([self._standing(width), self._mix(width)])

    def _standing(self, width: int) -> Content:
        point = self.point
        relationship = point.relationship
        score = "" if relationship.score is None else f" {relationship.score:.2f}"
        right = Content.assemble(inert(relationship.label).stylize("bold"), score)
        code = Content.styled(f" · {point.code}", "$text-muted")
        room = max(width - DATE - code.cell_length - right.cell_length - 2, 8)
        title = inert(point.title).truncate(room, ellipsis=True)
        left = Content.assemble((point.date.ljust(DATE), "bold"), title, code)
        gap = max(width - left.cell_length - right.cell_length, 1)
        return Content.assemble(left, " " * gap, right)

    def _mix(self, width: int) -> Content:
        counts = [(cause, self.point.causes.get(cause.key, 0)) for cause in self.causes]
        numbers = Content(" ").join(
            Content.styled(
                f"{cause.glyph}{count:<{self.digits}}", cause.style if count else "$text-muted"
            )
            for cause, count in counts
        )
        follow = self.point.follow_through
        through = Content.assemble(
            (f"{FOLLOW} ", "$text-muted"), " n/a" if follow is None else f"{follow:.2f}"
        )
        # one room for every row: bars on one scale, the counts in one column
        room = min(max(width - DATE - numbers.cell_length - through.cell_length - 4, 4), BAR_MAX)
        if sum(count for _, count in counts):
            bar = self._bar(counts, room)
        else:
            bar = Content.styled("no complaints", "$text-muted")
        line = Content.assemble(" " * DATE, bar.pad_right(room - bar.cell_length), "  ", numbers)
        agreed = Content.styled(f"    {self._agreed()}", "$text-muted")
        if line.cell_length + agreed.cell_length + 2 + through.cell_length <= width:
            line = Content.assemble(line, agreed)  # on a wide screen: what it agreed, and did
        gap = max(width - line.cell_length - through.cell_length, 1)
        return Content.assemble(line, " " * gap, through)

    def _agreed(self) -> str:
        point = self.point
        if not point.action_items:
            return "no action items"
        outcomes = [f"{point.done} done"] + ([f"{point.dropped} dropped"] if point.dropped else [])
        return f"{plural(point.action_items, 'action item')}: {', '.join(outcomes)}"

    def _bar(self, counts: list[tuple[CauseKey, int]], room: int) -> Content:
        """Cells in proportion to the complaints, on one scale for every session (the one
        with the most fills the room), each cause at least one cell if it has any."""
        per = room / self.most if self.most else 0.0
        parts, used, total = [], 0, 0
        for cause, count in counts:
            if not count:
                continue
            total += count
            cells = max(round(total * per) - used, 1)
            used += cells
            parts.append((cause.glyph * cells, cause.style))
        return Content.assemble(*parts)


class HistoryScreen(ModalScreen[None]):
    CSS_PATH = "history.tcss"
    HELP = (
        "The pair's sessions, oldest first. The columns at the top are each session's score "
        "(0 to 1, the mean of its four signals; dots: too early to tell), and beside them "
        "whether the pair is improving: the latest score against the mean of the earlier ones. "
        "Below, one session on two lines: its date, title and relationship status, then its "
        "complaints as a bar by root cause with the count of each, and its follow-through "
        "(the share of the pair's earlier action items done, as they stand now)."
    )
    help_title = "Pair history: help"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        # a modal screen stops the app's keys: these two are the app's, offered here too
        Binding("ctrl+q", "app.quit", "Quit"),
        Binding("f1", "app.help", "Help"),
    ]

    def __init__(self, code: str) -> None:
        """The history of the pair that session CODE belongs to."""
        super().__init__()
        self.code = code
        self.trend: Trend | None = None

    @property
    def therapy(self) -> TherapyApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="body"):
            yield Static("Reading the pair's sessions…", id="pair", classes="column-title")
            with Horizontal(id="scores"):
                yield Static(id="sparkline")
                yield Static(id="verdict")
            yield Legend(id="legend")
            yield VerticalScroll(id="rows")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="history")
    def load(self) -> None:
        """Reads every session of the pair: never on the UI loop."""
        sessions = self.therapy.sessions
        try:
            trends = sessions.trend(code=self.code)
            prompts = sessions.prompts
        except TherapyError as error:
            self.app.call_from_thread(self.failed, str(error))
            return
        if not trends:
            self.app.call_from_thread(self.failed, f"Session {self.code} has no pair to show.")
            return
        trend = trends[0]
        keys = dict.fromkeys(k for p in trend.points for k in p.causes if k)  # prompts' order
        names = {key: prompts.cause_name(key) for key in keys}
        self.app.call_from_thread(self.show_trend, trend, {**names, "": "Unsorted"})

    def failed(self, message: str) -> None:
        self.query_one("#pair", Static).update(inert(message))

    def show_trend(self, trend: Trend, names: dict[str, str]) -> None:
        """Shows TREND; NAMES: each cause key's name, in the order of the legend."""
        self.trend = trend
        points = trend.points
        sessions = f"{plural(len(points), 'session')}, oldest first"
        self.query_one("#pair", Static).update(
            Content.assemble(inert(trend.label), Content.styled(f" · {sessions}", "not bold"))
        )
        scores = [p.relationship.score for p in points]
        spark = self.query_one("#sparkline", Static)
        spark.update(sparkline(scores))
        spark.styles.width = max(spark_width(len(scores)), 3)
        said = [trend.verdict().statement]
        if trend.skipped:
            said.append(f"Skipped, could not be read (damaged): {', '.join(trend.skipped)}.")
        self.query_one("#verdict", Static).update(inert("\n".join(said)))
        causes = [CauseKey(index, key, name) for index, (key, name) in enumerate(names.items())]
        self.query_one(Legend).show(causes)
        most = max((sum(p.causes.values()) for p in points), default=0)
        rows = self.query_one("#rows", VerticalScroll)
        rows.remove_children()
        rows.mount_all(SessionRow(point, causes, most) for point in points)
        rows.call_after_refresh(rows.scroll_end, animate=False)  # the latest in view

    def action_back(self) -> None:
        self.dismiss(None)
