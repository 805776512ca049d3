"""Evaluation in plain numpy: the split, AUC, Brier score, calibration error, reliability table.

The runtime image has no scikit-learn, and ``leadgen model evaluate`` must run there, so these
are written out (and checked against scikit-learn in the tests).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]


def stratified_split(labels: BoolArray, test_share: float, seed: int) -> tuple[IntArray, IntArray]:
    """Train and held-out indices, each class split in the same proportion (sorted, deterministic)."""
    rng = np.random.default_rng(seed)
    train: list[IntArray] = []
    test: list[IntArray] = []
    for value in (False, True):
        members = np.flatnonzero(labels == value)
        shuffled = members[rng.permutation(len(members))]
        cut = round(len(members) * test_share)
        test.append(shuffled[:cut])
        train.append(shuffled[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def auc(scores: FloatArray, labels: BoolArray) -> float:
    """Area under the ROC curve (Mann-Whitney), ties counted as half."""
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return math.nan
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = ((ends - counts + 1 + ends) / 2)[inverse]
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def brier(probability: FloatArray, labels: BoolArray) -> float:
    return float(np.mean((probability - labels) ** 2))


def log_loss(probability: FloatArray, labels: BoolArray) -> float:
    p = np.clip(probability, 1e-12, 1 - 1e-12)
    return float(-np.mean(np.where(labels, np.log(p), np.log1p(-p))))


def _decile_bins(probability: FloatArray, bins: int) -> list[IntArray]:
    return [b for b in np.array_split(np.argsort(probability, kind="stable"), bins) if len(b)]


def ece(probability: FloatArray, labels: BoolArray, bins: int = 10) -> float:
    """Expected calibration error over equal-count bins: the size-weighted mean |predicted - observed|."""
    total = len(probability)
    return float(
        sum(len(b) / total * abs(probability[b].mean() - labels[b].mean()) for b in _decile_bins(probability, bins))
    )


def ece_noise_floor(probability: FloatArray, draws: int = 200, bins: int = 10, seed: int = 0) -> float:
    """The ECE a perfectly calibrated model would still show on this many leads, by chance alone.

    Labels are drawn from the predicted probabilities themselves, so any error left is sampling noise.
    """
    rng = np.random.default_rng(seed)
    return float(np.mean([ece(probability, rng.random(len(probability)) < probability, bins) for _ in range(draws)]))


def reliability(probability: FloatArray, labels: BoolArray, bins: int = 10) -> list[dict[str, Any]]:
    """Per decile of predicted probability: the range, mean prediction and observed conversion rate."""
    table = []
    for i, b in enumerate(_decile_bins(probability, bins), 1):
        p, y = probability[b], labels[b]
        table.append(
            {
                "decile": i,
                "leads": len(b),
                "from": round(float(p.min()), 4),
                "to": round(float(p.max()), 4),
                "predicted": round(float(p.mean()), 4),
                "observed": round(float(y.mean()), 4),
            }
        )
    return table


def fit_platt(logit: FloatArray, labels: BoolArray, iterations: int = 100) -> tuple[float, float]:
    """(a, b) of p = sigmoid(a * logit + b) by damped Newton on the log loss (Platt, 1999).

    Starts from the constant model (a = 0, b = the log-odds of the base rate) and halves any step
    that does not lower the loss, so it converges from any scale of input.
    """
    y = labels.astype(float)
    rate = min(max(float(y.mean()), 1e-6), 1 - 1e-6)
    params = np.array([0.0, math.log(rate / (1 - rate))])
    design = np.column_stack([logit, np.ones(len(logit))])

    def loss(theta: FloatArray) -> float:
        z = design @ theta
        return float(np.mean(np.logaddexp(0.0, z) - y * z))

    current = loss(params)
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(design @ params)))
        grad = design.T @ (p - y) / len(y)
        hess = (design * (p * (1 - p))[:, None]).T @ design / len(y) + 1e-12 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while scale > 1e-8 and loss(params - scale * step) > current:
            scale /= 2
        params = params - scale * step
        previous, current = current, loss(params)
        if previous - current < 1e-14:
            break
    return float(params[0]), float(params[1])


def summary(probability: FloatArray, labels: BoolArray) -> dict[str, float]:
    return {
        "auc": round(auc(probability, labels), 4),
        "brier": round(brier(probability, labels), 5),
        "log_loss": round(log_loss(probability, labels), 5),
        "ece": round(ece(probability, labels), 5),
    }
