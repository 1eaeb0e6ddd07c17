"""Reference building: kinds, bins, caps, loaders, the warm-up builder, state."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from driftline.estimators.reference import (
    CATEGORICAL, NUMERIC, CategoricalReference, NumericReference, Reference, ReferenceBuilder, positive_score,
)


def test_kinds_are_inferred_and_declared_kinds_override():
    rows = [{"n": 1, "f": 2.5, "s": "a", "b": True, "z": None}, {"n": 2, "f": None, "s": "b", "b": False, "z": 3}]
    ref = Reference.from_rows(rows, kinds={"n": CATEGORICAL})
    kinds = {name: col.kind for name, col in ref.features.items()}
    assert kinds == {"n": CATEGORICAL, "f": NUMERIC, "s": CATEGORICAL, "b": CATEGORICAL, "z": NUMERIC}
    assert ref.features["n"].categories == ["1", "2"] and ref.features["b"].categories == ["False", "True"]
    assert ref.features["f"].missing_rate == 0.5 and ref.joint_columns == ["f", "z"]


def test_numeric_bins_are_reference_quantiles_with_a_missing_bucket():
    values = np.arange(1000, dtype=float)
    values[::10] = np.nan
    ref = NumericReference.from_values(values, bins=10)
    assert ref.edges.size == 9 and ref.counts.size == 11
    assert ref.counts[-1] == 100 and ref.counts.sum() == 1000
    np.testing.assert_allclose(ref.probabilities[:-1], 0.09, atol=0.002)
    finite = values[np.isfinite(values)]
    assert (ref.mean, ref.minimum, ref.maximum) == (finite.mean(), 1.0, 999.0)
    assert ref.std == pytest.approx(finite.std(ddof=1))


def test_ties_collapse_bins_instead_of_making_empty_ones():
    ref = NumericReference.from_values([0.0] * 600 + list(range(1, 401)), bins=10)
    assert np.all(np.diff(ref.edges) > 0) and ref.edges[0] == 0.0
    assert ref.counts[0] == 0 and ref.counts[1:-1].min() > 0  # only the below-the-minimum bin is empty


def test_a_large_sample_is_kept_as_evenly_spaced_order_statistics():
    values = np.random.default_rng(0).normal(size=50_000)
    ref = NumericReference.from_values(values, sample_size=1000)
    assert ref.sample.size == 1000 and np.all(np.diff(ref.sample) >= 0)
    np.testing.assert_allclose(ref.sample, np.quantile(values, (np.arange(1000) + 0.5) / 1000), atol=0.01)
    assert ref.rows == 50_000 and ref.counts[:-1].sum() == 50_000  # bin counts use every row


def test_categories_are_capped_with_other_and_missing_buckets():
    values = ["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 5 + [None] * 10
    ref = CategoricalReference.from_values(values, max_categories=2)
    assert ref.categories == ["a", "b"] and ref.counts.tolist() == [50, 30, 20, 10]
    assert ref.known == ["a", "b", "c", "d"] and ref.bucket_labels() == ["a", "b", "other", "missing"]


def test_prediction_and_score_are_kept_apart_from_the_features():
    ref = Reference.from_columns({"x": [1.0, 2.0, 3.0]}, predictions=[0, 1, 1], scores=[0.2, 0.7, 0.9])
    assert list(ref.features) == ["x"]
    assert ref.prediction.kind == CATEGORICAL and ref.prediction.categories == ["1", "0"]
    assert ref.score.kind == NUMERIC
    regression = Reference.from_columns({"x": [1.0, 2.0]}, predictions=[0.5, 2.25])
    assert regression.prediction.kind == NUMERIC


def test_json_lines_of_events_and_of_plain_rows(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in [
        {"model_id": "m", "features": {"x": 1.0, "c": "a"}, "prediction": 1, "scores": {"0": 0.1, "1": 0.9}},
        {"model_id": "m", "features": {"x": 2.0}, "prediction": 0, "scores": 0.3},
    ]) + "\n\n")
    ref = Reference.from_jsonl(events)
    assert ref.features["x"].rows == 2 and ref.features["c"].missing_rate == 0.5
    assert ref.score.sample.tolist() == [0.3, 0.9] and ref.prediction.categories == ["0", "1"]
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"x": 1.5, "c": "b"}\n{"x": 2.5, "c": "b"}\n')
    plain = Reference.from_jsonl(rows)
    assert plain.prediction is None and plain.features["c"].categories == ["b"]


def test_csv_with_empty_cells_and_named_prediction_column(tmp_path):
    path = tmp_path / "ref.csv"
    path.write_text("x,c,pred\n1.5,a,yes\n,b,no\n3,a,yes\n")
    ref = Reference.from_csv(path, prediction="pred")
    assert ref.features["x"].kind == NUMERIC and ref.features["x"].missing_rate == pytest.approx(1 / 3)
    assert ref.features["c"].kind == CATEGORICAL and ref.prediction.categories == ["yes", "no"]


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "ref.parquet"
    pq.write_table(pa.table({"x": [1.0, None, 3.0], "c": ["a", "b", None], "score": [0.1, 0.5, 0.9]}), path)
    ref = Reference.from_parquet(path, score="score")
    assert ref.features["x"].missing_rate == pytest.approx(1 / 3) and ref.score.rows == 3


def test_builder_keeps_the_first_events_and_fills_late_features_as_missing():
    builder = ReferenceBuilder(size=5, bins=2)
    builder.update_batch({"x": [1.0, 2.0]}, predictions=["a", "b"])
    builder.update_batch({"x": [3.0, 4.0, 5.0, 6.0], "c": ["u", "v", "w", "z"]})
    assert builder.rows == 5 and builder.ready
    ref = builder.build()
    assert ref.features["x"].rows == 5 and ref.features["x"].maximum == 5.0
    assert ref.features["c"].counts[-1] == 2 and ref.prediction.missing_rate == pytest.approx(0.6)
    restored = ReferenceBuilder.from_state(builder.to_state())
    assert restored.build() == ref


def test_builder_takes_structured_arrays():
    rows = np.zeros(3, dtype=[("x", "f8"), ("c", "O")])
    rows["c"] = ["a", "b", "a"]
    ref = ReferenceBuilder(size=10).update_batch(rows).build()
    assert ref.features["c"].counts.tolist() == [2, 1, 0, 0]


def test_state_round_trip_and_equality():
    rng = np.random.default_rng(1)
    ref = Reference.from_columns({"x": rng.normal(size=300), "c": rng.choice(["a", "b"], 300)},
                                 predictions=rng.integers(0, 3, 300), scores=rng.random(300))
    state = ref.to_state()
    assert Reference.from_state(state) == ref
    assert Reference.from_state(json.loads(json.dumps(state, default=lambda a: a.tolist()))) == ref
    other = Reference.from_columns({"x": rng.normal(size=300)})
    assert other != ref


@pytest.mark.parametrize(("scores", "positive", "expected"), [
    (0.7, None, 0.7), ({"0": 0.2, "1": 0.8}, None, 0.8), ({"no": 0.4, "yes": 0.6}, None, 0.6),
    ({"no": 0.4, "yes": 0.6}, "no", 0.4), (None, None, None), ({"1": "x"}, None, None),
])
def test_positive_score(scores, positive, expected):
    result = positive_score(scores, positive)
    assert result == expected or (result is not None and math.isclose(result, expected))
