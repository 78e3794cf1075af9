"""Cards: user text rendered as Content, never as markup, with control characters stripped."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from textual import on
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from therapy.model import Complaint, Item
from therapy.text import clean_text


def inert(text: str | None) -> Content:
    """User text as plain Content: `[@click=app.quit]` shows as typed and does nothing."""
    return Content(clean_text(text or ""))


def card(text: str, *meta: str | Content, style: str = "$text-muted") -> Content:
    """A card: the text, then one dimmed line of what is known about it (a part given as
    Content keeps its own style: a warning stands out)."""
    details = [part if isinstance(part, Content) else inert(part) for part in meta if part]
    if not details:
        return inert(text)
    return Content.assemble(inert(text), "\n", Content(" · ").join(details).stylize_before(style))


def item_ids(item: Item) -> str:
    """'#2' for a complaint, '#2 + #3' for a group."""
    return " + ".join(f"#{c.id}" for c in item.complaints)


def numbered(complaint: Complaint) -> Content:
    return Content.assemble((f"#{complaint.id} ", "bold"), inert(complaint.text))


def item_texts(item: Item) -> Content:
    """The complaint's text, or each member's, numbered."""
    if item.group is None:
        return inert(item.lead.text)
    return Content("\n").join(numbered(c) for c in item.complaints)


class CardList(OptionList):
    """A column of cards, one option per card, keyed by an id (complaint, win, item...)."""

    DEFAULT_CSS = ""

    @dataclass
    class Picked(Message):
        """A card was chosen (enter or a click on the highlighted card)."""

        cards: CardList
        key: str

        @property
        def control(self) -> CardList:
            return self.cards

    def __init__(
        self, *, empty: str = "nothing yet", divided: bool = True, **kwargs: object
    ) -> None:
        """`divided`: a rule between cards (cards of several lines need one)."""
        super().__init__(markup=False, **kwargs)  # type: ignore[arg-type]
        self.empty = empty
        self.divided = divided
        self._shown: tuple[object, ...] | None = None  # what show() was last given

    def show(self, cards: Iterable[tuple[str, Content]]) -> None:
        """Replace the cards, keeping the highlight on the same card where it still is.
        The same cards again change nothing: with forty screens on one host, a redraw of
        every column on every change is what makes the last screen late."""
        cards = list(cards)
        shown = (self.empty, *((key, c.plain, tuple(c.spans)) for key, c in cards))
        if shown == self._shown:
            return
        self._shown = shown
        selected, index = self.selected_key, self.highlighted
        with self.app.batch_update():
            self.clear_options()
            entries = [Option(content, id=key) for key, content in cards]
            if entries and self.divided:
                separated: list[Option | None] = []
                for entry in entries:
                    separated.extend((entry, None))
                self.add_options(separated[:-1])
            elif entries:
                self.add_options(entries)
            else:
                self.add_option(Option(Content(self.empty).stylize("$text-muted"), disabled=True))
            keys = [entry.id for entry in entries]
            if selected in keys:
                self.highlighted = keys.index(selected)
            elif entries:  # the card left: stay where it was, on the one that took its place
                self.highlighted = min(index or 0, len(entries) - 1)

    def select(self, key: str) -> None:
        """Highlight the card with this key."""
        self.highlighted = self.get_option_index(key)

    @property
    def selected_key(self) -> str | None:
        if self.highlighted is None or self.option_count == 0:
            return None
        option = self.get_option_at_index(self.highlighted)
        return None if option.disabled else option.id

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Picked(self, event.option.id))
