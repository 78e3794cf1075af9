"""Remedy: the top-voted items one by one, with their cause's remedy and questions, and the
action items the room agrees on for them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.timer import Timer
from textual.widgets import Button, Input, Label, OptionList, Select, Static

from therapy.model import ActionItem, ActionStatus, Item, Phase
from therapy.service import SessionView
from therapy.service.permissions import Action
from therapy.text import plural
from therapy.tui.widgets.actions import action_card, discussed_item, remedy_text
from therapy.tui.widgets.cards import CardList, card, inert, item_texts
from therapy.tui.widgets.confirm import Confirm
from therapy.tui.widgets.phase_screen import PhaseScreen
from therapy.tui.widgets.prompt import TextInput

if TYPE_CHECKING:
    from therapy.service import Prompts, Sessions

DUE_IN_DAYS = 14
DISCUSS_AFTER = 0.3  # seconds the highlight rests on an item before every screen follows it
FIELDS = ("what", "owner", "due", "metric")
MUTED = "$text-muted"


def default_due(today: str) -> str:
    """Two weeks from the service's today (its clock, which tests fix)."""
    return (date.fromisoformat(today) + timedelta(days=DUE_IN_DAYS)).isoformat()


def top_title(top: int, voted: int) -> str:
    """'Top 3 voted items', 'Top voted item'; and how many got votes, when fewer did."""
    title = "Top voted item" if top == 1 else f"Top {top} voted items"
    return title if voted >= top else f"{title} · {plural(voted, 'item')} with votes"


def item_card(
    item: Item, prompts: Prompts, actions: list[ActionItem], on_table: bool = False
) -> Content:
    texts = [c.text for c in item.complaints]
    text = texts[0] if len(texts) == 1 else "\n".join(f"• {t}" for t in texts)
    linked = sum(1 for a in actions if item.ids & set(a.complaints))
    return card(
        text,
        "▶ under discussion" if on_table else "",
        plural(item.votes, "vote"),
        prompts.cause_name(item.lead.cause),
        ", ".join(dict.fromkeys(c.side for c in item.complaints)),
        plural(linked, "action") if linked else "no action yet",
    )


def discussion_text(item: Item | None, prompts: Prompts) -> Content:
    """For everyone but the facilitator: the item's text(s), then its cause's remedy."""
    remedy = remedy_text(item, prompts, facilitating=False)
    if item is None:
        return remedy
    return Content.assemble(item_texts(item).stylize("bold"), "\n\n", remedy)


class RemedyScreen(PhaseScreen):
    phase = Phase.REMEDY
    CSS_PATH = "remedy.tcss"
    HELP = (
        "Work through the top-voted items one at a time, with their cause's remedy and "
        "questions. The facilitator picks the item under discussion with up and down (every "
        "screen follows) and agrees an action item for it in the form: what will be done, one "
        "owner, a due date (YYYY-MM-DD) and a metric that will show it worked; the item's "
        "complaints are linked to it. n (or enter on an item) jumps to the form, tab moves "
        "between fields, enter or ctrl+s adds the action item and escape leaves the form. a "
        "goes to the list of agreed actions, where x drops an action item (or reopens a "
        "dropped one); an open one past its due date is marked overdue."
    )
    BINDINGS = [
        Binding("n", "form", "New action"),
        Binding("ctrl+s", "add", "Add action"),
        Binding("a", "actions", "Agreed actions"),
        Binding("x", "drop", "Drop/reopen"),
        Binding("escape", "leave_form", "Leave the form", show=False),
    ]
    CHANGES = PhaseScreen.CHANGES | {
        "form": Action.ADD_ACTION,
        "add": Action.ADD_ACTION,
        "drop": Action.SET_ACTION_STATUS,
    }

    def __init__(self, view: SessionView) -> None:
        super().__init__(view)
        self.discussed: str | None = None  # the item whose cause prefilled the form
        self.highlighted: str | None = None  # the item the facilitator's highlight rests on
        self.discuss_timer: Timer | None = None
        self.kept: dict[str, str] | None = None  # the form's fields as the last add left them

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="columns"):
            with Vertical(id="agenda", classes="column"):
                yield Static(id="items-title", classes="column-title")
                items = CardList(
                    id="items",
                    empty=self._empty("no votes yet", "move", "go back to vote (ctrl+b)"),
                )
                items.can_focus = self.facilitating  # for the others it follows the facilitator
                yield items
            with Vertical(id="discussion", classes="column"):
                yield Static(id="discussion-title", classes="column-title")
                with VerticalScroll(id="remedy-scroll"):
                    yield Static(id="remedy")
                if self.facilitating:
                    yield from self.compose_form()
        yield Static(id="actions-title", classes="column-title")
        yield CardList(
            id="actions",
            empty=self._empty("no action items yet", "add", "fill in the form above"),
        )

    def _empty(self, what: str, key: str, to_do: str) -> str:
        """What an empty list says: what to do about it, to the one whose `key` does it."""
        return f"{what}: {to_do}" if self.check_action(key, ()) else what

    def compose_form(self) -> ComposeResult:
        causes = [(inert(cause.name), cause.key) for cause in self.view.prompts.causes]
        with Vertical(id="action-form"):
            with Horizontal(classes="form-row"):
                yield Label("What", classes="form-label")
                yield TextInput(placeholder="what will be done", id="what", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("Owner", classes="form-label")
                yield TextInput(placeholder="one name", id="owner", compact=True)
                yield Label("Due", classes="form-label short")
                yield TextInput(
                    default_due(self.view.today), placeholder="YYYY-MM-DD", id="due", compact=True
                )
            with Horizontal(classes="form-row"):
                yield Label("Metric", classes="form-label")
                yield TextInput(placeholder="how we will know it worked", id="metric", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("Cause", classes="form-label")
                yield Select[str](causes, prompt="no cause", id="cause", compact=True)
            with Horizontal(classes="form-row buttons"):
                yield Button("Add action", id="add", variant="primary", compact=True)
                yield Label("enter or ctrl+s · esc leaves", classes="hint")
            yield Label(id="form-error")

    def show_body(self, view: SessionView) -> None:
        prompts, actions = view.prompts, view.board.action_items
        voted = view.board.top_items()
        on_table = discussed_item(view.board)
        table_key = on_table.key if on_table else None
        self.query_one("#items-title", Static).update(top_title(view.session.top, len(voted)))
        items = self.query_one("#items", CardList)
        items.show(
            (item.key, item_card(item, prompts, actions, item.key == table_key)) for item in voted
        )
        keys = [item.key for item in voted]
        if not self.facilitating or self.highlighted is None:
            # participants follow the table; the facilitator starts where everyone else is
            if table_key in keys:
                items.highlighted = keys.index(table_key)
            self.highlighted = items.selected_key
        self.query_one("#actions-title", Static).update(f"Agreed actions ({len(actions)})")
        self.query_one("#actions", CardList).show(
            (str(action.id), action_card(action, prompts, view.today)) for action in actions
        )
        self._show_discussion()

    def _discussed_item(self) -> Item | None:
        """The facilitator's highlighted item; for everyone else, the one on the table."""
        if not self.facilitating:
            return discussed_item(self.view.board)
        key = self.query_one("#items", CardList).selected_key
        return next((i for i in self.view.board.items() if i.key == key), None)

    def _show_discussion(self) -> None:
        item = self._discussed_item()
        title: Content = Content("Under discussion")
        if item is not None:
            name = self.view.prompts.cause_name(item.lead.cause)
            title = Content.assemble("Under discussion: ", inert(name))
        self.query_one("#discussion-title", Static).update(title)
        remedy = self.query_one("#remedy", Static)
        if not self.facilitating:
            remedy.update(discussion_text(item, self.view.prompts))
            return
        select: Select[str] = self.query_one("#cause", Select)
        key = item.key if item else None
        if key != self.discussed:  # a new item: its cause prefills the form, once
            self.discussed = key
            cause = self.view.prompts.find_cause(item.lead.cause if item else None)
            select.value = cause.key if cause else Select.NULL
        remedy.update(remedy_text(item, self.view.prompts, select.selection))

    @on(OptionList.OptionHighlighted, "#items")
    def _item_highlighted(self) -> None:
        key = self.query_one("#items", CardList).selected_key
        if self.facilitating and key != self.highlighted:
            # Moved by the facilitator, not put back by a refresh: once the highlight
            # settles, the item goes on every screen.
            self.highlighted = key
            if self.discuss_timer is not None:
                self.discuss_timer.stop()
            self.discuss_timer = self.set_timer(DISCUSS_AFTER, self._discuss)
        self._show_discussion()

    def _discuss(self) -> None:
        item = self._discussed_item()
        if item is None or item.lead.id == self.view.session.discussing:
            return
        lead, viewer = item.lead.id, self.therapy.viewer
        self.act(lambda s, code: s.discuss(code, lead, viewer))

    @on(Select.Changed, "#cause")
    def _cause_changed(self) -> None:
        self._show_discussion()

    @on(Input.Submitted, "#action-form Input")
    @on(Button.Pressed, "#add")
    def _submitted(self) -> None:
        self.action_add()

    @on(CardList.Picked, "#items")
    def _picked(self) -> None:
        if self.facilitating:
            self.action_form()

    def action_form(self) -> None:
        self.query_one("#what", Input).focus()

    def action_add(self) -> None:
        what, owner, due, metric = (self.query_one(f"#{name}", Input).value for name in FIELDS)
        cause = self.query_one("#cause", Select).selection
        item = self._discussed_item()
        complaints = sorted(item.ids) if item else []
        viewer = self.therapy.viewer

        def add(sessions: Sessions, code: str) -> None:
            sessions.add_action(code, what, owner, due, cause, metric, complaints, actor=viewer)
            self.app.call_from_thread(self._added, what, owner, due, metric)

        self.act(add, done="Action item added.", failed=self._refused)

    def _added(self, what: str, owner: str, due: str, metric: str) -> None:
        # Owner and due stay for the next item; of the rest, clear only what was sent.
        self.kept = {"what": "", "owner": owner, "due": due, "metric": ""}
        for name, sent in (("what", what), ("metric", metric)):
            field = self.query_one(f"#{name}", Input)
            if field.value == sent:
                field.value = ""
        self.query_one("#form-error", Label).update("")
        self.query_one("#items", CardList).focus()  # where n starts the next one

    def _refused(self, message: str) -> None:
        self.query_one("#form-error", Label).update(inert(message))

    def _left(self) -> dict[str, str]:
        """What the form holds when nothing was typed: what the last add left, else defaults."""
        if self.kept is not None:
            return self.kept
        return {"what": "", "owner": "", "due": default_due(self.view.today), "metric": ""}

    def _typed(self) -> bool:
        """Whether the form holds anything typed since it was last left."""
        left = self._left()
        return any(self.query_one(f"#{name}", Input).value != left[name] for name in FIELDS)

    def action_leave_form(self) -> None:
        """Escape: out of the form to the items, without saving (asked first if typed)."""
        form = self.query("#action-form")
        if not form or self.focused is None or form.first() not in self.focused.ancestors:
            return
        items = self.query_one("#items", CardList)

        def leave(yes: bool | None) -> None:
            if yes:
                for name, value in self._left().items():
                    self.query_one(f"#{name}", Input).value = value
                self.query_one("#form-error", Label).update("")
                items.focus()

        if self._typed():
            self.app.push_screen(
                Confirm("Leave the form without adding what you typed?", default=False), leave
            )
        else:
            items.focus()

    def action_actions(self) -> None:
        self.query_one("#actions", CardList).focus()

    def action_drop(self) -> None:
        actions = self.query_one("#actions", CardList)
        if self.focused is not actions or actions.selected_key is None:
            self.notify("Highlight an agreed action in the list first (press a to go there).")
            return
        item_id = int(actions.selected_key)
        action = next((a for a in self.view.board.action_items if a.id == item_id), None)
        if action is None:
            return
        viewer = self.therapy.viewer
        if action.status is ActionStatus.DROPPED:  # reopening loses nothing: not asked
            self.act(lambda s, code: s.set_action_status(code, item_id, "open", actor=viewer))
            return

        def drop(yes: bool | None) -> None:
            if yes:
                self.act(lambda s, code: s.set_action_status(code, item_id, "dropped", viewer))

        self.app.push_screen(Confirm(f"Drop the action item “{action.what}”?"), drop)
