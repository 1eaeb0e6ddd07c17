"""Alert rules: the YAML shape (msgspec structs) and the checked, compiled :class:`Rule`.

A rule file is ``rules: [...]``; each rule::

    - name: strong_feature_drift            # unique across all rule files
      select:                                # a value name and label matchers
        value: feature_drift
        matchers: [method=psi, 'feature!~id|.*_id']
      condition: {above: 0.25}               # exactly one of above, below, detector_fired,
                                             # differs, absent_for, compare_versions
      for: 10m                               # event time (or "500 events"); default 0
      resolve: {below: 0.15, for: 30m}       # default: the negation of the condition, at once
      severity: warning                      # critical | error | warning | info
      labels: {team: ml-platform}            # static labels, part of the fingerprint
      annotations:
        summary: "PSI {value:.2f} > {threshold} on {labels.feature} of {labels.model_id}"
        runbook_url: https://runbooks.example.com/drift

Checks that msgspec cannot express (exactly one condition, value names from the
catalog, hysteresis on the right side, template fields) raise ConfigError naming the
file and the dotted key (:class:`~driftline.alerting.keypath.KeyPath`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Mapping

import msgspec

from driftline.alerting.condition import (
    AbsentCondition, CompareVersionsCondition, Condition, DetectorCondition, DiffersCondition,
    Selector, Threshold, ValueCondition,
)
from driftline.alerting.duration import Window, parse_duration
from driftline.alerting.keypath import KeyPath
from driftline.alerting.matcher import LABEL_NAME, Matcher, parse_matchers
from driftline.alerting.model import Severity
from driftline.alerting.sample import VALUE_LABELS
from driftline.alerting.state import Timing
from driftline.alerting.template import Template

RESERVED_LABELS = frozenset({"rule", "severity", "alertname"})
TEMPLATE_FIELDS = frozenset({"rule", "severity", "value", "threshold"})
CONDITIONS = ("above", "below", "detector_fired", "differs", "absent_for", "compare_versions")

_Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
_NonNegative = Annotated[float, msgspec.Meta(ge=0)]
_Duration = str | int | None


class _Spec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class SelectSpec(_Spec):
    value: str | None = None
    matchers: list[str] = []


class DiffersSpec(_Spec):
    estimate: str
    realized: str
    by: _NonNegative


class CompareVersionsSpec(_Spec):
    metric: str
    by: _NonNegative
    higher_is_better: bool = True
    baseline: Annotated[str, msgspec.Meta(min_length=1)] | None = None  # the champion's model_version
    alpha: Annotated[float, msgspec.Meta(gt=0, lt=1)] | None = None  # significance level of the gap


class ConditionSpec(_Spec):
    above: float | None = None
    below: float | None = None
    detector_fired: bool | None = None
    differs: DiffersSpec | None = None
    absent_for: str | None = None
    compare_versions: CompareVersionsSpec | None = None


class ResolveSpec(_Spec):
    above: float | None = None
    below: float | None = None
    for_: _Duration = msgspec.field(default=None, name="for")


class AnnotationsSpec(_Spec):
    summary: str
    description: str = ""
    runbook_url: str = ""
    dashboard_url: str = ""


class RuleSpec(_Spec, kw_only=True):
    name: _Name
    select: SelectSpec = msgspec.field(default_factory=SelectSpec)
    condition: ConditionSpec
    for_: _Duration = msgspec.field(default=None, name="for")
    resolve: ResolveSpec | None = None
    severity: Literal["critical", "error", "warning", "info"]
    labels: dict[str, Any] = {}
    annotations: AnnotationsSpec


class RuleFileSpec(_Spec):
    rules: list[RuleSpec]


@dataclass(frozen=True)
class Rule:
    """A checked rule, ready to evaluate."""

    name: str
    condition: Condition
    timing: Timing
    severity: Severity
    labels: Mapping[str, str]
    annotations: Mapping[str, Template]
    origin: str = ""  # "FILE: rules.N", for messages

    @classmethod
    def compile(cls, spec: RuleSpec, where: KeyPath) -> Rule:
        condition = _condition(spec, where)
        fire_for = _window(spec.for_, where / "for")
        if condition.processing_time and not fire_for.immediate:
            raise (where / "for").error("not allowed with absent_for, which is a duration already")
        resolve, resolve_for = _resolve(spec.resolve, condition, where / "resolve")
        labels = _static_labels(spec.labels, where / "labels")
        annotations = _annotations(spec.annotations, condition, labels, where / "annotations")
        timing = Timing(condition.fire, resolve, fire_for, resolve_for)
        return cls(spec.name, condition, timing, Severity(spec.severity), labels, annotations,
                   f"{where.source}: {where.key}")


def _condition(spec: RuleSpec, where: KeyPath) -> Condition:
    given = [name for name in CONDITIONS if getattr(spec.condition, name) is not None]
    if len(given) != 1:
        raise (where / "condition").error(
            f"expected exactly one of {', '.join(CONDITIONS)}; got {', '.join(given) or 'none'}")
    kind, cond, select = given[0], spec.condition, where / "select"
    if kind in ("differs", "compare_versions"):
        if spec.select.value is not None:
            raise (select / "value").error(f"not used with {kind}, which names its values in the condition")
        if cond.differs is not None:
            d, key = cond.differs, where / "condition" / "differs"
            names = _value(d.estimate, key / "estimate") & _value(d.realized, key / "realized")
            return DiffersCondition(_matchers(spec.select.matchers, names, select), d.estimate, d.realized, d.by)
        assert cond.compare_versions is not None
        c = cond.compare_versions
        names = _value(c.metric, where / "condition" / "compare_versions" / "metric")
        return CompareVersionsCondition(_matchers(spec.select.matchers, names, select), c.metric, c.by,
                                        c.higher_is_better, c.baseline, c.alpha)
    if spec.select.value is None:
        raise (select / "value").error(f"required key is missing (the value name the {kind} condition tests)")
    names = _value(spec.select.value, select / "value")
    selector = Selector(spec.select.value, _matchers(spec.select.matchers, names, select))
    return _single_value_condition(kind, cond, selector, where / "condition" / kind)


def _single_value_condition(kind: str, cond: ConditionSpec, selector: Selector, where: KeyPath) -> Condition:
    if kind == "detector_fired":
        if cond.detector_fired is not True:
            raise where.error("expected true (fire while the detector signals drift)")
        return DetectorCondition(selector)
    if kind == "absent_for":
        assert cond.absent_for is not None
        try:
            seconds = parse_duration(cond.absent_for)
        except ValueError as exc:
            raise where.error(str(exc)) from None
        return AbsentCondition(selector, Threshold("above", seconds))
    limit = cond.above if kind == "above" else cond.below
    assert limit is not None
    return ValueCondition(selector, Threshold("above" if kind == "above" else "below", limit))


def _value(name: str, where: KeyPath) -> frozenset[str]:
    if name not in VALUE_LABELS:
        raise where.error(f"unknown value name {name!r}; expected one of {', '.join(sorted(VALUE_LABELS))}")
    return VALUE_LABELS[name]


def _matchers(texts: list[str], labels: frozenset[str], where: KeyPath) -> tuple[Matcher, ...]:
    matchers = parse_matchers(texts, where / "matchers")
    for i, matcher in enumerate(matchers):
        if matcher.name not in labels:
            raise (where / "matchers" / i).error(
                f"label {matcher.name!r} is not a label of this value; expected one of {', '.join(sorted(labels))}")
    return matchers


def _window(text: _Duration, where: KeyPath) -> Window:
    try:
        return Window.parse(text)
    except ValueError as exc:
        raise where.error(str(exc)) from None


def _resolve(spec: ResolveSpec | None, condition: Condition, where: KeyPath) -> tuple[Threshold | None, Window]:
    if spec is None:
        return None, Window()
    window = _window(spec.for_, where / "for")
    if spec.above is not None and spec.below is not None:
        raise where.error("expected at most one of above, below")
    if spec.above is None and spec.below is None:
        return None, window
    op: Literal["above", "below"] = "above" if spec.above is not None else "below"
    limit = spec.above if spec.above is not None else spec.below
    assert limit is not None
    if not condition.resolvable:
        raise (where / op).error("no threshold here: detector_fired and absent_for resolve when they stop holding")
    fire = condition.fire
    if op == fire.op:
        other = "below" if fire.op == "above" else "above"
        raise (where / op).error(f"expected {other}: the alert fires {fire.op} {fire.limit:g} and resolves {other} a limit")
    if (op == "below" and limit > fire.limit) or (op == "above" and limit < fire.limit):
        side = "at most" if op == "below" else "at least"
        raise (where / op).error(f"expected {side} the firing threshold {fire.limit:g}, else the alert flaps")
    return Threshold(op, limit), window


def _static_labels(labels: dict[str, Any], where: KeyPath) -> dict[str, str]:
    for name, value in labels.items():
        if not LABEL_NAME.match(name) or name.startswith("__"):
            raise (where / name).error("expected a label name of letters, digits and _ (not starting with __)")
        if name in RESERVED_LABELS:
            raise (where / name).error(f"reserved label name; {', '.join(sorted(RESERVED_LABELS))} are set by driftline")
        if not isinstance(value, str):
            raise (where / name).error(f"expected a string, got {type(value).__name__} (quote it)")
    return dict(labels)


def _annotations(spec: AnnotationsSpec, condition: Condition, labels: Mapping[str, str],
                 where: KeyPath) -> dict[str, Template]:
    fields = (TEMPLATE_FIELDS | condition.fields) - ({"threshold"} if condition.threshold is None else set())
    label_names = condition.labels | set(labels)
    compiled = {}
    for key in ("summary", "description", "runbook_url", "dashboard_url"):
        try:
            compiled[key] = Template.compile(getattr(spec, key), fields, label_names)
        except ValueError as exc:
            raise (where / key).error(str(exc)) from None
    return compiled
