"""Bernoulli CUSUMs, one per bucket: mass moving into a bin, a category or the missing bucket.

Buckets are a numeric column's reference bins plus missing, or a categorical column's
tracked categories, "other" (rarer and unseen categories) and missing. For each bucket
with reference share ``p0`` and a design share ``p1 > p0``, the log-likelihood-ratio
CUSUM adds ``a = ln(p1/p0)`` when an event falls in the bucket and subtracts
``c = -ln((1-p1)/(1-p0))`` otherwise: the optimal detector of the bucket's share growing
to ``p1``. This is what catches a missing-rate jump, a category's share growing, new
categories, and a change of shape at the same mean and variance.

The statistic only rises at the bucket's own events and falls linearly between them,
so a batch is computed at those events only: with ``g`` the gap since the bucket's
previous event, ``U_k = max(0, U_{k-1} + a - c (g_k - 1))`` is the statistic just before
its ``k``-th event and ``U_k + a`` just after; every bucket in one vectorised pass.

Detectors: ``cusum_bin`` (a numeric column's bins), ``cusum_category`` (a categorical
column's categories and "other"), ``cusum_missing``.

>>> from driftline.estimators.reference import CategoricalReference
>>> ref = CategoricalReference.from_values(["a"] * 700 + ["b"] * 290 + [None] * 10)
>>> cusum = BucketCUSUM(ref, thresholds=[4.0, 4.0, 4.0, 4.0], alternatives=design(ref))
>>> cusum = cusum.update_batch(["a", "b", "b", None] * 30)
>>> cusum.detections(), cusum.crossed()
({'cusum_category': True, 'cusum_missing': True}, ['b', 'missing'])
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Self, Sequence

import numpy as np

from driftline.estimators.drift.base import CusumEstimator
from driftline.estimators.drift.calibration import Increments
from driftline.estimators.drift.cusum import TICKS, AlarmBank, segmented_cusum, to_ticks
from driftline.estimators.drift.encoder import Encoder
from driftline.estimators.reference import NUMERIC, ColumnReference


def null_shares(reference: ColumnReference) -> np.ndarray:
    """Each bucket's reference share, smoothed so that none is 0 (Jeffreys: +1/2)."""
    counts = reference.counts
    return (counts + 0.5) / (counts.sum() + 0.5 * counts.size)


def kl_bernoulli(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``KL(Bernoulli(p) || Bernoulli(q))``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, p * np.log(p / q), 0.0)
        b = np.where(p < 1, (1 - p) * np.log((1 - p) / (1 - q)), 0.0)
    return a + b


def design(reference: ColumnReference, kappa: float = 0.01, spread: float = 0.0, down: bool = False) -> list[float]:
    """Design shares ``p1``: the share at which the bucket carries ``kappa`` nats of evidence
    per event (``KL(p1 || p0) = kappa``), above ``p0`` (or below with ``down``).

    ``p1`` is moreover at least ``spread`` standard errors of the reference share ``p0``
    away from it, so that the detector's false-alarm rate is robust to that error (a
    ``spread`` of about ``ln(ERT)`` does), and at most halfway to 1 (or to 0).
    """
    p0 = null_shares(reference)
    se = np.sqrt(p0 * (1 - p0) / max(reference.rows, 1))
    lo, hi = (np.zeros_like(p0), p0) if down else (p0, np.ones_like(p0))
    for _ in range(60):  # bisection on KL, monotone on each side of p0
        mid = (lo + hi) / 2
        far = kl_bernoulli(mid, p0) > kappa
        move_lo = far if down else ~far  # the root lies between lo and hi
        lo, hi = np.where(move_lo, mid, lo), np.where(move_lo, hi, mid)
    if down:
        p1 = np.maximum(np.minimum(lo, p0 - spread * se), p0 / 2)
    else:
        p1 = np.minimum(np.maximum(hi, p0 + spread * se), (1 + p0) / 2)
    return p1.tolist()


def llr_steps(reference: ColumnReference, alternatives: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The jump ``a`` and the drift ``c`` of each bucket's CUSUM, in ticks."""
    p0, p1 = null_shares(reference), np.asarray(alternatives, dtype=np.float64)
    return to_ticks(np.log(p1 / p0)), to_ticks(-np.log((1 - p1) / (1 - p0)))


class BucketCUSUM(CusumEstimator):
    """Bernoulli CUSUMs of a column's buckets.

    Parameters
    ----------
    reference
        The column's reference (numeric or categorical).
    thresholds
        One threshold per bucket (``None``: not watched).
    alternatives
        One design share ``p1 > p0`` per bucket (see :func:`design`).
    """

    def __init__(self, reference: ColumnReference | Mapping[str, Any], thresholds: Sequence[float | None],
                 alternatives: Sequence[float], encoder: Encoder | None = None) -> None:
        super().__init__(reference, encoder)
        self.thresholds = [None if h is None or not math.isfinite(h) else float(h) for h in thresholds]
        self.alternatives = [float(p) for p in alternatives]
        family = "cusum_bin" if self.reference.kind == NUMERIC else "cusum_category"
        size = len(self.thresholds)
        self._names = [family] * (size - 1) + ["cusum_missing"]
        self._labels = self.reference.bucket_labels()
        self._a, self._c = llr_steps(self.reference, self.alternatives)
        self._reset()

    def _reset(self) -> None:
        self._events = 0
        never = np.iinfo(np.int64).max
        self._bank = AlarmBank([never if h is None else int(to_ticks(h)) for h in self.thresholds])

    @staticmethod
    def increments(reference: ColumnReference, alternatives: Sequence[float]) -> list[Increments]:
        """The no-change increment distribution of each bucket's CUSUM, for calibration."""
        a, c = llr_steps(reference, alternatives)
        p0 = null_shares(reference)
        return [Increments(np.array([ai, -ci]) / TICKS, np.array([p, 1 - p]), float(reference.rows), bernoulli=True)
                for ai, ci, p in zip(a.tolist(), c.tolist(), p0.tolist())]

    def update_codes(self, codes: np.ndarray) -> Self:
        return self.update_buckets(self._encoder.bucket[codes])

    def update_buckets(self, buckets: np.ndarray) -> Self:
        """Update with the bucket index of each event of a batch."""
        n = buckets.size
        if n == 0:
            return self
        bank, a, c = self._bank, self._a, self._c
        counts = np.bincount(buckets, minlength=a.size)
        present = np.flatnonzero(counts)
        small = buckets.astype(np.uint8 if a.size <= 256 else np.uint16)  # radix-sorted
        order = np.argsort(small, kind="stable")  # events grouped by bucket, in time order
        lengths = counts[present]
        starts = np.cumsum(lengths) - lengths
        previous = np.empty_like(order)
        previous[1:] = order[:-1]
        previous[starts] = -1
        owner = np.repeat(present, lengths)
        steps = a[owner] - c[owner] * (order - previous - 1)
        before = segmented_cusum(steps, lengths, bank.statistic[present] - a[present])
        after = before + a[owner]
        ends = starts + lengths - 1
        end = np.maximum(0, bank.statistic - c * n)
        end[present] = np.maximum(0, after[ends] - c[present] * (n - 1 - order[ends]))
        peak = np.full(a.size, -1, dtype=np.int64)
        peak[present] = np.maximum.reduceat(after, starts)
        low = end.copy()
        low[present] = np.minimum(np.minimum.reduceat(before, starts), end[present])
        quiet = peak < bank.h
        bank.quiet(quiet, low[quiet] == 0)
        for j in np.flatnonzero(~quiet).tolist():
            i = int(np.searchsorted(present, j))
            run = slice(starts[i], ends[i] + 1)
            path = np.append(np.column_stack((before[run], after[run])).ravel(), end[j])
            where = np.append(np.repeat(order[run], 2), n - 1)
            bank.scan(j, path, where, self._events)
        bank.statistic[:] = end
        self._events += n
        return self
