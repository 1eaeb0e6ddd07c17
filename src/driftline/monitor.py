"""One model version's set of estimators, and the registry of all of them on a worker.

A :class:`Monitor` is updated from column batches (:class:`~driftline.events.batch.ModelBatch`)
and read by the metrics collector at scrape time. It holds no Kafka, clock or metric
objects of its own: the caller passes ``now`` and reads values, so it can be
snapshotted and restored (see :meth:`Monitor.to_state`).

The registry keeps, per model, the input partition its events arrive on (the contract keys
events by model_id), so that a worker can snapshot, restore and drop the state of one
partition's models at a time (:mod:`driftline.checkpoint`).
"""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np

from driftline.config import DriftConfig, MonitoringConfig, QualityConfig
from driftline.drift import VersionDrift, positive_scores
from driftline.estimators.performance.quality import ModelQuality
from driftline.estimators.performance.segment import SegmentedQuality, segment_values
from driftline.estimators.rate import DecayedRate
from driftline.estimators.summary import CategoricalSummary, NumericSummary
from driftline.events.batch import ModelBatch
from driftline.events.join import Joined, LabelJoin
from driftline.events.schema import EventKind

log = logging.getLogger(__name__)

RATE_TAU_SECONDS = 60.0  # time constant of the event and label rates


class FeatureKind(str, enum.Enum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


@dataclass(slots=True)
class FeatureMonitor:
    """The estimators of one feature."""

    kind: FeatureKind
    summary: NumericSummary | CategoricalSummary

    def update(self, values: list[Any]) -> None:
        if self.kind is FeatureKind.NUMERIC:
            self.summary.update_batch(numeric_column(values))
        else:
            self.summary.update_batch(np.array(values, dtype=object))

    def to_state(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "summary": self.summary.to_state()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FeatureMonitor:
        kind = FeatureKind(state["kind"])
        summary_type = NumericSummary if kind is FeatureKind.NUMERIC else CategoricalSummary
        return cls(kind, summary_type.from_state(state["summary"]))


class Monitor:
    """Everything driftline tracks for one (model_id, model_version)."""

    def __init__(self, model_id: str, model_version: str, config: MonitoringConfig,
                 quality: QualityConfig | None = None, drift: DriftConfig | None = None) -> None:
        self.model_id = model_id
        self.model_version = model_version
        self.config = config
        self.quality_config = quality or QualityConfig()
        self.quality: ModelQuality | None = None  # built on the first prediction
        self.segment_by = self.quality_config.segment_by(model_id)  # the name whose value segments events
        self.segments: SegmentedQuality | None = None  # built on the first prediction, with segment_by
        self._segment_names: tuple[ModelBatch | None, list[str | None] | None] = (None, None)
        self._quality_failed = False
        drift = drift or DriftConfig()
        self.drift = VersionDrift(model_id, model_version, drift) if drift.enabled else None
        self.events: dict[EventKind, int] = {kind: 0 for kind in EventKind}
        self.last_event_ts = math.nan  # newest event time seen (epoch seconds)
        self.lag_seconds = math.nan  # processing time minus the newest event time of the last batch
        self.updated_at = math.nan  # processing time of the last batch
        self.features: dict[str, FeatureMonitor] = {}
        self.untracked_values = 0  # values of features beyond max_features_per_model
        self.rate = DecayedRate(RATE_TAU_SECONDS)  # prediction and feature events per second (processing time)
        self._untyped_missing: dict[str, int] = {}  # features seen only as missing so far

    @property
    def key(self) -> tuple[str, str]:
        return (self.model_id, self.model_version)

    def update(self, batch: ModelBatch, now: float) -> None:
        """Update every estimator from one column batch; ``now`` is the processing time."""
        self.events[batch.kind] += batch.size
        newest = float(batch.ts.max())
        if not newest <= self.last_event_ts:  # also when last_event_ts is NaN
            self.last_event_ts = newest
        self.lag_seconds = now - newest
        self.updated_at = now
        self.rate.add(batch.size, now)
        for name, values in batch.columns.items():
            feature = self.features.get(name)
            if feature is None:
                feature = self._add_feature(name, values)
                if feature is None:
                    continue
            feature.update(values)
        predictions = scores = None
        if batch.kind is EventKind.PREDICTION:
            predictions = [e.prediction for e in batch.events]
            scores = [e.scores for e in batch.events]
            self._update_quality(lambda q: q.update_predictions(predictions, scores, batch.ts),
                                 lambda s: s.update_predictions(self.segment_names(batch) or (), predictions,
                                                                scores, batch.ts))
        if self.drift is not None:
            self.drift.update(batch.columns, predictions, None if scores is None else positive_scores(scores))

    def update_joined(self, joined: list[Joined]) -> None:
        """Predictions of this version joined to their labels: realized metrics, error-stream detectors."""
        self._update_quality(lambda q: q.update_joined(joined), lambda s: s.update_joined(joined))

    def segment_names(self, batch: ModelBatch, last_use: bool = False) -> list[str | None] | None:
        """The segment of each event of a prediction batch (None: no segment); None without segments.

        Admitted once per batch: the join asks again (``last_use``) for the batch :meth:`update` saw."""
        if self.segments is None:
            return None
        seen, names = self._segment_names
        if seen is not batch:
            names = self.segments.admit(segment_values(batch.events, self.segment_by or ""))
        self._segment_names = (None, None) if last_use else (batch, names)
        return names

    def _update_quality(self, update: Any, update_segments: Any = None) -> None:
        """Quality estimators see what the schema allows (e.g. a label type the task cannot use): such a
        failure disables them for this version with one log line, and never stops the stream."""
        config = self.quality_config
        if not config.enabled or self._quality_failed:
            return
        try:
            if self.quality is None:
                self.quality = ModelQuality(window_events=config.window_events, window_seconds=config.window_seconds,
                                            detectors=list(config.detectors), cbpe=config.cbpe)
            update(self.quality)
            if self.segment_by is not None and update_segments is not None:
                if self.segments is None:  # per segment: the version's task, no error-stream detectors
                    self.segments = SegmentedQuality(config.max_segments, {
                        "task": self.quality.inferred_task or "auto", "window_events": config.window_events,
                        "window_seconds": config.window_seconds, "detectors": [], "cbpe": config.cbpe})
                update_segments(self.segments)
        except Exception:
            self._quality_failed = True
            log.exception("quality estimators of %s %s disabled after an error", self.model_id, self.model_version)

    def _add_feature(self, name: str, values: list[Any]) -> FeatureMonitor | None:
        known = len(self.features) + len(self._untyped_missing) - (name in self._untyped_missing)
        if known >= self.config.max_features_per_model:
            if self.untracked_values == 0:
                log.warning(
                    "model %s %s has more than %d features; the rest are not tracked",
                    self.model_id, self.model_version, self.config.max_features_per_model,
                )
            self.untracked_values += len(values)
            return None
        first = next((v for v in values if v is not None), None)
        if first is None:
            self._untyped_missing[name] = self._untyped_missing.get(name, 0) + len(values)
            return None
        if isinstance(first, (str, bool)):
            feature = FeatureMonitor(FeatureKind.CATEGORICAL, CategoricalSummary(self.config.max_categories))
        else:
            feature = FeatureMonitor(FeatureKind.NUMERIC, NumericSummary())
        earlier = self._untyped_missing.pop(name, 0)
        if earlier:
            feature.update([None] * earlier)
        self.features[name] = feature
        return feature

    def to_state(self) -> dict[str, Any]:
        """Everything this monitor knows, as plain data for :mod:`driftline.state.codec`."""
        return {
            "events": {kind.value: n for kind, n in self.events.items()},
            "last_event_ts": self.last_event_ts, "lag_seconds": self.lag_seconds, "updated_at": self.updated_at,
            "features": {name: feature.to_state() for name, feature in self.features.items()},
            "untracked_values": self.untracked_values,
            "untyped_missing": dict(self._untyped_missing),
            "rate": self.rate.to_state(),
            "quality": None if self.quality is None else self.quality.to_state(),
            "quality_failed": self._quality_failed,
            "segments": None if self.segments is None else {"by": self.segment_by, "state": self.segments.to_state()},
            "drift": None if self.drift is None else self.drift.to_state(),
        }

    @classmethod
    def from_state(cls, model_id: str, model_version: str, state: dict[str, Any], config: MonitoringConfig,
                   quality: QualityConfig | None = None, drift: DriftConfig | None = None) -> Monitor:
        """A monitor as :meth:`to_state` saw it, under the current configuration."""
        monitor = cls(model_id, model_version, config, quality, drift)
        monitor.events.update({EventKind(kind): int(n) for kind, n in state["events"].items()})
        monitor.last_event_ts = float(state["last_event_ts"])
        monitor.lag_seconds = float(state["lag_seconds"])
        monitor.updated_at = float(state["updated_at"])
        monitor.features = {name: FeatureMonitor.from_state(f) for name, f in state["features"].items()}
        monitor.untracked_values = int(state["untracked_values"])
        monitor._untyped_missing = {k: int(v) for k, v in state["untyped_missing"].items()}
        monitor.rate = DecayedRate.from_state(state["rate"])
        if state["quality"] is not None:
            monitor.quality = ModelQuality.from_state(state["quality"])
        monitor._quality_failed = bool(state["quality_failed"])
        segments = state.get("segments")  # absent in checkpoints from before segments
        if segments is not None and segments["by"] == monitor.segment_by:  # else the configuration changed
            monitor.segments = SegmentedQuality.from_state(segments["state"])
            monitor.segments.max_segments = monitor.quality_config.max_segments
        if monitor.drift is not None and state["drift"] is not None:  # drift may have been turned on or off
            monitor.drift = VersionDrift.from_state(model_id, model_version, monitor.drift.config, state["drift"])
        return monitor

    def feature_missing(self) -> Iterator[tuple[str, int, int]]:
        """(feature, values, missing) for every feature, including those only ever missing."""
        for name, feature in self.features.items():
            yield name, feature.summary.count, feature.summary.missing
        for name, missing in self._untyped_missing.items():
            yield name, missing, missing


def numeric_column(values: list[Any]) -> np.ndarray:
    """A float64 array of ``values`` with NaN for missing ones (None, strings in a numeric feature)."""
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        return np.array(
            [v if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan for v in values],
            dtype=np.float64,
        )


@dataclass(slots=True)
class ModelInputs:
    """Counts, newest event time and rate of one model's inputs that belong to no version yet (labels)."""

    count: int = 0
    last_event_ts: float = math.nan
    rate: DecayedRate = field(default_factory=lambda: DecayedRate(RATE_TAU_SECONDS))

    def add(self, count: int, newest: float, now: float) -> None:
        self.count += count
        if not newest <= self.last_event_ts:
            self.last_event_ts = newest
        self.rate.add(count, now)

    def to_state(self) -> dict[str, Any]:
        return {"count": self.count, "last_event_ts": self.last_event_ts, "rate": self.rate.to_state()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ModelInputs:
        return cls(int(state["count"]), float(state["last_event_ts"]), DecayedRate.from_state(state["rate"]))


class ModelLimitError(Exception):
    """A new model would exceed ``monitoring.max_models``."""


class MonitorRegistry:
    """All monitors of a worker, keyed by (model_id, model_version), bounded by ``max_models``."""

    def __init__(self, config: MonitoringConfig, quality: QualityConfig | None = None,
                 drift: DriftConfig | None = None) -> None:
        self.config = config
        self.quality = quality or QualityConfig()
        self.drift = drift or DriftConfig()
        self._monitors: dict[tuple[str, str], Monitor] = {}
        self.joins: dict[str, LabelJoin] = {}  # per model: predictions and labels waiting for each other
        self._versions: dict[str, list[Monitor]] = {}  # per known model: its versions' monitors
        self.labels: dict[str, ModelInputs] = {}  # per model: labels (joined to versions in the quality issue)
        self.invalid: dict[str, DecayedRate] = {}  # per known model ("" = unknown): dead-lettered inputs per second
        self.partitions: dict[str, int] = {}  # per model: the input partition its events arrive on
        self.dirty: set[str] = set()  # models changed since their state was last taken (checkpoints)

    def get(self, model_id: str, model_version: str) -> Monitor:
        """The monitor of a model version, created on first sight; raises ModelLimitError when full."""
        monitor = self._monitors.get((model_id, model_version))
        if monitor is None:
            versions = self._admit(model_id)
            if len(versions) >= self.config.max_versions_per_model:
                raise ModelLimitError(f"model {model_id} has {len(versions)} versions already "
                                      "(monitoring.max_versions_per_model)")
            monitor = self._monitors[(model_id, model_version)] = Monitor(
                model_id, model_version, self.config, self.quality, self.drift)
            versions.append(monitor)
            log.info("monitoring new model version %s %s", model_id, model_version)
        return monitor

    def _admit(self, model_id: str) -> list[Monitor]:
        """The versions of ``model_id``, admitting it as a new model unless that exceeds ``max_models``."""
        versions = self._versions.get(model_id)
        if versions is None:
            if len(self._versions) >= self.config.max_models:
                raise ModelLimitError(f"more than {self.config.max_models} models (monitoring.max_models)")
            versions = self._versions[model_id] = []
        return versions

    def record_labels(self, batch: ModelBatch, now: float) -> list[Joined]:
        """Count a batch of labels and join them to waiting predictions; returns the joins."""
        self._admit(batch.model_id)
        inputs = self.labels.get(batch.model_id)
        if inputs is None:
            inputs = self.labels[batch.model_id] = ModelInputs()
        inputs.add(batch.size, float(batch.ts.max()), now)
        if not self.quality.enabled:
            return []
        join = self._join(batch.model_id)
        joined = join.add_labels([e.request_id for e in batch.events], [e.label for e in batch.events], batch.ts)
        join.expire(join.watermark)
        return self._apply_joined(batch.model_id, joined)

    def join_predictions(self, batch: ModelBatch) -> list[Joined]:
        """Offer a batch of predictions (those with a request_id) to the label join; returns the joins."""
        if not self.quality.enabled:
            return []
        monitor = self._monitors.get(batch.key)
        names = None if monitor is None else monitor.segment_names(batch, last_use=True)
        keyed = [(e.request_id, t) for e, t in zip(batch.events, batch.ts.tolist()) if e.request_id is not None]
        if not keyed:
            return []
        events = [e for e in batch.events if e.request_id is not None]
        segments = None if names is None else [n for e, n in zip(batch.events, names) if e.request_id is not None]
        join = self._join(batch.model_id)
        joined = join.add_predictions([k for k, _ in keyed], [t for _, t in keyed], batch.model_version,
                                      [e.prediction for e in events], [e.scores for e in events], segments)
        join.expire(join.watermark)
        return self._apply_joined(batch.model_id, joined)

    def _join(self, model_id: str) -> LabelJoin:
        join = self.joins.get(model_id)
        if join is None:
            join = self.joins[model_id] = LabelJoin(ttl_seconds=self.quality.label_ttl_seconds,
                                                    max_pending=self.quality.max_pending)
        return join

    def _apply_joined(self, model_id: str, joined: list[Joined]) -> list[Joined]:
        by_version: dict[str, list[Joined]] = {}
        for item in joined:
            by_version.setdefault(item.model_version, []).append(item)
        for version, items in by_version.items():
            monitor = self._monitors.get((model_id, version))
            if monitor is not None:
                monitor.update_joined(items)
        return joined

    def place(self, model_id: str, partition: int) -> None:
        """Record the input partition of a model's events (the first one seen wins)."""
        known = self.partitions.setdefault(model_id, partition)
        if known != partition:
            log.warning("model %s arrives on partitions %d and %d: producers must key events by model_id, "
                        "or its state is split between workers", model_id, known, partition)

    def models_on(self, partitions: Iterable[int]) -> list[str]:
        """The models whose events arrive on ``partitions``."""
        wanted = set(partitions)
        return [model_id for model_id, p in self.partitions.items() if p in wanted]

    def model_state(self, model_id: str) -> dict[str, Any]:
        """All state of one model: its versions' monitors, label join, label inputs and invalid rate."""
        join, labels, invalid = self.joins.get(model_id), self.labels.get(model_id), self.invalid.get(model_id)
        return {
            "partition": self.partitions.get(model_id),
            "versions": {m.model_version: m.to_state() for m in self._versions.get(model_id, ())},
            "join": None if join is None else join.to_state(),
            "labels": None if labels is None else labels.to_state(),
            "invalid": None if invalid is None else invalid.to_state(),
        }

    def restore_model(self, model_id: str, state: dict[str, Any]) -> None:
        """Replace whatever is known of ``model_id`` with :meth:`model_state`'s output."""
        self.drop_model(model_id)
        versions = self._versions[model_id] = []
        for version, monitor_state in state["versions"].items():
            monitor = Monitor.from_state(model_id, version, monitor_state, self.config, self.quality, self.drift)
            self._monitors[(model_id, version)] = monitor
            versions.append(monitor)
        if state["join"] is not None:
            self.joins[model_id] = LabelJoin.from_state(state["join"])
        if state["labels"] is not None:
            self.labels[model_id] = ModelInputs.from_state(state["labels"])
        if state["invalid"] is not None:
            self.invalid[model_id] = DecayedRate.from_state(state["invalid"])
        if state["partition"] is not None:
            self.partitions[model_id] = int(state["partition"])

    def drop_model(self, model_id: str) -> None:
        """Forget a model (its partition moved to another worker)."""
        for monitor in self._versions.pop(model_id, ()):
            self._monitors.pop(monitor.key, None)
        for table in (self.joins, self.labels, self.invalid, self.partitions):
            table.pop(model_id, None)
        self.dirty.discard(model_id)

    def record_invalid(self, model_id: str, count: int, now: float) -> None:
        """Count dead-lettered inputs of a model (by message key); unknown models count under ""."""
        key = model_id if model_id in self._versions else ""
        rate = self.invalid.get(key)
        if rate is None:
            rate = self.invalid[key] = DecayedRate(RATE_TAU_SECONDS)
        rate.add(count, now)

    def calibrations_due(self, model_ids: Iterable[str]) -> list[VersionDrift]:
        """Versions of ``model_ids`` whose drift reference is ready and not calibrated yet."""
        return [m.drift for model_id in model_ids for m in self.versions(model_id)
                if m.drift is not None and m.drift.needs_calibration]

    def versions(self, model_id: str) -> list[Monitor]:
        """The monitors of a model's versions (a copy: a scrape thread may read while the stream adds)."""
        return list(self._versions.get(model_id, ()))

    def model_ids(self) -> list[str]:
        return list(self._versions)

    def __iter__(self) -> Iterator[Monitor]:
        # A copy, so that a scrape on another thread never sees the dict change under it.
        return iter(list(self._monitors.values()))

    def __len__(self) -> int:
        return len(self._monitors)

    def rebase(self, model_id: str, model_version: str | None, reference: Any = None,
               warmup_events: int | None = None) -> list[str]:
        """Re-base the drift of a model's versions (or one); returns the versions re-based."""
        rebased = []
        for monitor in self.versions(model_id):
            if monitor.drift is not None and model_version in (None, monitor.model_version):
                monitor.drift.rebase(reference, warmup_events)
                rebased.append(monitor.model_version)
        if rebased:
            self.dirty.add(model_id)
        return rebased
