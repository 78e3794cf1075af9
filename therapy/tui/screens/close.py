"""Close: where the pair stands, measured from four signals, and the action plan to export."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Markdown, Static

from therapy.model import Phase
from therapy.service import SessionView
from therapy.tui.widgets.phase_screen import PhaseScreen
from therapy.tui.widgets.standing import Standing


class CloseScreen(PhaseScreen):
    phase = Phase.CLOSE
    CSS_PATH = "close.tcss"
    HELP = (
        "Where the pair stands, measured rather than guessed: appreciation (wins against "
        "complaints), balance (both sides heard), coverage (top-voted items with an owned, "
        "dated action item) and follow-through (earlier action items done). Below is the "
        "action plan exactly as it will be exported: c copies it to the clipboard (OSC 52, "
        "works over SSH and tmux), and on the facilitator's screen x writes it to a Markdown "
        "file (you are asked where) and w publishes it, with the pair's index page, to a git "
        "wiki (GitHub and GitLab wikis are git repositories: give its URL or your clone's "
        "path; the last one is offered). Links in the plan are never opened. h shows the pair's "
        "history: its score, causes and follow-through from one session to the next."
    )
    BINDINGS = [
        Binding("x", "export", "Export plan"),
        Binding("w", "publish", "Publish to wiki"),
        Binding("c", "copy", "Copy plan"),
        Binding("h", "history", "Pair history"),
    ]
    # they write a file on the facilitator's host, or push from there
    FACILITATOR_ONLY = frozenset({"export", "publish"})

    def __init__(self, view: SessionView) -> None:
        super().__init__(view)
        self.plan_shown: str | None = None  # re-rendering Markdown is slow: only on change

    def compose_body(self) -> ComposeResult:
        yield Standing()
        with Vertical(id="plan-box"):
            keys = "x export · w publish to a wiki · c copy" if self.facilitating else "c copy"
            yield Static(f"Action plan preview · {keys} to the clipboard", classes="column-title")
            with VerticalScroll(id="plan-scroll"):
                yield Markdown(id="plan", open_links=False)

    def show_body(self, view: SessionView) -> None:
        self.query_one(Standing).show(view.relationship, view.session.pair_label)
        if view.plan is not None and view.plan != self.plan_shown:
            self.plan_shown = view.plan
            self.query_one("#plan", Markdown).update(view.plan)

    def action_export(self) -> None:
        from therapy.tui.plan import ask_export

        ask_export(self.therapy)

    def action_publish(self) -> None:
        from therapy.tui.plan import ask_publish

        ask_publish(self.therapy)

    def action_copy(self) -> None:
        from therapy.tui.plan import copy_plan

        copy_plan(self.therapy)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "history":
            return not self.therapy.one_session  # a key for this session only: not its pair
        return super().check_action(action, parameters)

    def action_history(self) -> None:
        self.therapy.open_history(self.view.code)  # the app opens it: no screen imports another
