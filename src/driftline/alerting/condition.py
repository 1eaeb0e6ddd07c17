"""Rule conditions: what a rule measures in a snapshot of samples, and when that fires.

Every condition turns the samples it selects into :class:`Observation` objects, one
per alert instance (a distinct label set), each with one number, the *value*, that
the firing test (a :class:`Threshold`) and the resolve test look at:

============================  =====================================  ==================
condition                     value                                  fires when
============================  =====================================  ==================
``above: X`` / ``below: X``   the sample's value                     value > X / < X
``detector_fired: true``      the sample's value (1 fired, 0 not)    value > 0
``differs: {..., by: X}``     abs(estimate - realized), same labels  value > X
``absent_for: T``             seconds since the series last advanced value > T
``compare_versions: {...}``   how far a version trails the best      value > X
                              other version of the same model, or
                              the ``baseline`` version (with
                              ``alpha``: 0 unless significant)
============================  =====================================  ==================

``absent_for`` is measured in processing time by the evaluator (event time stalls
when nothing arrives), so its observations carry a NaN placeholder value.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass, field
from typing import ClassVar, Iterator, Literal, Mapping, Sequence

from driftline.alerting.matcher import Matcher, matches_all
from driftline.alerting.sample import VALUE_LABELS, Sample
from driftline.estimators.performance.compare import two_proportion_test

SamplesByName = Mapping[str, Sequence[Sample]]


@dataclass(frozen=True, slots=True)
class Threshold:
    """``value > limit`` (above) or ``value < limit`` (below); NaN never holds."""

    op: Literal["above", "below"]
    limit: float

    def holds(self, value: float) -> bool:
        return value > self.limit if self.op == "above" else value < self.limit

    def __str__(self) -> str:
        return f"{'>' if self.op == 'above' else '<'} {self.limit:g}"


@dataclass(frozen=True, slots=True)
class Observation:
    """One alert instance's measurement in one snapshot."""

    labels: Mapping[str, str]
    value: float
    event_ts: float
    events: int | None = None
    extra: Mapping[str, float | str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Selector:
    """A value name and label matchers."""

    value: str
    matchers: tuple[Matcher, ...] = ()

    def select(self, samples: SamplesByName) -> Iterator[Sample]:
        return (s for s in samples.get(self.value, ()) if matches_all(self.matchers, s.labels))


class Condition(ABC):
    """What a rule measures, and the test that makes it fire."""

    fields: ClassVar[frozenset[str]] = frozenset()  # extra template fields besides value/threshold
    processing_time: ClassVar[bool] = False  # measured on the processing-time clock
    resolvable: ClassVar[bool] = True  # may have its own resolve threshold

    @property
    @abstractmethod
    def fire(self) -> Threshold: ...

    @property
    def threshold(self) -> float | None:
        """The threshold reported in alert records (None when it means nothing to people)."""
        return self.fire.limit

    @property
    @abstractmethod
    def labels(self) -> frozenset[str]:
        """The label names every instance carries (for checking templates at load)."""

    @abstractmethod
    def observe(self, samples: SamplesByName) -> list[Observation]: ...


@dataclass(frozen=True)
class ValueCondition(Condition):
    """``above: X`` or ``below: X`` on the selected value."""

    selector: Selector
    test: Threshold

    @property
    def fire(self) -> Threshold:
        return self.test

    @property
    def labels(self) -> frozenset[str]:
        return VALUE_LABELS[self.selector.value]

    def observe(self, samples: SamplesByName) -> list[Observation]:
        return [Observation(s.labels, s.value, s.event_ts, s.events) for s in self.selector.select(samples)]


@dataclass(frozen=True)
class DetectorCondition(ValueCondition):
    """``detector_fired: true``: the selected value is a detector's 1 (fired) or 0."""

    resolvable: ClassVar[bool] = False
    test: Threshold = Threshold("above", 0.0)

    @property
    def threshold(self) -> float | None:
        return None


@dataclass(frozen=True)
class AbsentCondition(ValueCondition):
    """``absent_for: T``: no new event in a selected series for T seconds of processing time."""

    processing_time: ClassVar[bool] = True
    resolvable: ClassVar[bool] = False

    def observe(self, samples: SamplesByName) -> list[Observation]:
        return [Observation(s.labels, math.nan, s.event_ts, s.events) for s in self.selector.select(samples)]


class GapCondition(Condition):
    """A condition whose value is a non-negative gap that fires above ``by``."""

    by: float

    @property
    def fire(self) -> Threshold:
        return Threshold("above", self.by)


@dataclass(frozen=True)
class DiffersCondition(GapCondition):
    """``differs: {estimate, realized, by}``: two values of the same labels differ by more than ``by``."""

    fields: ClassVar[frozenset[str]] = frozenset({"estimate", "realized"})
    matchers: tuple[Matcher, ...]
    estimate: str
    realized: str
    by: float

    @property
    def labels(self) -> frozenset[str]:
        return VALUE_LABELS[self.estimate] & VALUE_LABELS[self.realized]

    def observe(self, samples: SamplesByName) -> list[Observation]:
        estimates = {s.series[1]: s for s in Selector(self.estimate, self.matchers).select(samples)}
        observations = []
        for real in Selector(self.realized, self.matchers).select(samples):
            est = estimates.get(real.series[1])
            if est is None:
                continue
            observations.append(Observation(
                real.labels, abs(est.value - real.value), max(est.event_ts, real.event_ts),
                real.events, {"estimate": est.value, "realized": real.value},
            ))
        return observations


@dataclass(frozen=True)
class CompareVersionsCondition(GapCondition):
    """``compare_versions: {metric, by, baseline, alpha}``: a version trails another of its model by > ``by``.

    The other version is ``baseline`` (the champion, by its model_version) when given, else the
    best other version. Peers are the samples whose labels are equal but for model_version.
    With ``alpha``, a gap counts only when a two-proportion z-test on the samples' ``size``
    (:func:`~driftline.estimators.performance.compare.two_proportion_test`) finds the two values
    different at that level; otherwise the value is 0. The test reads the values as shares of
    the window's events: accuracy; an approximation for other metrics in [0, 1].
    """

    fields: ClassVar[frozenset[str]] = frozenset({"best", "best_version", "p_value"})
    matchers: tuple[Matcher, ...]
    metric: str
    by: float
    higher_is_better: bool = True
    baseline: str | None = None
    alpha: float | None = None

    @property
    def labels(self) -> frozenset[str]:
        return VALUE_LABELS[self.metric]

    def observe(self, samples: SamplesByName) -> list[Observation]:
        peers: dict[tuple[tuple[str, str], ...], list[Sample]] = defaultdict(list)
        for s in Selector(self.metric, self.matchers).select(samples):
            peers[tuple(kv for kv in s.series[1] if kv[0] != "model_version")].append(s)
        return [obs for group in peers.values() if len(group) > 1 for obs in self._compare(group)]

    def _compare(self, group: list[Sample]) -> Iterator[Observation]:
        sign = 1.0 if self.higher_is_better else -1.0
        if self.baseline is not None:
            base = next((s for s in group if s.labels.get("model_version") == self.baseline), None)
            if base is not None:
                yield from (self._observation(s, base, sign) for s in group if s is not base)
            return
        for s in group:
            best = max((o for o in group if o is not s), key=lambda o: sign * o.value)
            yield self._observation(s, best, sign)

    def _observation(self, s: Sample, other: Sample, sign: float) -> Observation:
        """``s`` against ``other``: how far ``s`` trails (negative: ahead), and the test's p-value."""
        gap = sign * (other.value - s.value)
        p_value = math.nan
        if s.size is not None and other.size is not None and 0.0 <= min(s.value, other.value) \
                and max(s.value, other.value) <= 1.0:
            p_value = two_proportion_test(other.value, other.size, s.value, s.size).p_value
        if self.alpha is not None and gap > 0 and not p_value < self.alpha:
            gap = 0.0  # not significant (or no test possible): no evidence of a gap
        return Observation(
            s.labels, gap, max(s.event_ts, other.event_ts), s.events,
            {"best": other.value, "best_version": other.labels.get("model_version", ""), "p_value": p_value},
        )
