"""Remedy: the top-voted items one by one, with their cause's remedy and questions, and the
action items the room agrees on for them."""

from __future__ import annotations

from datetime import datetime, timedelta

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Input, Label, OptionList, Select, Static

from therapy import service
from therapy.model import ActionItem, ActionStatus, Item, Phase
from therapy.prompts import Prompts
from therapy.text import plural
from therapy.tui.screens.base import PhaseScreen
from therapy.tui.view import SessionView
from therapy.tui.widgets.cards import CardList, card, inert
from therapy.tui.widgets.prompt import TextInput

DUE_IN_DAYS = 14
FIELDS = ("what", "owner", "due", "metric")


def default_due() -> str:
    # service.now, not date.today: tests fix the clock there.
    return (datetime.fromisoformat(service.now()) + timedelta(days=DUE_IN_DAYS)).date().isoformat()


def item_card(item: Item, prompts: Prompts, actions: list[ActionItem]) -> Content:
    texts = [c.text for c in item.complaints]
    text = texts[0] if len(texts) == 1 else "\n".join(f"• {t}" for t in texts)
    linked = sum(1 for a in actions if item.ids & set(a.complaints))
    return card(
        text,
        plural(item.votes, "vote"),
        prompts.cause_name(item.lead.cause),
        ", ".join(dict.fromkeys(c.side for c in item.complaints)),
        plural(linked, "action") if linked else "no action yet",
    )


def action_card(action: ActionItem, prompts: Prompts) -> Content:
    return card(
        action.what,
        f"owner {action.owner}",
        f"due {action.due}",
        f"metric {action.metric}" if action.metric else "",
        prompts.cause_name(action.cause),
        action.status.value,
        f"carried over from {action.carried_from}" if action.carried_from else "",
    )


def remedy_text(item: Item | None, prompts: Prompts, chosen: str | None) -> Content:
    """The remedy and questions of the item's cause; of the form's cause when it has none."""
    heading = "bold $accent"
    if item is None:
        return Content(
            "No item got a vote. Go back to vote (ctrl+b), or agree action items "
            "without linked complaints in the form."
        ).stylize("$text-muted")
    cause = prompts.find_cause(item.lead.cause)
    parts: list[Content | str | tuple[str, str]] = []
    if cause is None:
        parts.append(
            (
                "No cause agreed for this item yet: pick one in the form's Cause field "
                "(it is saved with the action item).\n\n",
                "$text-muted",
            )
        )
        cause = prompts.find_cause(chosen)
        if cause is None:
            return Content.assemble(*parts)
    parts += [("Remedy\n", heading), inert(cause.remedy), ("\n\nQuestions to ask\n", heading)]
    parts.append(Content("\n").join(inert(f"• {question}") for question in cause.questions))
    return Content.assemble(*parts)


class RemedyScreen(PhaseScreen):
    phase = Phase.REMEDY
    CSS_PATH = "remedy.tcss"
    HELP = (
        "Work through the top-voted items one at a time: up and down pick the item under "
        "discussion, and its cause's remedy and questions show beside it. Agree an action "
        "item for it in the form: what will be done, one owner, a due date (YYYY-MM-DD) and "
        "a metric that will show it worked; the item's complaints are linked to it. n (or "
        "enter on an item) jumps to the form, tab moves between fields, enter or ctrl+s adds "
        "the action item. On the list of agreed actions, x drops an action item (or reopens "
        "a dropped one)."
    )
    BINDINGS = [
        Binding("n", "form", "New action"),
        Binding("ctrl+s", "add", "Add action"),
        Binding("x", "drop", "Drop/reopen"),
    ]

    def __init__(self, view: SessionView) -> None:
        super().__init__(view)
        self.discussed: str | None = None  # the item whose cause prefilled the form

    def compose_body(self) -> ComposeResult:
        causes = [(inert(cause.name), cause.key) for cause in self.view.prompts.causes]
        with Horizontal(classes="columns"):
            with Vertical(id="agenda", classes="column"):
                yield Static(id="items-title", classes="column-title")
                yield CardList(id="items", empty="no votes yet: go back to vote (ctrl+b)")
            with Vertical(id="discussion", classes="column"):
                yield Static(id="discussion-title", classes="column-title")
                with VerticalScroll(id="remedy-scroll"):
                    yield Static(id="remedy")
                with Vertical(id="action-form"):
                    with Horizontal(classes="form-row"):
                        yield Label("What", classes="form-label")
                        yield TextInput(placeholder="what will be done", id="what", compact=True)
                    with Horizontal(classes="form-row"):
                        yield Label("Owner", classes="form-label")
                        yield TextInput(placeholder="one name", id="owner", compact=True)
                        yield Label("Due", classes="form-label short")
                        yield TextInput(
                            default_due(), placeholder="YYYY-MM-DD", id="due", compact=True
                        )
                    with Horizontal(classes="form-row"):
                        yield Label("Metric", classes="form-label")
                        yield TextInput(
                            placeholder="how we will know it worked", id="metric", compact=True
                        )
                    with Horizontal(classes="form-row"):
                        yield Label("Cause", classes="form-label")
                        yield Select[str](causes, prompt="no cause", id="cause", compact=True)
                    with Horizontal(classes="form-row buttons"):
                        yield Button("Add action", id="add", variant="primary", compact=True)
                        yield Label("enter or ctrl+s", classes="hint")
                    yield Label(id="form-error")
        yield Static(id="actions-title", classes="column-title")
        yield CardList(id="actions", empty="no action items yet: fill in the form above")

    def show_body(self, view: SessionView) -> None:
        prompts, actions = view.prompts, view.board.action_items
        voted = [item for item in view.board.items() if item.votes > 0]
        self.query_one("#items-title", Static).update(f"Top-voted items ({len(voted)})")
        self.query_one("#items", CardList).show(
            (item.key, item_card(item, prompts, actions)) for item in voted
        )
        self.query_one("#actions-title", Static).update(f"Agreed actions ({len(actions)})")
        self.query_one("#actions", CardList).show(
            (str(action.id), action_card(action, prompts)) for action in actions
        )
        self._show_discussion()

    def _discussed_item(self) -> Item | None:
        key = self.query_one("#items", CardList).selected_key
        return next((i for i in self.view.board.items() if i.key == key), None)

    def _show_discussion(self) -> None:
        item = self._discussed_item()
        select: Select[str] = self.query_one("#cause", Select)
        key = item.key if item else None
        if key != self.discussed:  # a new item: its cause prefills the form, once
            self.discussed = key
            cause = self.view.prompts.find_cause(item.lead.cause if item else None)
            select.value = cause.key if cause else Select.NULL
        title: Content = Content("Under discussion")
        if item is not None:
            name = self.view.prompts.cause_name(item.lead.cause)
            title = Content.assemble("Under discussion: ", inert(name))
        self.query_one("#discussion-title", Static).update(title)
        self.query_one("#remedy", Static).update(
            remedy_text(item, self.view.prompts, select.selection)
        )

    @on(OptionList.OptionHighlighted, "#items")
    @on(Select.Changed, "#cause")
    def _discussion_changed(self) -> None:
        self._show_discussion()

    @on(Input.Submitted, "#action-form Input")
    @on(Button.Pressed, "#add")
    def _submitted(self) -> None:
        self.action_add()

    @on(CardList.Picked, "#items")
    def _picked(self) -> None:
        self.action_form()

    def action_form(self) -> None:
        self.query_one("#what", Input).focus()

    def action_add(self) -> None:
        what, owner, due, metric = (self.query_one(f"#{name}", Input).value for name in FIELDS)
        cause = self.query_one("#cause", Select).selection
        item = self._discussed_item()
        complaints = sorted(item.ids) if item else []
        viewer = self.therapy.viewer

        def add(sessions: service.Sessions, code: str) -> None:
            sessions.add_action(code, what, owner, due, cause, metric, complaints, actor=viewer)
            self.app.call_from_thread(self._added, what, metric)

        self.act(add, done="Action item added.", failed=self._refused)

    def _added(self, what: str, metric: str) -> None:
        # Clear only what was sent: anything typed since stays.
        for name, sent in (("what", what), ("metric", metric)):
            field = self.query_one(f"#{name}", Input)
            if field.value == sent:
                field.value = ""
        self.query_one("#form-error", Label).update("")
        self.action_form()

    def _refused(self, message: str) -> None:
        self.query_one("#form-error", Label).update(inert(message))

    def action_drop(self) -> None:
        actions = self.query_one("#actions", CardList)
        if self.focused is not actions or actions.selected_key is None:
            self.notify("Highlight an agreed action in the list first (tab to it).")
            return
        item_id = int(actions.selected_key)
        action = next((a for a in self.view.board.action_items if a.id == item_id), None)
        if action is None:
            return
        status = "open" if action.status is ActionStatus.DROPPED else "dropped"
        viewer = self.therapy.viewer
        self.act(lambda s, code: s.set_action_status(code, item_id, status, actor=viewer))
