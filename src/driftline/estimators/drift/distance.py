"""Distances between a current distribution and the reference, from counts.

All take the current distribution ``p`` (counts or shares) and the reference ``q`` over
the same buckets; missing values are a bucket like any other.

- PSI: ``sum((p - q) * ln(p / q))`` with shares floored at 1e-4 (as Evidently does);
- Jensen-Shannon distance: the square root of the JS divergence, natural log (as
  ``scipy.spatial.distance.jensenshannon``), in ``[0, sqrt(ln 2)]``;
- Hellinger distance: ``sqrt(1 - sum(sqrt(p * q)))``, in ``[0, 1]``;
- chi-squared statistic: ``sum((O - E)^2 / E)`` with ``E`` from the (smoothed) reference;
- KS statistic and Wasserstein-1 from mid-rank codes (see :func:`ks_from_codes`).

>>> p, q = np.array([30, 50, 20]), np.array([0.3, 0.4, 0.3])
>>> round(psi(p, q), 4), round(js(p, q), 4), round(hellinger(p, q), 4)
(0.0629, 0.0884, 0.0885)
"""

from __future__ import annotations

import math

import numpy as np

FLOOR = 1e-4


def _shares(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return counts / total if total > 0 else np.full(counts.size, math.nan)


def psi(p: np.ndarray, q: np.ndarray) -> float:
    """Population stability index."""
    a, b = np.maximum(_shares(p), FLOOR), np.maximum(_shares(q), FLOOR)
    return float(((a - b) * np.log(a / b)).sum())


def js(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log)."""
    a, b = _shares(p), _shares(q)
    m = (a + b) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(a > 0, a * np.log(a / m), 0.0).sum() + np.where(b > 0, b * np.log(b / m), 0.0).sum()
    return math.sqrt(max(float(kl) / 2, 0.0)) if math.isfinite(kl) else math.nan


def hellinger(p: np.ndarray, q: np.ndarray) -> float:
    """Hellinger distance."""
    overlap = float(np.sqrt(_shares(p) * _shares(q)).sum())
    return math.sqrt(max(1.0 - overlap, 0.0)) if math.isfinite(overlap) else math.nan


def chi_squared(observed: np.ndarray, expected_shares: np.ndarray) -> float:
    """Pearson's chi-squared statistic of observed counts against expected shares."""
    observed = np.asarray(observed, dtype=np.float64)
    total = observed.sum()
    if total == 0:
        return math.nan
    expected = total * np.asarray(expected_shares) / np.sum(expected_shares)
    return float(((observed - expected) ** 2 / expected).sum())


def ks_from_codes(counts: np.ndarray, lower: np.ndarray, upper: np.ndarray, size: int) -> float:
    """Exact two-sample KS statistic between the values behind ``counts`` (per valid code)
    and the reference sample, where ``lower``/``upper`` are the reference ranks just below
    and at each code's values. The supremum is at a code, from the left or at it."""
    total = counts.sum()
    if total == 0 or size == 0:
        return math.nan
    at = np.cumsum(counts) / total
    before = at - counts / total
    return float(max(np.abs(at - upper / size).max(), np.abs(before - lower / size).max()))


def wasserstein(values: np.ndarray, weights: np.ndarray, reference: np.ndarray) -> float:
    """Wasserstein-1 distance between sorted weighted ``values`` and a sorted reference sample."""
    total = weights.sum()
    if total == 0 or reference.size == 0:
        return math.nan
    points = np.union1d(values, reference)
    current = np.cumsum(weights)[np.searchsorted(values, points[:-1], side="right") - 1] / total
    current[np.searchsorted(values, points[:-1], side="right") == 0] = 0.0
    base = np.searchsorted(reference, points[:-1], side="right") / reference.size
    return float((np.abs(current - base) * np.diff(points)).sum())


class WassersteinPlan:
    """:func:`wasserstein` for fixed sorted ``values`` and ``reference``, with varying weights:
    the merge of the two supports is done once, so a distance costs a cumulative sum.

    >>> rng = np.random.default_rng(0)
    >>> values, reference = np.sort(rng.normal(size=50)), np.sort(rng.normal(size=80))
    >>> weights = rng.integers(0, 5, 50)
    >>> WassersteinPlan(values, reference).distance(weights) == wasserstein(values, weights, reference)
    True
    """

    def __init__(self, values: np.ndarray, reference: np.ndarray) -> None:
        self.size = reference.size
        points = np.union1d(values, reference)
        self._at = np.searchsorted(values, points[:-1], side="right") - 1
        self._before = self._at < 0  # points left of every value: no weight yet
        self._base = np.searchsorted(reference, points[:-1], side="right") / max(reference.size, 1)
        self._widths = np.diff(points)

    def distance(self, weights: np.ndarray) -> float:
        total = weights.sum()
        if total == 0 or self.size == 0:
            return math.nan
        current = np.cumsum(weights)[self._at] / total
        current[self._before] = 0.0
        return float((np.abs(current - self._base) * self._widths).sum())
