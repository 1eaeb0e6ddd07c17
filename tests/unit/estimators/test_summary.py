"""Summary statistics against a straightforward offline computation."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.estimators.summary import CategoricalSummary, NumericSummary


def test_numeric_summary_matches_numpy_over_many_batches():
    rng = np.random.default_rng(0)
    values = rng.lognormal(5.0, 1.5, 10_000)
    values[rng.random(values.size) < 0.2] = np.nan
    summary = NumericSummary()
    for chunk in np.array_split(values, 37):
        summary.update_batch(chunk)
    finite = values[np.isfinite(values)]
    assert summary.count == values.size and summary.missing == values.size - finite.size
    assert summary.mean == pytest.approx(finite.mean(), rel=1e-12)
    assert summary.variance == pytest.approx(finite.var(ddof=1), rel=1e-10)
    assert (summary.min, summary.max) == (finite.min(), finite.max())


def test_numeric_summary_treats_infinities_as_missing():
    summary = NumericSummary().update_batch(np.array([1.0, np.inf, -np.inf, 3.0]))
    assert summary.missing == 2 and summary.mean == 2.0 and summary.max == 3.0


def test_numeric_summary_of_nothing_is_nan_not_zero():
    summary = NumericSummary().update_batch(np.array([np.nan]))
    assert np.isnan(summary.mean) and np.isnan(summary.std) and np.isnan(summary.min)
    assert summary.missing_ratio == 1.0


def test_categorical_summary_caps_tracked_categories():
    summary = CategoricalSummary(max_categories=3)
    summary.update_batch(np.array(["a", "b", "c"], dtype=object))
    summary.update_batch(np.array(["d", "a", "e", None], dtype=object))
    assert summary.counts == {"a": 2, "b": 1, "c": 1}
    assert summary.overflow == 2 and summary.missing == 1 and summary.count == 7
