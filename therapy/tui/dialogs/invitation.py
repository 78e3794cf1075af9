"""The invitation to a session, as the facilitator pastes it into a chat: shown, and
copied to the clipboard (OSC 52) as soon as it is read. Opened by the invite key at
check-in and on the list of sessions, and by the palette."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from therapy.model import TherapyError
from therapy.service import Sessions
from therapy.service.invitation import Invitation, invite

COPIED = "The invitation is on the clipboard."


class InvitationDialog(ModalScreen[None]):
    CSS_PATH = "invitation.tcss"
    BINDINGS = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("c", "copy", "Copy again"),
    ]

    def __init__(self, sessions: Sessions, code: str) -> None:
        super().__init__()
        self.sessions = sessions
        self.code = code
        self.invitation: Invitation | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Invite people to session {self.code}", classes="dialog-title")
            yield Static(id="invitation-warning", classes="-none")
            with VerticalScroll():
                yield Static("Reading the doors of therapy serve…", id="invitation-text")
            yield Label("c copies it again · escape closes", classes="hint")

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        try:
            invitation = invite(self.sessions, self.code)
        except TherapyError as error:
            self.app.call_from_thread(self.failed, str(error))
        except OSError as error:
            self.app.call_from_thread(
                self.failed, f"The invitation could not be read ({error.strerror or error})."
            )
        else:
            self.app.call_from_thread(self.show, invitation)

    def show(self, invitation: Invitation) -> None:
        if not self.is_attached:
            return  # closed while it was being read
        self.invitation = invitation
        # the session's title and serve's record: text as typed, never markup
        self.query_one("#invitation-text", Static).update(Content(invitation.text.rstrip()))
        warning = self.query_one("#invitation-warning", Static)
        warning.update(Content(invitation.warning or ""))
        warning.set_class(invitation.warning is None, "-none")
        self.action_copy()

    def failed(self, reason: str) -> None:
        self.app.notify(reason, severity="error", timeout=10)
        if self.is_current:
            self.dismiss(None)

    def action_copy(self) -> None:
        if self.invitation is not None:
            self.app.copy_to_clipboard(self.invitation.text)
            self.app.notify(COPIED)
