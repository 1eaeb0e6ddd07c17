"""Rule files: loading, and every validation error naming the file, the dotted key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.alerting.condition import (
    AbsentCondition, CompareVersionsCondition, DetectorCondition, DiffersCondition, ValueCondition,
)
from driftline.alerting.duration import Window
from driftline.alerting.model import Severity
from driftline.alerting.routing import RoutingConfig
from driftline.alerting.ruleset import RuleSet
from driftline.error import ConfigError

from tests.unit.alerting.support import assert_load_error, rule_yaml, ruleset

REPO = Path(__file__).resolve().parents[3]

FULL = """
rules:
  - name: strong_drift
    select:
      value: feature_drift
      matchers: [method=psi, 'feature=~amount|age']
    condition: {above: 0.25}
    for: 5m
    resolve: {below: 0.15, for: 1h}
    severity: warning
    labels: {team: risk}
    annotations:
      summary: "PSI {value:.2f} > {threshold} on {labels.feature} ({labels.team})"
      description: "{rule} is {severity}"
      runbook_url: https://runbooks.example.com/drift
"""


def test_a_full_rule_loads():
    [rule] = ruleset(FULL)
    assert rule.name == "strong_drift" and rule.severity is Severity.WARNING
    assert isinstance(rule.condition, ValueCondition) and rule.condition.fire.op == "above"
    assert rule.timing.fire_for == Window(seconds=300) and rule.timing.resolve_for == Window(seconds=3600)
    assert rule.timing.resolve is not None and rule.timing.resolve.limit == 0.15
    assert rule.labels == {"team": "risk"}
    assert rule.annotations["runbook_url"].text == "https://runbooks.example.com/drift"


@pytest.mark.parametrize(("condition", "kind"), [
    ({"above": 1}, ValueCondition),
    ({"below": 1}, ValueCondition),
    ({"detector_fired": True}, DetectorCondition),
    ({"absent_for": "10m"}, AbsentCondition),
])
def test_each_single_value_condition_loads(condition, kind):
    value = "drift_detected" if "detector_fired" in condition else "feature_drift"
    [rule] = ruleset(rule_yaml(select={"value": value}, condition=condition))
    assert type(rule.condition) is kind


def test_differs_and_compare_versions_name_their_values():
    [differs] = ruleset(rule_yaml(select={"matchers": ["metric=auc"]}, condition={
        "differs": {"estimate": "estimated_performance", "realized": "model_performance", "by": 0.05}}))
    assert isinstance(differs.condition, DiffersCondition) and differs.condition.by == 0.05
    [compare] = ruleset(rule_yaml(condition={"compare_versions": {"metric": "model_performance", "by": 0.1}}))
    assert isinstance(compare.condition, CompareVersionsCondition) and compare.condition.higher_is_better
    assert (compare.condition.baseline, compare.condition.alpha) == (None, None)
    [champion] = ruleset(rule_yaml(condition={"compare_versions": {
        "metric": "segment_performance", "by": 0.1, "baseline": "v1", "alpha": 0.01}}))
    assert (champion.condition.baseline, champion.condition.alpha) == ("v1", 0.01)  # type: ignore[attr-defined]


def test_for_in_events():
    [rule] = ruleset(rule_yaml(select={"value": "feature_drift"}, condition={"above": 1}, **{"for": "500 events"}))
    assert rule.timing.fire_for == Window(events=500)


def rule(**fields):
    base = {"name": "r", "select": {"value": "feature_drift"}, "condition": {"above": 0.25},
            "severity": "warning", "annotations": {"summary": "s"}}
    base.update(fields)
    return {"rules": [base]}


@pytest.mark.parametrize(("data", "message"), [
    (rule(condition={"above": "high"}), "rules.0.condition.above: expected float, got str"),
    (rule(condtion={"above": 1}), "rules.0.condtion: unknown key"),
    ({"rules": [{"name": "r", "condition": {"above": 1}, "annotations": {"summary": "s"}}]},
     "rules.0.severity: required key is missing"),
    (rule(severity="fatal"), "rules.0.severity: invalid enum value 'fatal'; expected one of critical, error, warning, info"),
    (rule(name="has space"), "rules.0.name: expected str matching regex"),
    (rule(annotations={}), "rules.0.annotations.summary: required key is missing"),
    (rule(condition={}), "rules.0.condition: expected exactly one of above, below, detector_fired, differs, "
                         "absent_for, compare_versions; got none"),
    (rule(condition={"above": 1, "below": 0}), "rules.0.condition: expected exactly one of"),
    (rule(select={"value": "feature_drfit"}), "rules.0.select.value: unknown value name 'feature_drfit'; expected one of"),
    (rule(select={}), "rules.0.select.value: required key is missing"),
    (rule(select={"value": "feature_drift", "matchers": ["method"]}), "rules.0.select.matchers.0: expected a matcher like"),
    (rule(select={"value": "feature_drift", "matchers": ["feature=~("]}),
     "rules.0.select.matchers.0: invalid regular expression"),
    (rule(select={"value": "feature_drift", "matchers": ["method=psi", "detector=ks"]}),
     "rules.0.select.matchers.1: label 'detector' is not a label of this value; expected one of feature, method"),
    (rule(**{"for": "5 minutes"}), "rules.0.for: expected a duration like 30s, 5m or 1h30m, or a count like 500 events; "
                                   "got '5 minutes'"),
    (rule(**{"for": 300}), "rules.0.for: expected a duration"),
    (rule(resolve={"above": 0.3}), "rules.0.resolve.above: expected below: the alert fires above 0.25"),
    (rule(resolve={"below": 0.3}), "rules.0.resolve.below: expected at most the firing threshold 0.25, else the alert flaps"),
    (rule(condition={"below": 0.7}, resolve={"above": 0.6}), "rules.0.resolve.above: expected at least the firing threshold 0.7"),
    (rule(resolve={"below": 0.1, "above": 0.3}), "rules.0.resolve: expected at most one of above, below"),
    (rule(resolve={"for": "soon"}), "rules.0.resolve.for: expected a duration"),
    (rule(select={"value": "drift_detected"}, condition={"detector_fired": False}),
     "rules.0.condition.detector_fired: expected true"),
    (rule(select={"value": "drift_detected"}, condition={"detector_fired": True}, resolve={"below": 0.5}),
     "rules.0.resolve.below: no threshold here"),
    (rule(select={"value": "event_rate"}, condition={"absent_for": "ten minutes"}),
     "rules.0.condition.absent_for: expected a duration like 30s"),
    (rule(select={"value": "event_rate"}, condition={"absent_for": "10m"}, **{"for": "5m"}),
     "rules.0.for: not allowed with absent_for"),
    (rule(condition={"differs": {"estimate": "estimated_performance", "realized": "model_performance", "by": 0.1}}),
     "rules.0.select.value: not used with differs"),
    (rule(select={}, condition={"differs": {"estimate": "estimate", "realized": "model_performance", "by": 0.1}}),
     "rules.0.condition.differs.estimate: unknown value name 'estimate'"),
    (rule(select={}, condition={"differs": {"estimate": "estimated_performance", "realized": "model_performance", "by": -1}}),
     "rules.0.condition.differs.by: expected float >= 0"),
    (rule(select={}, condition={"compare_versions": {"metric": "model_performance"}}),
     "rules.0.condition.compare_versions.by: required key is missing"),
    (rule(select={}, condition={"compare_versions": {"metric": "model_performance", "by": 0.1, "alpha": 1.5}}),
     "rules.0.condition.compare_versions.alpha: expected float < 1"),
    (rule(select={}, condition={"compare_versions": {"metric": "model_performance", "by": 0.1, "baseline": ""}}),
     "rules.0.condition.compare_versions.baseline: expected str of length >= 1"),
    (rule(select={}, condition={"compare_versions": {"metric": "model_performance", "by": 0.1}},
          annotations={"summary": "{p_value:.2f} {labels.segment}"}),
     "rules.0.annotations.summary: {labels.segment}: label 'segment' is not among this rule's labels"),
    (rule(labels={"severity": "page"}), "rules.0.labels.severity: reserved label name"),
    (rule(labels={"__x": "1"}), "rules.0.labels.__x: expected a label name"),
    (rule(labels={"tier": 1}), "rules.0.labels.tier: expected a string, got int"),
    (rule(annotations={"summary": "PSI {valu}"}), "rules.0.annotations.summary: {valu}: unknown field 'valu'; expected one of "
                                                  "rule, severity, threshold, value or labels.NAME"),
    (rule(annotations={"summary": "s", "description": "on {labels.detector}"}),
     "rules.0.annotations.description: {labels.detector}: label 'detector' is not among this rule's labels"),
    (rule(select={"value": "drift_detected"}, condition={"detector_fired": True},
          annotations={"summary": "over {threshold}"}), "rules.0.annotations.summary: {threshold}: unknown field"),
    (rule(annotations={"summary": "{value.__init__}"}), "rules.0.annotations.summary: {value.__init__}: expected {field}"),
    (rule(annotations={"summary": "{labels.__class__}"}), "rules.0.annotations.summary: {labels.__class__}: expected {field}"),
    (rule(annotations={"summary": "{labels[model_id]}"}), "rules.0.annotations.summary: {labels[model_id]}: expected {field}"),
    (rule(annotations={"summary": "{value!r}"}), "rules.0.annotations.summary: {value!r}: expected {field}"),
    (rule(annotations={"summary": "{labels.feature:>10}"}), "a format spec is allowed on numbers only"),
    (rule(annotations={"summary": "{value:{threshold}}"}), "a format spec is allowed on numbers only"),
    (rule(annotations={"summary": "unbalanced {"}), "rules.0.annotations.summary: invalid template"),
    ({"rules": "none"}, "rules: expected array, got str"),
    ({"rulez": []}, "rulez: unknown key"),
    ([1, 2], "expected a mapping at the top level, got list"),
    (None, "expected a mapping at the top level, got nothing"),
])
def test_errors_name_the_file_the_key_and_what_was_expected(tmp_path, data, message):
    assert_load_error(RuleSet.load, tmp_path / "drift.yaml", data, message)


def test_a_directory_loads_every_rule_file_but_routing_and_subdirectories(tmp_path):
    (tmp_path / "a.yaml").write_text(rule_yaml(name="a", select={"value": "feature_drift"}, condition={"above": 1}))
    (tmp_path / "b.yml").write_text(rule_yaml(name="b", select={"value": "feature_drift"}, condition={"above": 1}))
    (tmp_path / "routing.yaml").write_text("route: {receiver: x}\n")
    (tmp_path / "prometheus").mkdir()
    (tmp_path / "prometheus" / "c.yaml").write_text("groups: []\n")
    assert [r.name for r in RuleSet.load(tmp_path)] == ["a", "b"]


def test_duplicate_rule_names_across_files_name_both(tmp_path):
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(rule_yaml(name="same", select={"value": "feature_drift"}, condition={"above": 1}))
    with pytest.raises(ConfigError, match=rf"^{tmp_path}/b.yaml: rules.0.name: duplicate rule name 'same' "
                                         rf"\(first in {tmp_path}/a.yaml: rules.0\)"):
        RuleSet.load(tmp_path)


def test_yaml_syntax_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("rules:\n  - [1,\n")
    with pytest.raises(ConfigError, match=r"bad.yaml \(line \d+, column \d+\): invalid YAML"):
        RuleSet.load(path)


def test_a_missing_path_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file or directory"):
        RuleSet.load(tmp_path / "nope")


def test_the_shipped_rules_and_routing_load():
    rules = RuleSet.load(REPO / "alert-rules")
    names = {rule.name for rule in rules}
    assert {"feature_drift_detected", "feature_drift_strong", "prediction_drift", "multivariate_drift",
            "concept_drift", "performance_low_auc", "estimated_performance_low", "performance_estimate_off",
            "model_silent", "labels_starved", "invalid_events_high", "consumer_lag_high"} <= names
    routing = RoutingConfig.load(REPO / "alert-rules")
    assert set(routing.receivers) == {"pagerduty", "slack", "email", "email-digest"}
    assert routing.inhibit_rules


def test_the_shipped_value_names_are_documented():
    doc = (REPO / "docs" / "alerting.md").read_text()
    for rule in RuleSet.load(REPO / "alert-rules"):
        for name in _value_names(rule.condition):
            assert f"`{name}`" in doc, f"{name} (rule {rule.name}) is not in docs/alerting.md"


def _value_names(condition):
    if isinstance(condition, DiffersCondition):
        return [condition.estimate, condition.realized]
    if isinstance(condition, CompareVersionsCondition):
        return [condition.metric]
    return [condition.selector.value]
