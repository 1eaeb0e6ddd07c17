"""Rule evaluation in the worker: monitors' values in, alert transitions out to ``<prefix>.alerts``.

Each model has its own :class:`~driftline.alerting.evaluator.AlertEvaluator`, so an
alert's state lives with the model (and moves with its partition). A model is
evaluated right after a micro-batch that touched it, which keeps the time from an
event to its alert record short, and on a timer, so that ``absent_for`` rules (a
silent model, starved labels) fire when nothing arrives at all.

The samples a monitor reports are the value names of :data:`driftline.alerting.sample.VALUE_LABELS`.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Any, Iterable, Mapping, Protocol

from driftline.alerting.evaluator import AlertEvaluator
from driftline.alerting.model import AlertRecord
from driftline.alerting.rule import Rule
from driftline.alerting.sample import ERROR_STREAM, Sample
from driftline.estimators.performance.quality import ModelQuality
from driftline.monitor import Monitor, MonitorRegistry

log = logging.getLogger(__name__)


class AlertSink(Protocol):
    """Where alert records go: ``<prefix>.alerts``, keyed by fingerprint."""

    async def send(self, key: bytes | None, value: bytes) -> None: ...


class RuleEvaluation:
    """Evaluates the alert rules over the monitors of a worker, one evaluator per model."""

    def __init__(self, rules: Iterable[Rule], monitors: MonitorRegistry, sink: AlertSink) -> None:
        self.rules = tuple(rules)
        self.monitors = monitors
        self.sink = sink
        self._evaluators: dict[str, AlertEvaluator] = {}
        self.records_written = 0

    async def evaluate(self, model_ids: Iterable[str], now: float) -> list[AlertRecord]:
        """Evaluate the rules for ``model_ids`` at processing time ``now``; write and return the transitions."""
        written: list[AlertRecord] = []
        for model_id in model_ids:
            samples = model_samples(self.monitors, model_id, now)
            if not samples:
                continue
            event_time = max(s.event_ts for s in samples)
            evaluator = self._evaluators.get(model_id)
            if evaluator is None:
                evaluator = self._evaluators[model_id] = AlertEvaluator(self.rules)
            before = evaluator.to_state() if model_id not in self.monitors.dirty else None
            records = evaluator.evaluate(samples, event_time=event_time, now=now)
            if records or (before is not None and evaluator.to_state() != before):
                self.monitors.dirty.add(model_id)  # an alert changed state: the next checkpoint has it
            for record in records:
                await self.sink.send(record.fingerprint.encode(), record.encode())
                log.info("alert %s %s %s (%s)", record.status.value, record.rule, record.fingerprint, record.summary)
                written.append(record)
        self.records_written += len(written)
        return written

    async def evaluate_all(self, now: float) -> list[AlertRecord]:
        return await self.evaluate([*self.monitors.model_ids(), *([""] if "" in self.monitors.invalid else [])], now)

    def model_state(self, model_id: str) -> dict[str, Any] | None:
        """The alert states of one model, for its checkpoint."""
        evaluator = self._evaluators.get(model_id)
        return None if evaluator is None else evaluator.to_state()

    def restore_model(self, model_id: str, state: Mapping[str, Any] | None) -> None:
        """Alert states from a checkpoint: transitions after it are derived again, with the same fingerprints."""
        self._evaluators.pop(model_id, None)
        if state is not None:
            self._evaluators[model_id] = AlertEvaluator.from_state(self.rules, state)

    def drop_model(self, model_id: str) -> None:
        self._evaluators.pop(model_id, None)

    def firing_counts(self) -> Counter[tuple[str, str, str]]:
        """Firing alerts by (rule, severity, model_id), for ``driftline_alerts_firing``."""
        counts: Counter[tuple[str, str, str]] = Counter()
        for model_id, evaluator in list(self._evaluators.items()):
            for (rule, severity, _), n in evaluator.firing_counts().items():
                counts[(rule, severity, model_id)] += n
        return counts


def model_samples(monitors: MonitorRegistry, model_id: str, now: float) -> list[Sample]:
    """Everything the monitors of ``model_id`` currently know, as alerting samples."""
    samples: list[Sample] = []
    versions = monitors.versions(model_id)
    for monitor in versions:
        samples.extend(version_samples(monitor, now))
    model = {"model_id": model_id}
    newest = max(versions, key=lambda m: m.updated_at, default=None)
    if newest is not None and not math.isnan(newest.lag_seconds):
        samples.append(Sample("consumer_lag_seconds", model, newest.lag_seconds, newest.last_event_ts))
    labels = monitors.labels.get(model_id)
    if labels is not None:
        samples.append(Sample("label_rate", model, labels.rate.value(now), labels.last_event_ts, events=labels.count))
    invalid = monitors.invalid.get(model_id)
    if invalid is not None or versions:
        bad = invalid.value(now) if invalid is not None else 0.0
        good = sum(m.rate.value(now) for m in versions)
        event_ts = max((m.last_event_ts for m in versions), default=now)
        samples.append(Sample("events_invalid_ratio", model, bad / (bad + good) if bad + good > 0 else 0.0,
                              event_ts if not math.isnan(event_ts) else now))
    return samples


def version_samples(monitor: Monitor, now: float) -> list[Sample]:
    """The samples of one model version."""
    if math.isnan(monitor.last_event_ts):
        return []
    labels = {"model_id": monitor.model_id, "model_version": monitor.model_version}
    total = sum(monitor.events.values())
    samples = [Sample("event_rate", labels, monitor.rate.value(now), monitor.last_event_ts, events=total)]
    samples.extend(quality_samples(monitor, labels))
    samples.extend(drift_samples(monitor, labels))
    return samples


def drift_samples(monitor: Monitor, labels: dict[str, str]) -> list[Sample]:
    """Drift statistics and detectors of a version whose drift is calibrated."""
    drift = monitor.drift
    if drift is None or drift.estimator is None:
        return []
    event_ts, events = monitor.last_event_ts, drift.estimator.events
    samples = [Sample("feature_drift", {**labels, "feature": feature, "method": method}, value, event_ts, events)
               for feature, method, value in drift.feature_values()]
    samples.extend(Sample("prediction_drift", {**labels, "method": method}, value, event_ts, events)
                   for method, value in drift.prediction_values())
    samples.extend(Sample("drift_detected", {**labels, "feature": feature, "detector": detector}, float(fired),
                          event_ts, events) for feature, detector, fired in drift.detections())
    return samples


def quality_samples(monitor: Monitor, labels: dict[str, str]) -> list[Sample]:
    """Realized and estimated performance, the estimate's error, the error-stream detectors, and per segment."""
    quality = monitor.quality
    if quality is None:
        return []
    event_ts = monitor.last_event_ts
    counts = quality.counts
    samples = performance_samples(("model_performance", "estimated_performance"), quality, labels, event_ts)
    samples.extend(Sample("performance_estimate_error", {**labels, "metric": metric}, value, event_ts,
                          events=counts["joined"], size=counts["realized_window"])
                   for metric, value in quality.estimate_error.items())
    samples.extend(Sample("drift_detected", {**labels, "feature": ERROR_STREAM, "detector": detector},
                          float(fired), event_ts, events=counts.get("joined"))
                   for detector, fired in quality.detections.items())
    if monitor.segments is not None:
        for segment, segment_quality in monitor.segments.items():
            samples.extend(performance_samples(("segment_performance", "segment_estimated_performance"),
                                               segment_quality, {**labels, "segment": segment}, event_ts))
    return samples


def performance_samples(names: tuple[str, str], quality: ModelQuality, labels: dict[str, str],
                        event_ts: float) -> list[Sample]:
    """Realized and estimated metrics as samples of ``names``, with their event counts and window sizes."""
    counts = quality.counts
    realized = [Sample(names[0], {**labels, "metric": metric}, value, event_ts, events=counts["joined"],
                       size=counts["realized_window"]) for metric, value in quality.realized.items()]
    return realized + [Sample(names[1], {**labels, "metric": metric}, value, event_ts, events=counts["predictions"],
                              size=counts["estimated_window"]) for metric, value in quality.estimated.items()]
