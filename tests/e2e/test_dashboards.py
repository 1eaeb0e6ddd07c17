"""The dashboards against a real Prometheus scraping a real worker that watches a drifting stream.

Grafana is not packaged here, so its part is played by this test: it resolves each dashboard's
variables with their own label_values() queries, substitutes them (and Grafana's interval
variables) into every query of every panel and annotation, and asks Prometheus' HTTP API. A panel
whose query returns nothing would show "No data", so it fails the test. The same Prometheus loads
the compose stack's configuration and the rules of alert-rules/prometheus/, and must evaluate
every rule without error and see the drift alert coming. The worker computes quality per country,
and a challenger version runs beside the drifting model, so the panels of segments and of versions
compared have something to show; the comparison must show both versions. Nothing sleeps: every
wait polls with a deadline.
"""

from __future__ import annotations

import math
import shutil
import time
from typing import Any

import pytest

from tests.support.compose import dashboards
from tests.support.kafka import wait_until
from tests.support.prometheus import (
    CHALLENGER,
    DriftingStack,
    PrometheusProcess,
    Query,
    annotation_queries,
    dashboard_queries,
    grafana_builtins,
    prometheus_alerts,
    resolve_variables,
    substitute,
)

pytestmark = pytest.mark.e2e

DRIFTING_MODEL, CHAMPION = "fraud-detector", "v7"  # the demo producer's model that drifts and gets labels
DETAIL = "model-detail.json"
SCRAPE_SECONDS = 1.0
DEADLINE_SECONDS = 60.0  # from the first event; the drift comes at 8 s, everything shows within ~20 s


def test_every_panel_of_every_dashboard_shows_data_of_a_drifting_stream(broker, prefix, tmp_path):
    if shutil.which("prometheus") is None:
        pytest.skip("the prometheus binary is not on PATH (scripts/install-prometheus installs it)")
    with DriftingStack(broker.bootstrap_servers, prefix, tmp_path, scrape_interval_seconds=SCRAPE_SECONDS) as stack:
        prometheus = stack.prometheus
        assert prometheus is not None
        state: dict[str, Any] = {}

        def all_show_data() -> bool:
            state["empty"] = empty_queries(prometheus, time.time() - stack.started_at)
            return not state["empty"]

        try:
            wait_until(all_show_data, timeout=DEADLINE_SECONDS, interval=1.0, what="every dashboard query to return data")
        except AssertionError as exc:
            pytest.fail(f"{exc}\nqueries that return no data:\n  " + "\n  ".join(state.get("empty", ["(none checked)"]))
                        + "\n" + stack.logs())
        # the versions' comparison compares something: the challenger's version is there beside the champion's
        versions = wait_until(lambda: versions_compared(prometheus), timeout=30,
                              what=f"two versions of {DRIFTING_MODEL} with a realized accuracy\n{stack.logs()}")
        wait_until(lambda: rules_evaluated(prometheus), timeout=30,
                   what=f"every Prometheus rule evaluated without error\n{stack.logs()}")
        alerts = wait_until(lambda: drift_alert_coming(prometheus), timeout=30,
                            what=f"DriftlineFeatureDriftDetected pending or firing for {DRIFTING_MODEL}\n{stack.logs()}")
        wait_until(lambda: stack.smtp.received, timeout=30,
                   what=f"an alert email through deploy/routing.yaml's receiver\n{stack.logs()}")

    assert {a["labels"]["feature"] for a in alerts} & {"amount", "country"}, alerts
    assert {CHAMPION, CHALLENGER[1]} <= versions, versions
    assert any(DRIFTING_MODEL in mail.message["Subject"] for mail in stack.smtp.received), [
        mail.message["Subject"] for mail in stack.smtp.received]


def empty_queries(prometheus: PrometheusProcess, elapsed: float) -> list[str]:
    """Every variable, panel and annotation query of every dashboard that returns no finite value now."""
    builtins = grafana_builtins(SCRAPE_SECONDS, max(elapsed, 4 * SCRAPE_SECONDS))
    empty = []
    for name, dashboard in dashboards().items():
        values, problems = resolve_variables(prometheus, dashboard, {"model": DRIFTING_MODEL})
        empty.extend(f"{name} / variable {problem}" for problem in problems)
        if problems:
            continue
        values.update(builtins)
        queries = dashboard_queries(name, dashboard) + [
            Query(name, f"annotation {title}", "annotation", "-", expr, True, "") for title, expr in annotation_queries(dashboard)]
        for query in queries:
            expr = substitute(query.expr, values)
            if "$" in expr:
                empty.append(f"{query.where}: a variable is left after substitution: {expr}")
            elif not any(math.isfinite(float(sample["value"][1])) for sample in prometheus.query(expr)):
                empty.append(f"{query.where}: {expr}")
    return empty


def versions_compared(prometheus: PrometheusProcess) -> set[str]:
    """The versions of the model detail's $version for the drifting model whose gap to the best is there; if two or more."""
    dashboard = dashboards()[DETAIL]
    values, problems = resolve_variables(prometheus, dashboard, {"model": DRIFTING_MODEL})
    assert not problems, problems
    gaps = [q for q in dashboard_queries(DETAIL, dashboard) if "group_right" in q.expr]
    assert gaps, f"{DETAIL} has no query comparing versions (group_right)"
    shown = {sample["metric"].get("model_version", "") for sample in prometheus.query(substitute(gaps[0].expr, values))}
    return shown if len(shown) >= 2 else set()


def rules_evaluated(prometheus: PrometheusProcess) -> bool:
    """All rules of alert-rules/prometheus/ are loaded, have been evaluated, and none failed."""
    rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
    names = {rule["name"] for rule in rules}
    missing = {alert["alert"] for alert in prometheus_alerts()} - names
    assert not missing, f"Prometheus did not load {sorted(missing)}"
    broken = [f"{rule['name']}: {rule.get('lastError')}" for rule in rules if rule.get("health") == "err"]
    assert not broken, f"rules failing to evaluate: {broken}"
    return all(rule.get("health") == "ok" for rule in rules)


def drift_alert_coming(prometheus: PrometheusProcess) -> list[dict[str, Any]]:
    return [alert for alert in prometheus.api("alerts")["alerts"]
            if alert["labels"].get("alertname") == "DriftlineFeatureDriftDetected"
            and alert["labels"].get("model_id") == DRIFTING_MODEL and alert["state"] in ("pending", "firing")]
