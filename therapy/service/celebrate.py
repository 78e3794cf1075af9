"""Celebrate: wins and appreciations, each side for the other."""

from __future__ import annotations

from therapy.model import FACILITATOR, Actor, TherapyError, Win
from therapy.service.base import ServiceBase
from therapy.service.permissions import Action
from therapy.service.validate import complaint_text, name_text, normalise_code


class CelebrateRules(ServiceBase):
    def add_win(
        self,
        code: str,
        side: str,
        text: str,
        kind: str = "win",
        actor: Actor = FACILITATOR,
        author: str | None = None,
    ) -> Win:
        if kind not in ("win", "appreciation"):
            raise TherapyError(f"A celebration is a win or an appreciation, not '{kind}'.")
        with self.store.transaction(normalise_code(code)) as snapshot:
            session = snapshot.session
            self._require(actor, Action.ADD_WIN, session)
            participant = None if actor.is_facilitator else self._participant(snapshot, actor)
            side = participant.side if participant else self._side(session, side)
            name = participant.name if participant else name_text(author)
            win = Win(
                id=0,
                side=side,
                text=complaint_text(text, "A win or appreciation"),
                kind=kind,
                author=None if session.anonymous else name,
                created="" if session.anonymous else self.now(),
            )
            snapshot.add("wins", win)
            self._touch(snapshot)
            return win
