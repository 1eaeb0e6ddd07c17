"""Summary statistics of one feature: counts, missing values, moments, range, categories."""

from __future__ import annotations

import math
from typing import Self

import numpy as np

from driftline.estimators.base import Estimator, State


class NumericSummary(Estimator):
    """Count, missing count, mean, variance, minimum and maximum of a numeric stream.

    Missing values are NaN (the decoder maps null and non-finite numbers to NaN).
    A batch is reduced with numpy and merged into the running moments with Chan's
    parallel formula, so a batch update equals the same values one by one up to
    floating-point rounding.

    Examples
    --------
    >>> s = NumericSummary().update_batch(np.array([1.0, 2.0, np.nan, 3.0]))
    >>> s.count, s.missing, round(s.mean, 6), round(s.variance, 6), s.min, s.max
    (4, 1, 2.0, 1.0, 1.0, 3.0)
    >>> round(s.missing_ratio, 2)
    0.25
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._count = 0  # all values, missing included
        self._missing = 0
        self._mean = 0.0
        self._m2 = 0.0  # sum of squared deviations from the mean
        self._min = math.inf
        self._max = -math.inf

    def update_batch(self, values: np.ndarray) -> Self:
        values = np.asarray(values, dtype=np.float64)
        finite = values[np.isfinite(values)]
        self._count += values.size
        self._missing += values.size - finite.size
        n_b = finite.size
        if n_b == 0:
            return self
        n_a = self._count - self._missing - n_b
        mean_b = float(finite.mean())
        m2_b = float(((finite - mean_b) ** 2).sum())
        n = n_a + n_b
        delta = mean_b - self._mean
        self._mean += delta * n_b / n
        self._m2 += m2_b + delta * delta * n_a * n_b / n
        self._min = min(self._min, float(finite.min()))
        self._max = max(self._max, float(finite.max()))
        return self

    @property
    def count(self) -> int:
        return self._count

    @property
    def missing(self) -> int:
        return self._missing

    @property
    def missing_ratio(self) -> float:
        return self._missing / self._count if self._count else 0.0

    @property
    def mean(self) -> float:
        return self._mean if self._count > self._missing else math.nan

    @property
    def variance(self) -> float:
        """Sample variance (ddof=1); NaN below two values."""
        n = self._count - self._missing
        return self._m2 / (n - 1) if n > 1 else math.nan

    @property
    def std(self) -> float:
        return math.sqrt(self.variance) if self._count - self._missing > 1 else math.nan

    @property
    def min(self) -> float:
        return self._min if self._count > self._missing else math.nan

    @property
    def max(self) -> float:
        return self._max if self._count > self._missing else math.nan

    def _get_state(self) -> State:
        return {
            "count": self._count, "missing": self._missing, "mean": self._mean,
            "m2": self._m2, "min": self._min, "max": self._max,
        }

    def _set_state(self, state: State) -> None:
        self._count = int(state["count"])
        self._missing = int(state["missing"])
        self._mean = float(state["mean"])
        self._m2 = float(state["m2"])
        self._min = float(state["min"])
        self._max = float(state["max"])


class CategoricalSummary(Estimator):
    """Counts of a categorical stream, with a cap on how many categories are tracked.

    Values are strings; ``None`` is missing. Once ``max_categories`` distinct values
    are tracked, further new values are counted in one overflow bucket, so memory
    stays bounded whatever the input.

    Examples
    --------
    >>> s = CategoricalSummary(max_categories=2)
    >>> s = s.update_batch(np.array(["DE", "FR", None, "DE", "US"], dtype=object))
    >>> s.count, s.missing, s.counts, s.overflow
    (5, 1, {'DE': 2, 'FR': 1}, 1)
    """

    def __init__(self, max_categories: int = 50) -> None:
        self.max_categories = max_categories
        self._reset()

    def _reset(self) -> None:
        self._count = 0
        self._missing = 0
        self._counts: dict[str, int] = {}
        self._overflow = 0

    def update_batch(self, values: np.ndarray) -> Self:
        values = np.asarray(values, dtype=object)
        self._count += values.size
        present = values[values != None]  # noqa: E711 - elementwise comparison on an object array
        self._missing += values.size - present.size
        if present.size == 0:
            return self
        categories, counts = np.unique(present.astype(str), return_counts=True)
        tracked = self._counts
        for category, n in zip(categories.tolist(), counts.tolist()):
            if category in tracked:
                tracked[category] += n
            elif len(tracked) < self.max_categories:
                tracked[category] = n
            else:
                self._overflow += n
        return self

    @property
    def count(self) -> int:
        return self._count

    @property
    def missing(self) -> int:
        return self._missing

    @property
    def missing_ratio(self) -> float:
        return self._missing / self._count if self._count else 0.0

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    @property
    def overflow(self) -> int:
        """Values of categories beyond the cap."""
        return self._overflow

    def _get_state(self) -> State:
        return {"count": self._count, "missing": self._missing, "counts": dict(self._counts), "overflow": self._overflow}

    def _set_state(self, state: State) -> None:
        self._count = int(state["count"])
        self._missing = int(state["missing"])
        self._counts = {str(k): int(v) for k, v in state["counts"].items()}
        self._overflow = int(state["overflow"])
