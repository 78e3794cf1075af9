"""Multinomial logistic regression over two kinds of features: a text's word vector (dense)
and its word stems and stem pairs (sparse), trained with a weight per example. numpy only; a
few hundred milliseconds for a few thousand examples, so it is retrained rather than updated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Sparse:
    """A sparse 0/1 matrix: (row, column) of each one, and its shape."""

    rows: np.ndarray
    cols: np.ndarray
    n_rows: int
    n_cols: int

    def dot(self, weights: np.ndarray) -> np.ndarray:
        out = np.zeros((self.n_rows, weights.shape[1]))
        for k in range(weights.shape[1]):
            out[:, k] = np.bincount(self.rows, weights[self.cols, k], minlength=self.n_rows)
        return out

    def tdot(self, grad: np.ndarray) -> np.ndarray:
        out = np.zeros((self.n_cols, grad.shape[1]))
        for k in range(grad.shape[1]):
            out[:, k] = np.bincount(self.cols, grad[self.rows, k], minlength=self.n_cols)
        return out


@dataclass
class Weights:
    dense: np.ndarray  # (D, K)
    sparse: np.ndarray  # (V, K)
    bias: np.ndarray  # (K,)

    def logits(self, dense: np.ndarray, sparse: Sparse) -> np.ndarray:
        return dense @ self.dense + sparse.dot(self.sparse) + self.bias


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def train(
    dense: np.ndarray,
    sparse: Sparse,
    labels: np.ndarray,
    weights: np.ndarray,
    classes: int,
    l2_dense: float,
    l2_sparse: float,
    steps: int = 300,
    rate: float = 0.1,
    start: Weights | None = None,
) -> Weights:
    """Minimise the weighted mean cross-entropy plus L2 penalties, with Adam from zero (or
    from START, to update a model with a few more examples in a few steps): deterministic,
    the same result for the same examples."""
    n, d = dense.shape
    target = np.zeros((n, classes))
    target[np.arange(n), labels] = 1.0
    share = weights / weights.sum()
    if start is None:
        params = [np.zeros((d, classes)), np.zeros((sparse.n_cols, classes)), np.zeros(classes)]
    else:
        params = [start.dense.copy(), start.sparse.copy(), start.bias.copy()]
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, steps + 1):
        model = Weights(*params)
        error = (softmax(model.logits(dense, sparse)) - target) * share[:, None]
        grads = [
            dense.T @ error + l2_dense * params[0],
            sparse.tdot(error) + l2_sparse * params[1],
            error.sum(axis=0),
        ]
        for p, g, m, v in zip(params, grads, first, second, strict=True):
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            p -= rate * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + eps)
    return Weights(*params)
