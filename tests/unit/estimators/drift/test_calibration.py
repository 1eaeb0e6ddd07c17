"""Threshold calibration: exact pieces, determinism, and a statistical test of the false-alarm budget."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from driftline.estimators.drift.calibration import Increments, adjustment_coefficient, calibrate, log_arl
from driftline.estimators.drift.column import budget_shares, calibrate_column
from driftline.estimators.drift.model import DriftOptions, ModelDrift, subject_weights
from driftline.estimators.reference import CategoricalReference, NumericReference, Reference

CATEGORIES = np.array(list("abcdefgh"), dtype=object)
SHARES = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03])


def normal_atoms(mean: float) -> tuple[np.ndarray, np.ndarray]:
    grid = np.linspace(-6, 6, 2401)
    weights = np.exp(-grid**2 / 2)
    return grid + mean, weights / weights.sum()


def test_adjustment_coefficient_of_a_normal_increment_is_minus_twice_its_mean():
    for mean in (-0.5, -0.1, 0.2):
        values, probs = normal_atoms(mean)
        assert adjustment_coefficient(values, probs)[0] == pytest.approx(-2 * mean, rel=1e-3)


def test_siegmund_approximation_for_normal_increments():
    # Siegmund's textbook case: N(-0.5, 1) increments, rho = 1.166
    arl = math.exp(log_arl(4.0, np.array([1.0]), np.array([-0.5]), np.array([1.0]), 1.166)[0])
    b = 4.0 + 1.166
    assert arl == pytest.approx((math.exp(b) - b - 1) / 0.5)


def test_calibration_is_deterministic_under_a_seed_and_grows_with_the_budget():
    inc = Increments(*normal_atoms(-0.25), rows=5000.0)
    a = calibrate(inc, 1e6, np.random.default_rng(3))
    b = calibrate(inc, 1e6, np.random.default_rng(3))
    assert a == b
    assert calibrate(inc, 1e8, np.random.default_rng(3)).threshold > a.threshold
    assert a.threshold > a.nominal  # the reference is a sample: a margin for its error


def generate(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    x = rng.gamma(3.0, 2.0, n)
    x[rng.random(n) < 0.03] = np.nan
    c = rng.choice(CATEGORIES, n, p=SHARES)
    c[rng.random(n) < 0.02] = None
    return {"x": x, "c": c}


def test_false_alarms_match_the_budget():
    """2,000,000 events without drift, a budget of one false alarm per 20,000 events: the
    count of alarms over all statistics is Poisson(100) if the calibration is right."""
    rng = np.random.default_rng(2024)
    reference = Reference.from_columns(generate(rng, 200_000), max_categories=5)  # every bucket has mass
    options = DriftOptions(budget_events=2e4, multivariate=False, reference_uncertainty=False)
    model = ModelDrift(reference, options)
    events = 2_000_000
    for _ in range(events // 50_000):
        model.update_batch(generate(rng, 50_000))
    expected = events / options.budget_events
    low, high = stats.poisson.ppf([0.0005, 0.9995], expected)
    assert low <= model.alarms <= high, (model.alarms, expected)


def test_budget_shares_sum_to_one_and_spare_empty_buckets():
    numeric = NumericReference.from_values(np.random.default_rng(0).normal(size=1000))  # no missing values
    shares = budget_shares(numeric, ["cusum"])
    total = sum(shares["rank"].values()) + sum(shares["buckets"]) + sum(shares["shrink"])
    assert total == pytest.approx(1.0) and shares["buckets"][-1] < shares["buckets"][0] / 2
    categorical = CategoricalReference.from_values(["a"] * 60 + ["b"] * 30 + ["c"] * 10)
    shares = budget_shares(categorical, ["cusum_category", "cusum_missing"])
    assert not shares["rank"] and not shares["shrink"] and sum(shares["buckets"]) == pytest.approx(1.0)


def test_importances_move_budget_between_features():
    rng = np.random.default_rng(1)
    reference = Reference.from_columns({"a": rng.normal(size=500), "b": rng.normal(size=500)})
    weights = subject_weights(reference, DriftOptions(importances={"a": 3.0, "b": 1.0}, multivariate=False))
    assert weights[("feature", "a")] == pytest.approx(0.75) and sum(weights.values()) == pytest.approx(1.0)


def test_fixed_thresholds_are_used_as_given():
    ref = NumericReference.from_values(np.random.default_rng(2).normal(size=2000))
    params = calibrate_column(ref, 1e6, np.random.default_rng(0), fixed={"cusum_up": 42.0, "cusum_bin": 7.0})
    assert params["rank"]["thresholds"]["cusum_up"] == 42.0
    assert params["buckets"]["thresholds"][:-1] == [7.0] * (ref.counts.size - 1)
    assert params["rank"]["thresholds"]["cusum_down"] != 42.0
