"""The facade: read API, prediction and score columns, options, budget split, state."""

from __future__ import annotations

import json
import math

import msgspec
import numpy as np
import pytest

from driftline.estimators.drift.column import ColumnDrift
from driftline.estimators.drift.model import DriftOptions, ModelDrift, rebinned, weighted_drift_score
from driftline.estimators.reference import Reference


def batch(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    return {"x": rng.normal(shift, 1.0, n), "y": rng.normal(size=n),
            "c": rng.choice(np.array(["a", "b", "c"], dtype=object), n, p=[0.6, 0.3, 0.1])}


@pytest.fixture(scope="module")
def model() -> ModelDrift:
    rng = np.random.default_rng(0)
    reference = Reference.from_columns(batch(rng, 5000), predictions=rng.choice(["no", "yes"], 5000),
                                       scores=rng.beta(2, 5, 5000))
    options = DriftOptions(budget_events=1e6, detectors=("cusum", "adwin"), importances={"x": 2.0, "y": 1.0},
                           thresholds={"psi": 0.2, "cusum_down": 1e9})
    return ModelDrift(reference, options)


def test_read_api_shapes(model):
    drift = model.clone()
    rng = np.random.default_rng(1)
    drift.update_batch(batch(rng, 1000), predictions=rng.choice(["no", "yes"], 1000), scores=rng.beta(2, 5, 1000))
    features = drift.values("feature")
    assert sorted(features) == ["c", "x", "y"]
    assert {"psi", "js", "hellinger", "ks", "wasserstein", "missing_rate", "out_of_range_rate", "cusum_up",
            "cusum_scale_down", "cusum_bin", "cusum_missing"} <= set(features["x"])
    assert {"chi2", "new_category_rate", "cusum_category", "cusum_category_down"} <= set(features["c"])
    assert all(isinstance(v, float) for v in features["x"].values())
    assert sorted(drift.values("prediction")) == ["prediction", "score"]
    assert sorted(drift.values("multivariate")["pca"]) == ["cusum_pca", "reconstruction_error"]
    detections = drift.detections("feature")["x"]
    assert {"cusum_up", "adwin", "psi"} <= set(detections) and not any(detections.values())
    assert set(drift.scores("prediction")) == {"prediction", "score"}
    assert drift.detected() == {} and not drift.drift_detected and drift.events == 1000


def test_detection_score_and_reset(model):
    drift = model.clone()
    rng = np.random.default_rng(2)
    drift.update_batch(batch(rng, 3000, shift=1.0))
    assert drift.detected()["feature"]["x"][:1] == ["cusum_up"] and "psi" in drift.detected()["feature"]["x"]
    assert drift.scores()["x"] > 1 and drift.drift_score == pytest.approx((2 * 1.0 + drift.scores()["y"]) / 3)
    column = drift.column("feature", "x")
    assert isinstance(column, ColumnDrift) and column.drifted_buckets()  # the upper bins
    drift.reset()
    assert "cusum_up" not in drift.detected().get("feature", {}).get("x", [])


def test_absent_columns_count_as_missing_and_predictions_are_categorical(model):
    drift = model.clone()
    rng = np.random.default_rng(3)
    drift.update_batch({"x": rng.normal(size=400)}, predictions=["maybe"] * 400)
    assert drift.values("feature")["y"]["missing_rate"] == 1.0
    assert drift.values("prediction")["prediction"]["new_category_rate"] == 1.0
    assert drift.values("prediction")["score"]["missing_rate"] == 1.0
    assert {"y", "c"} <= set(drift.detected()["feature"]) and "prediction" in drift.detected()["prediction"]


def test_structured_arrays_are_columns(model):
    rng = np.random.default_rng(4)
    data = batch(rng, 300)
    rows = np.empty(300, dtype=[("x", "f8"), ("y", "f8"), ("c", "O")])
    for name in data:
        rows[name] = data[name]
    a, b = model.clone().update_batch(rows), model.clone().update_batch(data)
    assert a.values("feature")["x"]["ks"] == b.values("feature")["x"]["ks"]


def test_state_is_plain_data_and_restores_without_recalibrating(model):
    drift = model.clone().update_batch(batch(np.random.default_rng(5), 2000))
    text = json.dumps(drift.to_state(), default=lambda a: a.tolist())
    restored = ModelDrift.from_state(json.loads(text))
    assert restored.calibration["feature"]["x"]["rank"] == drift.calibration["feature"]["x"]["rank"]
    more = batch(np.random.default_rng(6), 500, shift=0.5)
    assert restored.update_batch(more).values() == drift.update_batch(more).values()


def test_options_from_plain_data_and_unknown_detectors():
    options = msgspec.convert({"budget_events": 1e5, "detectors": ["cusum_up"], "window_events": 100}, DriftOptions)
    assert options.detectors == ("cusum_up",)
    reference = Reference.from_columns({"x": np.arange(100.0)})
    drift = ModelDrift(reference, {"budget_events": 1e5, "detectors": ["cusum_up"]})
    assert set(drift.detections()["x"]) == {"cusum_up"}
    with pytest.raises(ValueError, match="unknown detectors"):
        ModelDrift(reference, DriftOptions(detectors=("cusum_sideways",)))


def test_rebinning_keeps_the_rows():
    reference = Reference.from_columns({"x": np.random.default_rng(7).normal(size=3000)}).features["x"]
    fewer = rebinned(reference, 4)
    assert fewer.edges.size == 3 and fewer.rows == reference.rows and rebinned(reference, None) is reference


def test_weighted_drift_score():
    assert weighted_drift_score({}) == 0.0
    assert weighted_drift_score({"a": 0.5, "b": 3.0}) == pytest.approx(0.75)
    assert weighted_drift_score({"a": 0.5, "b": 3.0}, {"a": 0.0, "b": 0.0}) == pytest.approx(0.75)
    assert math.isclose(weighted_drift_score({"a": 0.2, "b": 0.4}, {"a": 1.0}), 0.2)
