"""The per-model-version Monitor and the registry of monitors."""

from __future__ import annotations

import math

import pytest

from driftline.config import MonitoringConfig
from driftline.events.batch import group_events
from driftline.events.schema import EventKind, FeatureEvent, PredictionEvent
from driftline.monitor import FeatureKind, ModelLimitError, MonitorRegistry, numeric_column


def batch(features: list[dict], ts: list[float] | None = None, kind=EventKind.PREDICTION, model="m", version="v1"):
    ts = ts or [100.0 + i for i in range(len(features))]
    cls = PredictionEvent if kind is EventKind.PREDICTION else FeatureEvent
    extra = {"prediction": 1} if kind is EventKind.PREDICTION else {}
    events = [cls(model_id=model, model_version=version, ts=t, features=f, **extra) for f, t in zip(features, ts)]
    [b] = group_events(kind, events, ts)
    return b


def test_counts_lag_and_feature_kinds():
    registry = MonitorRegistry(MonitoringConfig())
    monitor = registry.get("m", "v1")
    monitor.update(batch([{"x": 1.0, "c": "DE"}, {"x": 3.0, "c": None}, {"c": "FR"}], ts=[100.0, 105.0, 103.0]), now=110.0)
    monitor.update(batch([{"x": 5.0}], ts=[90.0], kind=EventKind.FEATURE), now=111.0)
    assert monitor.events[EventKind.PREDICTION] == 3 and monitor.events[EventKind.FEATURE] == 1
    assert monitor.last_event_ts == 105.0  # an older event does not move event time back
    assert monitor.lag_seconds == 21.0  # but lag is that of the last batch
    assert monitor.features["x"].kind is FeatureKind.NUMERIC
    assert monitor.features["c"].kind is FeatureKind.CATEGORICAL
    x = monitor.features["x"].summary
    assert (x.count, x.missing, x.mean) == (4, 1, 3.0)
    assert dict((n, (c, m)) for n, c, m in monitor.feature_missing()) == {"x": (4, 1), "c": (3, 1)}


def test_a_feature_missing_at_first_is_typed_when_a_value_arrives():
    monitor = MonitorRegistry(MonitoringConfig()).get("m", "v1")
    monitor.update(batch([{"x": None}, {"x": None}]), now=200.0)
    assert dict((n, (c, m)) for n, c, m in monitor.feature_missing()) == {"x": (2, 2)}
    monitor.update(batch([{"x": 2.0}]), now=200.0)
    summary = monitor.features["x"].summary
    assert (summary.count, summary.missing, summary.mean) == (3, 2, 2.0)


def test_strings_in_a_numeric_feature_count_as_missing():
    monitor = MonitorRegistry(MonitoringConfig()).get("m", "v1")
    monitor.update(batch([{"x": 1.0}, {"x": "oops"}, {"x": 3.0}]), now=200.0)
    summary = monitor.features["x"].summary
    assert (summary.count, summary.missing, summary.mean) == (3, 1, 2.0)


def test_feature_cap_bounds_memory_and_counts_the_rest():
    monitor = MonitorRegistry(MonitoringConfig(max_features_per_model=2)).get("m", "v1")
    monitor.update(batch([{"a": 1.0, "b": 2.0, "c": 3.0, "d": None}]), now=200.0)
    assert set(monitor.features) == {"a", "b"} and monitor.untracked_values == 2


def test_model_limit():
    registry = MonitorRegistry(MonitoringConfig(max_models=2))
    registry.get("a", "v1")
    registry.get("a", "v2")  # another version of a known model is fine
    registry.get("b", "v1")
    with pytest.raises(ModelLimitError):
        registry.get("c", "v1")
    assert len(registry) == 3


def test_numeric_column():
    assert numeric_column([1, None, 2.5]).tolist()[::2] == [1.0, 2.5]
    column = numeric_column([1.0, "x", True, None])
    assert column[0] == 1.0 and all(math.isnan(v) for v in column[1:])
