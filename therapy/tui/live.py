"""Keeps the open session live: a worker thread polls the session file's stamp (inode,
mtime, size) and loads a new view when another process, or this one, changed it."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

from textual.app import App
from textual.worker import Worker, get_current_worker

from therapy.model import Actor, TherapyError
from therapy.service import Attendance, NoSeat, Sessions, StoreError
from therapy.tui.view import SessionChanged, SessionGone

POLL_SECONDS = 0.1
PRESENCE_EVERY = 10  # polls


class Live:
    def __init__(
        self,
        app: App[None],
        sessions: Sessions,
        code: str,
        viewer: Actor,
        shown: tuple[int, int, int] | None = None,
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.code = code
        self.viewer = viewer
        self.wake = threading.Event()
        self.shown = shown  # the stamp of the view on screen
        self.tickets = itertools.count()  # changes are numbered as asked, and run in turn
        self.serving = 0
        self.turn = threading.Condition()

    def start(self) -> None:
        self.app.run_worker(self._watch, thread=True, exclusive=True, group="watch")

    def stop(self) -> None:
        self.app.workers.cancel_group(self.app, "watch")
        self.wake.set()

    def reload(self) -> None:
        """Load a new view now rather than at the next poll."""
        self.wake.set()

    def _watch(self) -> None:
        worker = get_current_worker()
        attendance = None
        if self.viewer.participant is not None:
            try:
                attendance = self.sessions.attend(self.code, self.viewer.participant)
            except NoSeat as error:  # connected in too many windows already
                self.app.post_message(SessionGone(str(error)))
                return
            except StoreError as error:  # e.g. presence/ not writable: take part all the same
                self.app.call_from_thread(self.app.notify, str(error), severity="error")
        try:
            self._poll(worker, attendance)
        finally:
            if attendance is not None:
                attendance.close()

    def _poll(self, worker: Worker[None], attendance: Attendance | None) -> None:
        seen = self.shown
        present: set[int] | None = None  # the first look (after a second) always reloads
        polls = 0
        pending = False  # the view on screen waits for the suggester
        while not worker.is_cancelled:
            forced = self.wake.is_set()
            self.wake.clear()
            if pending and not self.sessions.building_suggester(self.code):
                forced = True  # it is ready: show its suggestions
            try:
                stamp = self.sessions.stamp(self.code)
            except StoreError as error:  # not deleted: unreadable, and it says why
                self.app.post_message(SessionGone(str(error)))
                return
            if stamp is None:
                self.app.post_message(SessionGone(f"Session {self.code} was deleted."))
                return
            polls += 1
            if polls % PRESENCE_EVERY == 0:  # who is here changes rarely: look once a second
                if attendance is not None:
                    attendance.hold()
                now_present = self.sessions.present(self.code)
                forced = forced or now_present != present
                present = now_present
            if forced or stamp != seen:
                try:
                    view = self.sessions.view(self.code, self.viewer)
                except StoreError as error:
                    self.app.post_message(SessionGone(str(error)))
                    return
                except TherapyError as error:  # e.g. a broken prompts file
                    seen = stamp  # said once, not again at every poll
                    pending = False
                    self.app.call_from_thread(self.app.notify, str(error), severity="error")
                else:
                    seen = stamp
                    pending = view.suggesting in ("pending", "refreshing")
                    if view.suggestion_error:
                        self.app.call_from_thread(
                            self.app.notify, view.suggestion_error, severity="error"
                        )
                    if not worker.is_cancelled:
                        self.app.post_message(SessionChanged(view, stamp))
            self.wake.wait(POLL_SECONDS)

    def act(
        self,
        change: Callable[[Sessions, str], object],
        done: str | None = None,
        failed: Callable[[str], None] | None = None,
    ) -> None:
        """Run one change in a worker thread; show its error in one sentence if refused.
        Changes are applied in the order they were asked for (1 then 2 on a card ends on 2)."""
        ticket = next(self.tickets)

        def run() -> None:
            with self.turn:
                self.turn.wait_for(lambda: self.serving == ticket)
            try:
                change(self.sessions, self.code)
            except TherapyError as error:
                if failed is not None:
                    self.app.call_from_thread(failed, str(error))
                else:
                    self.app.call_from_thread(self.app.notify, str(error), severity="error")
                return
            except OSError as error:  # the store turns its own into sentences; this is a rest
                message = f"That could not be done ({error.strerror or error}); try again."
                self.app.call_from_thread(self.app.notify, message, severity="error")
                return
            finally:
                with self.turn:
                    self.serving += 1
                    self.turn.notify_all()
            self.reload()
            if done:
                self.app.call_from_thread(self.app.notify, done)

        self.app.run_worker(run, thread=True, group="act")
