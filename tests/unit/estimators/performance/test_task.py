"""Task inference and the encoding of predictions, scores and labels."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.estimators.performance.task import OTHER_CLASS, Encoder, class_key, infer_task


@pytest.mark.parametrize(("value", "key"), [(True, "1"), (False, "0"), (1.0, "1"), (0, "0"), (2.5, "2.5"),
                                            ("cat", "cat"), (np.bool_(True), "1"), (np.float64(3.0), "3")])
def test_class_key(value, key):
    assert class_key(value) == key


@pytest.mark.parametrize(("predictions", "scores", "labels", "pos_label", "task"), [
    ([True, False], None, None, None, "binary"),
    ([1.0, 0.0, 1.0], None, None, None, "binary"),
    ([1.0, 0.0], [0.8, {"0": 0.9, "1": 0.1}], [0.0, 1.0], None, "binary"),
    ([0.83, 0.1], [0.83, 0.1], None, None, "binary"),  # probabilities as predictions, with scores
    (["cat", "dog"], None, None, None, "multiclass"),
    ([1.0, 2.0], [{"0": 0.1, "1": 0.2, "2": 0.7}, None], None, None, "multiclass"),
    (["fraud", "ok"], [{"fraud": 0.7, "ok": 0.3}, None], None, "fraud", "binary"),
    ([3.5, 1.2], None, [3.0, 1.0], None, "regression"),
    ([0.83, 0.1], None, None, None, "regression"),  # numbers in [0, 1] without scores
    ([1.0, 0.0], None, [2.0, 7.5], None, "regression"),  # labels decide
])
def test_infer_task(predictions, scores, labels, pos_label, task):
    assert infer_task(predictions, scores, labels, pos_label) == task


def test_binary_encoding_with_a_declared_positive_label_and_dict_scores():
    enc = Encoder("binary", pos_label="fraud")
    rows = enc.encode(["fraud", "ok", "ok"], [{"fraud": 3.0, "ok": 1.0}, {"ok": 0.9, "other": 0.1}, None],
                      labels=["ok", "fraud", "ok"])
    assert rows["yhat"].tolist() == [1.0, 0.0, 0.0] and rows["y"].tolist() == [0.0, 1.0, 0.0]
    assert rows["p"][0] == 0.75 and rows["p"][1] == pytest.approx(0.1) and np.isnan(rows["p"][2])


def test_binary_probability_predictions_are_thresholded_and_used_as_scores():
    rows = Encoder("binary", threshold=0.3).encode([0.2, 0.35, 1.0], None, labels=[0, 1, 1])
    assert rows["yhat"].tolist() == [0.0, 1.0, 1.0]
    assert rows["p"][:2].tolist() == [0.2, 0.35] and np.isnan(rows["p"][2])


def test_multiclass_classes_beyond_the_cap_share_one_code():
    enc = Encoder("multiclass", max_classes=2)
    rows = enc.encode(["a", "b", "c", "d", "a"], labels=["a", "b", "c", "d", "e"])
    assert enc.classes == ["a", "b", OTHER_CLASS]
    assert rows["yhat"].tolist() == [0, 1, 2, 2, 0] and rows["y"].tolist() == [0, 1, 2, 2, 2]
    restored = Encoder("multiclass", max_classes=2)
    restored.set_state(enc.get_state())
    assert restored.encode(["b"])["yhat"].tolist() == [1.0]


def test_regression_needs_numbers():
    with pytest.raises(ValueError, match="must be numbers"):
        Encoder("regression").encode(["a"], labels=[1.0])
    with pytest.raises(ValueError, match="unknown task"):
        Encoder("ranking")
