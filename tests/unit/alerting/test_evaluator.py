"""Rule evaluation and the alert lifecycle, on injected event and processing times (no sleeps)."""

from __future__ import annotations

import json
import math

import pytest

from driftline.alerting.evaluator import AlertEvaluator
from driftline.alerting.model import Status, fingerprint, rfc3339
from driftline.alerting.sample import ERROR_STREAM, Sample
from driftline.alerting.state import Phase
from driftline.error import StateError

from tests.unit.alerting.support import MODEL, T0, drift, evaluator, run

PSI = {"select": {"value": "feature_drift", "matchers": ["method=psi"]}, "condition": {"above": 0.25}}
LABELS = {**MODEL, "feature": "amount", "method": "psi"}


def statuses(records):
    return [r.status.value for r in records]


def test_for_counts_event_time_since_the_condition_first_held():
    ev = evaluator(**PSI, **{"for": "5m"})
    assert run(ev, [drift(0.3, 0)], 0) == []
    assert [a.phase for a in ev.alerts()] == [Phase.PENDING]
    assert run(ev, [drift(0.3, 299)], 299, now=10_000) == []  # processing time does not count
    [fired] = run(ev, [drift(0.31, 300)], 300)
    assert fired.status is Status.FIRING and fired.value == 0.31 and fired.threshold == 0.25
    assert fired.starts_at == fired.event_ts == rfc3339(T0 + 300) and fired.ends_at is None
    assert fired.fingerprint == fingerprint("r", LABELS) and fired.labels == LABELS


def test_pending_falls_back_to_inactive_when_the_condition_stops():
    ev = evaluator(**PSI, **{"for": "5m"})
    run(ev, [drift(0.3, 0)], 0)
    run(ev, [drift(0.2, 100)], 100)
    assert ev.alerts() == []
    run(ev, [drift(0.3, 200)], 200)
    assert run(ev, [drift(0.3, 450)], 450) == []  # 250 s since it held again
    assert statuses(run(ev, [drift(0.3, 500)], 500)) == ["firing"]


def test_for_counts_events_when_given_in_events():
    ev = evaluator(**PSI, **{"for": "100 events"})
    assert run(ev, [drift(0.3, 0, events=1000)], 0) == []
    assert run(ev, [drift(0.3, 3600, events=1099)], 3600) == []  # an hour is not 100 events
    assert statuses(run(ev, [drift(0.3, 3601, events=1100)], 3601)) == ["firing"]


def test_for_in_events_counts_new_observations_without_an_event_count():
    ev = evaluator(**PSI, **{"for": "2 events"})
    assert run(ev, [drift(0.3, 0)], 0) == []
    assert run(ev, [drift(0.3, 0)], 0) == []  # the same observation again is not a new event
    assert run(ev, [drift(0.3, 1)], 1) == []
    assert statuses(run(ev, [drift(0.3, 2)], 2)) == ["firing"]


def test_below():
    ev = evaluator(select={"value": "model_performance"}, condition={"below": 0.7})
    auc = lambda v, t: Sample("model_performance", {**MODEL, "metric": "roc_auc"}, v, T0 + t)  # noqa: E731
    assert run(ev, [auc(0.75, 0)], 0) == []
    assert statuses(run(ev, [auc(0.69, 1)], 1)) == ["firing"]
    assert statuses(run(ev, [auc(0.71, 2)], 2)) == ["resolved"]


def test_lifecycle_pending_firing_resolved_refire_keeps_the_fingerprint():
    ev = evaluator(**PSI, **{"for": "1m"}, resolve={"below": 0.15, "for": "2m"},
                   annotations={"summary": "PSI {value:.2f} > {threshold}"})
    run(ev, [drift(0.3, 0)], 0)
    [first] = run(ev, [drift(0.3, 60)], 60)
    assert run(ev, [drift(0.1, 100)], 100) == []  # resolving, not for 2m yet
    assert ev.alerts()[0].phase is Phase.FIRING
    [resolved] = run(ev, [drift(0.12, 220)], 220)
    assert resolved.status is Status.RESOLVED and resolved.fingerprint == first.fingerprint
    assert resolved.starts_at == first.starts_at == rfc3339(T0 + 60)
    assert resolved.ends_at == resolved.event_ts == rfc3339(T0 + 220)
    assert resolved.value == 0.12 and resolved.threshold == 0.25 and resolved.summary == first.summary == "PSI 0.30 > 0.25"
    assert ev.alerts() == [] and ev.firing() == []
    run(ev, [drift(0.4, 300)], 300)
    [again] = run(ev, [drift(0.4, 360)], 360)
    assert again.fingerprint == first.fingerprint and again.starts_at == rfc3339(T0 + 360) and again.ends_at is None


@pytest.mark.parametrize(("resolve", "expected"), [
    ({"below": 0.15}, ["firing"]),  # hysteresis: 0.2 is not below 0.15, so it stays firing
    (None, ["firing", "resolved"] * 5),  # without it, every swing is a record
])
def test_hysteresis_stops_flapping(resolve, expected):
    extra = {"resolve": resolve} if resolve else {}
    ev = evaluator(**PSI, **extra)
    records = []
    for i in range(10):
        records += run(ev, [drift(0.3 if i % 2 == 0 else 0.2, i)], i)
    assert statuses(records) == expected


def test_resolve_for_restarts_when_the_resolve_condition_stops():
    ev = evaluator(**PSI, resolve={"below": 0.15, "for": "10m"})
    run(ev, [drift(0.3, 0)], 0)
    run(ev, [drift(0.1, 100)], 100)
    run(ev, [drift(0.2, 500)], 500)  # between the thresholds: resolving stops
    assert run(ev, [drift(0.1, 800)], 800) == []  # 10m from 100 has passed, but not from 800
    assert statuses(run(ev, [drift(0.1, 1400)], 1400)) == ["resolved"]


def test_detector_fired_with_a_quiet_period_before_resolving():
    ev = evaluator(select={"value": "drift_detected", "matchers": [f"feature={ERROR_STREAM}"]},
                   condition={"detector_fired": True}, resolve={"for": "1h"})
    det = lambda v, t: Sample("drift_detected", {**MODEL, "feature": ERROR_STREAM, "detector": "adwin"}, v, T0 + t)  # noqa: E731
    [fired] = run(ev, [det(1, 0)], 0)
    assert fired.threshold is None
    assert run(ev, [det(0, 60)], 60) == []
    assert run(ev, [det(1, 600)], 600) == []  # fired again while firing: no new record
    assert run(ev, [det(0, 700)], 700) == []
    assert statuses(run(ev, [det(0, 700 + 3600)], 700 + 3600)) == ["resolved"]


def test_differs_joins_estimate_and_realized_on_their_labels():
    ev = evaluator(select={"matchers": ["metric=roc_auc"]},
                   condition={"differs": {"estimate": "estimated_performance", "realized": "model_performance", "by": 0.05}},
                   annotations={"summary": "{estimate:.2f} vs {realized:.2f}: off by {value:.2f} > {threshold}"})
    est = Sample("estimated_performance", {**MODEL, "metric": "roc_auc"}, 0.80, T0)
    real = Sample("model_performance", {**MODEL, "metric": "roc_auc"}, 0.70, T0 + 5)
    other = Sample("model_performance", {**MODEL, "model_version": "v8", "metric": "roc_auc"}, 0.1, T0)
    [fired] = run(ev, [est, real, other], 5)
    assert fired.summary == "0.80 vs 0.70: off by 0.10 > 0.05" and fired.event_ts == rfc3339(T0 + 5)
    assert fired.labels == {**MODEL, "metric": "roc_auc"}
    close = Sample("model_performance", {**MODEL, "metric": "roc_auc"}, 0.78, T0 + 10)
    assert statuses(run(ev, [est, close], 10)) == ["resolved"]


def test_compare_versions_flags_the_version_that_trails():
    ev = evaluator(condition={"compare_versions": {"metric": "model_performance", "by": 0.05}},
                   annotations={"summary": "{labels.model_version} trails {best_version} ({best}) by {value:.2f}"})
    perf = lambda version, v: Sample("model_performance", {"model_id": "m", "model_version": version, "metric": "auc"}, v, T0)  # noqa: E731
    [fired] = run(ev, [perf("v1", 0.9), perf("v2", 0.8), perf("v3", 0.88)], 0)
    assert fired.labels["model_version"] == "v2" and fired.summary == "v2 trails v1 (0.9) by 0.10"


def test_compare_versions_lower_is_better():
    ev = evaluator(condition={"compare_versions": {"metric": "model_performance", "by": 1, "higher_is_better": False}})
    rmse = lambda version, v: Sample("model_performance", {"model_id": "m", "model_version": version, "metric": "rmse"}, v, T0)  # noqa: E731
    [fired] = run(ev, [rmse("v1", 10.0), rmse("v2", 12.5)], 0)
    assert fired.labels["model_version"] == "v2" and fired.value == 2.5


def accuracy(version: str, value: float, size: int | None = 2000, t: float = 0.0, events: int | None = None,
             model: str = "m") -> Sample:
    return Sample("model_performance", {"model_id": model, "model_version": version, "metric": "accuracy"}, value,
                  T0 + t, events, size)


def test_compare_versions_against_a_baseline_flags_the_challenger_only():
    ev = evaluator(condition={"compare_versions": {"metric": "model_performance", "by": 0.05, "baseline": "v1"}},
                   annotations={"summary": "{labels.model_version} trails {best_version} by {value:.2f}"})
    # v3 is the best version and v2 trails it by 0.12, but only the gap to the champion v1 counts
    [fired] = run(ev, [accuracy("v1", 0.85), accuracy("v2", 0.78), accuracy("v3", 0.90)], 0)
    assert fired.labels["model_version"] == "v2" and fired.summary == "v2 trails v1 by 0.07"
    assert fired.value == pytest.approx(0.07)
    # without the champion there is nothing to compare with: v2's alert resolves, v3 (far worse) raises none
    assert statuses(run(ev, [accuracy("v2", 0.78), accuracy("v3", 0.5)], 1)) == ["resolved"]
    assert ev.alerts() == []


def test_compare_versions_with_alpha_counts_only_significant_gaps():
    """The value is the gap when a two-proportion z-test on the windows' sizes finds it, else 0."""
    from driftline.estimators.performance.compare import two_proportion_test

    ev = evaluator(condition={"compare_versions": {"metric": "model_performance", "by": 0.02, "baseline": "v1",
                                                   "alpha": 0.01}},
                   annotations={"summary": "{labels.model_version}: {value:.3f} (p = {p_value:.2g})"})
    assert run(ev, [accuracy("v1", 0.90, 200), accuracy("v2", 0.85, 200)], 0) == []  # p = 0.11 at 200 events
    assert two_proportion_test(0.90, 200, 0.85, 200).p_value > 0.01
    assert run(ev, [accuracy("v1", 0.90, None), accuracy("v2", 0.80, None, t=1)], 1) == []  # sizes unknown: no test
    [fired] = run(ev, [accuracy("v1", 0.90, 2000, t=2), accuracy("v2", 0.85, 2000, t=2)], 2)
    p = two_proportion_test(0.90, 2000, 0.85, 2000).p_value
    assert p < 0.01 and fired.value == pytest.approx(0.05) and fired.summary == f"v2: 0.050 (p = {p:.2g})"
    [resolved] = run(ev, [accuracy("v1", 0.90, 200, t=3), accuracy("v2", 0.85, 200, t=3)], 3)
    assert resolved.status is Status.RESOLVED and resolved.value == 0.0  # no longer significant


def test_compare_versions_without_alpha_ignores_sizes_and_lower_values_never_fire():
    ev = evaluator(condition={"compare_versions": {"metric": "model_performance", "by": 0.02, "baseline": "v1"}})
    assert len(run(ev, [accuracy("v1", 0.90, 20), accuracy("v2", 0.85, 20)], 0)) == 1
    ev = evaluator(condition={"compare_versions": {"metric": "model_performance", "by": 0.02, "baseline": "v1"}})
    assert run(ev, [accuracy("v1", 0.80), accuracy("v2", 0.95)], 0) == []  # the challenger is better


def test_compare_versions_pairs_peers_per_model_and_segment():
    ev = evaluator(condition={"compare_versions": {"metric": "segment_performance", "by": 0.05, "baseline": "v1"}})
    seg = lambda version, segment, v: Sample(  # noqa: E731
        "segment_performance", {"model_id": "m", "model_version": version, "segment": segment, "metric": "accuracy"},
        v, T0)
    fired = run(ev, [seg("v1", "DE", 0.9), seg("v2", "DE", 0.8), seg("v1", "FR", 0.9), seg("v2", "FR", 0.89)], 0)
    assert [(r.labels["model_version"], r.labels["segment"]) for r in fired] == [("v2", "DE")]
    ev = evaluator(condition={"compare_versions": {"metric": "model_performance", "by": 0.05, "baseline": "v1"}})
    assert run(ev, [accuracy("v1", 0.9, model="a"), accuracy("v2", 0.8, model="b")], 0) == []  # other models


def test_absent_for_runs_on_processing_time():
    ev = evaluator(select={"value": "event_rate"}, condition={"absent_for": "10m"}, severity="error",
                   annotations={"summary": "silent for {value:.0f} s (> {threshold} s)"})
    rate = lambda t: Sample("event_rate", MODEL, 0.0, T0 + t)  # noqa: E731
    assert run(ev, [rate(0)], 0, now=5) == []
    assert run(ev, [rate(0)], 0, now=605) == []  # exactly 10m: not yet
    [fired] = run(ev, [rate(0)], 0, now=606)
    assert fired.summary == "silent for 601 s (> 600 s)"
    assert fired.starts_at == rfc3339(T0 + 606) and fired.event_ts == rfc3339(T0)
    assert run(ev, [rate(0)], 0, now=5000) == []
    [resolved] = run(ev, [rate(4990)], 4990, now=5001)  # a new event
    assert resolved.status is Status.RESOLVED and resolved.ends_at == rfc3339(T0 + 5001)
    assert resolved.event_ts == rfc3339(T0 + 4990)


def test_one_alert_per_label_set_and_static_labels_in_the_fingerprint():
    ev = evaluator(**PSI, labels={"team": "risk", "method": "overridden"})
    records = run(ev, [drift(0.3, 0, "amount"), drift(0.3, 0, "age"), drift(0.1, 0, "country")], 0)
    assert sorted(r.labels["feature"] for r in records) == ["age", "amount"]
    assert all(r.labels["team"] == "risk" and r.labels["method"] == "overridden" for r in records)
    assert records[0].fingerprint == fingerprint("r", records[0].labels)
    assert len({r.fingerprint for r in records}) == 2


def test_a_firing_alert_whose_series_disappears_resolves():
    ev = evaluator(**PSI)
    run(ev, [drift(0.3, 0)], 0)
    [resolved] = run(ev, [], 50)
    assert resolved.status is Status.RESOLVED and resolved.value is None
    assert resolved.ends_at == resolved.event_ts == rfc3339(T0 + 50)
    assert run(ev, [], 60) == []


def test_the_same_snapshot_twice_changes_nothing_and_old_samples_are_ignored():
    ev = evaluator(**PSI)
    assert statuses(run(ev, [drift(0.3, 10)], 10)) == ["firing"]
    assert run(ev, [drift(0.3, 10)], 10) == []
    assert run(ev, [drift(0.1, 5)], 10) == []  # older than what was seen: stale
    assert statuses(run(ev, [drift(0.1, 11)], 11)) == ["resolved"]


def test_nan_values_are_no_evidence_either_way():
    ev = evaluator(**PSI)
    run(ev, [drift(0.3, 0)], 0)
    assert run(ev, [drift(math.nan, 1)], 1) == []
    assert len(ev.firing()) == 1


def test_firing_set_for_the_gauge():
    ev = AlertEvaluator(evaluator(**PSI).rules)
    run(ev, [drift(0.3, 0, "amount"), drift(0.3, 0, "age")], 0)
    assert ev.firing_counts() == {("r", "warning", "fraud"): 2}
    assert {r.labels["feature"] for r in ev.firing()} == {"amount", "age"}


def sequence():
    """(event time, processing time, samples) steps exercising every clock."""
    rate = lambda t: Sample("event_rate", MODEL, 1.0, T0 + t)  # noqa: E731
    steps = []
    for i in range(40):
        t = i * 60.0
        value = 0.3 if (i // 7) % 2 == 0 else 0.1
        samples = [drift(value, t, "amount"), drift(0.5 - value, t, "age")]
        samples.append(rate(t if i % 15 < 5 else (i - i % 15 + 4) * 60.0))
        steps.append((t, t + 7, samples))
    return steps


def rules_for_restart():
    from tests.unit.alerting.support import ruleset
    return ruleset("""
rules:
  - {name: drift, select: {value: feature_drift}, condition: {above: 0.25}, for: 2m,
     resolve: {below: 0.15, for: 3m}, severity: warning, annotations: {summary: "{value}"}}
  - {name: silent, select: {value: event_rate}, condition: {absent_for: 5m}, severity: error,
     annotations: {summary: "{value}"}}
""")


@pytest.mark.parametrize("split", [1, 9, 17, 26, 33])
def test_a_restored_evaluator_re_derives_the_same_records(split):
    steps = sequence()
    straight = AlertEvaluator(rules_for_restart())
    expected = [r for t, now, s in steps for r in straight.evaluate(s, event_time=t, now=now)]
    assert {"drift", "silent"} <= {r.rule for r in expected} and "resolved" in statuses(expected)
    first = AlertEvaluator(rules_for_restart())
    got = [r for t, now, s in steps[:split] for r in first.evaluate(s, event_time=t, now=now)]
    state = json.loads(json.dumps(first.to_state()))  # plain data all the way
    restored = AlertEvaluator.from_state(rules_for_restart(), state)
    got += [r for t, now, s in steps[split:] for r in restored.evaluate(s, event_time=t, now=now)]
    assert got == expected
    assert restored.to_state() == straight.to_state()


def test_state_of_another_version_or_shape_is_refused():
    rules = rules_for_restart()
    with pytest.raises(StateError, match="version"):
        AlertEvaluator.from_state(rules, {"version": 99, "alerts": {}})
    with pytest.raises(StateError, match="does not fit"):
        AlertEvaluator.from_state(rules, {"version": 1, "alerts": {"drift": {"fp": {"phase": "weird"}}}})


def test_state_of_removed_rules_is_dropped():
    ev = AlertEvaluator(rules_for_restart())
    ev.evaluate([drift(0.3, 0), drift(0.3, 200)], event_time=T0, now=T0)
    state = ev.to_state()
    assert "drift" in state["alerts"]
    assert AlertEvaluator.from_state([], state).to_state() == {"version": 1, "alerts": {}}
