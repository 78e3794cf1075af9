"""Check-in: an icebreaker, who is here, last time's open action items (done, carried over,
dropped), and the complaints logged so far, a column per side."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Static

from therapy.clock import parse_instant
from therapy.model import ActionItem, ActionStatus, Participant, Phase
from therapy.service import SessionView
from therapy.service.permissions import Action
from therapy.tui.dialogs.invitation import InvitationDialog
from therapy.tui.widgets.actions import overdue_mark
from therapy.tui.widgets.cards import CardList, card, inert
from therapy.tui.widgets.complaints import ComplaintsScreen
from therapy.tui.widgets.confirm import Confirm
from therapy.tui.widgets.presence import person_name

OUTCOMES = {"done": "done", "carried": "carried over", "dropped": "dropped"}
MUTED = "$text-muted"
SHORT = 30  # terminal lines below which the check-in drops its padding


def closed_note(item: ActionItem, here: str) -> str:
    """'done', 'done here', or, marked between sessions, 'done 2026-11-20 by Alex': an item
    reviewed already says when and by whom."""
    status = OUTCOMES.get(item.status.value, item.status.value)
    if item.status is ActionStatus.OPEN or not item.closed:
        return status
    if item.closed_by == f"check-in of {here}":
        return f"{status} here"
    try:
        day = parse_instant(item.closed).astimezone().date().isoformat()
    except ValueError:
        day = item.closed[:10]
    if item.closed_by.startswith("check-in of "):
        return f"{status} {day} at the {item.closed_by}"
    who = f" by {item.closed_by}" if item.closed_by else ""
    return f"{status} {day}{who}"


def person_card(person: Participant, present: bool, me: bool) -> Content:
    """'Alex · Sales' and '● here' or '○ away'."""
    name = inert(person_name(person)).stylize("bold")
    if me:
        name = Content.assemble(name, (" (you)", MUTED))
    state = ("● here", "$success") if present else ("○ away", MUTED)
    return Content.assemble(name, (" · ", MUTED), inert(person.side).stylize(MUTED), "\n", state)


class CheckInScreen(ComplaintsScreen):
    phase = Phase.CHECK_IN
    CSS_PATH = "checkin.tcss"
    HELP = (
        "Warm up with the icebreaker, and see who is here. The facilitator then goes through "
        "the open action items this pair agreed in earlier sessions: each is marked done, "
        "carried over (it comes into this session as a new action item) or dropped, and i "
        "shows another icebreaker; an open item past its due date is marked overdue. "
        "Complaints can already be logged, as at vent: a adds one (a participant's for their "
        "own side, the facilitator's for the column picked with left and right), e or enter "
        "edits and d deletes one's own; or from the shell (therapy add, therapy import) "
        "before the meeting. s shows the facilitator the lines that let people join, to "
        "paste into a chat, and copies them (therapy invite in the shell)."
    )
    BINDINGS = [
        Binding("i", "icebreaker", "Icebreaker"),
        Binding("s", "invite", "Invite"),
        Binding("D", "review('done')", "Done"),
        Binding("c", "review('carried')", "Carried"),
        Binding("x", "review('dropped')", "Drop"),
    ]
    CHANGES = ComplaintsScreen.CHANGES | {
        "icebreaker": Action.ICEBREAKER,
        "review": Action.REVIEW,
    }
    FACILITATOR_ONLY = frozenset({"invite"})

    reviewing: bool | None = None  # whether the review keys show for the highlighted item

    def compose_body(self) -> ComposeResult:
        yield Static("Icebreaker", classes="section-title", id="icebreaker-title")
        yield Static(id="icebreaker")
        with Horizontal(id="check-in-columns"):
            with Vertical(id="people-column"):
                yield Static(id="people-title", classes="section-title")
                yield CardList(id="people", empty="nobody has joined yet")
            with Vertical(id="earlier-column"):
                yield Static(id="earlier-title", classes="section-title")
                yield CardList(id="earlier", empty="no earlier action items for this pair")
        yield from self.compose_sides()
        yield Static(id="waiting", classes="muted")

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.height < SHORT, "-short")

    def prepare(self) -> None:
        super().prepare()
        if self.facilitating:
            self.query_one("#earlier", CardList).focus()  # the review is the facilitator's work

    def show_body(self, view: SessionView) -> None:
        session = view.session
        icebreakers = view.prompts.icebreakers
        self.query_one("#icebreaker", Static).update(
            inert(icebreakers[session.icebreaker % len(icebreakers)])
        )
        self._show_people(view)
        self._show_earlier(view)
        self.show_complaints(view)
        if self.check_action("move", ()):
            next_step = "ctrl+n (or ctrl+→) moves on to vent"
        else:
            next_step = "the facilitator moves the session on to vent"
        self.query_one("#waiting", Static).update(f"Complaints can be logged now · {next_step}")

    def _show_people(self, view: SessionView) -> None:
        people = view.board.participants
        here = sum(1 for person in people if person.id in view.present)
        self.query_one("#people-title", Static).update(f"Who is here ({here} of {len(people)})")
        me = self.therapy.viewer.participant
        self.query_one("#people", CardList).show(
            (str(p.id), person_card(p, p.id in view.present, p.id == me)) for p in people
        )

    def _show_earlier(self, view: SessionView) -> None:
        open_count = sum(1 for e in view.earlier if e.item.status is ActionStatus.OPEN)
        self.query_one("#earlier-title", Static).update(
            Content.assemble(
                "Earlier action items of ",
                inert(view.session.pair_label),
                f" ({open_count} open)",
            )
        )
        # an item carried over goes on here as this session's copy: late, it says so
        copies = {a.carried_from: a for a in view.board.action_items if a.carried_from}
        cards = []
        if view.skipped:
            skipped = ", ".join(view.skipped)
            unread = "earlier session" if len(view.skipped) == 1 else "earlier sessions"
            cards.append(
                (
                    "skipped",
                    card(
                        f"{len(view.skipped)} {unread} could not be read: {skipped}",
                        "skipped (damaged): run therapy status on it to see why",
                    ),
                )
            )
        for earlier in view.earlier:
            item = earlier.item
            status = closed_note(item, view.code)
            if item.status is ActionStatus.OPEN and super().check_action("review", ()):
                status = "open: D done · c carried over · x dropped"
            cards.append(
                (
                    earlier.ref,
                    card(
                        item.what,
                        f"{item.owner}, due {item.due}",
                        overdue_mark(copies.get(earlier.ref, item), view.today),
                        f"from {earlier.session_title} ({earlier.ref})",
                        status,
                    ),
                )
            )
        self.query_one("#earlier", CardList).show(cards)

    def action_invite(self) -> None:
        self.app.push_screen(InvitationDialog(self.therapy.sessions, self.view.code))

    def action_icebreaker(self) -> None:
        viewer = self.therapy.viewer
        self.act(lambda s, code: s.next_icebreaker(code, viewer))

    def reviewable(self) -> str | None:
        """The open earlier item highlighted in the focused #earlier list, if any: the review
        keys act on nothing else (a stray x in a complaints column must not drop an item)."""
        earlier = self.query("#earlier").first(CardList)
        ref = earlier.selected_key if self.focused is earlier else None
        if any(e.ref == ref and e.item.status is ActionStatus.OPEN for e in self.view.earlier):
            return ref
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if allowed and action == "review":
            return self.reviewable() is not None
        return allowed

    def offer_changes(self) -> None:
        super().offer_changes()
        reviewing = self.reviewable() is not None
        if reviewing != self.reviewing:
            self.reviewing = reviewing
            self.refresh_bindings()

    def action_review(self, outcome: str) -> None:
        ref = self.reviewable()
        if ref is None:
            return
        viewer = self.therapy.viewer

        def review(yes: bool | None = True) -> None:
            if yes:
                self.act(
                    lambda s, code: s.review(code, ref, outcome, viewer),
                    done=f"{ref}: {OUTCOMES[outcome]}",
                )

        if outcome == "dropped":  # a dropped item can never be reopened: asked, enter says no
            what = next(e.item.what for e in self.view.earlier if e.ref == ref)
            question = f"Drop “{what}” ({ref})? It cannot be reopened."
            self.app.push_screen(Confirm(question, default=False), review)
        else:
            review()
