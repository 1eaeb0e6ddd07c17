"""Realized metrics equal scikit-learn's on the same windows, by events and by event time."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from driftline.estimators.performance.metric import ranked_auc
from driftline.estimators.performance.quality import JOINED_DTYPE, ModelQuality
from driftline.estimators.performance.realized import RealizedMetrics
from driftline.estimators.performance.task import REALIZED_METRICS, ROW_DTYPE, Encoder

REL = 1e-12


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=REL)


def sk_ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE from scikit-learn's calibration_curve (uniform bins) and the bin counts."""
    prob_true, prob_pred = calibration_curve(y, p, n_bins=bins, strategy="uniform")
    ids = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], p)
    counts = np.bincount(ids, minlength=bins)
    counts = counts[counts > 0]
    return float((counts / y.size * np.abs(prob_true - prob_pred)).sum())


def sk_binary(rows: np.ndarray) -> dict[str, float]:
    y, yhat = rows["y"].astype(int), rows["yhat"].astype(int)
    values = {"accuracy": skm.accuracy_score(y, yhat),
              "precision": skm.precision_score(y, yhat, zero_division=0),
              "recall": skm.recall_score(y, yhat, zero_division=0),
              "f1": skm.f1_score(y, yhat, zero_division=0)}
    scored = ~np.isnan(rows["p"])
    ys, p = y[scored], rows["p"][scored]
    if len(set(ys.tolist())) == 2:
        values["roc_auc"] = skm.roc_auc_score(ys, p)
    if ys.size:
        values.update(log_loss=skm.log_loss(ys, p, labels=[0, 1]), brier=skm.brier_score_loss(ys, p, pos_label=1),
                      ece=sk_ece(ys, p))
    return values


def binary_stream(rng: np.random.Generator, n: int, ties: bool = False) -> np.ndarray:
    rows = np.empty(n, dtype=ROW_DTYPE)
    p = rng.beta(2.0, 3.0, n)
    if ties:
        p = np.round(p, 1)  # many tied scores, some exactly on the ECE bin edges
    p[rng.random(n) < 0.05] = np.nan
    rows["p"] = p
    rows["yhat"] = (rng.random(n) < 0.4).astype(float)
    rows["y"] = (rng.random(n) < np.nan_to_num(p, nan=0.3)).astype(float)
    rows["q"] = np.nan
    rows["ts"] = np.cumsum(rng.exponential(1.0, n)) + rng.normal(0.0, 4.0, n)  # out of order
    return rows


def offline_window(rows: np.ndarray, end: int, events: int | None, seconds: float | None) -> np.ndarray:
    """The window after ``end`` arrivals, recomputed from scratch."""
    seen = rows[:end]
    window = seen[-events:] if events is not None else seen
    if seconds is not None:
        window = window[window["ts"] > seen["ts"].max() - seconds]
    return window


def assert_same(ours: dict[str, float], theirs: dict[str, float]) -> None:
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert close(ours[key], theirs[key]), (key, ours[key], theirs[key])


@pytest.mark.parametrize(("events", "seconds"), [(300, None), (None, 150.0), (200, 120.0)])
@pytest.mark.parametrize("ties", [False, True])
def test_binary_metrics_equal_sklearn_on_sliding_windows(events, seconds, ties):
    rng = np.random.default_rng(11)
    rows = binary_stream(rng, 2000, ties)
    realized = RealizedMetrics("binary", window_events=events, window_seconds=seconds)
    end = 0
    for size in rng.integers(1, 120, 40):
        realized.update_batch(rows[end:end + size])
        end += size
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert_same(realized.values, sk_binary(offline_window(rows, end, events, seconds)))
    assert end > 1000


def test_roc_auc_with_ties_is_exact_and_one_class_is_left_out():
    rng = np.random.default_rng(3)
    y = (rng.random(500) < 0.3).astype(float)
    s = np.round(rng.random(500), 1)
    assert close(ranked_auc(s, y), skm.roc_auc_score(y, s))
    rows = np.zeros(10, dtype=ROW_DTYPE)
    rows["y"], rows["yhat"], rows["p"] = 1.0, 1.0, np.linspace(0.1, 0.9, 10)
    values = RealizedMetrics("binary").update_batch(rows).values
    assert "roc_auc" not in values and values["accuracy"] == 1.0


def test_precision_without_predicted_positives_is_zero_like_sklearn():
    rows = np.zeros(4, dtype=ROW_DTYPE)
    rows["y"], rows["yhat"], rows["p"] = [1, 0, 1, 0], 0.0, np.nan
    values = RealizedMetrics("binary").update_batch(rows).values
    assert values == {"accuracy": 0.5, "precision": 0.0, "recall": 0.0, "f1": 0.0}


def multiclass_raw(rng: np.random.Generator, n: int) -> tuple[list[str], list[str], list[dict[str, float]], np.ndarray]:
    classes = ["a", "b", "c", "d", "e", "f"]
    y = rng.choice(6, n, p=[0.3, 0.25, 0.2, 0.15, 0.07, 0.03])
    yhat = np.where(rng.random(n) < 0.6, y, rng.integers(0, 6, n))
    probs = rng.dirichlet(np.ones(6) * 0.7, n)
    scores = [dict(zip(classes, row.tolist())) for row in probs]
    return [classes[i] for i in yhat], [classes[i] for i in y], scores, probs


@pytest.mark.parametrize(("events", "seconds"), [(250, None), (None, 90.0)])
def test_multiclass_metrics_equal_sklearn(events, seconds):
    rng = np.random.default_rng(5)
    preds, labels, scores, probs = multiclass_raw(rng, 3000)
    ts = np.cumsum(rng.exponential(1.0, 3000)) + rng.normal(0.0, 2.0, 3000)
    encoder = Encoder("multiclass")
    realized = RealizedMetrics("multiclass", window_events=events, window_seconds=seconds)
    all_classes = ["a", "b", "c", "d", "e", "f"]
    end = 0
    for size in rng.integers(1, 150, 20):
        batch = slice(end, end + size)
        realized.update_batch(encoder.encode(preds[batch], scores[batch], labels[batch], ts[batch]))
        end += size
        seen = np.arange(end)
        keep = seen[-events:] if events else seen
        if seconds:
            keep = keep[ts[keep] > ts[:end].max() - seconds]
        y, yhat = np.array(labels)[keep], np.array(preds)[keep]
        expected = {"accuracy": skm.accuracy_score(y, yhat), "macro_f1": skm.f1_score(y, yhat, average="macro"),
                    "log_loss": skm.log_loss(y, probs[keep], labels=all_classes)}
        assert_same(realized.values, expected)


def test_multiclass_scores_are_normalised_and_missing_classes_score_zero():
    encoder = Encoder("multiclass")
    rows = encoder.encode(["x", "y"], [{"x": 2.0, "y": 6.0}, {"x": 1.0}], labels=["y", "z"])
    assert rows["p"].tolist() == [0.75, 0.0] and rows["q"].tolist() == [0.25, 0.0]
    assert encoder.classes == ["x", "y", "z"]


@pytest.mark.parametrize(("events", "seconds"), [(400, None), (None, 60.0), (100, 200.0)])
def test_regression_metrics_equal_sklearn(events, seconds):
    rng = np.random.default_rng(9)
    n = 1200
    rows = np.empty(n, dtype=ROW_DTYPE)
    rows["y"] = rng.normal(5.0, 3.0, n)
    rows["y"][::97] = 0.0  # MAPE's eps guard
    rows["yhat"] = rows["y"] + rng.normal(0.3, 1.0, n)
    rows["p"] = rows["q"] = np.nan
    rows["ts"] = np.cumsum(rng.exponential(0.5, n)) + rng.normal(0.0, 2.0, n)
    realized = RealizedMetrics("regression", window_events=events, window_seconds=seconds)
    end = 0
    for size in rng.integers(1, 100, 20):
        realized.update_batch(rows[end:end + size])
        end += size
        w = offline_window(rows, end, events, seconds)
        expected = {"mae": skm.mean_absolute_error(w["y"], w["yhat"]),
                    "rmse": skm.root_mean_squared_error(w["y"], w["yhat"]),
                    "mape": skm.mean_absolute_percentage_error(w["y"], w["yhat"]),
                    "bias": float(np.mean(w["yhat"] - w["y"]))}
        assert_same(realized.values, expected)


def test_facade_realized_equals_sklearn_on_raw_joined_events():
    """Bool labels, mixed float and object scores, the task inferred: the facade's window is sklearn's."""
    rng = np.random.default_rng(21)
    n = 900
    p = rng.random(n)
    rows = np.empty(n, dtype=JOINED_DTYPE)
    rows["prediction"] = [bool(v) for v in p > 0.5]
    rows["scores"] = [{"1": v, "0": 1 - v} if i % 3 else v for i, v in enumerate(p.tolist())]
    y = rng.random(n) < p
    rows["label"] = [bool(v) for v in y]
    rows["prediction_ts"] = np.arange(n, dtype=float)
    rows["label_ts"] = rows["prediction_ts"] + rng.exponential(30.0, n)
    quality = ModelQuality(window_events=None, window_seconds=300.0)
    for chunk in np.array_split(rows, 9):
        quality.update_joined(chunk)
    assert quality.inferred_task == "binary"
    join_ts = np.maximum(rows["prediction_ts"], rows["label_ts"])
    keep = join_ts > join_ts.max() - 300.0
    w = np.zeros(int(keep.sum()), dtype=ROW_DTYPE)
    w["y"], w["yhat"], w["p"] = y[keep], (p > 0.5)[keep], p[keep]
    assert_same(quality.realized, sk_binary(w))
    assert set(quality.realized) == set(REALIZED_METRICS["binary"])
