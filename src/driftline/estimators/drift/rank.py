"""CUSUMs on rank scores of a numeric column: location and scale, up and down.

Each value's mid-rank code in the reference gives its probability-integral transform
``u`` (see :mod:`~driftline.estimators.drift.encoder`), whose distribution without drift
is known whatever the column's. Two scores of ``u``, standardised under that
distribution:

- location: the normal score ``Phi^-1(u)`` (van der Waerden; as efficient as the mean
  for normal data, robust to outliers for any other);
- scale: ``|2u - 1|`` (how far into the tails; catches a wider or narrower spread, and
  shape changes at the same mean and variance, e.g. normal to uniform or bimodal).

Detectors (one-sided CUSUMs ``S = max(0, S + z)``, missing values add 0):
``cusum_up`` (z = location - k), ``cusum_down`` (-location - k), ``cusum_scale_up``
(scale - k), ``cusum_scale_down`` (-scale - k). The allowance ``k`` is half the shift,
in standard deviations of the score, that the detectors are tuned to.

>>> from driftline.estimators.reference import NumericReference
>>> ref = NumericReference.from_values(np.random.default_rng(0).normal(size=5000))
>>> cusum = RankCUSUM(ref, thresholds={"cusum_up": 10.0, "cusum_down": 10.0})
>>> cusum = cusum.update_batch(np.random.default_rng(1).normal(0.5, 1.0, 200))
>>> cusum.drift_detected, cusum.detections(), cusum.crossed()
(True, {'cusum_up': True, 'cusum_down': False}, ['cusum_up'])
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from driftline.estimators.drift.base import TableCUSUM
from driftline.estimators.drift.calibration import Increments
from driftline.estimators.drift.cusum import TICKS, AlarmBank, to_ticks
from driftline.estimators.drift.encoder import Encoder, NumericEncoder, normal_quantile
from driftline.estimators.reference import ColumnReference

DETECTORS = ("cusum_up", "cusum_down", "cusum_scale_up", "cusum_scale_down")


def rank_scores(encoder: NumericEncoder) -> tuple[np.ndarray, np.ndarray]:
    """Location and scale scores per code, mean 0 and variance 1 without drift (0 when missing)."""
    u = encoder.u.copy()
    present = ~np.isnan(u)
    u[~present] = 0.5
    scores = []
    weight = encoder.null * present
    weight = weight / weight.sum() if weight.sum() > 0 else weight
    for raw in (normal_quantile(u), np.abs(2 * u - 1)):
        mean = float(weight @ raw)
        sd = math.sqrt(max(float(weight @ (raw - mean) ** 2), 1e-12))
        scores.append(np.where(present, (raw - mean) / sd, 0.0))
    return scores[0], scores[1]


def rank_increments(encoder: NumericEncoder, allowance: float) -> np.ndarray:
    """Increments (codes x 4, in ticks) of the four detectors; 0 for missing values."""
    location, scale = rank_scores(encoder)
    table = to_ticks(np.column_stack((location - allowance, -location - allowance,
                                      scale - allowance, -scale - allowance)))
    table[encoder.missing] = 0
    return table


class RankCUSUM(TableCUSUM):
    """Location and scale CUSUMs of one numeric column; a detector runs when it has a threshold.

    Parameters
    ----------
    reference
        The column's :class:`~driftline.estimators.reference.NumericReference`.
    thresholds
        Detector name (``cusum_up``, ``cusum_down``, ``cusum_scale_up``, ``cusum_scale_down``)
        -> threshold, usually from :func:`~driftline.estimators.drift.calibration.calibrate`.
    allowance
        ``k``, in standard deviations of the score: half the shift the detectors are tuned to.
    """

    def __init__(self, reference: ColumnReference | Mapping[str, Any], thresholds: Mapping[str, float] | None = None,
                 allowance: float = 0.1, encoder: Encoder | None = None) -> None:
        super().__init__(reference, encoder)
        self.thresholds = {name: float(h) for name, h in (thresholds or {}).items()}
        self.allowance = allowance
        assert isinstance(self._encoder, NumericEncoder), "RankCUSUM watches numeric columns"
        self._detectors = [name for name in DETECTORS if name in self.thresholds]
        self._names = self._labels = list(self._detectors)  # reported names (PCADrift renames them)
        columns = [DETECTORS.index(name) for name in self._detectors]
        self._table = np.ascontiguousarray(rank_increments(self._encoder, allowance)[:, columns].T)
        self._reset()

    def _reset(self) -> None:
        self._events = 0
        self._bank = AlarmBank(to_ticks([self.thresholds[name] for name in self._detectors]))

    @staticmethod
    def increments(encoder: NumericEncoder, allowance: float) -> dict[str, Increments]:
        """The no-change increment distribution of each detector, for calibration."""
        table = rank_increments(encoder, allowance) / TICKS
        keep = encoder.null > 0
        rows = float(encoder.reference.rows)
        return {name: Increments(table[keep, j], encoder.null[keep], rows) for j, name in enumerate(DETECTORS)}
