"""SegmentedQuality: one ModelQuality per segment, capped, equal to scikit-learn per segment."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, mean_absolute_error, roc_auc_score

from driftline.estimators.performance.segment import (OTHER_SEGMENT, SegmentedQuality, SegmentRow, segment_label,
                                                      segment_rows, segment_values)

BINARY = {"task": "binary", "window_events": 300, "detectors": []}


def stream(rng: np.random.Generator, n: int, segments: list[str | None]) -> list[SegmentRow]:
    p = rng.random(n)
    names = [segments[i] for i in rng.integers(0, len(segments), n)]
    y = (rng.random(n) < p).astype(int)
    ts = np.cumsum(rng.exponential(1.0, n)) + 1000.0
    return [SegmentRow(int(p[i] > 0.5), float(p[i]), int(y[i]), float(ts[i]), float(ts[i]) + 5.0, names[i])
            for i in range(n)]


def test_each_segment_equals_sklearn_on_its_window():
    rows = stream(np.random.default_rng(1), 3000, ["DE", "FR", "US", None])
    seg = SegmentedQuality(10, BINARY).update_joined(rows)
    assert seg.segments == list(dict.fromkeys(r.segment for r in rows if r.segment is not None))
    for name in seg.segments:
        window = [r for r in rows if r.segment == name][-300:]
        y, yhat, p = [r.label for r in window], [r.prediction for r in window], [r.scores for r in window]
        realized = seg.realized[name]
        assert realized["accuracy"] == pytest.approx(accuracy_score(y, yhat), abs=1e-12)
        assert realized["f1"] == pytest.approx(f1_score(y, yhat), abs=1e-12)
        assert realized["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
        assert realized["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-12)
        assert seg.counts[name]["realized_window"] == 300


def test_a_window_in_event_time_per_segment():
    rows = stream(np.random.default_rng(2), 2000, ["a", "b"])
    seg = SegmentedQuality(5, {"task": "binary", "window_events": None, "window_seconds": 200.0, "detectors": []})
    for chunk in np.array_split(np.arange(len(rows)), 9):  # batching does not matter
        seg.update_joined([rows[i] for i in chunk])
    for name in ("a", "b"):
        mine = [r for r in rows if r.segment == name]
        newest = max(r.label_ts for r in mine)
        window = [r for r in mine if r.label_ts > newest - 200.0]
        assert seg.realized[name]["accuracy"] == pytest.approx(
            accuracy_score([r.label for r in window], [r.prediction for r in window]), abs=1e-12)


def test_values_beyond_the_cap_share_other_in_arrival_order():
    rows = stream(np.random.default_rng(3), 1000, ["DE", "FR", "US", "GB", "IT"])
    seg = SegmentedQuality(2, {**BINARY, "window_events": 1000})
    seg.update_joined(segment_rows(rows))  # structured rows work like objects
    first = list(dict.fromkeys(r.segment for r in rows))[:2]
    assert seg.segments == [*first, OTHER_SEGMENT]
    rest = [r for r in rows if r.segment not in first]
    assert seg.counts[OTHER_SEGMENT]["joined"] == len(rest)
    assert seg.realized[OTHER_SEGMENT]["roc_auc"] == pytest.approx(
        roc_auc_score([r.label for r in rest], [r.scores for r in rest]), abs=1e-12)
    assert seg.admit(["ZZ", first[1], None]) == [OTHER_SEGMENT, first[1], None]


def test_estimated_performance_per_segment_from_predictions_alone():
    rng = np.random.default_rng(4)
    seg = SegmentedQuality(5, BINARY)
    names = seg.admit(["a"] * 200 + ["b"] * 200)
    p = np.concatenate([rng.uniform(0.9, 1.0, 200), rng.uniform(0.5, 0.6, 200)])  # confident in a, not in b
    seg.update_predictions(names, (p > 0.5).astype(int).tolist(), p.tolist(), ts=np.arange(400.0))
    assert seg.estimated["a"]["accuracy"] == pytest.approx(p[:200].mean(), abs=1e-12)
    assert seg.estimated["b"]["accuracy"] == pytest.approx(p[200:].mean(), abs=1e-12)
    assert seg.realized == {"a": {}, "b": {}}  # no labels yet


def test_regression_segments():
    rng = np.random.default_rng(5)
    rows = [SegmentRow(float(y + e), None, float(y), float(i), float(i), "x" if i % 3 else "y")
            for i, (y, e) in enumerate(zip(rng.normal(10, 2, 500), rng.normal(0, 1, 500)))]
    seg = SegmentedQuality(5, {"task": "regression", "window_events": 1000, "detectors": []}).update_joined(rows)
    for name in ("x", "y"):
        mine = [r for r in rows if r.segment == name]
        assert seg.realized[name]["mae"] == pytest.approx(
            mean_absolute_error([r.label for r in mine], [r.prediction for r in mine]), abs=1e-12)


def test_restored_state_admits_the_next_values_the_same_way():
    seg = SegmentedQuality(3, BINARY).update_joined(stream(np.random.default_rng(6), 200, ["a", "b"]))
    restored = SegmentedQuality.from_state(seg.to_state())
    assert restored.admit(["c", "d", "a"]) == seg.admit(["c", "d", "a"]) == ["c", OTHER_SEGMENT, "a"]
    assert restored.realized == seg.realized


def test_segment_labels_and_values():
    assert [segment_label(v) for v in ("DE", False, 7, 7.0, 0.25, None, float("inf"))] == [
        "DE", "false", "7", "7", "0.25", None, None]
    assert segment_label("x" * 500) == "x" * 128

    class Event:
        def __init__(self, features, segment=None):
            self.features, self.segment = features, segment

    events = [Event({"country": "DE"}), Event({"country": "DE"}, {"country": "FR"}), Event({}, {"region": "eu"}),
              Event({"country": None})]
    assert segment_values(events, "country") == ["DE", "FR", None, None]


def test_a_cap_below_one_is_refused():
    with pytest.raises(ValueError):
        SegmentedQuality(0)
