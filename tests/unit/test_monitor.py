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


def _stream(registry: MonitorRegistry, rng, n_batches: int, start: int = 0) -> None:
    """Predictions of two versions and labels for some of them, in batches, into ``registry``."""
    from driftline.events.schema import LabelEvent

    for b in range(start, start + n_batches):
        ts = [1000.0 + b * 50 + i for i in range(50)]
        preds = [PredictionEvent(model_id="m", model_version=f"v{i % 2}", ts=t, request_id=f"r{b}-{i}",
                                 features={"x": float(rng.normal()), "c": str(rng.choice(["a", "b"])),
                                           "y": None if i % 7 == 0 else float(rng.normal())},
                                 prediction=int(rng.random() < 0.5), scores=float(rng.random()))
                 for i, t in enumerate(ts)]
        for batch in group_events(EventKind.PREDICTION, preds, ts):
            registry.get("m", batch.model_version).update(batch, now=ts[-1])
            registry.join_predictions(batch)
        labels = [LabelEvent(model_id="m", request_id=f"r{b}-{i}", ts=t + 5, label=int(rng.random() < 0.5))
                  for i, t in enumerate(ts) if i % 3]
        [label_batch] = group_events(EventKind.LABEL, labels, [e.ts for e in labels])
        registry.record_labels(label_batch, now=ts[-1] + 5)
        registry.place("m", 3)


def _comparable(registry: MonitorRegistry) -> bytes:
    from driftline.state.codec import encode_snapshot

    return encode_snapshot("model", registry.model_state("m"))


def test_a_restored_model_continues_exactly_like_one_never_snapshotted():
    """State round trip through the codec, then the same events into both: byte-identical state."""
    import numpy as np

    from driftline.config import DriftConfig, QualityConfig
    from driftline.state.codec import decode_snapshot, encode_snapshot

    configs = (MonitoringConfig(), QualityConfig(window_events=200), DriftConfig(warmup_events=300))
    original = MonitorRegistry(*configs)
    _stream(original, np.random.default_rng(1), 14)  # 350 events per version: 300 reference, 50 waiting
    for monitor in original.versions("m"):  # calibrate as the worker's calibrator does
        assert monitor.drift is not None and monitor.drift.needs_calibration
        monitor.drift.install(monitor.drift.calibrate())
    _stream(original, np.random.default_rng(2), 4, start=14)

    restored = MonitorRegistry(*configs)
    restored.restore_model("m", decode_snapshot(encode_snapshot("model", original.model_state("m")), "model"))
    assert restored.partitions == {"m": 3} and restored.model_ids() == ["m"]
    assert _comparable(restored) == _comparable(original)
    for registry in (original, restored):
        _stream(registry, np.random.default_rng(3), 6, start=18)
    assert _comparable(restored) == _comparable(original)
    assert restored.joins["m"].counts == original.joins["m"].counts
    assert [m.drift.estimator.events for m in restored.versions("m")] == [300, 300]  # type: ignore[union-attr]


def test_dropping_a_model_forgets_all_of_it():
    import numpy as np

    registry = MonitorRegistry(MonitoringConfig())
    _stream(registry, np.random.default_rng(1), 2)
    registry.dirty.add("m")
    registry.drop_model("m")
    assert (len(registry), registry.model_ids(), registry.joins, registry.labels, registry.partitions,
            registry.dirty) == (0, [], {}, {}, {}, set())
    assert registry.models_on([3]) == []


def test_drift_waits_for_calibration_without_losing_events():
    """Events that arrive while a version calibrates update drift once it is calibrated, so the
    drift state is the same whether calibration took no time or long."""
    import numpy as np

    from driftline.config import DriftConfig
    from driftline.drift import VersionDrift

    rng = np.random.default_rng(5)
    batches = [{"x": rng.normal(size=100).tolist()} for _ in range(8)]
    slow, fast = (VersionDrift("m", "v", DriftConfig(warmup_events=250)) for _ in range(2))
    for i, columns in enumerate(batches):
        fast.update(columns, None, None)
        if fast.needs_calibration:
            fast.install(fast.calibrate())
        slow.update(columns, None, None)
    assert slow.backlog_events == 550 and fast.backlog_events == 0  # 800 events, 250 of them the reference
    slow.install(slow.calibrate())
    assert slow.estimator is not None and fast.estimator is not None
    assert slow.estimator.events == fast.estimator.events == 550
    assert slow.estimator.values() == fast.estimator.values()


def test_a_full_calibration_backlog_counts_what_drift_did_not_see():
    from driftline.config import DriftConfig
    from driftline.drift import VersionDrift

    drift = VersionDrift("m", "v", DriftConfig(warmup_events=10, calibration_backlog_events=15))
    for _ in range(4):
        drift.update({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]}, None, None)
    assert (drift.backlog_events, drift.dropped_events) == (14, 8)  # 32 = 10 reference + 14 waiting + 8 dropped


def test_versions_of_one_model_are_bounded_too():
    registry = MonitorRegistry(MonitoringConfig(max_versions_per_model=2))
    registry.get("m", "v1"), registry.get("m", "v2"), registry.get("other", "v1")
    with pytest.raises(ModelLimitError, match="max_versions_per_model"):
        registry.get("m", "v3")
    assert registry.get("m", "v1") is registry.versions("m")[0] and len(registry) == 3
