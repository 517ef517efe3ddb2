"""Is one classifier's test accuracy really above another's? Paired tests over the same test sentences,
shared by the app's test-set view and bench.accuracy."""

from __future__ import annotations

import math

import numpy as np


def bootstrap_ci(correct: np.ndarray, n: int = 10000, seed: int = 0) -> tuple[float, float]:
    """Bootstrap 95% interval of a mean over sentences (accuracy, or a per-sentence gap)."""
    rng = np.random.default_rng(seed)
    means = correct[rng.integers(0, len(correct), size=(n, len(correct)))].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def mcnemar(a_correct: np.ndarray, b_correct: np.ndarray) -> tuple[int, int, float]:
    """Exact two-sided McNemar test on the discordant pairs: (only a right, only b right, p)."""
    a_correct, b_correct = np.asarray(a_correct, dtype=bool), np.asarray(b_correct, dtype=bool)
    b = int(np.sum(a_correct & ~b_correct))
    c = int(np.sum(~a_correct & b_correct))
    n, k = b + c, min(b, c)
    if n == 0:
        return b, c, 1.0
    p = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return b, c, min(1.0, 2 * p)


def paired_gap_interval(
    a_correct: np.ndarray, b_correct: np.ndarray, n: int = 10000, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap 95% interval of the accuracy gap a - b, resampling test sentences in pairs (each
    sentence keeps both answers); a's correctness may be averaged over seeds (fractions of seeds right).
    A t-test over seeds sees training noise only (every seed meets the same sentences); this interval
    sees the test set's sampling noise."""
    return bootstrap_ci(np.asarray(a_correct, dtype=float) - np.asarray(b_correct, dtype=float), n, seed)
