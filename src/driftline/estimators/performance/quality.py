"""The quality of one model version (or one segment of it): the facade the Monitor calls.

Predictions feed the CBPE window (estimated performance, no labels needed); joined events
(prediction + label, from :class:`driftline.events.join.LabelJoin`) feed the realized metrics,
the error-stream detectors, the calibration map and the estimate error. Reads return plain
dicts keyed by the short, stable names that become label values (``metric``, ``detector``).

>>> q = ModelQuality(task="binary", window_events=100, detectors=["ddm"])
>>> q = q.update_predictions([1, 0, 1, 1], [0.9, 0.2, 0.7, 0.6], ts=[1.0, 2.0, 3.0, 4.0])
>>> {k: round(v, 3) for k, v in q.estimated.items()}
{'accuracy': 0.75, 'precision': 0.733, 'recall': 0.917, 'f1': 0.815, 'roc_auc': 0.85}
>>> rows = joined_rows([JoinedRow(1, 0.9, 1, 1.0, 9.0), JoinedRow(0, 0.2, 1, 2.0, 9.0)])
>>> q = q.update_joined(rows)
>>> q.realized["accuracy"], q.realized["recall"], q.detections, q.counts["joined"]
(0.5, 0.5, {'ddm': False}, 2)
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, NamedTuple, Protocol, Self, Sequence

import numpy as np

from driftline.estimators.base import Estimator, State
from driftline.estimators.performance.calibration import HistogramCalibration
from driftline.estimators.performance.cbpe import PerformanceEstimate, expected_metrics
from driftline.estimators.performance.detector import DEFAULT_DETECTORS, DETECTORS, ON_LOSS, ErrorDetector
from driftline.estimators.performance.metric import METRIC_FUNCTIONS
from driftline.estimators.performance.realized import RealizedMetrics, metric_names
from driftline.estimators.performance.task import (ALL_METRICS, BINARY, ESTIMATED_METRICS, REGRESSION, TASKS, Encoder,
                                                   infer_task)

JOINED_DTYPE = np.dtype([("prediction", "O"), ("scores", "O"), ("label", "O"),
                         ("prediction_ts", "f8"), ("label_ts", "f8")])
CALIBRATIONS = ("none", "histogram")


class JoinedLike(Protocol):
    """What :meth:`ModelQuality.update_joined` reads of a joined event (``driftline.events.join.Joined`` has it)."""

    prediction: Any
    scores: Any
    label: Any
    prediction_ts: float
    label_ts: float


class JoinedRow(NamedTuple):
    """A joined event for callers (and tests) without a label join."""

    prediction: Any
    scores: Any
    label: Any
    prediction_ts: float
    label_ts: float


def joined_rows(joined: Sequence[JoinedLike]) -> np.ndarray:
    """Joined events as a :data:`JOINED_DTYPE` array (the input of :meth:`ModelQuality.update_batch`)."""
    rows = np.empty(len(joined), dtype=JOINED_DTYPE)
    for name in JOINED_DTYPE.names:
        rows[name] = [getattr(j, name) for j in joined]
    return rows


def error_stream(task: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per joined row: the 0/1 error and the loss the error-stream detectors watch.

    The loss is (y - p)^2 for a binary model, (1 - p(true class))^2 for a multiclass one
    (the 0/1 error where an event has no score) and |yhat - y| for a regression.
    """
    y, yhat = rows["y"], rows["yhat"]
    if task == REGRESSION:
        return np.full(y.size, np.nan), np.abs(yhat - y)
    wrong = (y != yhat).astype(np.float64)
    if task == BINARY:
        p = np.where(np.isnan(rows["p"]), yhat, np.clip(rows["p"], 0.0, 1.0))
        return wrong, (y - p) ** 2
    return wrong, np.where(np.isnan(rows["p"]), wrong, (1.0 - rows["p"]) ** 2)


class ModelQuality(Estimator):
    """Realized and estimated performance, estimate error and concept drift of one model version.

    Parameters
    ----------
    task
        ``"auto"`` (inferred from the first events, :func:`~driftline.estimators.performance.task.infer_task`),
        ``"binary"``, ``"multiclass"`` or ``"regression"``.
    window_events, window_seconds, max_events
        The realized metrics' window over joined events (by the event time of the join, the
        later of prediction and label time).
    metrics
        Metric names to report (realized and estimated); None for all of the task's.
    detectors, detector_params, hold
        Error-stream detectors by name (None: ``adwin``), their river keyword
        arguments by name, and how many joined events a detection stays reported. A regression
        runs ``adwin`` only.
    cbpe, cbpe_window_events, cbpe_window_seconds
        Estimated performance on/off and its window over predictions (by prediction time).
    calibration, calibration_events
        ``"none"`` (scores taken as calibrated) or ``"histogram"`` (a map fitted on the first
        ``calibration_events`` joined events with scores; binary only).
    pos_label, threshold, max_classes
        See :class:`~driftline.estimators.performance.task.Encoder`.

    ``update_batch`` takes :data:`JOINED_DTYPE` rows, like :meth:`update_joined`.
    """

    def __init__(self, task: str = "auto", window_events: int | None = 1000, window_seconds: float | None = None,
                 max_events: int = 100_000, metrics: list[str] | None = None,
                 detectors: list[str] | None = None, detector_params: Mapping[str, Mapping[str, Any]] | None = None,
                 hold: int = 1000, cbpe: bool = True, cbpe_window_events: int | None = 1000,
                 cbpe_window_seconds: float | None = None, calibration: str = "none", calibration_events: int = 1000,
                 pos_label: str | None = None, threshold: float = 0.5, max_classes: int = 50) -> None:
        _check(task, metrics, detectors, calibration)
        no_window = window_events is None and window_seconds is None
        if no_window or (cbpe and cbpe_window_events is None and cbpe_window_seconds is None):
            raise ValueError("a window needs a length in events, in seconds, or both")
        self.task = task
        self.window_events, self.window_seconds, self.max_events = window_events, window_seconds, max_events
        self.metrics = None if metrics is None else list(metrics)
        self.detectors = list(DEFAULT_DETECTORS) if detectors is None else list(detectors)
        self.detector_params = {k: dict(v) for k, v in (detector_params or {}).items()}
        self.hold = hold
        self.cbpe, self.cbpe_window_events, self.cbpe_window_seconds = cbpe, cbpe_window_events, cbpe_window_seconds
        self.calibration, self.calibration_events = calibration, calibration_events
        self.pos_label, self.threshold, self.max_classes = pos_label, threshold, max_classes
        self._reset()

    def _reset(self) -> None:
        self._task: str | None = None
        self._predictions = 0
        self._joined = 0
        self._error_cache: tuple[int, dict[str, float]] = (-1, {})
        if self.task != "auto":
            self._setup(self.task)

    def _setup(self, task: str) -> None:
        """Build the task's estimators (once the task is known)."""
        self._task = task
        self._encoder = Encoder(task, self.pos_label, self.threshold, self.max_classes)
        self._realized = RealizedMetrics(task, self.window_events, self.window_seconds, self.max_events, self.metrics)
        estimate = self.cbpe and task != REGRESSION
        self._estimate = PerformanceEstimate(task, self.cbpe_window_events, self.cbpe_window_seconds,
                                             self.max_events, self.metrics) if estimate else None
        binary_calibration = self.calibration == "histogram" and task == BINARY
        self._calibration = HistogramCalibration(self.calibration_events) if binary_calibration else None
        names = [d for d in self.detectors if task != REGRESSION or d in ON_LOSS]
        self._detectors = {d: ErrorDetector(d, self.detector_params.get(d), self.hold) for d in names}

    def _ensure_task(self, predictions: Sequence[Any], scores: Sequence[Any] | None,
                     labels: Sequence[Any] | None = None) -> None:
        if self._task is None and len(predictions):
            self._setup(infer_task(predictions, scores, labels, self.pos_label))

    def update_predictions(self, predictions: Sequence[Any], scores: Sequence[Any] | None = None,
                           ts: Sequence[float] | np.ndarray | None = None) -> Self:
        """Count predictions and feed the CBPE window (``ts``: prediction event times, needed for a time window)."""
        if not len(predictions):
            return self
        self._ensure_task(predictions, scores)
        self._predictions += len(predictions)
        if self._estimate is not None:
            self._estimate.update_batch(self._encoder.encode(predictions, scores, None, ts))
        return self

    def update_joined(self, joined: Sequence[JoinedLike] | np.ndarray) -> Self:
        """Feed joined events (``Joined`` objects or :data:`JOINED_DTYPE` rows) to the realized side."""
        rows = joined if isinstance(joined, np.ndarray) else joined_rows(joined)
        if rows.size == 0:
            return self
        predictions, scores, labels = rows["prediction"], rows["scores"], rows["label"]
        self._ensure_task(predictions, scores, labels)
        self._joined += rows.size
        assert self._task is not None
        encoded = self._encoder.encode(predictions, scores, labels, np.fmax(rows["prediction_ts"], rows["label_ts"]))
        self._realized.update_batch(encoded)
        if self._calibration is not None:
            self._calibration.update_batch(encoded)
        wrong, loss = error_stream(self._task, encoded)
        for name, detector in self._detectors.items():
            detector.update_batch(loss if name in ON_LOSS else wrong)
        return self

    def update_batch(self, values: np.ndarray) -> Self:
        return self.update_joined(values)

    @property
    def inferred_task(self) -> str | None:
        """The task (declared, or inferred from the first events); None before any event."""
        return self._task

    @property
    def realized(self) -> dict[str, float]:
        """``{metric: value}`` on the joined window (empty before labels; undefined metrics left out)."""
        return self._realized.values if self._task is not None else {}

    @property
    def estimated(self) -> dict[str, float]:
        """``{metric: CBPE estimate}`` on the prediction window (empty without CBPE or scores)."""
        if self._task is None or self._estimate is None:
            return {}
        return self._estimate.estimate(self._calibration)

    @property
    def estimate_error(self) -> dict[str, float]:
        """``{metric: |estimated - realized|}``, both on the joined window's events that have a score."""
        if self._task is None or self._estimate is None:
            return {}
        version = self._realized_version()
        if self._error_cache[0] != version:
            self._error_cache = (version, self._estimate_error())
        return dict(self._error_cache[1])

    def _realized_version(self) -> int:
        return self._realized.version() * 2 + int(self._calibration is not None and self._calibration.fitted)

    def _estimate_error(self) -> dict[str, float]:
        task, rows = self._task, self._realized.rows()
        assert task is not None
        rows = rows[~np.isnan(rows["p" if task == BINARY else "q"])]
        names = metric_names(task, self.metrics, ESTIMATED_METRICS)
        transform = self._calibration.transform if self._calibration is not None and self._calibration.fitted else None
        estimated = expected_metrics(task, rows, names, transform)
        realized = METRIC_FUNCTIONS[task](rows, names)
        return {k: abs(estimated[k] - realized[k]) for k in names if k in estimated and k in realized}

    @property
    def detections(self) -> dict[str, bool]:
        """``{detector: drift detected}`` (held for ``hold`` joined events after a detection)."""
        return {name: d.drift_detected for name, d in self._detectors.items()} if self._task is not None else {}

    @property
    def alarms(self) -> dict[str, int]:
        """``{detector: detections so far}``."""
        return {name: d.alarms for name, d in self._detectors.items()} if self._task is not None else {}

    @property
    def last_alarms(self) -> dict[str, int]:
        """``{detector: joined event (0-based, in join order) of the latest detection, -1 before any}``."""
        return {name: d.last_alarm for name, d in self._detectors.items()} if self._task is not None else {}

    @property
    def counts(self) -> dict[str, int]:
        """Predictions and joined events seen, and events in the realized and estimated windows."""
        known = self._task is not None
        return {"predictions": self._predictions, "joined": self._joined,
                "realized_window": self._realized.size if known else 0,
                "estimated_window": self._estimate.size if known and self._estimate is not None else 0}

    def _parts(self) -> dict[str, Estimator]:
        """The sub-estimators whose state is part of this one's."""
        parts: dict[str, Estimator] = {"realized": self._realized}
        if self._estimate is not None:
            parts["estimate"] = self._estimate
        if self._calibration is not None:
            parts["calibration"] = self._calibration
        parts.update((f"detector.{name}", d) for name, d in self._detectors.items())
        return parts

    def _get_state(self) -> State:
        """Counts, the task and its classes, and ``[name, state]`` of each sub-estimator."""
        state: State = {"task": self._task or "", "predictions": self._predictions, "joined": self._joined}
        if self._task is not None:
            state["classes"] = self._encoder.get_state()["classes"]
            state["parts"] = [[name, part._get_state()] for name, part in self._parts().items()]
        return state

    def _set_state(self, state: State) -> None:
        self._predictions, self._joined = int(state["predictions"]), int(state["joined"])
        if not state["task"]:
            return
        self._setup(str(state["task"]))
        self._encoder.set_state({"classes": state["classes"]})
        parts = self._parts()
        for name, part in state["parts"]:
            parts[name]._set_state(part)


def _check(task: str, metrics: Iterable[str] | None, detectors: Iterable[str] | None, calibration: str) -> None:
    if task != "auto" and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected 'auto' or one of {TASKS}")
    unknown = set(metrics or ()) - ALL_METRICS
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; expected some of {sorted(ALL_METRICS)}")
    unknown = set(detectors or ()) - set(DETECTORS)
    if unknown:
        raise ValueError(f"unknown detectors {sorted(unknown)}; expected some of {sorted(DETECTORS)}")
    if calibration not in CALIBRATIONS:
        raise ValueError(f"unknown calibration {calibration!r}; expected one of {CALIBRATIONS}")

