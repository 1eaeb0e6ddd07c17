"""Quality per segment in the Monitor: segments from events, the cap, export, alert samples, snapshots.

scikit-learn is the oracle: each segment's realized metrics must equal sklearn's on that
segment's joined events.
"""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from driftline.alerting.evaluator import AlertEvaluator
from driftline.config import DriftConfig, MonitoringConfig, QualityConfig
from driftline.evaluation import model_samples
from driftline.events.batch import group_events
from driftline.events.schema import EventKind, LabelEvent, PredictionEvent
from driftline.metrics.collector import MonitorCollector
from driftline.monitor import MonitorRegistry
from driftline.state.codec import decode_snapshot, encode_snapshot
from tests.unit.alerting.support import ruleset

COUNTRIES = ["DE", "FR", "US", "GB", "IT"]


def registry(max_segments: int = 20, by: str = "country", window_events: int = 1000) -> MonitorRegistry:
    quality = QualityConfig(window_events=window_events, segments={"*": by}, max_segments=max_segments)
    return MonitorRegistry(MonitoringConfig(), quality, DriftConfig(enabled=False))


def events(rng: np.random.Generator, n: int, start: int = 0, worse: str | None = None) -> list[dict]:
    """Binary predictions with calibrated scores; in segment ``worse`` the labels ignore the score."""
    out = []
    for i in range(start, start + n):
        country = COUNTRIES[int(rng.integers(0, len(COUNTRIES)))] if i % 11 else None  # some without a value
        score = float(rng.random())
        p_true = 0.5 if country == worse else score
        out.append({"request_id": f"r{i}", "ts": 1000.0 + i, "country": country, "score": score,
                    "prediction": int(score > 0.5), "label": int(rng.random() < p_true)})
    return out


def feed(reg: MonitorRegistry, rows: list[dict], version: str = "v1", batch_size: int = 97) -> None:
    """Predictions in batches, then their labels in batches (the worker's order per batch)."""
    for lo in range(0, len(rows), batch_size):
        chunk = rows[lo:lo + batch_size]
        preds = [PredictionEvent(model_id="m", model_version=version, ts=r["ts"], request_id=r["request_id"],
                                 features={"x": r["score"], "country": r["country"]}, prediction=r["prediction"],
                                 scores=r["score"]) for r in chunk]
        for batch in group_events(EventKind.PREDICTION, preds, [r["ts"] for r in chunk]):
            reg.get("m", batch.model_version).update(batch, now=chunk[-1]["ts"])
            reg.join_predictions(batch)
    for lo in range(0, len(rows), batch_size):
        chunk = rows[lo:lo + batch_size]
        labels = [LabelEvent(model_id="m", request_id=r["request_id"], ts=r["ts"] + 30, label=r["label"])
                  for r in chunk]
        [batch] = group_events(EventKind.LABEL, labels, [e.ts for e in labels])
        reg.record_labels(batch, now=chunk[-1]["ts"] + 30)


def oracle(rows: list[dict]) -> dict[str, float]:
    y, yhat, p = [r["label"] for r in rows], [r["prediction"] for r in rows], [r["score"] for r in rows]
    return {"accuracy": accuracy_score(y, yhat), "f1": f1_score(y, yhat), "roc_auc": roc_auc_score(y, p)}


def test_each_segment_s_realized_metrics_equal_sklearn_on_its_events():
    reg, rows = registry(), events(np.random.default_rng(1), 1500, worse="FR")
    feed(reg, rows)
    monitor = reg.get("m", "v1")
    assert monitor.segments is not None and set(monitor.segments.segments) == set(COUNTRIES)
    for country in COUNTRIES:
        mine = [r for r in rows if r["country"] == country]
        realized = monitor.segments.realized[country]
        for metric, expected in oracle(mine).items():
            assert realized[metric] == pytest.approx(expected, abs=1e-12), (country, metric)
        assert monitor.segments.counts[country]["joined"] == len(mine)
    assert monitor.quality is not None and monitor.quality.counts["joined"] == 1500  # the whole version: all of them
    whole = oracle(rows[-1000:])["accuracy"]  # its window: the last 1,000 joins
    assert monitor.quality.realized["accuracy"] == pytest.approx(whole, abs=1e-12)
    assert monitor.segments.realized["FR"]["accuracy"] < whole - 0.15  # the bad segment stands out


def test_values_beyond_the_cap_share_other_and_the_segment_object_wins_over_features():
    reg, rows = registry(max_segments=2), events(np.random.default_rng(2), 800)
    first_two = list(dict.fromkeys(r["country"] for r in rows if r["country"] is not None))[:2]
    feed(reg, rows)
    segments = reg.get("m", "v1").segments
    assert segments is not None and segments.segments == [*first_two, "__other__"]
    rest = [r for r in rows if r["country"] is not None and r["country"] not in first_two]
    for metric, expected in oracle(rest).items():
        assert segments.realized["__other__"][metric] == pytest.approx(expected, abs=1e-12)

    reg = registry(by="region")
    event = PredictionEvent(model_id="m", model_version="v1", ts=1.0, request_id="a", features={"region": "us"},
                            segment={"region": "eu"}, prediction=1, scores=0.9)
    [batch] = group_events(EventKind.PREDICTION, [event], [1.0])
    reg.get("m", "v1").update(batch, now=1.0)
    assert reg.get("m", "v1").segments.segments == ["eu"]  # type: ignore[union-attr]


def test_a_model_without_a_configured_segment_has_none():
    quality = QualityConfig(segments={"other-model": "country"})
    reg = MonitorRegistry(MonitoringConfig(), quality, DriftConfig(enabled=False))
    feed(reg, events(np.random.default_rng(3), 100))
    assert reg.get("m", "v1").segments is None and reg.get("m", "v1").quality is not None


def test_segments_are_exported_in_their_own_family_and_as_alert_samples():
    reg = registry()
    feed(reg, events(np.random.default_rng(4), 600, worse="FR"))
    prometheus = CollectorRegistry()
    prometheus.register(MonitorCollector(reg))
    segment = {"model_id": "m", "model_version": "v1", "segment": "FR"}
    accuracy = prometheus.get_sample_value("driftline_segment_performance", {**segment, "metric": "accuracy"})
    assert accuracy == reg.get("m", "v1").segments.realized["FR"]["accuracy"]  # type: ignore[union-attr]
    assert prometheus.get_sample_value("driftline_segment_estimated_performance", {**segment, "metric": "accuracy"})
    window = prometheus.get_sample_value("driftline_segment_window_events", segment)
    assert window == reg.get("m", "v1").segments.counts["FR"]["realized_window"] > 0  # type: ignore[union-attr]
    whole = {"model_id": "m", "model_version": "v1", "metric": "accuracy"}
    assert prometheus.get_sample_value("driftline_model_performance", whole) is not None
    assert prometheus.get_sample_value("driftline_model_performance", {**whole, "segment": "FR"}) is None

    samples = model_samples(reg, "m", now=2000.0)
    [fr] = [s for s in samples if s.name == "segment_performance" and s.labels.get("segment") == "FR"
            and s.labels["metric"] == "accuracy"]
    assert (fr.value, fr.size) == (accuracy, window)
    rules = ruleset("""
rules:
  - name: segment_accuracy_low
    select: {value: segment_performance, matchers: [metric=accuracy]}
    condition: {below: 0.62}
    severity: warning
    annotations: {summary: "accuracy of {labels.model_id} in {labels.segment} is {value:.2f}"}
""")
    fired = AlertEvaluator(rules).evaluate(samples, event_time=2000.0, now=2000.0)
    assert [r.labels["segment"] for r in fired] == ["FR"]


def test_a_restored_model_with_segments_continues_exactly_like_one_never_snapshotted():
    original = registry(max_segments=3, window_events=200)
    feed(original, events(np.random.default_rng(5), 700))
    restored = registry(max_segments=3, window_events=200)
    restored.restore_model("m", decode_snapshot(encode_snapshot("model", original.model_state("m")), "model"))

    def state(reg: MonitorRegistry) -> bytes:
        return encode_snapshot("model", reg.model_state("m"))

    assert state(restored) == state(original)
    more = events(np.random.default_rng(6), 300, start=700)  # pending predictions carry their segments over
    for reg in (original, restored):
        feed(reg, more)
    assert state(restored) == state(original)
    segments, before = restored.get("m", "v1").segments, original.get("m", "v1").segments
    assert segments is not None and before is not None and segments.realized == before.realized
    assert len(segments.segments) == 4 and segments.segments[-1] == "__other__"


def test_segments_of_another_name_are_dropped_on_restore():
    original = registry(by="country")
    feed(original, events(np.random.default_rng(7), 200))
    restored = registry(by="region")
    restored.restore_model("m", decode_snapshot(encode_snapshot("model", original.model_state("m")), "model"))
    assert restored.get("m", "v1").segments is None and restored.get("m", "v1").quality is not None
