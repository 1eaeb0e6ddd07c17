"""Window statistics against a straightforward offline computation (scipy as the oracle)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from driftline.estimators.drift.categorical import CategoricalDrift
from driftline.estimators.drift.distance import chi_squared, hellinger, js, psi
from driftline.estimators.drift.encoder import CategoricalEncoder, NumericEncoder
from driftline.estimators.drift.numeric import NumericDrift
from driftline.estimators.reference import CategoricalReference, NumericReference


def offline_shares(values: np.ndarray, ref: NumericReference) -> np.ndarray:
    finite = values[np.isfinite(values)]
    counts = np.bincount(np.searchsorted(ref.edges, finite, side="right"), minlength=ref.edges.size + 1)
    return np.append(counts, values.size - finite.size) / values.size


@pytest.fixture(scope="module")
def numeric():
    rng = np.random.default_rng(0)
    ref = NumericReference.from_values(rng.gamma(2.0, 1.0, 4000), bins=8)
    stream = rng.gamma(2.3, 1.1, 7000)
    stream[rng.random(stream.size) < 0.03] = np.nan
    drift = NumericDrift(ref, window=2500, half_life=300.0)
    for chunk in np.array_split(stream, 13):
        drift.update_batch(chunk)
    return ref, stream, drift


def test_bin_distances_are_those_of_the_last_window_events(numeric):
    ref, stream, drift = numeric
    p, q = offline_shares(stream[-2500:], ref), ref.probabilities
    a, b = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
    assert drift.psi == pytest.approx(((a - b) * np.log(a / b)).sum(), rel=1e-12)
    assert drift.js == pytest.approx(jensenshannon(p, q), rel=1e-9)
    assert drift.hellinger == pytest.approx(math.sqrt(0.5 * ((np.sqrt(p) - np.sqrt(q)) ** 2).sum()), rel=1e-9)
    assert drift.missing_rate == pytest.approx(np.isnan(stream[-2500:]).mean())


def test_ks_is_scipys_two_sample_statistic_exactly(numeric):
    ref, stream, drift = numeric
    window = stream[-2500:]
    assert drift.ks == pytest.approx(stats.ks_2samp(window[np.isfinite(window)], ref.sample).statistic, abs=1e-12)


def test_ks_is_exact_with_ties_too():
    rng = np.random.default_rng(1)
    ref = NumericReference.from_values(rng.integers(0, 6, 800).astype(float))
    window = rng.integers(-1, 8, 500).astype(float)
    drift = NumericDrift(ref, window=500).update_batch(window)
    assert drift.ks == pytest.approx(stats.ks_2samp(window, ref.sample).statistic, abs=1e-12)


def test_wasserstein_is_scipys_within_the_documented_approximation(numeric):
    ref, stream, drift = numeric
    window = stream[-2500:]
    window = np.clip(window[np.isfinite(window)], ref.minimum, ref.maximum)
    exact = stats.wasserstein_distance(window, ref.sample) / ref.std
    assert drift.wasserstein == pytest.approx(exact, rel=0.01)


def test_out_of_range_rate_counts_values_outside_the_reference():
    ref = NumericReference.from_values(np.arange(10.0))
    drift = NumericDrift(ref, window=6).update_batch([0.0, 9.0, -0.1, 9.5, 4.2, np.nan])
    assert drift.out_of_range_rate == pytest.approx(2 / 6) and drift.missing_rate == pytest.approx(1 / 6)


def test_decayed_histogram_weighs_by_age(numeric):
    ref, stream, drift = numeric
    ages = np.arange(stream.size)[::-1]
    weights = 2.0 ** (-ages / 300.0)
    finite = np.isfinite(stream)
    bins = np.where(finite, np.searchsorted(ref.edges, np.nan_to_num(stream), side="right"), ref.edges.size + 1)
    decayed = np.bincount(bins, weights, minlength=ref.counts.size)
    assert drift.psi_decayed == pytest.approx(psi(decayed, ref.counts), rel=1e-9)
    assert drift.js_decayed == pytest.approx(jensenshannon(decayed / decayed.sum(), ref.probabilities), rel=1e-9)


def test_categorical_statistics():
    ref = CategoricalReference.from_values(["a"] * 500 + ["b"] * 300 + ["c"] * 150 + [None] * 50, max_categories=2)
    rng = np.random.default_rng(2)
    stream = rng.choice(np.array(["a", "b", "c", "d", None], dtype=object), 3000, p=[0.4, 0.3, 0.1, 0.1, 0.1])
    drift = CategoricalDrift(ref, window=1000)
    for chunk in np.array_split(stream, 7):
        drift.update_batch(chunk)
    window = stream[-1000:].tolist()
    observed = np.array([window.count("a"), window.count("b"), window.count("c") + window.count("d"),
                         window.count(None)])
    expected = (ref.counts + 0.5) / (ref.counts.sum() + 2.0)
    oracle = stats.chisquare(observed, observed.sum() * expected).statistic
    assert drift.chi2 == pytest.approx(oracle, rel=1e-9)
    assert drift.js == pytest.approx(jensenshannon(observed / 1000, ref.probabilities), rel=1e-9)
    assert drift.new_category_rate == pytest.approx(window.count("d") / 1000)  # "c" is known, only untracked
    assert drift.missing_rate == pytest.approx(window.count(None) / 1000)


def test_statistics_before_any_event_are_nan():
    drift = NumericDrift(NumericReference.from_values([1.0, 2.0, 3.0]))
    assert all(math.isnan(v) for v in drift.values().values())


def test_distance_edge_cases():
    assert psi([5, 5], [0.5, 0.5]) == 0.0 and js([5, 5], [0.5, 0.5]) == 0.0 and hellinger([1, 0], [0, 1]) == 1.0
    assert math.isnan(chi_squared(np.zeros(3), np.ones(3)))


def test_numeric_codes_are_mid_ranks_uniform_without_drift():
    rng = np.random.default_rng(3)
    codes = [NumericEncoder(NumericReference.from_values(rng.exponential(size=9))).encode(rng.exponential(size=1))[0]
             for _ in range(3000)]
    assert all(code % 2 == 0 for code in codes)  # continuous values fall between reference values
    assert stats.chisquare(np.bincount(np.array(codes) // 2, minlength=10)).pvalue > 0.001  # uniform rank 0..n
    enc = NumericEncoder(NumericReference.from_values(rng.normal(size=999)))
    assert enc.null.sum() == pytest.approx(1.0)
    order = np.argsort(rng.normal(size=50))
    x = np.sort(rng.normal(size=50))
    assert np.all(np.diff(enc.encode(x)) >= 0) and np.all(np.diff(enc.encode(x[order])[np.argsort(order)]) >= 0)


def test_categorical_codes():
    enc = CategoricalEncoder(CategoricalReference.from_values(["a"] * 3 + ["b"] * 2 + ["c", True], max_categories=2))
    assert enc.encode(["a", "b", "c", "zz", None, True, 1, float("nan")]).tolist() == [0, 1, 2, 3, 4, 2, 3, 4]
