"""Grouping decoded events into per-model-version column batches."""

from __future__ import annotations

from driftline.events.batch import LABEL_VERSION, group_events
from driftline.events.schema import EventKind, LabelEvent, PredictionEvent


def p(model: str, version: str, ts: float, **features) -> PredictionEvent:
    return PredictionEvent(model_id=model, model_version=version, ts=ts, features=features, prediction=1)


def test_groups_by_model_version_and_keeps_order_within_a_group():
    events = [p("a", "v1", 1.0, x=1.0), p("b", "v1", 2.0, x=2.0), p("a", "v2", 3.0, x=3.0), p("a", "v1", 4.0, x=4.0)]
    batches = {b.key: b for b in group_events(EventKind.PREDICTION, events, [1.0, 2.0, 3.0, 4.0])}
    assert set(batches) == {("a", "v1"), ("b", "v1"), ("a", "v2")}
    a1 = batches[("a", "v1")]
    assert a1.ts.tolist() == [1.0, 4.0] and a1.columns == {"x": [1.0, 4.0]} and a1.size == 2


def test_columns_have_none_where_a_feature_is_absent():
    events = [p("a", "v", 1.0, x=1.0), p("a", "v", 2.0, y="k"), p("a", "v", 3.0, x=None, y="j")]
    [batch] = group_events(EventKind.PREDICTION, events, [1.0, 2.0, 3.0])
    assert batch.columns == {"x": [1.0, None, None], "y": [None, "k", "j"]}


def test_labels_group_by_model_and_their_own_version_if_any():
    labels = [LabelEvent(model_id="a", request_id="1", label=1, ts=1.0),
              LabelEvent(model_id="a", request_id="2", label=0, ts=2.0, model_version="v2")]
    batches = {b.key: b for b in group_events(EventKind.LABEL, labels, [1.0, 2.0])}
    assert set(batches) == {("a", LABEL_VERSION), ("a", "v2")}
    assert batches[("a", LABEL_VERSION)].columns == {}
