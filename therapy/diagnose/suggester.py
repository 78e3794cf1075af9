"""The cause suggester: a classifier trained on the labelled corpus and on every cause that
facilitators agreed, with a confidence, a threshold below which it says nothing, and its
reasons in the facilitator's words.

How it decides (bench/diagnosis.py measures each part):

- Features: the complaint's word vector (the mean of its tokens' static embeddings, taken
  from the word-vector table that wordllama ships, centred on the corpus and made unit
  length) and its word stems and neighbouring stem pairs.
- A multinomial logistic regression over both, trained on the corpus (weight 1), the causes
  agreed in other sessions (AGREED) and, heaviest, the agreed causes that the corpus alone
  would not have suggested (CORRECTED: the facilitator corrected the app).
- The pair's sorted cards (in its earlier sessions, and in this one: the model is updated in
  a few steps as cards are sorted) also teach their words as the pair's own features, so
  what a word means between these two teams is learned without unteaching the corpus. That
  is how twenty sorted cards change the suggestions for the other forty.
- An agreed complaint that is alike (by word vector) adds its cause to the suggestion, more
  the more alike it is, and is named when it decided: "like #12, which you sorted as ...".
- Below THRESHOLD the suggestion is withheld: better "no suggestion" than a guess.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from therapy.diagnose.alike import near_duplicates
from therapy.diagnose.learner import Sparse, Weights, softmax, train
from therapy.diagnose.vectors import Vectors
from therapy.diagnose.words import STOP, features, meaningful
from therapy.model import Cause, Labelled, Suggestion


@dataclass(frozen=True)
class Settings:
    """The suggester's knobs, chosen by bench/diagnosis.py (cross-validation by team pair,
    and its learning curve); tests and the bench may try others."""

    agreed: float = 2.0  # weight of a cause agreed in a session, against 1 for the corpus
    corrected: float = 4.0  # ... and of one the corpus alone would not have suggested
    l2_dense: float = 1e-3
    l2_sparse: float = 1e-3
    dense_scale: float = 3.0
    steps: int = 300
    update_steps: int = 60  # to learn this session's sorted cards, from the trained model
    threshold: float = 0.45  # below: no suggestion
    alike: float = 0.55  # word-vector likeness from which an agreed complaint counts
    pull: float = 4.0  # how much alike agreed complaints move the suggestion
    same_pair: float = 1.0  # ... times this for the pair's own sessions (measured: its own
    # features, below, do the pair's learning; weighing its cards more only overfits them)
    min_count: int = 2  # complaints a word must be in to be learned
    own_count: int = 1  # ... as the pair's own (from its sorted cards)
    evidence: float = 2.0  # meaningful words at which a text's vector counts half
    cite: float = 0.7  # likeness from which the nearest agreed complaint is named
    words: int = 3  # words given as the reason


class Suggester:
    """Trained once on the corpus and the causes agreed in other sessions; asked per
    session, with the causes agreed in that session so far."""

    def __init__(
        self,
        causes: Sequence[Cause],
        corpus: Sequence[Labelled],
        agreed: Sequence[Labelled] = (),
        settings: Settings | None = None,
        pair: str = "",
    ) -> None:
        """PAIR: the pair it suggests for; causes agreed in its own sessions weigh
        `same_pair` times more."""
        self.settings = settings or Settings()
        self.causes = tuple(causes)
        self.keys = [cause.key for cause in self.causes]
        self.names = {cause.key: cause.name for cause in self.causes}
        self.vectors = Vectors.load()
        corpus = [e for e in corpus if e.cause in self.names]
        agreed = [e for e in agreed if e.cause in self.names]
        raw = self.vectors.embed([e.text for e in corpus]) if corpus else None
        self.centre = (
            raw.mean(axis=0) if raw is not None else np.zeros(self.vectors.dim, np.float32)
        )
        base = self._corpus_model(corpus)
        # an agreed cause the corpus alone would not have suggested is a correction
        weights = [1.0] * len(corpus)
        if agreed:
            first = self._predict(base, [e.text for e in agreed])
            for example, probabilities in zip(agreed, first, strict=True):
                best = int(np.argmax(probabilities))
                guessed = (
                    self.keys[best] if probabilities[best] >= self.settings.threshold else None
                )
                weight = (
                    self.settings.agreed if guessed == example.cause else self.settings.corrected
                )
                if pair and example.pair == pair:
                    weight *= self.settings.same_pair
                weights.append(weight)
        own = [False] * len(corpus) + [bool(pair) and e.pair == pair for e in agreed]
        self.model = self._fit([*corpus, *agreed], weights, own=own) if agreed else base
        self.examples, self.weights, self.own = [*corpus, *agreed], weights, own
        self._update: tuple[tuple[object, ...], _Model] | None = None
        self.agreed = agreed
        self.agreed_weights = np.array(weights[len(corpus) :], dtype=np.float64)
        self.agreed_unit = self._unit([e.text for e in agreed])

    # -- features -------------------------------------------------------------------------

    def _unit(self, texts: list[str]) -> np.ndarray:
        """Each text's word vector, centred on the corpus, unit length: for likeness."""
        if not texts:
            return np.zeros((0, self.vectors.dim), dtype=np.float32)
        centred = self.vectors.embed(texts) - self.centre
        norms = np.linalg.norm(centred, axis=1, keepdims=True)
        return centred / np.where(norms == 0, 1, norms)

    def _dense(self, texts: list[str]) -> np.ndarray:
        """Each text's word vector, centred on the corpus and made unit length, then shrunk
        by how little the text says: a text of k meaningful words counts k / (k + evidence),
        so that "It is all so frustrating" cannot be as sure as a concrete complaint."""
        if not texts:
            return np.zeros((0, self.vectors.dim), dtype=np.float32)
        unit = self._unit(texts)
        said = np.array([len(meaningful(text)) for text in texts], dtype=np.float32)
        return unit * (said / (said + self.settings.evidence))[:, None]

    def _sparse(
        self,
        texts: list[str],
        vocab: dict[str, int],
        grow: bool,
        own: Sequence[bool] | None = None,
    ) -> Sparse:
        """The texts' stems and stem pairs, as columns of VOCAB; with GROW, VOCAB takes the
        features that at least `min_count` of these texts have (a word seen once says more
        about its writer than about a cause). A text of the pair being suggested for (OWN)
        has each feature twice: as itself, and as the pair's own ("@quota"), so that the
        pair's sorted cards can teach what a word means between these two teams without
        unteaching what it means elsewhere (feature augmentation, Daumé 2007)."""
        own = own if own is not None else [False] * len(texts)
        found: list[list[str]] = []
        for text, mine in zip(texts, own, strict=True):
            plain = list(features(text))
            found.append(plain + [f"@{f}" for f in plain] if mine else plain)
        if grow:
            counts = Counter(f for text in found for f in text)
            for feature, count in counts.items():
                needed = self.settings.own_count if feature[0] == "@" else self.settings.min_count
                if count >= needed:
                    vocab.setdefault(feature, len(vocab))
        rows: list[int] = []
        cols: list[int] = []
        for row, listed in enumerate(found):
            for feature in listed:
                column = vocab.get(feature)
                if column is not None:
                    rows.append(row)
                    cols.append(column)
        return Sparse(
            np.array(rows, dtype=np.int64),
            np.array(cols, dtype=np.int64),
            len(texts),
            max(1, len(vocab)),
        )

    def _fit(
        self,
        examples: Sequence[Labelled],
        weights: Sequence[float],
        start: _Model | None = None,
        own: Sequence[bool] | None = None,
    ) -> _Model:
        """A model of EXAMPLES (OWN: which are the pair's); with START, START's weights
        updated in a few steps (for the causes agreed in the session being sorted), its
        vocabulary grown by the pair's own features only."""
        vocab: dict[str, int] = dict(start.vocab) if start else {}
        texts = [e.text for e in examples]
        if start is None:
            sparse = self._sparse(texts, vocab, grow=True, own=own)
        else:
            grown: dict[str, int] = {}
            self._sparse(
                [t for t, o in zip(texts, own or [], strict=False) if o],
                grown,
                grow=True,
                own=[True] * sum(own or []),
            )
            for feature in grown:
                if feature[0] == "@":
                    vocab.setdefault(feature, len(vocab))
            sparse = self._sparse(texts, vocab, grow=False, own=own)
        dense = self._dense(texts) * self.settings.dense_scale
        if not examples:
            k = len(self.keys)
            zero = Weights(np.zeros((self.vectors.dim, k)), np.zeros((1, k)), np.zeros(k))
            return _Model(vocab, zero)
        labels = np.array([self.keys.index(e.cause) for e in examples])
        begin = None
        if start is not None:
            extra = np.zeros((max(1, len(vocab)) - start.weights.sparse.shape[0], len(self.keys)))
            begin = Weights(
                start.weights.dense, np.vstack([start.weights.sparse, extra]), start.weights.bias
            )
        fitted = train(
            dense,
            sparse,
            labels,
            np.array(weights, dtype=np.float64),
            len(self.keys),
            self.settings.l2_dense,
            self.settings.l2_sparse,
            steps=self.settings.update_steps if start else self.settings.steps,
            start=begin,
        )
        return _Model(vocab, fitted)

    def _corpus_model(self, corpus: list[Labelled]) -> _Model:
        """The model of the corpus alone: the same for every data folder, so a process
        trains it once per corpus and settings."""
        key = (tuple(self.keys), tuple((e.text, e.cause) for e in corpus), self.settings)
        with _corpus_models_lock:
            model = _corpus_models.get(key)
            if model is None:
                model = _corpus_models[key] = self._fit(corpus, [1.0] * len(corpus))
                while len(_corpus_models) > 2:
                    del _corpus_models[next(iter(_corpus_models))]
            return model

    def _guess(self, probabilities: np.ndarray) -> str | None:
        best = int(np.argmax(probabilities))
        return self.keys[best] if probabilities[best] >= self.settings.threshold else None

    def _updated(self, texts: Mapping[int, str], agreed: Mapping[int, str]) -> _Model:
        """The model updated with the causes agreed in this session so far: each weighs as
        an agreed cause of the same pair (more if the model did not suggest it), and the
        update is kept for as long as those causes stay the same."""
        key = tuple(sorted((i, texts[i], cause) for i, cause in agreed.items()))
        if self._update is not None and self._update[0] == key:
            return self._update[1]
        here = [Labelled(texts[i], cause) for i, cause in agreed.items()]
        guessed = self._predict(self.model, [e.text for e in here])
        weights = [
            self.settings.same_pair
            * (self.settings.agreed if self._guess(p) == e.cause else self.settings.corrected)
            for e, p in zip(here, guessed, strict=True)
        ]
        model = self._fit(
            [*self.examples, *here],
            [*self.weights, *weights],
            start=self.model,
            own=[*self.own, *([True] * len(here))],
        )
        self._update = (key, model)
        return model

    def _predict(self, model: _Model, texts: list[str], own: bool = False) -> np.ndarray:
        dense = self._dense(texts) * self.settings.dense_scale
        sparse = self._sparse(texts, model.vocab, grow=False, own=[own] * len(texts))
        return softmax(model.weights.logits(dense, sparse))

    # -- asking ---------------------------------------------------------------------------

    def suggest(
        self,
        texts: Mapping[int, str],
        agreed: Mapping[int, str] | None = None,
        session: str = "",
        groups: Mapping[int, int] | None = None,
    ) -> dict[int, Suggestion]:
        """A suggestion for each complaint of a session: TEXTS by id, AGREED the causes
        agreed in it so far (by id), GROUPS each grouped complaint's group. A complaint's
        own agreed cause never counts for it, nor do its group's."""
        groups = groups or {}
        agreed = {i: c for i, c in (agreed or {}).items() if c in self.names and i in texts}
        ids = sorted(texts)
        if not ids:
            return {}
        order = [texts[i] for i in ids]
        dense = self._dense(order)
        unit = self._unit(order)
        sparse = self._sparse(order, self.model.vocab, grow=False, own=[True] * len(order))
        base = softmax(self.model.weights.logits(dense * self.settings.dense_scale, sparse))
        models = [self.model] * len(ids)
        if agreed:
            # the cards still to sort learn from the sorted ones; a sorted card keeps the
            # suggestion it had before anything was sorted (its own cause is no evidence)
            updated = self._updated(texts, agreed)
            own = self._sparse(order, updated.vocab, grow=False, own=[True] * len(order))
            later = softmax(updated.weights.logits(dense * self.settings.dense_scale, own))
            for row, complaint in enumerate(ids):
                if complaint not in agreed:
                    base[row] = later[row]
                    models[row] = updated
        # the agreed complaints that can pull: other sessions' (not this one's: its own
        # current causes are below) and this session's
        others = [
            (n, e) for n, e in enumerate(self.agreed) if not (session and e.session == session)
        ]
        here_ids = [i for i in ids if i in agreed]
        pool_dense = (
            np.vstack(
                [self.agreed_unit[[n for n, _ in others]], unit[[ids.index(i) for i in here_ids]]]
            )
            if others or here_ids
            else np.zeros((0, dense.shape[1]), dtype=np.float32)
        )
        pool_cause = [e.cause for _, e in others] + [agreed[i] for i in here_ids]
        pool_weight = np.array(
            [self.agreed_weights[n] / self.settings.agreed for n, _ in others]
            + [self.settings.same_pair] * len(here_ids),
            dtype=np.float64,
        )
        pool_name = [self._ref(e, session) for _, e in others] + [
            f"#{i}, which you sorted as {self.names[agreed[i]]}" for i in here_ids
        ]
        pool_id = [None] * len(others) + here_ids
        likeness = unit @ pool_dense.T if len(pool_cause) else np.zeros((len(ids), 0))
        found: dict[int, Suggestion] = {}
        for row, complaint in enumerate(ids):
            pull = np.zeros(len(self.keys))
            nearest: tuple[float, int] | None = None
            for column in np.nonzero(likeness[row] >= self.settings.alike)[0]:
                other = pool_id[column]
                if other == complaint or (
                    other is not None
                    and complaint in groups
                    and groups.get(other) == groups[complaint]
                ):
                    continue  # its own cause (its group's) says nothing about it
                s = float(likeness[row, column])
                k = self.keys.index(pool_cause[column])
                strength = (s - self.settings.alike) / (1 - self.settings.alike)
                pull[k] += pool_weight[column] * strength
                if nearest is None or s > nearest[0]:
                    nearest = (s, int(column))
            total = np.log(base[row] + 1e-12) + self.settings.pull * pull
            probabilities = softmax(total[None, :])[0]
            best = int(np.argmax(probabilities))
            confidence = float(probabilities[best])
            key = self.keys[best]
            like = ""
            if nearest is not None and pool_cause[nearest[1]] == key:
                decided = (
                    int(np.argmax(base[row])) != best or base[row].max() < self.settings.threshold
                )
                if decided or nearest[0] >= self.settings.cite:
                    like = "like " + pool_name[nearest[1]]
            if not meaningful(order[row]) and not like:
                found[complaint] = NOTHING  # "Why?": no word to go on
                continue
            reasons = self._words(order[row], best, models[row])
            if not reasons and not like:  # only the tone of it: no reason to give
                confidence = min(confidence, self.settings.threshold - 0.01)
            found[complaint] = self._suggestion(key, confidence, reasons, like, probabilities)
        return found

    def alike(self, texts: Mapping[int, str]) -> dict[int, int]:
        """For each complaint with a near-duplicate, the id of the most alike other one."""
        ids = sorted(texts)
        order = [texts[i] for i in ids]
        guesses = [self.keys[int(k)] for k in self._predict(self.model, order).argmax(axis=1)]
        return near_duplicates(dict(texts), self._unit(order), guesses)

    def _ref(self, example: Labelled, session: str) -> str:
        cause = self.names[example.cause]
        if example.session == session:
            return f"#{example.complaint}, which you sorted as {cause}"
        title = f"'{example.title}'" if example.title else example.session
        return f"#{example.complaint} of {title}, sorted as {cause}"

    def _suggestion(
        self,
        key: str,
        confidence: float,
        words: tuple[str, ...],
        like: str,
        probabilities: np.ndarray,
    ) -> Suggestion:
        score = math.floor(confidence * 100) / 100
        if confidence < self.settings.threshold:
            ranked = np.argsort(-probabilities)[:2]
            unsure = " or ".join(
                f"{self.names[self.keys[k]]} ({probabilities[k]:.0%})" for k in ranked
            )
            return Suggestion(None, score, words, like="", guess=key, reason=f"not sure: {unsure}")
        parts = []
        if words:
            parts.append("words: " + ", ".join(words))
        if like:
            parts.append(like)
        return Suggestion(
            key,
            score,
            words,
            like=like,
            guess=key,
            reason="; ".join(parts) or "the text as a whole",
        )

    def _words(self, text: str, best: int, model: _Model) -> tuple[str, ...]:
        """The words that weighed most for cause BEST against the others in MODEL, as
        written: each token's share of the word vector's part, and each stem's (and stem
        pair's, halved) weight, the pair's own included."""
        weights = model.weights
        margin_dense = weights.dense[:, best] - weights.dense.mean(axis=1)
        margin_sparse = weights.sparse[:, best] - weights.sparse.mean(axis=1)
        tokens = self.vectors.tokens([text])[0]
        raw = self.vectors.table[tokens.ids].astype(np.float32)
        if not len(tokens.ids):
            return ()
        mean = raw.mean(axis=0)
        unit = mean / (np.linalg.norm(mean) or 1)
        centred_norm = np.linalg.norm(unit - self.centre) or 1
        scale = self.settings.dense_scale / (len(tokens.ids) * (np.linalg.norm(mean) or 1))
        scale /= centred_norm
        said = len(meaningful(text))
        scale *= said / (said + self.settings.evidence)
        score: dict[str, float] = {}
        written: dict[str, str] = {}
        for word, contribution in zip(tokens.words, raw @ margin_dense * scale, strict=True):
            key = word.casefold()
            if not key or key in STOP or len(key) < 3 or key.isdigit():
                continue
            score[key] = score.get(key, 0.0) + float(contribution)
        for feature, parts in features(text).items():
            for column in (model.vocab.get(feature), model.vocab.get(f"@{feature}")):
                if column is None:
                    continue
                for word in parts:
                    key = word.casefold()
                    if len(key) < 3 or key.isdigit():
                        continue
                    written.setdefault(key, word)
                    share = float(margin_sparse[column]) / len(parts)
                    score[key] = score.get(key, 0.0) + share
        ranked = sorted((s, k) for k, s in score.items() if s > 0)
        return tuple(written.get(k, k) for _, k in reversed(ranked[-self.settings.words :]))


_corpus_models: dict[tuple[object, ...], _Model] = {}
_corpus_models_lock = threading.Lock()

NOTHING = Suggestion(None, 0.0, reason="nothing to go on: not one word the app can weigh")


@dataclass
class _Model:
    vocab: dict[str, int]
    weights: Weights
