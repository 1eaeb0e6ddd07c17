"""Drift statistics of a categorical column over a sliding window and a decayed histogram.

Buckets are the reference's tracked categories (``max_categories`` most frequent), one
"other" bucket (rarer categories and categories the reference never saw) and a missing
bucket. Values: PSI, Jensen-Shannon and Hellinger distances of the window's (or the
decayed histogram's) shares to the reference's; the chi-squared statistic of the
window's counts against the reference shares (smoothed by half an event per bucket);
the new-category rate (values the reference never saw; with more than 10,000 reference
categories, the unrecorded rare ones count as new) and the missing rate of the window.

>>> from driftline.estimators.reference import CategoricalReference
>>> drift = CategoricalDrift(CategoricalReference.from_values(["a", "b"] * 500), window=100)
>>> drift = drift.update_batch(["a", "c", None, "a"] * 25)
>>> drift.new_category_rate, drift.missing_rate, round(drift.chi2, 1)
(0.25, 0.25, 25000.0)
"""

from __future__ import annotations

import numpy as np

from driftline.estimators.drift.bucket import null_shares
from driftline.estimators.drift.distance import chi_squared
from driftline.estimators.drift.encoder import CategoricalEncoder
from driftline.estimators.drift.window import WindowedDrift


class CategoricalDrift(WindowedDrift):
    """Window and decayed-histogram drift statistics of one categorical column (parameters: see
    :class:`~driftline.estimators.drift.window.WindowedDrift`)."""

    STATISTICS = WindowedDrift.STATISTICS + ("chi2", "new_category_rate")
    _encoder: CategoricalEncoder

    def _statistics(self, codes: np.ndarray) -> dict[str, float]:
        out = super()._statistics(codes)
        out["chi2"] = chi_squared(out["_counts"], null_shares(self.reference))
        out["new_category_rate"] = self._share(codes, self._encoder.new)
        return out

    @property
    def chi2(self) -> float:
        return chi_squared(self.window_counts(), null_shares(self.reference))

    @property
    def new_category_rate(self) -> float:
        return self._rate(self._encoder.new)
