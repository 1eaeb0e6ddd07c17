"""The Grafana dashboards of grafana/dashboards/, read statically.

The data source decision, tested here precisely: every panel, query, variable and annotation
refers to the data source as ``{"type": "prometheus", "uid": "${datasource}"}``, and the
dashboard's ``datasource`` variable (type datasource, Prometheus only) defaults to the uid of the
data source grafana/provisioning/datasources/ provisions. So the dashboards work on first start
of the compose stack, and in any other Grafana by picking a Prometheus in the variable.

Thresholds are where the alert rules fire: a query that shows a value some rule watches (PSI, ROC
AUC, lag, ...) has threshold steps at that rule's fire value (and, where it has one, its resolve
value), red on the firing side, and at no other value; a query no rule watches has only the base
step. A count of the values where a rule fires (segments below their accuracy threshold, versions
trailing their best) compares at that rule's threshold and turns red at one. The rules are read from
alert-rules/*.yaml and alert-rules/prometheus/*.yml, not copied here.
Whether every query returns data is tests/e2e/test_dashboards.py's job.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from tests.support.compose import (
    DASHBOARDS_DIR,
    dashboards,
    data_panels,
    fail_on,
    field_option,
    prometheus_datasource,
    threshold_steps,
    variable_query,
    variables,
)
from tests.support.kafka import REPO
from tests.support.prometheus import (
    Threshold,
    annotation_queries,
    dashboard_queries,
    documented_metrics,
    driftline_rules,
    driftline_threshold,
    pins,
    prometheus_alerts,
    prometheus_threshold,
    selectors,
)

FLEET, DETAIL = "fleet-overview.json", "model-detail.json"
UIDS = {FLEET: "driftline-fleet", DETAIL: "driftline-model"}  # stable: links and bookmarks use them
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
DEMO_MODELS = ("fraud-detector", "churn-model")  # the demo's models must not leak into a dashboard
PER_SECOND_UNITS = {"cps", "ops", "reqps", "rps", "wps", "iops"}
KNOWN_UNITS = PER_SECOND_UNITS | {"none", "short", "percent", "percentunit", "s", "ms", "µs", "ns", "m", "h", "d",
                                  "dtdurations", "dtdurationms", "bytes", "decbytes", "Bps", "locale", "sci",
                                  "dateTimeAsIso", "dateTimeFromNow", "cpm", "opm"}
CUSTOM_UNIT = re.compile(r"^(count|suffix|prefix|si):\S.*$")


@dataclass(frozen=True)
class Link:
    """A value on a dashboard that an alert rule watches: the thresholds that query must show."""

    metric: str
    pinned: dict[str, str] = field(default_factory=dict)  # the selector must restrict these labels to these patterns
    rule: str | None = None  # driftline's rule (alert-rules/*.yaml) whose thresholds apply
    alert: str | None = None  # its twin in alert-rules/prometheus/ (or the alert of a fixed threshold)
    fixed: float | None = None  # a threshold by meaning, for counts: one alert firing, one failed notification
    applies: Callable[[str], bool] = lambda expr: True
    counts: str | None = None  # a count of the values where this rule fires: the query compares at its threshold

    def threshold(self) -> Threshold:
        if self.rule is not None:
            return driftline_threshold(driftline_rules()[self.rule])
        assert self.fixed is not None
        return Threshold(self.fixed)

    def higher_is_worse(self) -> bool:
        return self.rule is None or "below" not in driftline_rules()[self.rule]["condition"]


def _is_ratio(expr: str) -> bool:
    return "/" in expr


def _compares_versions(expr: str) -> bool:
    """A version against the others of its model: ``max by (model_id) (x) - on (model_id) group_right ...``."""
    return "group_right" in expr or "group_left" in expr


def _counts(expr: str) -> bool:
    """How many series are beyond a threshold: ``count(... < 0.75)``, not the values themselves."""
    return re.match(r"\s*count\b", expr) is not None


def _value(expr: str) -> bool:
    return not _compares_versions(expr) and not _counts(expr)


LINKS = [
    Link("driftline_feature_drift", {"method": "psi"}, "feature_drift_strong", "DriftlineFeatureDriftStrong"),
    Link("driftline_feature_drift", {"method": "cusum.*"}, "feature_drift_detected", "DriftlineFeatureDriftDetected"),
    Link("driftline_drift_score", {}, "feature_drift_detected", "DriftlineFeatureDriftDetected"),
    Link("driftline_drift_detected", {}, "feature_drift_detected", "DriftlineFeatureDriftDetected"),
    Link("driftline_prediction_drift", {"method": "psi"}, "prediction_drift", "DriftlinePredictionDrift"),
    Link("driftline_multivariate_drift", {"method": "cusum_pca"}, "multivariate_drift", "DriftlineMultivariateDrift"),
    Link("driftline_model_performance", {"metric": "roc_auc"}, "performance_low_auc", "DriftlinePerformanceLowAUC",
         applies=_value),
    Link("driftline_model_performance", {"metric": "accuracy"}, "performance_low_accuracy",
         "DriftlinePerformanceLowAccuracy", applies=_value),
    # how far a version trails the best of its model, and how many versions trail by more than the rule allows
    Link("driftline_model_performance", {"metric": "accuracy"}, "version_accuracy_trails",
         "DriftlineVersionAccuracyTrails", applies=lambda expr: _compares_versions(expr) and not _counts(expr)),
    Link("driftline_model_performance", {"metric": "accuracy"}, fixed=1, counts="version_accuracy_trails",
         applies=lambda expr: _compares_versions(expr) and _counts(expr)),
    Link("driftline_segment_performance", {"metric": "accuracy"}, "segment_accuracy_low", "DriftlineSegmentAccuracyLow",
         applies=_value),
    Link("driftline_segment_performance", {"metric": "accuracy"}, fixed=1, counts="segment_accuracy_low",
         applies=_counts),
    Link("driftline_estimated_performance", {"metric": "roc_auc|accuracy"}, "estimated_performance_low",
         "DriftlineEstimatedPerformanceLow"),
    Link("driftline_performance_estimate_error", {"metric": "roc_auc|accuracy"}, "performance_estimate_off",
         "DriftlinePerformanceEstimateOff"),
    Link("driftline_event_lag_seconds", {}, "consumer_lag_high", "DriftlineConsumerLagHigh"),
    Link("driftline_events_invalid_total", {}, "invalid_events_high", "DriftlineInvalidEventsHigh", applies=_is_ratio),
    Link("driftline_last_event_timestamp_seconds", {}, "model_silent", "DriftlineModelSilent",
         applies=lambda expr: "time()" in expr),
    Link("driftline_alerts_firing", {}, fixed=1),
    Link("driftline_notifications_total", {"outcome": "failure"}, alert="DriftlineNotificationsFailing", fixed=1),
]


def links_of(expr: str) -> list[Link]:
    return [link for link in LINKS for sel in selectors(expr)
            if sel.metric == link.metric and link.applies(expr)
            and all(pins(sel, label, pattern) for label, pattern in link.pinned.items())]


def queries() -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any], str]]:
    """(dashboard, panel, target, where) of every query."""
    return [(dash, panel, target, f"{name} / {panel.get('title')} / {target.get('refId')}")
            for name, dash in dashboards().items() for panel in data_panels(dash) for target in panel.get("targets") or []]


# ================================================================ files, uids, links


def test_the_two_dashboards_exist_with_their_stable_uids():
    found = {name: dash.get("uid") for name, dash in dashboards().items()}
    assert found == UIDS, f"{DASHBOARDS_DIR}: expected {UIDS}, found {found}"


def test_uids_titles_and_panel_ids_are_unique():
    problems = []
    titles = [dash.get("title") for dash in dashboards().values()]
    if len(set(titles)) != len(titles):
        problems.append(f"dashboard titles repeat: {titles}")
    for name, dash in dashboards().items():
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dash.get("uid") or ""):
            problems.append(f"{name}: uid {dash.get('uid')!r} is not 1-40 of [A-Za-z0-9_-]")
        ids = [panel.get("id") for panel in dash.get("panels") or []] + [
            p.get("id") for row in dash.get("panels") or [] for p in row.get("panels") or []]
        if None in ids or len(set(ids)) != len(ids):
            problems.append(f"{name}: panel ids missing or repeated: {ids}")
        if not str(dash.get("description") or "").strip():
            problems.append(f"{name}: no dashboard description")
    fail_on(problems, "dashboards")


def test_links_between_dashboards_name_existing_uids():
    uids = set(UIDS.values())
    text = json.dumps(list(dashboards().values()))
    targets = set(re.findall(r"/d/([A-Za-z0-9_-]+)", text))
    assert targets, "the fleet overview links no model detail"
    assert targets <= uids, f"links to unknown dashboards: {sorted(targets - uids)}"


def test_panels_are_laid_out_on_the_grid_without_overlap():
    problems = []
    for name, dash in dashboards().items():
        taken: dict[tuple[int, int], str] = {}
        for panel in dash.get("panels") or []:
            pos = panel.get("gridPos") or {}
            x, y, w, h = (pos.get(k, -1) for k in ("x", "y", "w", "h"))
            if min(x, y) < 0 or w < 1 or h < 1 or x + w > 24:
                problems.append(f"{name} / {panel.get('title')}: gridPos {pos} is off the 24-column grid")
                continue
            for cell in ((cx, cy) for cx in range(x, x + w) for cy in range(y, y + h)):
                if cell in taken:
                    problems.append(f"{name} / {panel.get('title')} overlaps {taken[cell]}")
                    break
                taken[cell] = panel.get("title")
    fail_on(problems, "panel layout")


# ================================================================ data source and variables


def test_every_reference_to_the_data_source_is_the_variable_whose_default_is_the_provisioned_uid():
    uid, problems = prometheus_datasource()["uid"], []
    for name, dash in dashboards().items():
        var = variables(dash).get("datasource")
        if var is None or var.get("type") != "datasource" or var.get("query") != "prometheus":
            problems.append(f"{name}: no variable `datasource` of type datasource for Prometheus: {var}")
        elif (var.get("current") or {}).get("value") != uid:
            problems.append(f"{name}: $datasource defaults to {(var.get('current') or {}).get('value')!r}, "
                            f"not the provisioned uid {uid!r}")
        refs = [(f"panel {p.get('title')}", p.get("datasource")) for p in data_panels(dash)]
        refs += [(f"query {p.get('title')}/{t.get('refId')}", t.get("datasource"))
                 for p in data_panels(dash) for t in p.get("targets") or []]
        refs += [(f"variable {v['name']}", v.get("datasource")) for v in variables(dash).values() if v["type"] == "query"]
        refs += [(f"annotation {a.get('name')}", a.get("datasource"))
                 for a in (dash.get("annotations") or {}).get("list") or [] if a.get("expr")]
        problems.extend(f"{name}: {what} uses data source {ref}, not {DATASOURCE_REF}"
                        for what, ref in refs if ref != DATASOURCE_REF)
    fail_on(problems, "data source references")


@pytest.mark.parametrize("name", [FLEET, DETAIL])
def test_model_and_version_variables_come_from_label_values(name):
    vars_ = variables(dashboards()[name])
    problems = []
    for var_name, label in (("model", "model_id"), ("version", "model_version")):
        var = vars_.get(var_name)
        query = variable_query(var) if var else ""
        if var is None or var.get("type") != "query":
            problems.append(f"no query variable ${var_name}")
        elif not re.fullmatch(rf"label_values\(driftline_\w+\{{[^}}]*\}},\s*{label}\)", query):
            problems.append(f"${var_name}: {query!r} is not label_values(<driftline metric>{{...}}, {label})")
        elif var.get("definition", query) != query:
            problems.append(f"${var_name}: its definition {var['definition']!r} is not the query it runs {query!r}")
    if "version" in vars_ and "$model" not in variable_query(vars_["version"]):
        problems.append("$version does not depend on $model")
    if not vars_.get("version", {}).get("multi"):
        problems.append("$version is not multi-value (versions are compared side by side)")
    fail_on(problems, f"{name} variables")


def test_the_fleet_overview_shows_every_model_by_default():
    vars_ = variables(dashboards()[FLEET])
    for name in ("model", "version"):
        var = vars_[name]
        assert var.get("multi") and var.get("includeAll") and (var.get("current") or {}).get("value") == ["$__all"], (
            f"${name} of the fleet overview must be multi-value with All selected by default")


def test_no_hard_coded_model_names_or_versions():
    documented, problems = documented_metrics(), []
    for name, dash in dashboards().items():
        text = json.dumps(dash)
        problems.extend(f"{name}: names the model {model!r}" for model in DEMO_MODELS if model in text)
        exprs = [(q.where, q.expr) for q in dashboard_queries(name, dash)]
        exprs += [(f"{name} / annotation {title}", expr) for title, expr in annotation_queries(dash)]
        for where, expr in exprs:
            found = selectors(expr)
            if any("model_id" not in documented.get(sel.metric, {"model_id"}) for sel in found):
                continue  # a fleet-wide value (e.g. invalid / all events): filtering a part of it by model would skew it
            for sel in found:
                labels = documented.get(sel.metric, frozenset())
                wants = [("model_id", "$model")]
                if "model_version" in labels and not any(m.label == "kind" and m.value == "label" for m in sel.matchers):
                    wants.append(("model_version", "$version"))  # labels carry no version until joined
                for label, variable in wants:
                    if label not in labels:
                        continue
                    matchers = sel.on(label)
                    if [(m.op in ("=", "=~"), m.value) for m in matchers] != [(True, variable)]:
                        problems.append(f"{where}: {sel.metric} must filter {label} by {variable} alone, "
                                        f"has {[f'{m.op}{m.value}' for m in matchers]}")
    fail_on(problems, "model filters")


# ================================================================ panels: metrics, units, descriptions


def test_queries_use_documented_metrics_and_labels():
    documented, problems = documented_metrics(), []
    for name, dash in dashboards().items():
        exprs = [(q.where, q.expr) for q in dashboard_queries(name, dash)]
        exprs += [(f"{name} / annotation {t}", e) for t, e in annotation_queries(dash)]
        exprs += [(f"{name} / variable {v}", variable_query(var)) for v, var in variables(dash).items()
                  if var["type"] == "query"]
        for where, expr in exprs:
            found = selectors(expr)
            if not found and where.count("/") == 2:
                problems.append(f"{where}: no driftline metric in {expr!r}")
            for sel in found:
                if sel.metric not in documented:
                    problems.append(f"{where}: {sel.metric} is not in docs/metrics.md")
                    continue
                for matcher in sel.matchers:
                    if matcher.label not in documented[sel.metric]:
                        problems.append(f"{where}: {sel.metric} has no label {matcher.label}")
    fail_on(problems, "metrics in dashboards")


def test_every_panel_has_a_description_a_title_and_queries():
    problems = []
    for name, dash in dashboards().items():
        for panel in data_panels(dash):
            title = panel.get("title") or ""
            if not title.strip():
                problems.append(f"{name}: panel {panel.get('id')} has no title")
            if len(str(panel.get("description") or "").strip()) < 30:
                problems.append(f"{name} / {title}: no description (or a few words only)")
            if not panel.get("targets"):
                problems.append(f"{name} / {title}: no queries")
            for target in panel.get("targets") or []:
                if not target.get("expr", "").strip() or not target.get("refId"):
                    problems.append(f"{name} / {title}: a query without expr or refId: {target}")
    fail_on(problems, "panels")


def _unit_problem(unit: Any, expr: str) -> str | None:
    if not isinstance(unit, str) or not (unit in KNOWN_UNITS or CUSTOM_UNIT.match(unit)):
        return f"unit {unit!r} is not a Grafana unit"
    per_second = unit in PER_SECOND_UNITS or unit.endswith("/s")
    if "histogram_quantile" in expr and "_seconds_bucket" in expr:
        return None if unit == "s" else f"a quantile of seconds shown in {unit!r}, not s"
    if re.search(r"\b(i?rate)\(", expr) and _is_ratio(expr):
        return None if unit in ("percentunit", "percent", "none") else f"a ratio shown in {unit!r}"
    if re.search(r"\b(i?rate)\(", expr):
        return None if per_second else f"a rate shown in {unit!r}, not a per-second unit"
    if per_second:
        return f"{unit!r} is per second, but the query is no rate()"
    if re.search(r"driftline_\w+_seconds\b", expr) and "timestamp" not in expr or "time() -" in expr:
        return None if unit == "s" else f"seconds shown in {unit!r}"
    if re.search(r"driftline_\w+_ratio\b", expr):
        return None if unit == "percentunit" else f"a ratio 0..1 shown in {unit!r}, not percentunit"
    return None


def test_every_query_has_a_unit_that_fits_it():
    problems = []
    for _, panel, target, where in queries():
        problem = _unit_problem(field_option(panel, target["refId"], "unit"), target.get("expr", ""))
        if problem:
            problems.append(f"{where}: {problem}")
    fail_on(problems, "units")


# ================================================================ thresholds: those of the alert rules


def _color_at(steps: list[tuple[float | None, str]], value: float) -> str:
    color = steps[0][1]
    for step_value, step_color in steps[1:]:
        if step_value is not None and value >= step_value:
            color = step_color
    return color


def test_every_query_has_thresholds_with_a_base_step():
    problems = []
    for _, panel, target, where in queries():
        steps = threshold_steps(field_option(panel, target["refId"], "thresholds"))
        if not steps or steps[0][0] is not None:
            problems.append(f"{where}: thresholds need a base step (value null) first, have {steps}")
        elif [v for v, _ in steps[1:]] != sorted(v for v, _ in steps[1:]):
            problems.append(f"{where}: threshold steps are not in ascending order: {steps}")
    fail_on(problems, "thresholds")


def test_thresholds_are_those_of_the_alert_rules():
    problems = []
    for _, panel, target, where in queries():
        steps = threshold_steps(field_option(panel, target["refId"], "thresholds"))
        values = {v for v, _ in steps[1:]}
        links = links_of(target.get("expr", ""))
        allowed = set().union(*(link.threshold().values for link in links)) if links else set()
        if values - allowed:
            rules = [link.rule or link.alert or link.metric for link in links] or ["no rule"]
            problems.append(f"{where}: thresholds {sorted(values - allowed)} are not those of {rules} ({sorted(allowed)})")
        for link in links:
            fire = link.threshold().fire
            if fire not in values:
                problems.append(f"{where}: no threshold at {fire}, where {link.rule or link.alert} fires")
                continue
            below, above = _color_at(steps, fire - 1e-9), _color_at(steps, fire + 1e-9)
            firing, quiet = (above, below) if link.higher_is_worse() else (below, above)
            if "red" not in firing or "red" in quiet:
                problems.append(f"{where}: at {fire} ({link.rule or link.alert}) the colour should turn red on the "
                                f"firing side: {below} below, {above} above")
    fail_on(problems, "thresholds against the alert rules")


def test_linked_rules_exist_and_their_prometheus_twins_fire_at_the_same_value():
    alerts = {alert["alert"]: alert for alert in prometheus_alerts()}
    problems = []
    for link in LINKS:
        if link.rule is not None and link.rule not in driftline_rules():
            problems.append(f"{link.metric}: no driftline rule {link.rule}")
            continue
        if link.alert is None:
            continue
        if link.alert not in alerts:
            problems.append(f"{link.metric}: no Prometheus alert {link.alert}")
            continue
        op, value = prometheus_threshold(alerts[link.alert]["expr"])
        if link.rule is not None and value != link.threshold().fire:
            problems.append(f"{link.alert} fires at {op} {value}, the dashboards at {link.threshold().fire} ({link.rule})")
        if link.fixed is not None and (op, value) != (">", link.fixed - 1):
            problems.append(f"{link.alert} fires at {op} {value}; the dashboards' threshold {link.fixed} is its first count")
    fail_on(problems, "links of dashboard thresholds to rules")


def test_counts_compare_at_the_threshold_of_their_rule():
    rules, problems, checked = driftline_rules(), [], 0
    for _, _, target, where in queries():
        expr = target.get("expr", "")
        for name in {link.counts for link in links_of(expr) if link.counts}:
            if name not in rules:
                problems.append(f"{where}: counts where {name} fires, but alert-rules/*.yaml has no rule {name}")
                continue
            checked += 1
            fire, op = driftline_threshold(rules[name]).fire, "<" if "below" in rules[name]["condition"] else ">"
            comparisons = [(o, float(v)) for o, v in re.findall(r"(==|!=|>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)", expr)]
            if not comparisons or any(c != (op, fire) for c in comparisons):
                problems.append(f"{where}: counts where {name} fires ({op} {fire}), but compares {comparisons}")
    fail_on(problems, "counts of values beyond a rule's threshold")
    assert checked, "no query counts values beyond a rule's threshold"


def test_every_link_is_shown_somewhere():
    shown = {id(link) for _, _, target, _ in queries() for link in links_of(target.get("expr", ""))}
    unused = [f"{link.metric} {link.pinned} ({link.rule or link.alert})" for link in LINKS if id(link) not in shown]
    assert not unused, f"values some rule watches that no dashboard shows: {unused}"


# ================================================================ what the issue asks each dashboard to show


FLEET_SHOWS = {
    "event rate": r"rate\(driftline_events_total",
    "lag": r"driftline_event_lag_seconds",
    "invalid-event rate": r"rate\(driftline_events_invalid_total",
    "worst feature drift": r"max by \([^)]*\) \(driftline_feature_drift\{[^}]*method=\"psi\"",
    "realized performance": r"driftline_model_performance",
    "estimated performance": r"driftline_estimated_performance",
    "alerts firing by severity": r"sum by \(severity\) \(driftline_alerts_firing",
    "notifier health": r"driftline_notifications_total",
    "segments below their threshold": r"count\(.*driftline_segment_performance",
    "versions trailing their best": r"count\(.*group_right",
}
DETAIL_SHOWS = {
    "feature drift per feature": r"by \(feature\) \(driftline_feature_drift",
    "prediction drift": r"driftline_prediction_drift",
    "multivariate drift": r"driftline_multivariate_drift",
    "realized performance per version": r"by \(model_version\) \(driftline_model_performance",
    "estimated performance per version": r"by \(model_version\) \(driftline_estimated_performance",
    "label delay": r"driftline_label_delay_seconds_bucket",
    "labels pending": r"driftline_labels_pending",
    "labels unmatched": r"driftline_labels_unmatched_total",
    "concept-drift detectors": r"driftline_drift_detected\{[^}]*feature=\"__error__\"",
    "versions compared": r"group_right max by \(model_id, model_version\) \(driftline_model_performance\{[^}]*accuracy",
    "realized performance per segment": r"by \(model_version, segment\) \(driftline_segment_performance",
    "estimated performance per segment": r"by \(model_version, segment\) \(driftline_segment_estimated_performance",
    "segment window size": r"by \(model_version, segment\) \(driftline_segment_window_events",
}


@pytest.mark.parametrize("name, shows", [(FLEET, FLEET_SHOWS), (DETAIL, DETAIL_SHOWS)])
def test_each_dashboard_shows_what_it_is_for(name, shows):
    exprs = [q.expr for q in dashboard_queries(name, dashboards()[name])]
    missing = [what for what, pattern in shows.items() if not any(re.search(pattern, e) for e in exprs)]
    assert not missing, f"{name} shows no {missing}"


def test_model_detail_shows_feature_drift_over_time_and_sorted_now():
    panels = data_panels(dashboards()[DETAIL])
    over_time = [p for p in panels if p["type"] in ("state-timeline", "heatmap")
                 and any("driftline_feature_drift" in t["expr"] for t in p["targets"])]
    tables = [p for p in panels if p["type"] == "table" and any("driftline_feature_drift" in t["expr"] for t in p["targets"])]
    assert over_time, "no state timeline or heatmap of feature drift"
    assert tables and all((p.get("options") or {}).get("sortBy", [{}])[0].get("desc") for p in tables), (
        "no table of feature drift sorted by drift, descending")


def test_model_detail_annotates_alerts():
    exprs = [expr for _, expr in annotation_queries(dashboards()[DETAIL])]
    assert any("driftline_alerts_firing" in expr for expr in exprs), f"no alert annotation: {exprs}"


# ================================================================ the pictures in docs/img/


def test_each_dashboard_has_a_modest_picture_that_the_docs_show():
    problems = []
    readme, docs = (REPO / "README.md").read_text(encoding="utf-8"), (REPO / "docs" / "dashboards.md").read_text(encoding="utf-8")
    for name in dashboards():
        picture = REPO / "docs" / "img" / f"dashboard-{name.removesuffix('.json')}.png"
        if not picture.is_file():
            problems.append(f"{picture.relative_to(REPO)} is missing: make dashboard-images")
            continue
        if picture.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
            problems.append(f"{picture.name} is not a PNG")
        if picture.stat().st_size > 300 * 1024:
            problems.append(f"{picture.name} is {picture.stat().st_size // 1024} KiB; keep it under 300 KiB")
        if f"docs/img/{picture.name}" not in readme or f"img/{picture.name}" not in docs:
            problems.append(f"{picture.name} is not shown in README.md and docs/dashboards.md")
    fail_on(problems, "dashboard pictures")
