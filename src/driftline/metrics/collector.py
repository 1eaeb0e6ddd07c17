"""The collector that reads the monitors at scrape time.

Monitors hold the numbers; this collector turns them into metric families when
Prometheus scrapes. Nothing is copied into gauges on the hot path, and a
restored monitor (from a checkpoint) exports its restored values at once.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from driftline.estimators.summary import NumericSummary
from driftline.alerting.sample import ERROR_STREAM
from driftline.events.batch import LABEL_VERSION
from driftline.events.schema import EventKind
from driftline.metrics import name
from driftline.monitor import Monitor, MonitorRegistry

_MODEL = ["model_id", "model_version"]
_FEATURE = ["model_id", "model_version", "feature"]


class MonitorCollector(Collector):
    """Exports every monitor of a :class:`MonitorRegistry`."""

    def __init__(self, monitors: MonitorRegistry) -> None:
        self.monitors = monitors

    def collect(self) -> Iterator[Metric]:
        monitors = list(self.monitors)
        events = CounterMetricFamily(name.EVENTS, "Valid events processed, by model version and kind.",
                                     labels=[*_MODEL, "kind"])
        last_ts = GaugeMetricFamily(name.LAST_EVENT_TIMESTAMP_SECONDS,
                                    "Event time of the newest event seen, in epoch seconds.", labels=_MODEL)
        untracked = CounterMetricFamily(name.FEATURES_UNTRACKED,
                                        "Feature values not tracked because the model has more than "
                                        "monitoring.max_features_per_model features.", labels=_MODEL)
        missing = GaugeMetricFamily(name.FEATURE_MISSING_RATIO,
                                    "Share of events in which the feature was missing (null, absent, non-finite).",
                                    labels=_FEATURE)
        mean = GaugeMetricFamily(name.FEATURE_MEAN, "Mean of a numeric feature.", labels=_FEATURE)
        stddev = GaugeMetricFamily(name.FEATURE_STDDEV, "Standard deviation of a numeric feature.", labels=_FEATURE)
        for monitor in monitors:
            key = [monitor.model_id, monitor.model_version]
            for kind in (EventKind.PREDICTION, EventKind.FEATURE):
                events.add_metric([*key, kind.value], monitor.events[kind])
            if not math.isnan(monitor.last_event_ts):
                last_ts.add_metric(key, monitor.last_event_ts)
            untracked.add_metric(key, monitor.untracked_values)
            for feature, count, n_missing in monitor.feature_missing():
                missing.add_metric([*key, feature], n_missing / count if count else 0.0)
            for feature_name, feature in list(monitor.features.items()):
                summary = feature.summary
                if isinstance(summary, NumericSummary) and summary.count > summary.missing:
                    mean.add_metric([*key, feature_name], summary.mean)
                    if summary.count - summary.missing > 1:
                        stddev.add_metric([*key, feature_name], summary.std)
        for model_id, inputs in list(self.monitors.labels.items()):
            events.add_metric([model_id, LABEL_VERSION, EventKind.LABEL.value], inputs.count)
        yield events
        yield last_ts
        yield untracked
        yield missing
        yield mean
        yield stddev
        detected = _detected_family()  # one family, filled by the drift and the error-stream detectors
        yield from self._drift(monitors, detected)
        yield from self._quality(monitors, detected)
        yield detected
        yield from self._joins()
        yield self._lag(monitors)
        models = GaugeMetricFamily(name.MODELS_MONITORED, "Model versions monitored by this worker.")
        models.add_metric([], len(monitors))
        yield models

    @staticmethod
    def _quality(monitors: list[Monitor], detected: GaugeMetricFamily) -> Iterator[Metric]:
        """Realized and estimated performance, the estimate's error, error-stream detectors, per version."""
        families = {
            "realized": GaugeMetricFamily(name.MODEL_PERFORMANCE, "Realized performance over the window of joined "
                                          "predictions (needs labels), by metric.", labels=[*_MODEL, "metric"]),
            "estimated": GaugeMetricFamily(name.ESTIMATED_PERFORMANCE, "Performance estimated from the scores of "
                                           "recent predictions (CBPE; no labels needed), by metric.",
                                           labels=[*_MODEL, "metric"]),
            "estimate_error": GaugeMetricFamily(name.PERFORMANCE_ESTIMATE_ERROR, "|estimated - realized| on the "
                                                "same joined predictions, by metric.", labels=[*_MODEL, "metric"]),
        }
        for monitor in monitors:
            quality = monitor.quality
            if quality is None:
                continue
            key = [monitor.model_id, monitor.model_version]
            for attribute, family in families.items():
                for metric, value in getattr(quality, attribute).items():
                    family.add_metric([*key, metric], value)
            for detector, fired in quality.detections.items():
                detected.add_metric([*key, ERROR_STREAM, detector], float(fired))
        yield from families.values()
        yield from _segments(monitors)

    @staticmethod
    def _drift(monitors: list[Monitor], detected: GaugeMetricFamily) -> Iterator[Metric]:
        """Drift statistics per feature, of the prediction and multivariate; detectors; the model score."""
        feature = GaugeMetricFamily(name.FEATURE_DRIFT, "Drift of a feature against the reference, by method "
                                    "(distances over the window; cusum_* as statistic / calibrated threshold).",
                                    labels=_FEATURE + ["method"])
        prediction = GaugeMetricFamily(name.PREDICTION_DRIFT, "Drift of the prediction (score_*: of the "
                                       "positive-class score) against the reference, by method.",
                                       labels=[*_MODEL, "method"])
        multivariate = GaugeMetricFamily(name.MULTIVARIATE_DRIFT, "Drift of the features' joint distribution "
                                         "(PCA reconstruction error), by method.", labels=[*_MODEL, "method"])
        score = GaugeMetricFamily(name.DRIFT_SCORE, "Importance-weighted model drift score: 1 = a detector at "
                                  "its calibrated threshold.", labels=_MODEL)
        phase = GaugeMetricFamily(name.DRIFT_PHASE, "1 for the drift watch's current phase (warming_up, "
                                  "calibrating, watching, failed).", labels=[*_MODEL, "phase"])
        for monitor in monitors:
            drift = monitor.drift
            if drift is None:
                continue
            key = [monitor.model_id, monitor.model_version]
            phase.add_metric([*key, drift.phase.value], 1.0)
            for feature_name, method, value in drift.feature_values():
                feature.add_metric([*key, feature_name, method], value)
            for method, value in drift.prediction_values():
                prediction.add_metric([*key, method], value)
            for method, value in drift.multivariate_values():
                multivariate.add_metric([*key, method], value)
            for feature_name, detector, fired in drift.detections():
                detected.add_metric([*key, feature_name, detector], float(fired))
            if drift.estimator is not None:
                score.add_metric(key, drift.estimator.drift_score)
        yield from (feature, prediction, multivariate, score, phase)

    def _joins(self) -> Iterator[Metric]:
        joined = CounterMetricFamily(name.LABELS_JOINED, "Labels joined to their prediction.", labels=["model_id"])
        unmatched = CounterMetricFamily(name.LABELS_UNMATCHED, "Predictions and labels that waited longer than "
                                        "quality.label_ttl_seconds for each other, by side.", labels=["model_id", "side"])
        evicted = CounterMetricFamily(name.LABELS_EVICTED, "Waiting predictions and labels evicted by "
                                      "quality.max_pending, by side.", labels=["model_id", "side"])
        duplicate = CounterMetricFamily(name.LABELS_DUPLICATE, "Second predictions or labels of a request id "
                                        "(ignored), by side.", labels=["model_id", "side"])
        pending = GaugeMetricFamily(name.LABELS_PENDING, "Predictions waiting for their label and labels waiting "
                                    "for their prediction.", labels=["model_id", "side"])
        for model_id, join in list(self.monitors.joins.items()):
            counts = join.counts
            joined.add_metric([model_id], counts["joined"])
            for side, singular in (("predictions", "prediction"), ("labels", "label")):
                unmatched.add_metric([model_id, side], counts[f"expired_{side}"])
                evicted.add_metric([model_id, side], counts[f"evicted_{side}"])
                duplicate.add_metric([model_id, side], counts[f"duplicate_{side}"])
                pending.add_metric([model_id, side], join.pending[side])
        yield from (joined, unmatched, evicted, duplicate, pending)

    @staticmethod
    def _lag(monitors: list[Monitor]) -> Metric:
        """Per model, the lag of its most recently updated version."""
        newest: dict[str, Monitor] = {}
        for monitor in monitors:
            if math.isnan(monitor.lag_seconds):
                continue
            seen = newest.get(monitor.model_id)
            if seen is None or monitor.updated_at > seen.updated_at:
                newest[monitor.model_id] = monitor
        lag = GaugeMetricFamily(name.EVENT_LAG_SECONDS,
                                "Processing time minus event time of the newest event in the last batch.",
                                labels=["model_id"])
        for model_id, monitor in newest.items():
            lag.add_metric([model_id], monitor.lag_seconds)
        return lag


class AlertsFiringCollector(Collector):
    """Exports ``driftline_alerts_firing{rule,severity,model_id}`` from a source of firing counts."""

    def __init__(self, firing_counts: Callable[[], Counter[tuple[str, str, str]]]) -> None:
        self.firing_counts = firing_counts

    def collect(self) -> Iterator[Metric]:
        firing = GaugeMetricFamily(name.ALERTS_FIRING, "Alerts firing now, by rule, severity and model.",
                                   labels=["rule", "severity", "model_id"])
        for (rule, severity, model_id), count in sorted(self.firing_counts().items()):
            firing.add_metric([rule, severity, model_id], count)
        yield firing


def _segments(monitors: list[Monitor]) -> Iterator[Metric]:
    """Realized and estimated performance per segment (quality.segments), and the realized windows' sizes.

    Families of their own, so that queries of the whole version's ``driftline_model_performance``
    never pick up segments.
    """
    labels = [*_MODEL, "segment", "metric"]
    realized = GaugeMetricFamily(name.SEGMENT_PERFORMANCE, "Realized performance of one segment of a model "
                                 "version over its window of joined predictions, by metric.", labels=labels)
    estimated = GaugeMetricFamily(name.SEGMENT_ESTIMATED_PERFORMANCE, "Performance of one segment of a model "
                                  "version estimated from the scores of its recent predictions (CBPE), by metric.",
                                  labels=labels)
    window = GaugeMetricFamily(name.SEGMENT_WINDOW_EVENTS, "Joined predictions in the realized window of one "
                               "segment of a model version.", labels=[*_MODEL, "segment"])
    for monitor in monitors:
        if monitor.segments is None:
            continue
        key = [monitor.model_id, monitor.model_version]
        for segment, quality in monitor.segments.items():
            for metric, value in quality.realized.items():
                realized.add_metric([*key, segment, metric], value)
            for metric, value in quality.estimated.items():
                estimated.add_metric([*key, segment, metric], value)
            window.add_metric([*key, segment], quality.counts["realized_window"])
    yield from (realized, estimated, window)


def _detected_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(name.DRIFT_DETECTED, "1 while a drift detector signals drift, else 0.",
                             labels=[*_MODEL, "feature", "detector"])
