"""Celebrate: wins and appreciations, each side for the other."""

from __future__ import annotations

from therapy.model import FACILITATOR, Actor, Snapshot, TherapyError, Win
from therapy.service.base import ServiceBase
from therapy.service.bounds import check_room
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
                participant=None if session.anonymous or not participant else participant.id,
            )
            check_room(snapshot, "wins")
            self._pace(snapshot, actor, name)
            snapshot.add("wins", win)
            if session.anonymous:
                win.claim = self.claim(actor, session.code, "win", win.id)
            self._touch(snapshot)
            return win

    def _own_win(self, snapshot: Snapshot, win_id: int, actor: Actor, action: Action) -> Win:
        self._require(actor, action, snapshot.session)
        win = snapshot.wins.get(win_id)
        if win is None:
            raise TherapyError(f"There is no win or appreciation {win_id} in this session.")
        if not self.owns(snapshot, actor, win):
            raise TherapyError(f"Only the author or the facilitator can {action.value}.")
        return win

    def edit_win(self, code: str, win_id: int, text: str, actor: Actor = FACILITATOR) -> Win:
        with self.store.transaction(normalise_code(code)) as snapshot:
            win = self._own_win(snapshot, win_id, actor, Action.EDIT_WIN)
            win.text = complaint_text(text, "A win or appreciation")
            self._touch(snapshot)
            return win

    def delete_win(self, code: str, win_id: int, actor: Actor = FACILITATOR) -> None:
        with self.store.transaction(normalise_code(code)) as snapshot:
            self._own_win(snapshot, win_id, actor, Action.DELETE_WIN)
            del snapshot.wins[win_id]
            self._touch(snapshot)
