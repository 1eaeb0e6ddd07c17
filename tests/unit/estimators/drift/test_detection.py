"""Every kind of change is detected at the default budget, by the detector meant for it; no change, no alarm."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from driftline.estimators.drift.model import DriftOptions, ModelDrift
from driftline.estimators.reference import Reference

CATEGORIES = np.array(list("abcde"), dtype=object)
P, Q = [0.40, 0.25, 0.15, 0.12, 0.08], [0.34, 0.25, 0.15, 0.14, 0.12]
NUMERIC = ["mean", "variance", "uniform", "bimodal", "gradual", "missing"]


def events(rng: np.random.Generator, n: int, change: str | None = None, rho: float = 0.8) -> dict[str, np.ndarray]:
    cols = {name: rng.normal(size=n) for name in NUMERIC}
    cols["missing"][rng.random(n) < 0.01] = np.nan
    cols["category"] = rng.choice(CATEGORIES, n, p=P)
    a, b = rng.normal(size=(2, n))
    cols["a"], cols["b"] = a, rho * a + math.sqrt(1 - rho**2) * b  # correlated, both N(0, 1)
    post = {
        "mean": lambda: cols["mean"] + 0.25,
        "variance": lambda: cols["variance"] * math.sqrt(1.5),
        "uniform": lambda: rng.uniform(-math.sqrt(3), math.sqrt(3), n),
        "bimodal": lambda: rng.choice([-0.9, 0.9], n) + math.sqrt(1 - 0.81) * rng.normal(size=n),
        "gradual": lambda: cols["gradual"] + 1e-4 * np.arange(n),
        "missing": lambda: np.where(rng.random(n) < 0.06, np.nan, cols["missing"]),
        "category": lambda: rng.choice(CATEGORIES, n, p=Q),
    }
    if change in post:
        cols[change] = post[change]()
    return cols


@pytest.fixture(scope="module")
def model() -> ModelDrift:
    reference = Reference.from_columns(events(np.random.default_rng(0), 30_000))
    return ModelDrift(reference, DriftOptions())  # the default budget: 1e7 events between false alarms


def run(model: ModelDrift, change: str | None, seed: int, rho: float = 0.8, after: int = 20_000) -> ModelDrift:
    drift = model.clone()
    rng = np.random.default_rng(seed)
    drift.update_batch(events(rng, 3000))
    post = events(rng, after, change, rho)
    for start in range(0, after, 500):
        drift.update_batch({k: v[start:start + 500] for k, v in post.items()})
        if drift.drift_detected:
            break
    return drift


@pytest.mark.parametrize(("change", "detector"), [
    ("mean", "cusum_up"), ("variance", "cusum_scale_up"), ("uniform", "cusum_scale_up"),
    ("bimodal", None), ("gradual", "cusum_up"), ("missing", "cusum_missing"), ("category", None),
])
def test_each_change_is_detected_on_its_feature_only(model, change, detector):
    drift = run(model, change, seed=zlib.crc32(change.encode()))
    detected = drift.detected()
    assert list(detected.get("feature", {})) == [change], detected
    if detector:
        assert detector in detected["feature"][change]
    assert drift.events < 3000 + 20_000


def test_a_change_of_correlation_only_is_caught_by_the_multivariate_detector_alone(model):
    drift = run(model, None, seed=7, rho=-0.8, after=5000)
    assert drift.detected() == {"multivariate": {"pca": ["cusum_pca"]}}
    values = drift.values("multivariate")["pca"]
    assert values["cusum_pca"] >= 1.0 and values["reconstruction_error"] > 0
    more = drift.clone()  # the same stream, longer: still nothing univariate
    rng = np.random.default_rng(8)
    more.update_batch(events(rng, 3000))
    more.update_batch(events(rng, 5000, rho=-0.8))
    assert "feature" not in more.detected() and more.alarms >= 1


def test_no_change_no_alarm(model):
    drift = run(model, None, seed=9)
    assert not drift.drift_detected and drift.alarms == 0 and drift.events == 23_000
