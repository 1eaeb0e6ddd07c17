"""Drift statistics of a numeric column over a sliding window and a decayed histogram.

Values (after :mod:`~driftline.estimators.drift.encoder`): PSI, Jensen-Shannon and
Hellinger distances between the window's (or the decayed histogram's) bin shares and the
reference's, over the reference's quantile bins plus a missing bin; the KS statistic
between the window's values and the reference sample (exact: from mid-rank codes); the
Wasserstein-1 distance between them divided by the reference's standard deviation; the
missing rate and the out-of-range rate (values below the reference minimum or above its
maximum) of the window.

The Wasserstein distance is computed from codes, so each window value is placed at the
midpoint between the two reference values around it, and out-of-range values at the
reference's minimum or maximum (clipped; the out-of-range rate says how many). With a
10,000-value reference sample the in-range error is negligible.

>>> from driftline.estimators.reference import NumericReference
>>> rng = np.random.default_rng(0)
>>> drift = NumericDrift(NumericReference.from_values(rng.normal(size=10_000)), window=1000)
>>> drift = drift.update_batch(rng.normal(0.5, 1.0, 2000))
>>> {k: round(v, 2) for k, v in drift.values().items()}  # doctest: +NORMALIZE_WHITESPACE
{'psi': 0.26, 'js': 0.18, 'hellinger': 0.18, 'missing_rate': 0.0, 'psi_decayed': 0.25, 'js_decayed': 0.17,
 'hellinger_decayed': 0.17, 'wasserstein': 0.52, 'ks': 0.21, 'out_of_range_rate': 0.0}
"""

from __future__ import annotations

import math

import numpy as np

from driftline.estimators.drift.distance import WassersteinPlan, ks_from_codes, wasserstein
from driftline.estimators.drift.encoder import NumericEncoder
from driftline.estimators.drift.window import WindowedDrift


class NumericDrift(WindowedDrift):
    """Window and decayed-histogram drift statistics of one numeric column (parameters: see
    :class:`~driftline.estimators.drift.window.WindowedDrift`)."""

    STATISTICS = WindowedDrift.STATISTICS + ("wasserstein", "ks", "out_of_range_rate")
    _encoder: NumericEncoder

    _plan: WassersteinPlan | None = None  # built on the first read; depends on the reference only

    def _present_counts(self, codes: np.ndarray | None = None) -> np.ndarray:
        """Window events per valid code (missing values left out)."""
        codes = self.window_codes() if codes is None else codes
        return np.bincount(codes[codes != self._encoder.missing], minlength=self._encoder.codes)[self._encoder.valid]

    def _statistics(self, codes: np.ndarray) -> dict[str, float]:
        out = super()._statistics(codes)
        present = self._present_counts(codes)
        enc = self._encoder
        out["ks"] = ks_from_codes(present, enc.lower[enc.valid], enc.upper[enc.valid], enc.size)
        out["wasserstein"] = self._wasserstein(present)
        out["out_of_range_rate"] = self._share(codes, 0, 2 * enc.size)
        return out

    def _wasserstein(self, present: np.ndarray) -> float:
        if self._plan is None:
            enc = self._encoder
            self._plan = WassersteinPlan(enc.position[enc.valid], self.reference.sample)
        distance = self._plan.distance(present)
        std = self.reference.std  # type: ignore[union-attr]
        return distance / std if std > 0 and math.isfinite(std) else distance

    @property
    def ks(self) -> float:
        enc = self._encoder
        return ks_from_codes(self._present_counts(), enc.lower[enc.valid], enc.upper[enc.valid], enc.size)

    @property
    def wasserstein(self) -> float:
        """Wasserstein-1 distance to the reference over the reference's standard deviation."""
        enc = self._encoder
        distance = wasserstein(enc.position[enc.valid], self._present_counts(), self.reference.sample)
        std = self.reference.std  # type: ignore[union-attr]
        return distance / std if std > 0 and math.isfinite(std) else distance

    @property
    def out_of_range_rate(self) -> float:
        return self._rate(0, 2 * self._encoder.size)
