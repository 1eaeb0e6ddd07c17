"""Estimators of the performance package and data for the contract test (tests/unit/estimators/test_contract.py)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from driftline.estimators.base import Estimator
from driftline.estimators.performance.calibration import HistogramCalibration
from driftline.estimators.performance.cbpe import PerformanceEstimate
from driftline.estimators.performance.detector import DETECTORS, ErrorDetector
from driftline.estimators.performance.quality import JOINED_DTYPE, ModelQuality
from driftline.estimators.performance.realized import RealizedMetrics
from driftline.estimators.performance.segment import SEGMENT_DTYPE, SegmentedQuality
from driftline.estimators.performance.task import ROW_DTYPE

Case = tuple[Callable[[], Estimator], Callable[[np.random.Generator, int], Any]]


def _times(rng: np.random.Generator, n: int) -> np.ndarray:
    """Event times, mostly increasing, some out of order."""
    return np.cumsum(rng.exponential(1.0, n)) + rng.normal(0.0, 3.0, n) + 1_000.0


def binary_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """Encoded binary rows with calibrated scores; 5% without a score; worse after the first half."""
    rows = np.empty(n, dtype=ROW_DTYPE)
    p = rng.beta(2.0, 2.0, n)
    rows["p"] = np.where(rng.random(n) < 0.05, np.nan, p)
    rows["yhat"] = (p >= 0.5).astype(float)
    rows["y"] = (rng.random(n) < np.where(np.arange(n) < n // 2, p, 1 - p)).astype(float)
    rows["q"] = np.nan
    rows["ts"] = _times(rng, n)
    return rows


def multiclass_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = np.empty(n, dtype=ROW_DTYPE)
    rows["y"] = rng.integers(0, 4, n)
    rows["yhat"] = np.where(rng.random(n) < 0.6, rows["y"], rng.integers(0, 4, n))
    rows["p"] = rng.uniform(0.05, 0.9, n)
    rows["q"] = rng.uniform(0.25, 1.0, n)
    rows["ts"] = _times(rng, n)
    return rows


def regression_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = np.empty(n, dtype=ROW_DTYPE)
    rows["y"] = rng.normal(10.0, 3.0, n)
    rows["yhat"] = rows["y"] + rng.normal(0.5, 1.0, n)
    rows["p"] = rows["q"] = np.nan
    rows["ts"] = _times(rng, n)
    return rows


def error_stream(rng: np.random.Generator, n: int) -> np.ndarray:
    """0/1 errors whose rate jumps from 0.1 to 0.4 after 60% of the stream."""
    rate = np.where(np.arange(n) < int(0.6 * n), 0.1, 0.4)
    return (rng.random(n) < rate).astype(float)


def joined_binary(rng: np.random.Generator, n: int) -> np.ndarray:
    """Joined events of a binary model: bool predictions and labels, float or object scores."""
    rows = np.empty(n, dtype=JOINED_DTYPE)
    p = rng.beta(2.0, 2.0, n)
    y = rng.random(n) < np.where(np.arange(n) < n // 2, p, 1 - p)
    rows["prediction"] = [bool(v) for v in p >= 0.5]
    rows["scores"] = [None if i % 17 == 0 else ({"0": 1 - v, "1": v} if i % 2 else float(v)) for i, v in enumerate(p)]
    rows["label"] = [bool(v) for v in y]
    rows["prediction_ts"] = _times(rng, n)
    rows["label_ts"] = rows["prediction_ts"] + rng.lognormal(2.0, 1.0, n)
    return rows


def joined_multiclass(rng: np.random.Generator, n: int) -> np.ndarray:
    classes = np.array(["cat", "dog", "eel", "fox", "gnu"], dtype=object)
    rows = np.empty(n, dtype=JOINED_DTYPE)
    y = rng.integers(0, 5, n)
    yhat = np.where(rng.random(n) < 0.7, y, rng.integers(0, 5, n))
    probs = rng.dirichlet(np.ones(5), n)
    rows["prediction"] = classes[yhat]
    rows["label"] = classes[y]
    rows["scores"] = [dict(zip(classes.tolist(), row.tolist())) for row in probs]
    rows["prediction_ts"] = _times(rng, n)
    rows["label_ts"] = rows["prediction_ts"] + rng.exponential(5.0, n)
    return rows


def joined_regression(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = np.empty(n, dtype=JOINED_DTYPE)
    y = rng.normal(10.0, 3.0, n)
    rows["label"] = y.tolist()
    rows["prediction"] = (y + rng.normal(0.0, 1.0, n) + np.where(np.arange(n) < n // 2, 0.0, 3.0)).tolist()
    rows["scores"] = [None] * n
    rows["prediction_ts"] = _times(rng, n)
    rows["label_ts"] = rows["prediction_ts"] + 60.0
    return rows


def joined_segments(rng: np.random.Generator, n: int) -> np.ndarray:
    """Binary joined events in six segments (one without a value), more than the cap of the case."""
    joined = joined_binary(rng, n)
    rows = np.empty(n, dtype=SEGMENT_DTYPE)
    for name in joined.dtype.names:
        rows[name] = joined[name]
    rows["segment"] = rng.choice(np.array(["DE", "FR", "US", "GB", "IT", None], dtype=object), n)
    return rows


def cases() -> dict[str, Case]:
    """The performance package's contract cases."""
    out: dict[str, Case] = {
        "RealizedMetrics[binary]": (lambda: _realized("binary", 200, None), binary_rows),
        "RealizedMetrics[multiclass,time]": (lambda: _realized("multiclass", None, 80.0), multiclass_rows),
        "RealizedMetrics[regression,both]": (lambda: _realized("regression", 150, 100.0), regression_rows),
        "PerformanceEstimate[binary]": (lambda: PerformanceEstimate("binary", window_events=250), binary_rows),
        "PerformanceEstimate[multiclass,time]": (lambda: PerformanceEstimate("multiclass", None, 60.0),
                                                 multiclass_rows),
        "HistogramCalibration": (lambda: HistogramCalibration(events=300, bins=8), binary_rows),
        "ModelQuality[binary]": (lambda: ModelQuality("binary", window_events=300, hold=100,
                                                      calibration="histogram", calibration_events=200), joined_binary),
        "ModelQuality[auto]": (lambda: ModelQuality(window_events=None, window_seconds=200.0,
                                                    detectors=["ddm", "adwin"]), joined_binary),
        "ModelQuality[multiclass]": (lambda: ModelQuality("multiclass", window_events=250, hold=50), joined_multiclass),
        "ModelQuality[regression]": (lambda: ModelQuality("regression", window_events=250), joined_regression),
        "SegmentedQuality": (lambda: SegmentedQuality(3, {"task": "binary", "window_events": 100, "detectors": []}),
                             joined_segments),
    }
    for name in DETECTORS:
        out[f"ErrorDetector[{name}]"] = (lambda name=name: ErrorDetector(name, hold=50), error_stream)
    return out


def _realized(task: str, events: int | None, seconds: float | None) -> Estimator:
    return RealizedMetrics(task, window_events=events, window_seconds=seconds)
