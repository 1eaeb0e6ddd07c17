"""alert-rules/prometheus/: Prometheus alerting rules over driftline's metrics, for teams with their own Alertmanager.

promtool checks them and runs their unit tests (alert-rules/prometheus/tests/); the rest is read
statically: every alert has a `for`, a severity, a summary, a description and a runbook that exists,
driftline's own rules for drift, performance (per version, between versions, per segment), silence,
lag and invalid input (alert-rules/*.yaml) have Prometheus twins with the same threshold and severity,
the notifier and the workers are watched, and the expressions use only metrics and labels
docs/metrics.md documents.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.compose import fail_on
from tests.support.kafka import REPO
from tests.support.prometheus import (
    RULES_DIR,
    SEVERITIES,
    documented_metrics,
    driftline_rules,
    driftline_threshold,
    prometheus_alerts,
    prometheus_rule_files,
    prometheus_rule_tests,
    prometheus_threshold,
    seconds,
    selectors,
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool is not on PATH (scripts/install-prometheus installs Debian's prometheus package)")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, cwd=RULES_DIR)


def test_there_are_rule_files_and_unit_tests():
    assert prometheus_rule_files(), f"no *.yml rule files in {RULES_DIR}"
    assert prometheus_rule_tests(), f"no promtool unit tests in {RULES_DIR / 'tests'}"


def test_promtool_check_rules():
    result = promtool("check", "rules", *map(str, prometheus_rule_files()))
    assert result.returncode == 0, f"promtool check rules:\n{result.stdout}{result.stderr}"


def test_promtool_test_rules():
    result = promtool("test", "rules", *map(str, prometheus_rule_tests()))
    assert result.returncode == 0, f"promtool test rules:\n{result.stdout}{result.stderr}"


def test_unit_tests_load_only_the_shipped_rule_files():
    problems = []
    for path in prometheus_rule_tests():
        for rule_file in yaml.safe_load(path.read_text(encoding="utf-8")).get("rule_files") or []:
            target = (path.parent / rule_file).resolve()
            if target not in {p.resolve() for p in prometheus_rule_files()}:
                problems.append(f"{path.name}: rule_files {rule_file} is not one of {RULES_DIR}/*.yml")
    fail_on(problems, "promtool unit tests")


def test_every_alert_is_unit_tested_firing_and_quiet():
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in prometheus_rule_tests():
        for case in yaml.safe_load(path.read_text(encoding="utf-8")).get("tests") or []:
            for check in case.get("alert_rule_test") or []:
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    problems = []
    for alert in prometheus_alerts():
        name = alert["alert"]
        if name not in firing:
            problems.append(f"{name}: no promtool test expects it to fire")
        if name not in quiet:
            problems.append(f"{name}: no promtool test expects it to stay quiet")
    fail_on(problems, "promtool unit test coverage")


def test_alert_names_are_unique():
    names = [alert["alert"] for alert in prometheus_alerts()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_every_alert_has_for_severity_and_annotations():
    problems = []
    for alert in prometheus_alerts():
        where = f"{alert['_file']}: {alert['alert']}"
        if not alert.get("for") or seconds(alert["for"]) <= 0:
            problems.append(f"{where}: no `for` (one bad scrape must not page)")
        severity = (alert.get("labels") or {}).get("severity")
        if severity not in SEVERITIES:
            problems.append(f"{where}: severity {severity!r} is not one of {SEVERITIES}")
        annotations = alert.get("annotations") or {}
        for key in ("summary", "description", "runbook_url"):
            if not str(annotations.get(key) or "").strip():
                problems.append(f"{where}: annotation {key} is missing")
    fail_on(problems, "alerting rules")


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", path.read_text(encoding="utf-8"), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_runbook_urls_name_an_existing_section():
    problems = []
    for alert in prometheus_alerts():
        url = (alert.get("annotations") or {}).get("runbook_url", "")
        path, _, anchor = url.partition("#")
        target = REPO / path
        if not target.is_file():
            problems.append(f"{alert['alert']}: runbook {url}: {path} is not a file of the repository")
        elif anchor not in _anchors(target):
            problems.append(f"{alert['alert']}: runbook {url}: {path} has no heading #{anchor}")
    fail_on(problems, "runbooks")


# driftline's rules that a team alerting through Prometheus needs too: drift, performance drops (of a version,
# of one version against another, of a segment), a silent model, lag and invalid events. A rule added to
# alert-rules/*.yaml later gets its twin when it is added here.
TWINNED = {
    "feature_drift_detected", "feature_drift_strong", "prediction_drift", "multivariate_drift", "concept_drift",
    "performance_low_auc", "performance_low_accuracy", "estimated_performance_low", "performance_estimate_off",
    "version_underperforms", "version_accuracy_trails", "segment_accuracy_low",
    "model_silent", "labels_starved", "invalid_events_high", "consumer_lag_high",
}
# ... and what only Prometheus can see: the notifier failing, a worker down, a drift watch that never started.
PROMETHEUS_ONLY = {"DriftlineNotificationsFailing", "DriftlineNotificationsRetrying", "DriftlineWorkerDown",
                   "DriftlineDriftCalibrationFailed"}


def test_driftline_rules_have_prometheus_twins():
    missing_rules = sorted(TWINNED - set(driftline_rules()))
    assert not missing_rules, f"rules of TWINNED that alert-rules/*.yaml no longer has: {missing_rules}"
    mirrored = {(alert.get("labels") or {}).get("driftline_rule") for alert in prometheus_alerts()}
    missing = sorted(TWINNED - mirrored)
    assert not missing, f"driftline rules without a Prometheus alert (labels.driftline_rule): {missing}"


def test_prometheus_only_alerts_exist():
    missing = sorted(PROMETHEUS_ONLY - {alert["alert"] for alert in prometheus_alerts()})
    assert not missing, f"alerts only Prometheus can raise are missing: {missing}"


def test_twins_fire_at_the_same_threshold_with_the_same_severity():
    rules, problems = driftline_rules(), []
    for alert in prometheus_alerts():
        name = (alert.get("labels") or {}).get("driftline_rule")
        if name is None:
            continue
        if name not in rules:
            problems.append(f"{alert['alert']}: driftline_rule {name} is not a rule of alert-rules/*.yaml")
            continue
        rule = rules[name]
        if alert["labels"]["severity"] != rule["severity"]:
            problems.append(f"{alert['alert']}: severity {alert['labels']['severity']}, {name} has {rule['severity']}")
        op, value = prometheus_threshold(alert["expr"])
        windows = re.findall(r"\[(\w+)\]", alert["expr"])
        if "absent_for" in rule["condition"] and (op, value) == ("==", 0.0) and len(set(windows)) == 1:
            op, value = ">", seconds(windows[0])  # increase(...[6h]) == 0: nothing for 6 hours
        expected = driftline_threshold(rule).fire
        if value != expected:
            problems.append(f"{alert['alert']}: fires at {op} {value}, {name} ({rule['_file']}) at {expected}")
        direction = "below" if "below" in rule["condition"] else "above"
        if direction == "below" and op not in ("<", "<=") or direction == "above" and op not in (">", ">=", "=="):
            problems.append(f"{alert['alert']}: compares with {op}, but {name} fires {direction} its threshold")
    fail_on(problems, "Prometheus twins of driftline's rules")


def test_expressions_use_documented_metrics_and_labels():
    documented, problems = documented_metrics(), []
    for alert in prometheus_alerts():
        for selector in selectors(alert["expr"]):
            if selector.metric not in documented:
                problems.append(f"{alert['alert']}: {selector.metric} is not in docs/metrics.md")
                continue
            for matcher in selector.matchers:
                if matcher.label not in documented[selector.metric]:
                    problems.append(f"{alert['alert']}: {selector.metric} has no label {matcher.label} "
                                    f"(docs/metrics.md: {sorted(documented[selector.metric])})")
        groupings = re.findall(r"\bby\s*\(([^)]*)\)", alert["expr"])
        kept = {label.strip() for label in groupings[-1].split(",")} if groupings else None  # the last by (...)
        for label in re.findall(r"\$labels\.(\w+)", str(alert.get("annotations"))):
            if kept is not None and label not in kept:
                problems.append(f"{alert['alert']}: annotations use $labels.{label}, which the expression aggregates away")
    fail_on(problems, "metrics in rule expressions")
