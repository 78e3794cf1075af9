"""Diagnose: every card revealed, sorted into a lane per root cause with the app's suggestion
and the words behind it; near-duplicates merged into groups and split again."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from therapy.model import Item, Phase, Suggestion
from therapy.service import Sessions, SessionView
from therapy.service.permissions import Action
from therapy.text import plural
from therapy.tui.widgets.cards import CardList, inert, item_ids, item_texts, numbered
from therapy.tui.widgets.causes import cause_chart
from therapy.tui.widgets.phase_screen import PhaseScreen

MUTED = "$text-muted"
NO_SUGGESTION = Suggestion(None, 0.0, ())


def item_suggestion(item: Item, suggestions: dict[int, Suggestion]) -> Suggestion:
    """A group's suggestion is its members' most confident one (the lead's on a tie)."""
    found = [suggestions[c.id] for c in item.complaints if c.id in suggestions]
    return max(found, key=lambda s: s.score, default=NO_SUGGESTION)


def diagnose_card(
    item: Item, suggestion: Suggestion, suggested: str, merging: bool, alike: int | None = None
) -> Content:
    """The text(s), then one dimmed line: ids, side, authors, the suggestion with its words,
    and the near-duplicate it could be grouped with."""
    sides = " + ".join(dict.fromkeys(c.side for c in item.complaints))
    authors = ", ".join(dict.fromkeys(c.author for c in item.complaints if c.author))
    who = " · ".join(part for part in (item_ids(item), sides, authors) if part)
    reason = Content.assemble(" (", inert(suggestion.reason), ")")  # words from the prompts
    if suggestion.cause is None:
        hint = Content.assemble(" · no suggestion", reason)
    elif suggestion.cause == item.lead.cause:
        hint = Content.assemble((" · ✓ as suggested", "$success"), reason)
    else:
        hint = Content.assemble(" · suggests ", inert(suggested).stylize("bold $accent"), reason)
    if alike is not None:
        hint = Content.assemble(hint, (f" · alike #{alike}: m to merge", "$warning"))
    parts = [item_texts(item), Content.assemble(inert(who), hint).stylize_before(MUTED)]
    if merging:
        parts.insert(
            0, Content(" merging: pick the card to merge into ").stylize("reverse $warning")
        )
    return Content("\n").join(parts)


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
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # 2x2 lanes below 100 columns
    HELP = (
        "Every card is revealed now. The facilitator sorts each complaint into the lane of "
        "its root cause while participants watch: the number keys move the highlighted card "
        "(with its whole group) to that lane, and 0 back to Unsorted. Each card says which "
        "cause the app suggests and the words that decided it: enter, s or a click accepts "
        "that suggestion, A accepts it for every unsorted card. Two cards that say the same "
        "thing become one: press m on the first, then m on the card to merge it into (escape "
        "cancels); u splits a complaint out of its group again. ←/→ move between lanes; the "
        "bars count the complaints per lane."
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
        self.items: dict[str, Item] = {}
        self.merging: int | None = None  # the complaint that m picked first

    def compose_body(self) -> ComposeResult:
        yield Static(id="chart")
        yield Static(id="notice")
        with Grid(id="lanes"):
            for lane in range(len(self.lanes)):
                empty = "nothing left to sort" if lane == 0 else "nothing here yet"
                if lane and self.facilitating:
                    empty = f"press {lane} to move a card here"
                yield CardList(id=f"lane-{lane}", classes="lane", empty=empty)

    def show_body(self, view: SessionView) -> None:
        items = view.board.items()
        self.items = {item.key: item for item in items}
        if self.merging is not None and view.board.complaint(self.merging) is None:
            self.merging = None
        cards: list[list[tuple[str, Content]]] = [[] for _ in self.lanes]
        counts = [0] * len(self.lanes)
        for item in sorted(items, key=lambda item: item.lead.id):
            cause = item.lead.cause
            lane = self.lanes.index(cause) if cause in self.lanes else 0
            suggestion = item_suggestion(item, view.suggestions)
            merging = self.merging in item.ids
            suggested = view.prompts.cause_name(suggestion.cause)
            alike = next(
                (
                    view.alike[c.id]
                    for c in item.complaints
                    if view.alike.get(c.id) not in (None, *item.ids)
                ),
                None,
            )
            card = diagnose_card(item, suggestion, suggested, merging, alike)
            cards[lane].append((item.key, card))
            counts[lane] += len(item.complaints)
        names = [view.prompts.cause_name(key) for key in self.lanes]
        for lane, name in enumerate(names):
            cards_list = self.query_one(f"#lane-{lane}", CardList)
            cards_list.border_title = Content.assemble((f"{lane} ", "bold"), inert(name))
            cards_list.border_subtitle = plural(counts[lane], "complaint")
            cards_list.show(cards[lane])
        self.query_one("#chart", Static).update(cause_chart(list(zip(names, counts, strict=True))))
        self._show_notice()

    def _show_notice(self) -> None:
        if self.merging is not None:
            notice = Content.assemble(
                (f" Merging #{self.merging}: ", "bold"),
                "pick the card to merge into and press m (escape cancels) ",
            ).stylize("reverse $warning")
        else:
            board = self.view.board
            unsorted = sum(1 for c in board.complaints if c.cause is None)
            doing = "enter accepts a suggestion" if self.facilitating else "the facilitator sorts"
            notice = Content(
                f"{plural(len(board.complaints), 'complaint')}, {unsorted} unsorted · "
                f"{plural(len(board.groups), 'group')} · {doing}"
            ).stylize(MUTED)
        self.query_one("#notice", Static).update(notice)

    def _selected(self) -> Item | None:
        lane = self.focused
        key = lane.selected_key if isinstance(lane, CardList) else None
        return self.items.get(key) if key else None

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
        if cause is None:
            self.app.notify(f"No suggestion for {item_ids(item)}: move it with a number key.")
            return
        viewer = self.therapy.viewer
        self.act(lambda s, code: s.set_cause(code, item.lead.id, cause, viewer))

    def action_accept_all(self) -> None:
        viewer = self.therapy.viewer

        def accept_all(sessions: Sessions, code: str) -> None:
            count = sessions.accept_suggestions(code, viewer)
            self.app.call_from_thread(self.app.notify, f"Accepted {plural(count, 'suggestion')}.")

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
            self.act(lambda s, code: s.group(code, first, item.lead.id, viewer))
        self.show_body(self.view)

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
        lane = self.focused
        current = int(lane.id.split("-")[1]) if isinstance(lane, CardList) and lane.id else 0
        self.query_one(f"#lane-{(current + step) % len(self.lanes)}", CardList).focus()

    @on(CardList.Picked)
    def _picked(self, event: CardList.Picked) -> None:
        if self.facilitating:
            self.action_accept(event.key)
