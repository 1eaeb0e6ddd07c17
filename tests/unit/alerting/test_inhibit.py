"""Inhibition with Alertmanager's semantics."""

from __future__ import annotations

from pathlib import Path

import yaml

from driftline.alerting.inhibit import Inhibitor
from driftline.alerting.matcher import alert_labels
from driftline.alerting.model import Severity, Status
from driftline.alerting.routing import RoutingConfig

from tests.unit.alerting.support import record

REPO = Path(__file__).resolve().parents[3]


def shipped() -> Inhibitor:
    return Inhibitor(RoutingConfig.load(REPO / "alert-rules").inhibit_rules)


def test_a_critical_alert_mutes_warnings_and_infos_of_the_same_model_version():
    inhibitor = shipped()
    inhibitor.observe(record("crit", severity=Severity.CRITICAL, rule="silent"))
    warning = alert_labels(record("w", rule="drift"))
    assert inhibitor.mutes(warning) == "crit"
    assert inhibitor.mutes(alert_labels(record("i", severity=Severity.INFO))) == "crit"
    assert inhibitor.mutes(alert_labels(record("e", severity=Severity.ERROR))) is None
    assert inhibitor.mutes(alert_labels(record("c2", severity=Severity.CRITICAL))) is None
    assert inhibitor.mutes(alert_labels(record("w2", model_version="v8"))) is None
    assert inhibitor.mutes(alert_labels(record("w3", model_id="other"))) is None
    inhibitor.observe(record("crit", Status.RESOLVED, severity=Severity.CRITICAL, rule="silent"))
    assert inhibitor.mutes(warning) is None


def inhibitor_for(rule: str) -> Inhibitor:
    config = RoutingConfig.from_mapping(yaml.safe_load(f"""
route: {{receiver: x}}
receivers: [{{name: x, type: webhook}}]
inhibit_rules: [{rule}]
"""), "routing.yaml")
    return Inhibitor(config.inhibit_rules)


def test_alerts_matching_both_sides_never_mute_each_other():
    inhibitor = inhibitor_for("{source_matchers: ['severity=~warning|critical'], "
                              "target_matchers: ['severity=~warning|critical'], equal: [model_id]}")
    inhibitor.add("a", {"severity": "warning", "model_id": "m"})
    assert inhibitor.mutes({"severity": "critical", "model_id": "m"}) is None


def test_a_missing_equal_label_is_equal_to_a_missing_one():
    inhibitor = inhibitor_for("{source_matchers: [rule=lag], target_matchers: [rule=drift], equal: [feature]}")
    inhibitor.add("lag", {"rule": "lag"})
    assert inhibitor.mutes({"rule": "drift"}) == "lag"
    assert inhibitor.mutes({"rule": "drift", "feature": "amount"}) is None


def test_state_round_trip():
    inhibitor = shipped()
    inhibitor.observe(record("crit", severity=Severity.CRITICAL))
    restored = Inhibitor.from_state(inhibitor.rules, inhibitor.to_state())
    assert restored.mutes(alert_labels(record("w"))) == "crit"
