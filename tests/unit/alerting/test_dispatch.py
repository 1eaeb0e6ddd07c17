"""Grouping and timing on an injected clock: group_wait, group_interval, repeat_interval, resolve."""

from __future__ import annotations

import json

import msgspec
import pytest
import yaml

from driftline.alerting.dispatch import Dispatcher, muter
from driftline.alerting.model import Severity, Status
from driftline.alerting.routing import RoutingConfig
from driftline.alerting.silence import Silence, SilenceSet

from tests.unit.alerting.support import record

ROUTING = """
route:
  receiver: slack
  group_by: [model_id, model_version, rule]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
  routes:
    - {matchers: [severity=critical], receiver: pagerduty, continue: true}
    - {matchers: ['severity=~critical|error'], receiver: slack}
receivers: [{name: slack, type: slack}, {name: pagerduty, type: pagerduty}]
"""


@pytest.fixture
def dispatcher() -> Dispatcher:
    return Dispatcher(RoutingConfig.from_mapping(yaml.safe_load(ROUTING), "routing.yaml").route)


def fps(alerts):
    return [a.fingerprint for a in alerts]


def resolved(fp, **labels):
    return record(fp, Status.RESOLVED, **labels)


def test_timeline_wait_interval_repeat_and_resolve(dispatcher):
    dispatcher.add(record("a", feature="amount"), now=0)
    assert dispatcher.next_deadline() == 30
    dispatcher.add(record("b", feature="age"), now=10)  # same group: waits with a
    assert dispatcher.due(29) == []
    [first] = dispatcher.due(30)
    assert (first.receiver, fps(first.firing), first.resolved) == ("slack", ["a", "b"], ())
    assert first.group_labels == {"model_id": "fraud", "model_version": "v7", "rule": "r"}
    assert dispatcher.next_deadline() == 330

    dispatcher.add(record("c", starts_at="2026-01-01T00:01:00.000Z"), now=100)
    assert dispatcher.due(200) == []  # not before group_interval
    [second] = dispatcher.due(330)
    assert fps(second.firing) == ["a", "b", "c"]

    sent = {t: dispatcher.due(t) for t in range(630, 3931, 300)}  # unchanged: quiet until repeat_interval
    assert [t for t, n in sent.items() if n] == [3930] and fps(sent[3930][0].firing) == ["a", "b", "c"]

    dispatcher.add(resolved("a", feature="amount"), now=4000)
    [third] = dispatcher.due(4230)
    assert (fps(third.firing), fps(third.resolved)) == (["b", "c"], ["a"])
    assert fps(third.alerts) == ["b", "c", "a"]
    dispatcher.add(resolved("b"), now=4300)
    dispatcher.add(resolved("c", starts_at="2026-01-01T00:01:00.000Z"), now=4300)
    [last] = dispatcher.due(4530)
    assert (last.firing, fps(last.resolved)) == ((), ["b", "c"])
    assert dispatcher.groups() == [] and dispatcher.next_deadline() is None


def test_an_alert_resolved_before_it_was_notified_is_never_sent(dispatcher):
    dispatcher.add(record("a"), now=0)
    dispatcher.add(resolved("a"), now=10)
    assert dispatcher.due(30) == [] and dispatcher.groups() == []


def test_a_resolved_record_without_a_group_is_dropped(dispatcher):
    assert dispatcher.add(resolved("a"), now=0) == [] and dispatcher.next_deadline() is None


def test_groups_by_labels_and_one_notification_per_matching_route(dispatcher):
    assert len(dispatcher.add(record("a", severity=Severity.CRITICAL), now=0)) == 2  # pagerduty, continue, slack
    dispatcher.add(record("b", model_id="other"), now=0)
    notifications = dispatcher.due(30)
    assert sorted((n.receiver, tuple(fps(n.alerts))) for n in notifications) == \
        [("pagerduty", ("a",)), ("slack", ("a",)), ("slack", ("b",))]
    assert len({n.group_key for n in notifications}) == 3


def test_a_late_firing_copy_does_not_reopen_a_resolved_alert(dispatcher):
    dispatcher.add(record("a"), now=0)
    dispatcher.due(30)
    dispatcher.add(resolved("a"), now=40)
    dispatcher.add(record("a"), now=41)  # the same firing (same starts_at) replayed
    [n] = dispatcher.due(330)
    assert (n.firing, fps(n.resolved)) == ((), ["a"])


def test_a_new_firing_joins_the_next_interval_not_before(dispatcher):
    dispatcher.add(record("a"), now=0)
    dispatcher.due(30)
    dispatcher.add(record("b"), now=31)
    assert dispatcher.due(100) == []
    assert fps(dispatcher.due(330)[0].firing) == ["a", "b"]


def test_muted_alerts_are_left_out_and_count_as_new_when_the_mute_ends(dispatcher):
    silences = SilenceSet([Silence.new(["feature=amount"], starts_at=0, ends_at=400, created_by="ana",
                                       comment="known", now=0, id="s1")])
    mute = muter(silences=silences)
    dispatcher.add(record("a", feature="amount"), now=0)
    dispatcher.add(record("b", feature="age"), now=0)
    assert fps(dispatcher.due(30, mute)[0].firing) == ["b"]
    assert dispatcher.due(330, mute) == []
    [n] = dispatcher.due(630, mute)  # the silence ended at 400
    assert fps(n.firing) == ["a", "b"]


def test_resolved_notifications_close_pages_even_when_muted(dispatcher):
    silences = SilenceSet()
    mute = muter(silences=silences)
    dispatcher.add(record("a"), now=0)
    dispatcher.due(30, mute)
    silences.add(Silence.new(["rule=r"], starts_at=31, ends_at=9999, created_by="ana", comment="", now=31, id="s"))
    dispatcher.add(resolved("a"), now=40)
    [n] = dispatcher.due(330, mute)
    assert fps(n.resolved) == ["a"]


def test_state_round_trip(dispatcher):
    dispatcher.add(record("a"), now=0)
    dispatcher.due(30)
    dispatcher.add(record("b"), now=40)
    state = json.loads(json.dumps(dispatcher.to_state()))
    restored = Dispatcher.from_state(dispatcher.route, state)
    assert restored.next_deadline() == dispatcher.next_deadline() == 330
    assert [msgspec.to_builtins(n.alerts) for n in restored.due(330)] == \
        [msgspec.to_builtins(n.alerts) for n in dispatcher.due(330)]
    assert restored.to_state() == dispatcher.to_state()


def test_state_of_a_route_that_is_gone_is_dropped(dispatcher):
    dispatcher.add(record("a", severity=Severity.CRITICAL), now=0)  # two child routes
    dispatcher.add(record("b"), now=0)  # the root
    root_only = RoutingConfig.from_mapping({"route": {"receiver": "slack"},
                                            "receivers": [{"name": "slack", "type": "slack"}]}, "r.yaml").route
    restored = Dispatcher.from_state(root_only, dispatcher.to_state())
    assert [g.route.id for g in restored.groups()] == ["route"]


def test_a_failed_delivery_is_sent_again_at_the_next_group_interval(dispatcher):
    dispatcher.add(record("a"), now=0)
    [first] = dispatcher.due(30)
    dispatcher.delivery_failed(first, now=31)
    [again] = dispatcher.due(330)
    assert fps(again.firing) == ["a"]
    assert dispatcher.due(630) == []  # delivered this time: quiet again


def test_a_failed_resolve_is_sent_again_even_after_its_group_emptied(dispatcher):
    dispatcher.add(record("a"), now=0)
    dispatcher.due(30)
    dispatcher.add(resolved("a"), now=40)
    [closing] = dispatcher.due(330)
    assert fps(closing.resolved) == ["a"] and dispatcher.groups() == []
    dispatcher.delivery_failed(closing, now=331)
    assert dispatcher.due(600) == []  # not before the group's interval
    [again] = dispatcher.due(631)
    assert fps(again.resolved) == ["a"] and again.firing == ()
