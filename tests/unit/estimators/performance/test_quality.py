"""ModelQuality, the facade: inference, accessors, estimate error, detectors, options, snapshots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftline.estimators.performance.quality import JOINED_DTYPE, JoinedRow, ModelQuality, error_stream
from driftline.estimators.performance.task import ESTIMATED_METRICS, REALIZED_METRICS, Encoder


def binary_events(rng: np.random.Generator, n: int, truth=lambda p: p, start: float = 0.0) -> np.ndarray:
    """Joined events of a binary model with score p; the label is positive with probability truth(p)."""
    rows = np.empty(n, dtype=JOINED_DTYPE)
    p = rng.beta(2.0, 2.0, n)
    rows["prediction"] = (p >= 0.5).astype(float).tolist()
    rows["scores"] = p.tolist()
    rows["label"] = (rng.random(n) < truth(p)).astype(float).tolist()
    rows["prediction_ts"] = start + np.arange(n, dtype=float)
    rows["label_ts"] = rows["prediction_ts"] + rng.lognormal(3.0, 1.0, n)
    return rows


def test_empty_facade_reads_empty():
    q = ModelQuality()
    assert (q.inferred_task, q.realized, q.estimated, q.estimate_error, q.detections, q.alarms) == (
        None, {}, {}, {}, {}, {})
    assert q.counts == {"predictions": 0, "joined": 0, "realized_window": 0, "estimated_window": 0}


def test_binary_accessors_are_plain_dicts_with_the_documented_names():
    rng = np.random.default_rng(0)
    q = ModelQuality(window_events=2000, cbpe_window_events=2000,
                     detectors=["ddm", "eddm", "hddm_a", "hddm_w", "adwin"])
    rows = binary_events(rng, 3000)
    q.update_predictions(rows["prediction"], rows["scores"], rows["prediction_ts"])
    q.update_joined(rows)
    assert q.inferred_task == "binary"
    assert list(q.realized) == list(REALIZED_METRICS["binary"])
    assert list(q.estimated) == list(ESTIMATED_METRICS["binary"]) == list(q.estimate_error)
    assert set(q.detections) == {"ddm", "eddm", "hddm_a", "hddm_w", "adwin"}
    assert all(isinstance(v, float) for v in [*q.realized.values(), *q.estimated.values()])
    assert all(isinstance(v, bool) for v in q.detections.values())
    assert q.counts == {"predictions": 3000, "joined": 3000, "realized_window": 2000, "estimated_window": 2000}
    assert all(v < 0.03 for v in q.estimate_error.values()), q.estimate_error  # calibrated scores


def test_estimate_error_grows_when_calibration_breaks_and_the_detectors_see_the_concept_drift():
    rng = np.random.default_rng(1)
    q = ModelQuality("binary", window_events=1000, hold=5000, detectors=["hddm_a", "adwin"])
    q.update_joined(binary_events(rng, 3000))
    calibrated_error = q.estimate_error["accuracy"]
    assert not any(q.detections.values())
    q.update_joined(binary_events(rng, 3000, truth=lambda p: 1.0 - p, start=3000.0))  # P(y|x) flips
    assert q.estimate_error["accuracy"] > 10 * max(calibrated_error, 0.01)
    assert q.detections == {"hddm_a": True, "adwin": True}


def test_histogram_calibration_fitted_on_the_first_labels_corrects_cbpe():
    rng = np.random.default_rng(2)
    truth = lambda p: p ** 2  # noqa: E731 - overconfident scores, from the start
    plain = ModelQuality("binary", window_events=3000, cbpe_window_events=3000)
    mapped = ModelQuality("binary", window_events=3000, cbpe_window_events=3000, calibration="histogram",
                          calibration_events=2000)
    for q in (plain, mapped):
        q.update_joined(binary_events(rng, 2000, truth))
        recent = binary_events(rng, 3000, truth, start=2000.0)
        q.update_joined(recent)
        q.update_predictions(recent["prediction"], recent["scores"], recent["prediction_ts"])
    assert plain.estimate_error["precision"] > 0.1 and plain.estimate_error["recall"] > 0.1
    assert all(v < 0.02 for v in mapped.estimate_error.values()), mapped.estimate_error
    assert abs(mapped.estimated["precision"] - mapped.realized["precision"]) < 0.02


def test_multiclass_and_regression():
    mc = ModelQuality(window_events=10)
    mc.update_joined([JoinedRow("cat", {"cat": 0.6, "dog": 0.3, "eel": 0.1}, "cat", 0.0, 5.0),
                      JoinedRow("dog", {"cat": 0.5, "dog": 0.4, "eel": 0.1}, "eel", 1.0, 6.0)])
    assert mc.inferred_task == "multiclass"
    assert mc.realized["accuracy"] == 0.5 and set(mc.realized) == {"accuracy", "macro_f1", "log_loss"}
    assert mc.estimate_error == {"accuracy": 0.0}  # (0.6 + 0.4) / 2 = 0.5
    reg = ModelQuality(detectors=["ddm", "adwin"], metrics=["mae", "bias"])
    reg.update_joined([JoinedRow(3.0, None, 1.0, 0.0, 1.0), JoinedRow(2.0, None, 2.5, 0.0, 1.0)])
    assert reg.inferred_task == "regression"
    assert reg.realized == {"mae": 1.25, "bias": 0.75}
    assert reg.estimated == {} and reg.estimate_error == {} and set(reg.detections) == {"adwin"}


def test_predictions_before_labels_fix_the_task_and_feed_the_estimate_only():
    q = ModelQuality(cbpe_window_events=None, cbpe_window_seconds=10.0)
    q.update_predictions([True, False, True], [0.9, 0.1, 0.8], ts=[0.0, 5.0, 20.0])
    assert q.inferred_task == "binary" and q.counts["estimated_window"] == 1 and q.realized == {}
    assert q.estimated["accuracy"] == pytest.approx(0.8)


def test_error_stream():
    enc = Encoder("binary")
    rows = enc.encode([1, 0, 1], [0.9, None, 0.2], labels=[1, 1, 0])
    wrong, loss = error_stream("binary", rows)
    assert wrong.tolist() == [0.0, 1.0, 1.0] and loss.tolist() == pytest.approx([0.01, 1.0, 0.04])


def test_snapshot_mid_stream_is_plain_data_and_resumes_identically():
    rng = np.random.default_rng(3)
    first, second = binary_events(rng, 1500), binary_events(rng, 1500, truth=lambda p: 1 - p, start=1500.0)
    make = lambda: ModelQuality(window_seconds=900.0, calibration="histogram", calibration_events=500,  # noqa: E731
                                detectors=["ddm", "eddm", "hddm_a", "hddm_w", "adwin"])
    whole = make().update_joined(first).update_joined(second)
    part = make().update_joined(first)
    state = part.to_state()
    text = json.dumps(state, default=lambda a: a.tolist())  # arrays aside, JSON types only
    assert "pickle" not in text
    resumed = ModelQuality.from_state(state).update_joined(second)
    for name in ("realized", "estimated", "estimate_error", "detections", "alarms", "counts"):
        assert getattr(resumed, name) == getattr(whole, name), name


def test_bad_options_are_errors():
    with pytest.raises(ValueError, match="unknown task"):
        ModelQuality(task="ranking")
    with pytest.raises(ValueError, match="unknown metrics"):
        ModelQuality(metrics=["accuracy", "auc"])
    with pytest.raises(ValueError, match="unknown detectors"):
        ModelQuality(detectors=["kswin"])
    with pytest.raises(ValueError, match="unknown calibration"):
        ModelQuality(calibration="isotonic")
    with pytest.raises(ValueError, match="a window needs a length"):
        ModelQuality(window_events=None)
    with pytest.raises(ValueError, match="a window needs a length"):
        ModelQuality(cbpe_window_events=None)
    ModelQuality(cbpe=False, cbpe_window_events=None)


def test_empty_updates_before_the_task_is_known():
    q = ModelQuality().update_predictions([]).update_joined([])
    assert q.inferred_task is None and q.counts["predictions"] == 0
