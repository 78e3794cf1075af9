"""The sessions in the data folder: open one, start a new one, delete one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Checkbox, DataTable, Header, Label, Static

from therapy.model import TherapyError
from therapy.service import SessionSummary
from therapy.text import clean_line
from therapy.tui.dialogs.invitation import InvitationDialog
from therapy.tui.widgets.cards import inert
from therapy.tui.widgets.confirm import Confirm
from therapy.tui.widgets.footer import KeyFooter
from therapy.tui.widgets.prompt import TextInput

if TYPE_CHECKING:
    from therapy.tui.app import TherapyApp

COLUMNS = ("Code", "Title", "Pair", "Phase", "Cards", "People", "Last change")


class HomeScreen(Screen[None]):
    CSS_PATH = "home.tcss"
    HELP = (
        "Every session in the data folder, newest first. Open one to facilitate it, or start "
        "a new one: participants join it with its code. h shows the highlighted session's "
        "pair: its score, causes and follow-through from one session to the next. s shows "
        "the lines that let people join the highlighted session, to paste into a chat, and "
        "copies them (therapy invite in the shell)."
    )
    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("n", "new", "New session"),
        Binding("d,delete", "delete", "Delete"),
        Binding("h", "history", "Pair history"),
        Binding("s", "invite", "Invite"),
    ]

    @property
    def therapy(self) -> TherapyApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="body"):
            yield Static(
                "Couples therapy for two teams that keep fighting. Pick a session, or press n.",
                classes="muted",
            )
            yield DataTable(cursor_type="row", zebra_stripes=True, id="sessions")
            yield Static("", id="empty", classes="muted")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.set_interval(2, self.load)
        self.load()

    def on_screen_resume(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="home")
    def load(self) -> None:
        summaries = self.therapy.sessions.summaries()
        self.app.call_from_thread(self.show, summaries)

    def show(self, summaries: list[SessionSummary]) -> None:
        table = self.query_one(DataTable)
        selected = self.selected_code
        table.clear()
        for s in summaries:
            phase = s.phase.label if s.phase else "damaged"
            when = (s.updated or s.created)[:16].replace("T", " ")
            row = (
                s.code,
                s.title,
                s.pair_label or " × ".join(s.sides),
                phase,
                str(s.complaints),
                str(s.participants),
                when,
            )
            table.add_row(*(Text(clean_line(cell)) for cell in row), key=s.code)
        if selected is not None and selected in {s.code for s in summaries}:
            table.move_cursor(row=table.get_row_index(selected))
        empty = "" if summaries else "No sessions yet: press n to start one (or run therapy demo)."
        self.query_one("#empty", Static).update(empty)

    @property
    def selected_code(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        code = self.selected_code
        if code is not None:
            self.therapy.open_session(code)

    def action_history(self) -> None:
        self.therapy.open_history(self.selected_code)  # the app opens it: no screen imports another

    def action_invite(self) -> None:
        code = self.selected_code
        if code is not None:
            self.app.push_screen(InvitationDialog(self.therapy.sessions, code))

    def action_new(self) -> None:
        def created(code: str | None) -> None:
            if code:
                self.therapy.open_session(code)

        self.app.push_screen(NewSession(), created)

    def action_delete(self) -> None:
        code = self.selected_code
        if code is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.delete(code)

        self.app.push_screen(
            Confirm(
                f"Delete session {code} and everything in it? This cannot be undone.",
                default=False,
            ),
            confirmed,
        )

    @work(thread=True, group="home-delete")
    def delete(self, code: str) -> None:
        try:
            self.therapy.sessions.delete(code)
        except TherapyError as error:
            self.app.call_from_thread(self.app.notify, str(error), severity="error")
        else:
            self.app.call_from_thread(self.app.notify, f"Deleted session {code}.")
        self.load()


class NewSession(ModalScreen[str | None]):
    """The form for a new session; dismisses with its code."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("A new session", classes="dialog-title")
            for label, field, placeholder, kind in FIELDS:
                with Horizontal(classes="field"):
                    yield Label(label)
                    yield TextInput(
                        DEFAULTS.get(field, ""),
                        placeholder=placeholder,
                        id=field,
                        type=kind,
                        compact=True,
                    )
            yield Checkbox("Anonymous: store no names at all", id="anonymous", compact=True)
            yield Label(
                "Sessions of one pair share their history; without a name the pair is its sides.",
                classes="hint",
            )
            yield Label("", id="problem", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Create", variant="primary", id="create")
                yield Button("Cancel", id="cancel")

    def _value(self, field: str) -> str:
        return self.query_one(f"#{field}", TextInput).value

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Leave without creating; asks first if anything was typed."""
        if not any(self._value(f) != DEFAULTS.get(f, "") for f in ("title", "pair", "sides")):
            self.dismiss(None)
            return

        def leave(yes: bool | None) -> None:
            if yes:
                self.dismiss(None)

        self.app.push_screen(Confirm("Leave without creating this session?"), leave)

    @on(Button.Pressed, "#create")
    @on(TextInput.Submitted)
    def _create(self) -> None:
        numbers = {}
        for field, what in (("votes", "Votes per person"), ("top", "Top items to remedy")):
            try:
                numbers[field] = int(self._value(field) or 0)
            except ValueError:
                self.query_one("#problem", Label).update(f"{what} must be a whole number.")
                return
        self.create(
            self._value("title"),
            self._value("sides").split(","),
            self._value("pair"),
            numbers["votes"],
            numbers["top"],
            self.query_one("#anonymous", Checkbox).value,
        )

    @work(thread=True, exclusive=True)
    def create(
        self, title: str, sides: list[str], pair: str, votes: int, top: int, anonymous: bool
    ) -> None:
        sessions = self.app.sessions  # type: ignore[attr-defined]
        try:
            session = sessions.create(title, sides, anonymous, votes, pair=pair, top=top)
        except TherapyError as error:
            self.app.call_from_thread(self._problem, str(error))
        else:
            self.app.call_from_thread(self.dismiss, session.code)

    def _problem(self, message: str) -> None:
        self.query_one("#problem", Label).update(inert(message))


DEFAULTS = {"sides": "Sales,Marketing", "votes": "3", "top": "3"}


FIELDS: tuple[tuple[str, str, str, Literal["integer", "text"]], ...] = (  # label, id, hint, type
    ("Title", "title", "Q3 lead handoff", "text"),
    ("Sides", "sides", "separated by commas", "text"),
    ("Pair", "pair", "optional: e.g. Revenue team", "text"),
    ("Votes per person", "votes", "", "integer"),
    ("Top items to remedy", "top", "", "integer"),
)
