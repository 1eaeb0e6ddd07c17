"""Rule evaluation: snapshots of samples in, alert records out.

:class:`AlertEvaluator` is pure: it holds the rules and the state of every alert
instance, and the caller hands it each snapshot with the current event time and
processing time. Per rule, every distinct label set among the matching samples is one
alert instance, fingerprinted by the rule name and its labels (the sample's labels and
the rule's static labels, the latter winning). Each instance runs the state machine of
:mod:`driftline.alerting.state`; a transition to firing or to resolved yields one
:class:`~driftline.alerting.model.AlertRecord`.

Clocks. Rules run on event time: ``for`` and ``resolve.for`` count from the ``event_ts``
of the sample that first met the condition, and ``starts_at``/``ends_at`` are event
times, so a replay after a restart yields the same records. ``absent_for`` rules run on
processing time (``now``), because event time stands still when nothing arrives: a
series is absent when its ``event_ts`` has not advanced for T seconds of ``now``.

Snapshots are complete: a firing alert whose series is missing from a snapshot
resolves (value None, ``ends_at`` the snapshot's time), as in Prometheus. Keep one
evaluator per set of series that is evaluated together (e.g. one per model).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import msgspec

from driftline.alerting.condition import Observation
from driftline.alerting.model import AlertRecord, Status, fingerprint, rfc3339
from driftline.alerting.rule import Rule
from driftline.alerting.sample import Sample
from driftline.alerting.state import AlertInstance, Phase, Transition
from driftline.error import StateError

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class AlertView:
    """A read-only view of one alert instance (pending ones included)."""

    rule: str
    fingerprint: str
    phase: Phase
    labels: Mapping[str, str]
    since_ts: float  # pending: when the condition first held
    starts_at: float | None  # firing: when it started firing


class AlertEvaluator:
    """Evaluates rules against snapshots of samples and keeps every alert instance's state."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        self._alerts: dict[str, dict[str, AlertInstance]] = {rule.name: {} for rule in self.rules}

    def evaluate(self, samples: Iterable[Sample], *, event_time: float, now: float) -> list[AlertRecord]:
        """Evaluate every rule against a complete snapshot; returns the records of this step's transitions."""
        by_name: dict[str, list[Sample]] = defaultdict(list)
        for sample in samples:
            by_name[sample.name].append(sample)
        records: list[AlertRecord] = []
        for rule in self.rules:
            records.extend(self._evaluate_rule(rule, by_name, event_time, now))
        return records

    def _evaluate_rule(self, rule: Rule, samples: Mapping[str, list[Sample]],
                       event_time: float, now: float) -> list[AlertRecord]:
        table, seen, records = self._alerts[rule.name], set(), []
        for obs in rule.condition.observe(samples):
            labels = {**obs.labels, **rule.labels}
            fp = fingerprint(rule.name, labels)
            if fp in seen:
                continue
            seen.add(fp)
            instance = table.get(fp)
            if instance is None:
                instance = table[fp] = AlertInstance(labels)
            record = self._step(rule, fp, instance, obs, now)
            if record is not None:
                records.append(record)
            if instance.phase is Phase.INACTIVE and not rule.condition.processing_time:
                del table[fp]
        for fp in [fp for fp in table if fp not in seen]:
            instance = table.pop(fp)
            if instance.phase is Phase.FIRING:
                records.append(self._vanished(rule, instance, event_time, now))
        return records

    def _step(self, rule: Rule, fp: str, instance: AlertInstance, obs: Observation, now: float) -> AlertRecord | None:
        stale, events = instance.observe(obs.event_ts, obs.events, now)
        processing = rule.condition.processing_time
        value = now - instance.fresh_at if processing else obs.value
        if stale or math.isnan(value):
            return None
        clock = now if processing else obs.event_ts
        transition = instance.step(rule.timing, value, clock, events)
        if transition is Transition.FIRED:
            record = build_record(rule, fp, instance, value, obs)
            instance.record = msgspec.to_builtins(record)
            return record
        if transition is Transition.RESOLVED:
            return self._resolved(instance, value, obs.event_ts, clock)
        return None

    def _vanished(self, rule: Rule, instance: AlertInstance, event_time: float, now: float) -> AlertRecord:
        """The resolved record of a firing alert whose series left the snapshot."""
        ends_at = max(now if rule.condition.processing_time else event_time, instance.starts_at)
        return self._resolved(instance, None, event_time, ends_at)

    @staticmethod
    def _resolved(instance: AlertInstance, value: float | None, event_ts: float, ends_at: float) -> AlertRecord:
        """The firing record again, with the resolving value and times: the text of the page it closes."""
        assert instance.record is not None, "a firing instance keeps its firing record"
        firing = msgspec.convert(instance.record, AlertRecord)
        instance.record = None
        return msgspec.structs.replace(firing, status=Status.RESOLVED, value=value,
                                       ends_at=rfc3339(ends_at), event_ts=rfc3339(event_ts))

    def firing(self) -> list[AlertRecord]:
        """The firing record of every alert firing now."""
        return [msgspec.convert(instance.record, AlertRecord)
                for table in self._alerts.values() for instance in table.values()
                if instance.phase is Phase.FIRING and instance.record is not None]

    def firing_counts(self) -> Counter[tuple[str, str, str]]:
        """Firing alerts per (rule, severity, model_id): the ``driftline_alerts_firing`` gauge."""
        return Counter((r.rule, r.severity.value, r.labels.get("model_id", "")) for r in self.firing())

    def alerts(self) -> list[AlertView]:
        """Every pending or firing alert instance."""
        return [
            AlertView(rule, fp, inst.phase, dict(inst.labels), inst.since_ts,
                      inst.starts_at if inst.phase is Phase.FIRING else None)
            for rule, table in self._alerts.items() for fp, inst in table.items()
            if inst.phase is not Phase.INACTIVE
        ]

    def to_state(self) -> dict[str, Any]:
        """The state of every instance as plain data (JSON-safe)."""
        return {"version": STATE_VERSION, "alerts": {
            rule: {fp: instance.to_state() for fp, instance in table.items()}
            for rule, table in self._alerts.items() if table
        }}

    @classmethod
    def from_state(cls, rules: Iterable[Rule], state: Mapping[str, Any]) -> AlertEvaluator:
        """Rebuild an evaluator from :meth:`to_state`; state of rules that no longer exist is dropped."""
        evaluator = cls(rules)
        if state.get("version") != STATE_VERSION:
            raise StateError(f"alert evaluator state version {state.get('version')!r}, expected {STATE_VERSION}")
        try:
            for rule, table in state["alerts"].items():
                if rule in evaluator._alerts:
                    evaluator._alerts[rule] = {fp: AlertInstance.from_state(inst) for fp, inst in table.items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateError(f"alert evaluator state does not fit: {exc!r}") from exc
        return evaluator


def build_record(rule: Rule, fp: str, instance: AlertInstance, value: float, obs: Observation) -> AlertRecord:
    """The firing record of an instance, its annotations rendered from the rule's templates."""
    threshold = rule.condition.threshold
    values = {"rule": rule.name, "severity": rule.severity.value, "value": value, "threshold": threshold, **obs.extra}
    text = {key: template.render(values, instance.labels) for key, template in rule.annotations.items()}
    return AlertRecord(
        fingerprint=fp, rule=rule.name, status=Status.FIRING, severity=rule.severity, labels=dict(instance.labels),
        value=value, threshold=threshold, starts_at=rfc3339(instance.starts_at), ends_at=None,
        event_ts=rfc3339(obs.event_ts), **text,
    )
