"""Is one classifier's test accuracy really above another's? Intervals and paired tests over the same test
sentences, shared by the app's test-set view and bench.accuracy."""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile


def wilson_interval(correct: np.ndarray) -> tuple[float, float]:
    """Wilson score 95% interval of an accuracy from right / wrong answers: unlike a bootstrap it does not
    shrink to a point when every answer is right (or wrong) on a small test set."""
    n, k = len(correct), int(np.sum(correct))
    p, z2 = k / n, Z95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def matched_gap_interval(a_correct: np.ndarray, b_correct: np.ndarray) -> tuple[float, float]:
    """Agresti-Min 95% interval of the accuracy gap a - b of two classifiers on the same sentences (matched
    proportions, half a count added to each cell): it stays honest when the two disagree on few sentences,
    where resampling them would give a point."""
    a_correct, b_correct = np.asarray(a_correct, dtype=bool), np.asarray(b_correct, dtype=bool)
    n = len(a_correct) + 2
    only_a = (np.sum(a_correct & ~b_correct) + 0.5) / n
    only_b = (np.sum(~a_correct & b_correct) + 0.5) / n
    gap = only_a - only_b
    half = Z95 * math.sqrt((only_a + only_b - gap * gap) / n)
    return max(-1.0, gap - half), min(1.0, gap + half)


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
    sentence keeps both answers), for correctness averaged over seeds (fractions of seeds right); one run's
    right / wrong answers take matched_gap_interval.
    A t-test over seeds sees training noise only (every seed meets the same sentences); this interval
    sees the test set's sampling noise."""
    return bootstrap_ci(np.asarray(a_correct, dtype=float) - np.asarray(b_correct, dtype=float), n, seed)
