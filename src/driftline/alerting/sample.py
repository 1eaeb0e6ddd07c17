"""The input of rule evaluation: samples of named values, and the catalog of value names.

The Monitor reports what it currently knows as :class:`Sample` objects; rules select
them by value name and labels. :data:`VALUE_LABELS` is the contract between the two
(documented in ``docs/alerting.md``): rules may only select the names listed here
and match or template only the labels listed for them, which turns a typo in a rule
file into an error at load time instead of a rule that never fires.

>>> s = Sample("feature_drift", {"model_id": "m", "model_version": "v1", "feature": "amount", "method": "psi"}, 0.31, 1.0e9)
>>> s.series
('feature_drift', (('feature', 'amount'), ('method', 'psi'), ('model_id', 'm'), ('model_version', 'v1')))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

# Reserved values of the ``feature`` label of ``drift_detected``, for detectors that watch
# something other than one input feature.
PREDICTION_STREAM = "__prediction__"  # the model's predictions (prediction drift)
ERROR_STREAM = "__error__"  # the model's per-event error once labels arrive (concept drift)
MULTIVARIATE = "__multivariate__"  # all features together (multivariate drift)

_MODEL = ("model_id", "model_version")

VALUE_LABELS: dict[str, frozenset[str]] = {
    # data drift: a distance between the reference and the current window, per feature and method
    "feature_drift": frozenset((*_MODEL, "feature", "method")),
    # drift of the prediction (or score) distribution, per method
    "prediction_drift": frozenset((*_MODEL, "method")),
    # 1 while a calibrated detector signals drift, else 0 (feature may be one of the reserved streams)
    "drift_detected": frozenset((*_MODEL, "feature", "detector")),
    # a realized performance metric (needs labels), per metric
    "model_performance": frozenset((*_MODEL, "metric")),
    # an estimated performance metric (CBPE and the like, no labels needed), per metric
    "estimated_performance": frozenset((*_MODEL, "metric")),
    # |estimated - realized| of a metric, where the Monitor computes it itself
    "performance_estimate_error": frozenset((*_MODEL, "metric")),
    # model_performance and estimated_performance of one segment of a version (quality.segments)
    "segment_performance": frozenset((*_MODEL, "segment", "metric")),
    "segment_estimated_performance": frozenset((*_MODEL, "segment", "metric")),
    # prediction events per second over the recent window; event_ts = the newest event
    "event_rate": frozenset(_MODEL),
    # label events per second over the recent window; event_ts = the newest label
    "label_rate": frozenset(("model_id",)),
    # the share of a model's recent messages that went to the dead-letter topic ("" = model unknown)
    "events_invalid_ratio": frozenset(("model_id",)),
    # processing time minus the event time of the newest event processed, per model
    "consumer_lag_seconds": frozenset(("model_id",)),
}


@dataclass(frozen=True, slots=True)
class Sample:
    """The current value of one series.

    ``event_ts`` is the event time (epoch seconds) of the newest event behind the value;
    ``events``, when the Monitor knows it, is the running count of events behind the
    series (it drives ``for: N events``; without it each new ``event_ts`` counts as one).
    ``size``, when known, is how many events the current value is computed on (a window's
    size), for tests of significance (``compare_versions`` with ``alpha``).
    """

    name: str
    labels: Mapping[str, str]
    value: float
    event_ts: float
    events: int | None = None
    size: int | None = None
    series: tuple[str, tuple[tuple[str, str], ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "series", (self.name, tuple(sorted(self.labels.items()))))
