"""Diagnose: every card revealed, sorted into a lane per root cause with the app's suggestion
and the words behind it; near-duplicates merged into groups and split again."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import ContentSwitcher, Label, OptionList, Static

from therapy.model import Item, Phase
from therapy.service import Sessions, SessionView
from therapy.service.permissions import Action
from therapy.text import plural
from therapy.tui.widgets.cards import CardList, inert, item_ids, item_texts, numbered
from therapy.tui.widgets.causes import cause_chart
from therapy.tui.widgets.lanes import (
    Lane,
    LaneList,
    alike_of,
    item_suggestion,
    lane_row,
    lanes_of,
    sides_of,
)
from therapy.tui.widgets.phase_screen import PhaseScreen

MUTED = "$text-muted"


def card_detail(item: Item, view: SessionView, facilitating: bool) -> Content:
    """The highlighted card in full: every member's text, then what the app suggests and
    the words that decided it, and the near-duplicate it could be merged with."""
    suggestion = item_suggestion(item, view.suggestions)
    reason = inert(suggestion.reason)  # words of the card, and of earlier cards
    if view.suggesting == "pending":
        hint = Content("Suggestion: on its way (the suggester is starting)")
    elif view.suggesting == "failed":
        hint = Content("No suggestions: the suggester could not start")
    elif suggestion.cause not in view.prompts.cause_keys:
        then = ": move it with a number key" if facilitating else ""
        hint = Content.assemble("No suggestion (", reason, f"){then}")
    else:
        lane = view.prompts.cause_keys.index(suggestion.cause) + 1
        cause = Content.assemble(
            (f"{lane} ", "bold"), inert(view.prompts.cause_name(suggestion.cause))
        ).stylize("bold $accent")
        if suggestion.cause == item.lead.cause:
            hint = Content.assemble(("✓ As suggested: ", "$success"), cause)
        else:
            hint = Content.assemble("Suggests ", cause)
        then = " · enter accepts" if facilitating and suggestion.cause != item.lead.cause else ""
        hint = Content.assemble(hint, f" ({suggestion.score:.2f}; ", reason, f"){then}")
    parts = [item_texts(item)]
    if view.suggesting != "hidden":  # a participant watches; the suggestions are not theirs
        parts.append(hint.stylize_before(MUTED))
    if (alike := alike_of(item, view.alike)) is not None:
        merge = f": m here, then m on #{alike} merges them" if facilitating else ""
        parts.append(Content.styled(f"≈ Looks like #{alike}{merge}", "$warning"))
    return Content("\n").join(parts)


def card_title(item: Item) -> Content:
    """'#2 + #20 · Marketing · Priya': who said it (the authors when they are known)."""
    authors = ", ".join(dict.fromkeys(c.author for c in item.complaints if c.author))
    return inert(
        " · ".join(part for part in (item_ids(item), " + ".join(sides_of(item)), authors) if part)
    )


class SplitPicker(ModalScreen[int | None]):
    """Which complaint of a group of three or more to split out."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, item: Item) -> None:
        super().__init__()
        self.item = item

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            question = Content(f"Split which complaint out of {item_ids(self.item)}?")
            yield Label(question, classes="dialog-title")
            yield CardList(id="members")
            yield Label("enter splits it out · escape cancels", classes="hint")

    def on_mount(self) -> None:
        self.query_one(CardList).show((str(c.id), numbered(c)) for c in self.item.complaints)

    @on(CardList.Picked)
    def _picked(self, event: CardList.Picked) -> None:
        self.dismiss(int(event.key))


class DiagnoseScreen(PhaseScreen):
    phase = Phase.DIAGNOSE
    CSS_PATH = "diagnose.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # a smaller card below 100
    HELP = (
        "Every card is revealed now. The facilitator sorts each complaint into the lane of "
        "its root cause while participants watch. One lane is shown at a time, a card a line "
        "(←/→ move between lanes; the bars count the complaints per lane, ▸ marks the one "
        "shown); the highlighted card is shown in full below it. A line says the card's "
        "number (+2: two more grouped with it), its side and what the app suggests: →2 for "
        "lane 2, ✓ where it is already, – nothing, with how sure it is; ≈ says it looks like "
        "another card. The number keys move the highlighted card (with its whole group) to "
        "that lane, and 0 back to Unsorted; enter, s or a click accepts the suggestion, A "
        "accepts it for every unsorted card. Two cards that say the same thing become one: "
        "press m on the first, then m on the card to merge it into (escape cancels); u splits "
        "a complaint out of its group again."
    )
    BINDINGS = [
        # The prompts ship three causes; a folder with more gets keys up to 9 (see lane titles).
        Binding("1", "cause(1)", "Cause", key_display="1-3"),
        *[Binding(str(lane), f"cause({lane})", show=False) for lane in range(2, 10)],
        Binding("0", "cause(0)", "Back to unsorted", show=False),
        Binding("s", "accept", "Accept", key_display="enter/s"),
        Binding("A", "accept_all", "Accept all"),
        Binding("m", "merge", "Merge"),
        Binding("u", "split", "Split"),
        Binding("escape", "cancel_merge", "Cancel merge", show=False),
        Binding("left", "lane(-1)", "Lane ←", show=False),
        Binding("right", "lane(1)", "Lane →", show=False),
    ]
    # Participants watch the facilitator sort.
    CHANGES = PhaseScreen.CHANGES | {
        "cause": Action.SET_CAUSE,
        "accept": Action.SET_CAUSE,
        "accept_all": Action.ACCEPT_SUGGESTIONS,
        "merge": Action.GROUP,
        "split": Action.GROUP,
        "cancel_merge": Action.GROUP,
    }

    def __init__(self, view: SessionView) -> None:
        super().__init__(view)
        self.lanes: list[str | None] = [None, *view.prompts.cause_keys]  # lane i = key i
        # The lane shown: Unsorted, unless it is empty when the screen opens
        self.lane = next((lane.number for lane in lanes_of(view) if lane.items), 0)
        self.shown: list[Lane] = []
        self.items: dict[str, Item] = {}
        self.merging: int | None = None  # the complaint that m picked first
        self.merged: set[int] = set()  # a merge asked for: the highlight follows its group

    def compose_body(self) -> ComposeResult:
        yield Static(id="chart")
        yield Static(id="notice")
        with ContentSwitcher(id="lanes", initial=f"lane-{self.lane}"):
            for lane in range(len(self.lanes)):
                empty = "nothing left to sort" if lane == 0 else "nothing here yet"
                if lane and self.facilitating:
                    empty = f"press {lane} to move a card here"
                yield LaneList(id=f"lane-{lane}", classes="lane", empty=empty)
        yield Static(id="detail")

    def lane_list(self, lane: int) -> LaneList:
        return self.query_one(f"#lane-{lane}", LaneList)

    def show_body(self, view: SessionView) -> None:
        self.shown = lanes_of(view)
        self.items = {item.key: item for lane in self.shown for item in lane.items}
        if self.merging is not None and view.board.complaint(self.merging) is None:
            self.merging = None
        for lane in self.shown:
            cards = self.lane_list(lane.number)
            cards.border_title = Content.assemble((f"{lane.number} ", "bold"), inert(lane.name))
            cards.border_subtitle = plural(lane.count, "complaint")
            cards.show(
                (item.key, lane_row(item, view, self.merging in item.ids)) for item in lane.items
            )
        if self.merged:
            group = next((i for i in self.items.values() if self.merged <= i.ids), None)
            if group is not None:  # the merge is done: wherever the group went, go with it
                self.merged = set()
                self._go_to(group)
        self._show_lane(self.lane)
        self._show_notice()

    def _go_to(self, item: Item) -> None:
        """Show the lane that holds this card, and highlight it there."""
        self.lane = next(lane.number for lane in self.shown if item in lane.items)
        self.lane_list(self.lane).select(item.key)

    def _show_lane(self, lane: int) -> None:
        self.lane = lane
        self.query_one(ContentSwitcher).current = f"lane-{lane}"
        self.set_focus(self.lane_list(lane))  # now, not later: the next key goes to this lane
        rows = [(lane.name, lane.count) for lane in self.shown]
        self.query_one("#chart", Static).update(cause_chart(rows, marked=self.lane))
        self._show_detail()

    def _show_detail(self) -> None:
        detail = self.query_one("#detail", Static)
        item = self._selected()
        if item is None:
            detail.border_title = None
            detail.update(Content.styled("no card in this lane", MUTED))
            return
        detail.border_title = card_title(item)
        detail.update(card_detail(item, self.view, self.facilitating))

    def _show_notice(self) -> None:
        if self.merging is not None:
            notice = Content.assemble(
                (f" Merging #{self.merging}: ", "bold"),
                "pick the card to merge into and press m (escape cancels) ",
            ).stylize("reverse $warning")
        else:
            board = self.view.board
            unsorted = sum(1 for c in board.complaints if c.cause is None)
            doing = "enter accepts" if self.facilitating else "the facilitator sorts"
            notice = Content(
                f"{unsorted} of {plural(len(board.complaints), 'complaint')} unsorted · "
                f"{plural(len(board.groups), 'group')} · ←/→ lanes · {doing}"
            ).stylize(MUTED)
        self.query_one("#notice", Static).update(notice)

    def _selected(self) -> Item | None:
        key = self.lane_list(self.lane).selected_key
        return self.items.get(key) if key else None

    @on(OptionList.OptionHighlighted)
    def _highlighted(self) -> None:
        self._show_detail()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_merge" and self.merging is None:
            return False
        return super().check_action(action, parameters)

    def action_cause(self, lane: int) -> None:
        item = self._selected()
        if item is not None and lane < len(self.lanes):
            cause, viewer = self.lanes[lane], self.therapy.viewer
            self.act(lambda s, code: s.set_cause(code, item.lead.id, cause, viewer))

    def action_accept(self, key: str | None = None) -> None:
        item = self.items.get(key) if key else self._selected()
        if item is None:
            return
        cause = item_suggestion(item, self.view.suggestions).cause
        if self.view.suggesting == "pending":
            self.app.notify("The suggestions are on their way: try again in a moment.")
            return
        if cause is None:
            self.app.notify(f"No suggestion for {item_ids(item)}: move it with a number key.")
            return
        viewer = self.therapy.viewer
        self.act(lambda s, code: s.set_cause(code, item.lead.id, cause, viewer))

    def action_accept_all(self) -> None:
        if self.view.suggesting == "pending":
            self.app.notify("The suggestions are on their way: try again in a moment.")
            return
        viewer = self.therapy.viewer

        def accept_all(sessions: Sessions, code: str) -> None:
            done = sessions.accept_suggestions(code, viewer)
            said = f"Accepted {plural(done.accepted, 'suggestion')}"
            if done.left:
                said += f"; {plural(done.left, 'card')} left for you: the app was not sure enough"
            self.app.call_from_thread(self.app.notify, said + ".")

        self.act(accept_all)

    def action_merge(self) -> None:
        item = self._selected()
        if item is None:
            return
        if self.merging is None:
            self.merging = item.lead.id
        elif self.merging in item.ids:
            self.app.notify("That is the card being merged: pick another one, or escape.")
            return
        else:
            first, self.merging, viewer = self.merging, None, self.therapy.viewer
            self.merged = {first, item.lead.id}
            self.act(
                lambda s, code: s.group(code, first, item.lead.id, viewer), failed=self._unmerged
            )
        self.show_body(self.view)

    def _unmerged(self, error: str) -> None:
        self.merged = set()
        self.app.notify(error, severity="error")

    def action_cancel_merge(self) -> None:
        self.merging = None
        self.show_body(self.view)

    def action_split(self) -> None:
        item = self._selected()
        if item is None or item.group is None:
            self.app.notify("Only a group can be split: pick a card with several complaints.")
            return

        viewer = self.therapy.viewer

        def split(complaint_id: int | None) -> None:
            if complaint_id is not None:
                self.act(lambda s, code: s.ungroup(code, complaint_id, viewer))

        if len(item.complaints) == 2:
            split(item.complaints[-1].id)  # either way the pair falls apart
        else:
            self.app.push_screen(SplitPicker(item), split)

    def action_lane(self, step: int) -> None:
        self._show_lane((self.lane + step) % len(self.lanes))

    @on(CardList.Picked)
    def _picked(self, event: CardList.Picked) -> None:
        if self.facilitating:
            self.action_accept(event.key)
