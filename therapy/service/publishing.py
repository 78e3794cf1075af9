"""Publishing a session's plan, and its pair's index page, to a git wiki."""

from __future__ import annotations

from typing import TYPE_CHECKING

from therapy.model import Trend
from therapy.service.followup import FollowUpRules
from therapy.service.validate import line_text, normalise_code
from therapy.store.schema import storable

if TYPE_CHECKING:
    from therapy.export.wiki import Publication

MAX_MESSAGE = 200


class PublishRules(FollowUpRules):
    def publish(
        self, code: str, wiki: str, branch: str | None = None, message: str | None = None
    ) -> Publication:
        """Writes the plan of session CODE and its pair's index page into the git wiki WIKI
        (a URL, or the path of a bare repository or of a working clone), in one commit that
        names the session, and pushes it. Nothing changed: no commit."""
        from therapy.export.wiki import PlanPage, publish

        code = normalise_code(code)
        session = self.session(code)
        named = f"session {code}: {session.title}"
        if message is None:
            subject = f"Publish retro {code}: {session.title} ({session.pair_label})"
            text = line_text(subject[:MAX_MESSAGE], "The commit message", MAX_MESSAGE) + "\n"
        else:
            subject = line_text(message, "The commit message (--message)", MAX_MESSAGE)
            text = f"{subject}\n\nFrom therapy {named}\n"

        def content() -> tuple[PlanPage, Trend]:
            page = PlanPage(
                code=code,
                title=session.title,
                pair_label=session.pair_label,
                created=session.created,
                markdown=self.plan(code, "md"),
            )
            trends = self.trend(code=code)
            return page, trends[0] if trends else Trend(session.pair, session.pair_label)

        done = publish(wiki, content, branch, text)
        with self.store.transaction(code) as snapshot:
            # a path no stored text may hold (a control character, over-long) is not offered
            keep = done.wiki and storable("wiki", done.wiki)
            if keep and snapshot.session.wiki != done.wiki:
                snapshot.session.wiki = done.wiki  # where to offer next time (no credentials)
                self._touch(snapshot)
        return done

    def wiki_for(self, code: str) -> str:
        """Where session CODE's plan would go: the wiki it was published to, or else the one
        its pair's newest published session went to ("" if none)."""
        session = self.session(normalise_code(code))
        if session.wiki:
            return session.wiki
        trends = self._pairs(code=session.code)
        snapshots = trends[0].snapshots if trends else []
        return next((s.session.wiki for s in reversed(snapshots) if s.session.wiki), "")
