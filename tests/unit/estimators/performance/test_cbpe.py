"""CBPE: expected metrics from calibrated scores, the calibration map, and the expected AUC."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from driftline.estimators.performance.calibration import HistogramCalibration
from driftline.estimators.performance.cbpe import PerformanceEstimate, expected_metrics
from driftline.estimators.performance.metric import binary_metrics, ranked_auc
from driftline.estimators.performance.task import ESTIMATED_METRICS, ROW_DTYPE

# CBPE's error on a window of n calibrated events is sampling noise, ~sqrt(p(1-p)/n) for
# accuracy: about 0.007 at n = 5,000. The stated tolerance is 0.02 for every metric.
TOLERANCE = 0.02


def calibrated(rng: np.random.Generator, n: int, truth=lambda p: p) -> np.ndarray:
    """Rows of a model whose score is p; the label is positive with probability truth(p)."""
    rows = np.empty(n, dtype=ROW_DTYPE)
    p = rng.beta(1.5, 2.5, n)
    rows["p"], rows["yhat"] = p, (p >= 0.5).astype(float)
    rows["y"] = (rng.random(n) < truth(p)).astype(float)
    rows["q"], rows["ts"] = np.nan, np.arange(n, dtype=float)
    return rows


def brute_auc(s: np.ndarray, w: np.ndarray) -> float:
    num = den = 0.0
    for i, j in itertools.permutations(range(s.size), 2):
        pair = w[i] * (1 - w[j])
        den += pair
        num += pair * (1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0)
    return num / den


def test_expected_auc_equals_the_pairwise_definition():
    rng = np.random.default_rng(0)
    s = np.round(rng.random(40), 1)
    w = rng.random(40)
    assert math.isclose(ranked_auc(s, w), brute_auc(s, w), rel_tol=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cbpe_matches_realized_on_calibrated_scores(seed):
    rows = calibrated(np.random.default_rng(seed), 5000)
    estimated = PerformanceEstimate("binary", window_events=5000).update_batch(rows).values
    realized = binary_metrics(rows, ESTIMATED_METRICS["binary"])
    assert estimated.keys() == realized.keys() == set(ESTIMATED_METRICS["binary"])
    for name in estimated:
        assert abs(estimated[name] - realized[name]) < TOLERANCE, name


def test_cbpe_is_off_when_calibration_breaks():
    rows = calibrated(np.random.default_rng(4), 5000, truth=lambda p: p ** 2)
    estimated = expected_metrics("binary", rows, ESTIMATED_METRICS["binary"])
    realized = binary_metrics(rows, ESTIMATED_METRICS["binary"])
    errors = {name: abs(estimated[name] - realized[name]) for name in estimated}
    assert errors["accuracy"] > 2 * TOLERANCE and errors["precision"] > 10 * TOLERANCE, errors


def test_histogram_calibration_fitted_on_a_reference_repairs_the_estimate():
    rng = np.random.default_rng(5)
    truth = lambda p: p ** 2  # noqa: E731 - scores systematically too high
    calibration = HistogramCalibration(events=4000, bins=10).update_batch(calibrated(rng, 4000, truth))
    assert calibration.fitted and calibration.collected == 0
    rows = calibrated(rng, 5000, truth)
    estimated = PerformanceEstimate("binary", window_events=5000).update_batch(rows).estimate(calibration)
    realized = binary_metrics(rows, ESTIMATED_METRICS["binary"])
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert abs(estimated[name] - realized[name]) < 2 * TOLERANCE, name


def test_calibration_maps_to_itself_until_fitted_and_skips_unscored_rows():
    rows = calibrated(np.random.default_rng(6), 100)
    rows["p"][::2] = np.nan
    calibration = HistogramCalibration(events=80).update_batch(rows)
    assert not calibration.fitted and calibration.collected == 50
    p = np.array([0.2, np.nan])
    assert calibration.transform(p) is p


def test_multiclass_expected_accuracy_is_the_mean_probability_of_the_predicted_class():
    rng = np.random.default_rng(7)
    n = 6000
    probs = rng.dirichlet(np.ones(4), n)
    yhat = probs.argmax(axis=1)
    y = np.array([rng.choice(4, p=row) for row in probs])
    rows = np.empty(n, dtype=ROW_DTYPE)
    rows["y"], rows["yhat"], rows["q"], rows["p"], rows["ts"] = y, yhat, probs.max(axis=1), np.nan, 0.0
    estimate = PerformanceEstimate("multiclass", window_events=n).update_batch(rows).values
    assert estimate.keys() == {"accuracy"}
    assert abs(estimate["accuracy"] - float((y == yhat).mean())) < TOLERANCE


def test_cbpe_window_by_event_time_and_no_scores():
    rows = calibrated(np.random.default_rng(8), 1000)
    rows["ts"] = np.arange(1000) * 2.0
    estimate = PerformanceEstimate("binary", window_events=None, window_seconds=100.0).update_batch(rows)
    assert estimate.size == 50
    assert estimate.values == expected_metrics("binary", rows[-50:], ESTIMATED_METRICS["binary"])
    rows["p"] = np.nan
    assert PerformanceEstimate("binary").update_batch(rows).values == {}
    assert PerformanceEstimate("regression").update_batch(rows).values == {}
