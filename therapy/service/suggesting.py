"""Suggested causes: the suggester trained on the corpus and on every cause agreed in the data
folder's sessions (demo sessions aside), kept per process and rebuilt when a label changes.

The suggester is heavy to start (word vectors, training) and light to ask, so a process
builds it once, in the thread that first needs it, and builds it again only when another
session's agreed causes changed (the current session's own causes are passed at each ask,
so sorting a card does not retrain). Other sessions are read only when their file changed:
each is stat'ed, not read, at every ask. The TUI never waits for a build: `suggestions(...,
wait=False)` answers None while one is on its way, and the screen says so."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from therapy.model import Board, Complaint, Labelled, Session, Suggestion, TherapyError
from therapy.service.base import ServiceBase
from therapy.service.validate import normalise_code

if TYPE_CHECKING:
    from therapy.diagnose import Suggester

Stamp = tuple[int, int, int]


@dataclass(frozen=True)
class _Job:
    """One build: for the session left out, the labels' key it answers, the labels, and the
    pair whose cards are its own."""

    leave_out: str
    key: tuple[object, ...]
    labels: list[Labelled]
    pair: str


class _Cache:
    """What one process keeps for one data folder and prompts folder."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.labels: dict[str, tuple[Stamp, list[Labelled]]] = {}
        # by the session left out of training (its own causes are passed at each ask): the
        # key it was built for (every other session's stamp) and the suggester
        self.built: dict[str, tuple[tuple[object, ...], Suggester]] = {}
        self.building: set[str] = set()
        self.failed: dict[str, str] = {}  # a background build's error, until it is said


_caches: dict[tuple[Path, Path | None], _Cache] = {}
_caches_lock = threading.Lock()


def _is_demo(pair: str) -> bool:
    return pair.startswith("demo ")


def agreed_causes(complaints: Sequence[Complaint]) -> dict[int, str]:
    return {c.id: c.cause for c in complaints if c.cause}


class SuggestingRules(ServiceBase):
    def _suggest_cache(self) -> _Cache:
        key = (Path(self.store.root), self.prompts_folder)
        with _caches_lock:
            return _caches.setdefault(key, _Cache())

    def learned_labels(self, leave_out: str = "", cache: _Cache | None = None) -> list[Labelled]:
        """Every cause agreed in the data folder's sessions but LEAVE_OUT, demo sessions
        aside; a session that cannot be read is left out too (its history says so where it
        is shown)."""
        cache = cache or self._suggest_cache()
        with cache.lock:
            return [label for _, labels in self._labels(leave_out, cache) for label in labels]

    def _labels(
        self, leave_out: str, cache: _Cache | None = None
    ) -> list[tuple[tuple[str, Stamp], list[Labelled]]]:
        cache = cache or self._suggest_cache()
        entries, _ = self.store.index()
        found = []
        for entry in entries:
            if _is_demo(entry.pair) or entry.code == leave_out:
                continue
            try:
                stamp = self.store.stamp(entry.code)
            except TherapyError:
                continue  # unreadable: left out, as a damaged session is
            if stamp is None:
                continue
            kept = cache.labels.get(entry.code)
            if kept is None or kept[0] != stamp:
                try:
                    snapshot = self.store.read(entry.code)
                except TherapyError:
                    continue
                session = snapshot.session
                labels = [
                    Labelled(c.text, c.cause, session.pair, session.code, c.id, session.title)
                    for c in sorted(snapshot.complaints.values(), key=lambda c: c.id)
                    if c.cause and not _is_demo(session.pair)
                ]
                kept = cache.labels[entry.code] = (stamp, labels)
            found.append(((entry.code, kept[0]), kept[1]))
        listed = {entry.code for entry in entries}
        for gone in [code for code in cache.labels if code not in listed]:
            del cache.labels[gone]  # deleted sessions are forgotten
        return found

    def suggester(self, leave_out: str = "", wait: bool = True, pair: str = "") -> Suggester | None:
        """The suggester trained on the corpus and on the causes agreed in every session but
        LEAVE_OUT (whose pair is PAIR: its sessions weigh more), as they are now. With WAIT
        false it never builds in this thread: it answers the one built last for LEAVE_OUT
        (however old; a new one is being built), or None while the first one is on its way;
        a build that failed in the background is said once, as a TherapyError."""
        cache = self._suggest_cache()
        with cache.lock:
            found = self._labels(leave_out, cache)
            labels = [label for _, kept in found for label in kept]
            key = (pair, *((la.session, la.complaint, la.cause, la.text) for la in labels))
            built = cache.built.get(leave_out)
            if built is not None and built[0] == key:
                return built[1]
            if not wait:
                failed = cache.failed.pop(leave_out, None)
                if failed:
                    raise TherapyError(failed)
                if leave_out not in cache.building:
                    cache.building.add(leave_out)
                    job = _Job(leave_out, key, labels, pair)
                    threading.Thread(
                        target=self._build_behind, args=(cache, job), daemon=True
                    ).start()
                return built[1] if built else None
        return self._build(cache, _Job(leave_out, key, labels, pair))

    def building_suggester(self, leave_out: str = "") -> bool:
        """Whether a suggester for LEAVE_OUT is being built in this process now."""
        cache = self._suggest_cache()
        with cache.lock:
            return (normalise_code(leave_out) if leave_out else "") in cache.building

    def _build_behind(self, cache: _Cache, job: _Job) -> None:
        """A build in a thread of its own: whatever goes wrong is kept, to be said by the
        next ask, and the build is over either way."""
        try:
            self._build(cache, job)
        except TherapyError as error:
            with cache.lock:
                cache.failed[job.leave_out] = str(error)
        except Exception as error:  # noqa: BLE001 - a thread has no one else to tell
            with cache.lock:
                cache.failed[job.leave_out] = (
                    f"The suggester could not start ({type(error).__name__}: {error}); "
                    "the cards can still be sorted by hand."
                )
        finally:
            with cache.lock:
                cache.building.discard(job.leave_out)

    def _build(self, cache: _Cache, job: _Job) -> Suggester:
        from therapy.diagnose import Suggester
        from therapy.prompts import load_corpus

        corpus = load_corpus(self.prompts_folder)
        built = Suggester(self.prompts.causes, corpus, job.labels, pair=job.pair)
        with cache.lock:
            cache.built[job.leave_out] = (job.key, built)
            while len(cache.built) > 4:  # a process looks at a session or two
                del cache.built[next(iter(cache.built))]
        return built

    def suggestions(self, board: Board, wait: bool = True) -> dict[int, Suggestion] | None:
        """The suggested cause of every complaint on the board; see `suggestions_for`."""
        return self.suggestions_for(board.session, board.complaints, wait)

    def suggestions_for(
        self, session: Session, complaints: Sequence[Complaint], wait: bool = True
    ) -> dict[int, Suggestion] | None:
        """The suggested cause of each complaint (this session's agreed causes count for the
        others, never for themselves); None while the suggester is still being built and
        WAIT is false."""
        pair = "" if _is_demo(session.pair) else session.pair
        suggester = self.suggester(session.code, wait, pair)
        if suggester is None:
            return None
        return suggester.suggest(
            {c.id: c.text for c in complaints},
            agreed_causes(complaints),
            session=session.code,
            groups={c.id: c.group for c in complaints if c.group is not None},
        )

    def alike(self, board: Board, wait: bool = True) -> dict[int, int]:
        """Each complaint's most alike other one, where one is alike enough: by meaning once
        the suggester's word vectors are loaded, by shared words until then."""
        from therapy.diagnose import near_duplicates

        texts = {c.id: c.text for c in board.complaints}
        session = board.session
        suggester = self.suggester(
            session.code, wait, "" if _is_demo(session.pair) else session.pair
        )
        if suggester is None:
            return near_duplicates(texts)
        return suggester.alike(texts)
