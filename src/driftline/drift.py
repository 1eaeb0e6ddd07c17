"""Drift of one model version inside the worker: its reference, its calibration, its updates.

A version's drift estimators need a reference. It comes from a file named in
``drift.references`` (by ``model_id/version`` or ``model_id``) or, without one, from
the version's first ``drift.warmup_events`` events. Building :class:`ModelDrift`
calibrates every threshold from the reference (~0.2–0.5 s per column), which must not
stall the stream: it runs on one background thread. The events that arrive meanwhile
update everything else at once and wait in a backlog (``drift.calibration_backlog_events``)
that updates drift when calibration is done, so that a version's drift state depends on
its events only, not on how long calibration took (a restored checkpoint replays to the
same state).

Names exported (label values of ``driftline_feature_drift``, ``driftline_prediction_drift``
and ``driftline_drift_detected``) are the estimators' own; for the prediction, the
positive-class score's methods carry a ``score_`` prefix, and the reserved feature
names ``__prediction__`` and ``__multivariate__`` mark the non-feature detectors.
"""

from __future__ import annotations

import enum
import logging
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from driftline.config import DriftConfig
from driftline.estimators.drift.model import DriftOptions, ModelDrift
from driftline.estimators.reference import Reference, ReferenceBuilder

log = logging.getLogger(__name__)

# Reserved values of the ``feature`` label for detectors that watch no single feature; the same
# strings as driftline.alerting.sample's (the event path may not import alerting; a test ties them).
PREDICTION_STREAM = "__prediction__"
MULTIVARIATE = "__multivariate__"


class DriftPhase(str, enum.Enum):
    WARMING_UP = "warming_up"  # collecting the reference from the first events
    CALIBRATING = "calibrating"  # reference ready, thresholds being calibrated in the background
    WATCHING = "watching"
    FAILED = "failed"  # the reference could not be built or calibrated (logged)


class VersionDrift:
    """The drift state of one model version: warm-up, then calibrated estimators."""

    def __init__(self, model_id: str, model_version: str, config: DriftConfig) -> None:
        self.model_id = model_id
        self.model_version = model_version
        self.config = config
        self.estimator: ModelDrift | None = None
        self.reference: Reference | None = None
        self.builder: ReferenceBuilder | None = None
        self.phase = DriftPhase.WARMING_UP
        self.scheduled = False  # handed to the calibration thread
        self.backlog: list[tuple[dict[str, list[Any]], list[Any] | None, list[Any] | None]] = []
        self.backlog_events = 0
        self.dropped_events = 0  # events beyond the backlog's cap: never seen by drift (logged)
        self.epoch = 0  # counts re-bases: a calibration started before one is not installed after it
        self.rebased = False  # re-based by an operator: the configured reference file no longer applies
        self.reference_override: Reference | None = None  # the reference an operator re-based to
        path = config.references.get(f"{model_id}/{model_version}") or config.references.get(model_id)
        self.reference_file = Path(path) if path else None
        if self.reference_file is not None:
            self.phase = DriftPhase.CALIBRATING
        else:
            self.builder = ReferenceBuilder(size=config.warmup_events)

    @property
    def needs_calibration(self) -> bool:
        """Ready to calibrate and not yet handed to the calibrator."""
        return self.phase is DriftPhase.CALIBRATING and self.estimator is None and not self.scheduled

    def update(self, columns: dict[str, list[Any]], predictions: Sequence[Any] | None,
               scores: Sequence[Any] | None) -> None:
        if self.estimator is not None:
            self.estimator.update_batch(columns, predictions=predictions, scores=scores)
        elif self.builder is not None and self.phase is DriftPhase.WARMING_UP:
            taken = self.builder.rows
            self.builder.update_batch(columns, predictions=predictions, scores=scores)
            if self.builder.ready:
                self.phase = DriftPhase.CALIBRATING
                taken = self.builder.rows - taken  # the rest of the batch comes after the reference
                self._wait(_tail(columns, taken), _tail(predictions, taken), _tail(scores, taken))
        elif self.phase is DriftPhase.CALIBRATING:
            self._wait(columns, predictions, scores)

    def _wait(self, columns: dict[str, list[Any]], predictions: Sequence[Any] | None,
              scores: Sequence[Any] | None) -> None:
        """Keep a batch for after calibration, up to ``calibration_backlog_events``."""
        size = max([len(v) for v in columns.values()] + [len(v) for v in (predictions, scores) if v is not None],
                   default=0)
        if size == 0:
            return
        if self.backlog_events + size > self.config.calibration_backlog_events:
            if self.dropped_events == 0:
                log.warning("drift of %s %s: calibration backlog full (%d events); later events until "
                            "calibration ends are not seen by drift", self.model_id, self.model_version,
                            self.backlog_events)
            self.dropped_events += size
            return
        self.backlog.append(({k: list(v) for k, v in columns.items()},
                             None if predictions is None else list(predictions),
                             None if scores is None else list(scores)))
        self.backlog_events += size

    def rebase(self, reference: Reference | None = None, warmup_events: int | None = None) -> None:
        """Forget the reference, statistics and detections; calibrate ``reference``, or learn a new
        one from the next ``warmup_events`` events (``drift.warmup_events`` by default)."""
        self.epoch += 1
        self.rebased = True
        self.reference_file = None
        self.estimator, self.reference, self.reference_override = None, None, reference
        self.backlog, self.backlog_events, self.dropped_events = [], 0, 0
        self.scheduled = False
        if reference is not None:
            self.builder, self.phase = None, DriftPhase.CALIBRATING
        else:
            self.builder = ReferenceBuilder(size=warmup_events or self.config.warmup_events)
            self.phase = DriftPhase.WARMING_UP
        log.info("drift of %s %s re-based: %s", self.model_id, self.model_version,
                 "calibrating the given reference" if reference is not None
                 else f"learning a reference from the next {self.builder.size if self.builder else 0} events")

    def calibrate(self) -> ModelDrift:
        """Build the reference (given, file or warm-up) and calibrate; runs on the calibration thread."""
        if self.reference_override is not None:
            reference = self.reference_override
        elif self.reference_file is not None:
            reference = load_reference(self.reference_file)
        else:
            assert self.builder is not None
            reference = self.builder.build()
        options = DriftOptions(budget_events=self.config.budget_events, window_events=self.config.window_events,
                               detectors=tuple(self.config.detectors),
                               importances=self.config.importances.get(self.model_id, {}))
        self.reference = reference
        return ModelDrift(reference, options)

    def install(self, estimator: ModelDrift | None, error: BaseException | None = None,
                epoch: int | None = None) -> None:
        """Back on the event loop: the calibrated estimator (or the failure) takes effect, unless
        the version was re-based since the calibration of ``epoch`` started."""
        if epoch is not None and epoch != self.epoch:
            log.info("drift of %s %s: a calibration from before a re-base is dropped", self.model_id,
                     self.model_version)
            return
        self.builder = None  # the warm-up rows are no longer needed
        if estimator is None:
            self.phase = DriftPhase.FAILED
            log.error("drift of %s %s is off: %s", self.model_id, self.model_version, error)
            return
        self.estimator = estimator
        self.phase = DriftPhase.WATCHING
        for columns, predictions, scores in self.backlog:
            estimator.update_batch(columns, predictions=predictions, scores=scores)
        log.info("drift of %s %s: watching %d features against its reference (%d events waited for it)",
                 self.model_id, self.model_version, len(estimator.values("feature")), self.backlog_events)
        self.backlog, self.backlog_events = [], 0

    def to_state(self) -> dict[str, Any]:
        """The phase and what it needs: the warm-up rows, the backlog, or the calibrated estimators.

        A version snapshotted while calibrating restores as calibrating (it is calibrated again,
        deterministically, from the same reference), with the same backlog.
        """
        return {
            "phase": self.phase.value,
            "builder": None if self.builder is None else self.builder.to_state(),
            "estimator": None if self.estimator is None else self.estimator.to_state(),
            "backlog": [[columns, predictions, scores] for columns, predictions, scores in self.backlog],
            "backlog_events": self.backlog_events,
            "dropped_events": self.dropped_events,
            "rebased": self.rebased,
            "reference_override": None if self.reference_override is None else self.reference_override.to_state(),
        }

    @classmethod
    def from_state(cls, model_id: str, model_version: str, config: DriftConfig,
                   state: Mapping[str, Any]) -> VersionDrift:
        drift = cls(model_id, model_version, config)
        drift.phase = DriftPhase(state["phase"])
        drift.builder = None if state["builder"] is None else ReferenceBuilder.from_state(state["builder"])
        if state["estimator"] is not None:
            drift.estimator = ModelDrift.from_state(state["estimator"])
            drift.reference = drift.estimator.reference
        drift.backlog = [(dict(columns), predictions, scores) for columns, predictions, scores in state["backlog"]]
        drift.backlog_events = int(state["backlog_events"])
        drift.dropped_events = int(state["dropped_events"])
        if state.get("rebased"):
            drift.rebased, drift.reference_file = True, None
        if state.get("reference_override") is not None:
            drift.reference_override = Reference.from_state(state["reference_override"])
        return drift

    def feature_values(self) -> Iterator[tuple[str, str, float]]:
        """(feature, method, value) of every feature statistic and CUSUM (as S/h)."""
        if self.estimator is None:
            return
        for feature, values in self.estimator.values("feature").items():
            for method, value in values.items():
                yield feature, method, value

    def prediction_values(self) -> Iterator[tuple[str, float]]:
        """(method, value) of the prediction's statistics; the score's methods start with ``score_``."""
        if self.estimator is None:
            return
        for subject, values in self.estimator.values("prediction").items():
            prefix = "" if subject == "prediction" else f"{subject}_"
            for method, value in values.items():
                yield f"{prefix}{method}", value

    def multivariate_values(self) -> Iterator[tuple[str, float]]:
        if self.estimator is None:
            return
        for values in self.estimator.values("multivariate").values():
            yield from values.items()

    def detections(self) -> Iterator[tuple[str, str, bool]]:
        """(feature label, detector, detected) of every calibrated detector."""
        if self.estimator is None:
            return
        for kind, subjects in (("feature", self.estimator.detections("feature")),
                               ("prediction", self.estimator.detections("prediction")),
                               ("multivariate", self.estimator.detections("multivariate"))):
            for subject, detectors in subjects.items():
                feature = {"feature": subject, "prediction": PREDICTION_STREAM, "multivariate": MULTIVARIATE}[kind]
                prefix = f"{subject}_" if kind == "prediction" and subject != "prediction" else ""
                for detector, fired in detectors.items():
                    yield feature, f"{prefix}{detector}", fired


def _tail(values: Any, start: int) -> Any:
    """``values[start:]`` of a column, a mapping of columns, or None."""
    if values is None:
        return None
    if isinstance(values, Mapping):
        return {k: list(v)[start:] for k, v in values.items()}
    return list(values)[start:]


def load_reference(path: Path) -> Reference:
    """A reference from a JSON-lines, CSV or Parquet file, by its suffix."""
    suffixes = "".join(path.suffixes).lower()
    if suffixes.endswith(".csv"):
        return Reference.from_csv(path)
    if suffixes.endswith(".parquet"):
        return Reference.from_parquet(path)
    return Reference.from_jsonl(path)


def positive_scores(scores: Sequence[Any]) -> list[float | None]:
    """The positive-class probability of each event's ``scores`` (a number, or class → probability)."""
    out: list[float | None] = []
    for score in scores:
        if score is None or isinstance(score, float):
            out.append(score)
        elif isinstance(score, dict):
            out.append(score.get("1", score.get("true", score.get("True"))) if len(score) <= 2 else None)
        else:
            out.append(None)
    return out
