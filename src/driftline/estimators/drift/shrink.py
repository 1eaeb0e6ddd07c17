"""Bernoulli CUSUMs for mass moving out of a large bucket (a category's share falling).

The mirror image of :class:`~driftline.estimators.drift.bucket.BucketCUSUM`: for a bucket
with reference share ``p0`` and a design share ``p1 < p0``, the log-likelihood-ratio
CUSUM adds ``ln((1-p1)/(1-p0))`` for each event outside the bucket and ``ln(p1/p0)``
(negative) for each event in it. Mass leaving a frequent category is as informative as
mass arriving in a rare one, but spread over the other buckets' upward detectors it is
weak; this catches it. Only buckets with a share of at least ``MIN_SHARE`` get one (a
rare bucket cannot shrink by enough to be detected). It is updated per event like the
rank CUSUMs (one increment per event and statistic, looked up by code).

Detector: ``cusum_category_down``.

>>> from driftline.estimators.reference import CategoricalReference
>>> ref = CategoricalReference.from_values(["a"] * 600 + ["b"] * 400)
>>> shrink = ShrinkCUSUM(ref, thresholds=[6.0, 6.0], alternatives=shrink_design(ref))
>>> shrink = shrink.update_batch(["b"] * 100)
>>> shrink.detections(), shrink.crossed()
({'cusum_category_down': True}, ['a'])
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from driftline.estimators.drift.base import TableCUSUM
from driftline.estimators.drift.bucket import design, null_shares
from driftline.estimators.drift.calibration import Increments
from driftline.estimators.drift.cusum import TICKS, AlarmBank, to_ticks
from driftline.estimators.drift.encoder import Encoder
from driftline.estimators.reference import ColumnReference

MIN_SHARE = 0.05


def shrinkable(reference: ColumnReference) -> list[int]:
    """The tracked categories large enough to watch for shrinking (never "other" or missing)."""
    return [i for i, p in enumerate(null_shares(reference)[:-2].tolist()) if p >= MIN_SHARE]


def shrink_design(reference: ColumnReference, kappa: float = 0.01, spread: float = 0.0) -> list[float]:
    """Design shares ``p1 < p0`` of the :func:`shrinkable` buckets (see
    :func:`~driftline.estimators.drift.bucket.design`)."""
    shares = design(reference, kappa, spread, down=True)
    return [shares[b] for b in shrinkable(reference)]


class ShrinkCUSUM(TableCUSUM):
    """Downward Bernoulli CUSUMs of a categorical column's large categories.

    Parameters
    ----------
    reference
        The column's reference.
    thresholds, alternatives
        One threshold and one design share ``p1 < p0`` per bucket of :func:`shrinkable`, in order.
    """

    def __init__(self, reference: ColumnReference | Mapping[str, Any], thresholds: Sequence[float],
                 alternatives: Sequence[float], encoder: Encoder | None = None) -> None:
        super().__init__(reference, encoder)
        self.thresholds = [float(h) for h in thresholds]
        self.alternatives = [float(p) for p in alternatives]
        buckets = shrinkable(self.reference)[: len(self.thresholds)]
        labels = self.reference.bucket_labels()
        self._names = ["cusum_category_down"] * len(buckets)
        self._labels = [labels[b] for b in buckets]
        inside, outside = self.steps(self.reference, self.alternatives)
        member = self._encoder.bucket[None, :] == np.array(buckets, dtype=np.intp)[:, None]
        self._table = np.where(member, to_ticks(inside)[:, None], to_ticks(outside)[:, None])
        self._reset()

    def _reset(self) -> None:
        self._events = 0
        self._bank = AlarmBank(to_ticks(self.thresholds))

    @staticmethod
    def steps(reference: ColumnReference, alternatives: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Increments for an event in the bucket (negative) and outside it, per watched bucket."""
        p0 = null_shares(reference)[shrinkable(reference)][: len(alternatives)]
        p1 = np.asarray(alternatives, dtype=np.float64)
        return np.log(p1 / p0), np.log((1 - p1) / (1 - p0))

    @staticmethod
    def increments(reference: ColumnReference, alternatives: Sequence[float]) -> list[Increments]:
        """The no-change increment distribution of each statistic, for calibration."""
        inside, outside = ShrinkCUSUM.steps(reference, alternatives)
        p0 = null_shares(reference)[shrinkable(reference)]
        rows = float(reference.rows)
        return [Increments(to_ticks([i, o]) / TICKS, np.array([p, 1 - p]), rows)
                for i, o, p in zip(inside.tolist(), outside.tolist(), p0.tolist())]
