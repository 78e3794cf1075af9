"""The action plan out of the app: written to a Markdown file on the facilitator's own
terminal, published to a git wiki from there, or copied to the clipboard (OSC 52). Offered
by the palette and the close screen."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from therapy.model import TherapyError
from therapy.service import Sessions
from therapy.tui.widgets.phase_screen import current_phase_screen

if TYPE_CHECKING:
    from therapy.tui.app import TherapyApp


def ask_export(app: TherapyApp) -> None:
    from therapy.tui.widgets.prompt import TextPrompt

    if app.live is None:
        return
    screen = current_phase_screen(app)
    title = screen.view.session.title if screen is not None else ""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "plan"
    default = str(Path.cwd() / f"{slug}-{app.live.code.lower()}.md")

    def export(answer: str | None) -> None:
        if answer and answer.strip():
            export_plan(app, Path(answer.strip()).expanduser())

    app.push_screen(TextPrompt("Export the plan to", default), export)


def export_plan(app: TherapyApp, path: Path) -> None:
    if app.restricted or not app.viewer.is_facilitator:
        app.notify("Only the facilitator's own terminal writes files.", severity="error")
        return

    def write(sessions: Sessions, code: str) -> None:
        sessions.write_plan(code, path)

    if app.live is not None:
        app.live.act(write, done=f"Wrote {path}")


def ask_publish(app: TherapyApp) -> None:
    """Ask for the wiki (to begin with, the one this pair published to last) and publish in
    the form's worker: git may take seconds over the network, never on the app's loop. A
    refusal (no such wiki, no rights) shows in the form, which keeps what was typed."""
    from therapy.tui.widgets.prompt import TextPrompt

    if app.live is None:
        return
    if app.restricted or not app.viewer.is_facilitator:
        app.notify("Only the facilitator's own terminal publishes to a wiki.", severity="error")
        return
    sessions, code = app.sessions, app.live.code
    said: list[str] = []

    def publish(wiki: str) -> str | None:
        try:
            said[:] = sessions.publish(code, wiki.strip()).said()
        except TherapyError as error:
            return str(error)
        except OSError as error:
            return f"That could not be done ({error.strerror or error}); try again."
        return None

    def published(wiki: str | None) -> None:
        if wiki is not None:
            app.notify(" ".join(said), timeout=15)

    def ask(default: str) -> None:
        prompt = TextPrompt(
            "Publish the plan to the wiki",
            default,
            placeholder="git@github.com:team/project.wiki.git, or the path of your clone",
            hint="enter to publish (it may take a few seconds) · escape to cancel",
            submit=publish,
        )
        app.push_screen(prompt, published)

    def look_up(sessions: Sessions, code: str) -> None:
        app.call_from_thread(ask, sessions.wiki_for(code))

    app.live.act(look_up)


def copy_plan(app: TherapyApp) -> None:
    if not app.viewer.is_facilitator:
        # the plan names every card: a participant gets it only once all is revealed
        screen = current_phase_screen(app)
        plan = screen.view.plan if screen is not None else None
        if plan is None:
            app.notify("The plan can be copied at close.", severity="warning")
        else:
            app.copy_to_clipboard(plan)
            app.notify("The plan is on the clipboard.")
        return

    viewer = app.viewer

    def copy(sessions: Sessions, code: str) -> None:
        text = sessions.plan(code, viewer=viewer)
        app.call_from_thread(app.copy_to_clipboard, text)

    if app.live is not None:
        app.live.act(copy, done="The plan is on the clipboard.")
