"""Label matchers (Alertmanager's syntax and anchoring) and durations."""

from __future__ import annotations

import pytest

from driftline.alerting.duration import Window, parse_duration
from driftline.alerting.matcher import MatchType, Matcher, alert_labels
from driftline.alerting.model import Severity

from tests.unit.alerting.support import record


@pytest.mark.parametrize(("text", "labels", "expected"), [
    ("severity=critical", {"severity": "critical"}, True),
    ("severity=critical", {"severity": "error"}, False),
    ("severity!=critical", {"severity": "error"}, True),
    ("severity!=critical", {}, True),
    ("severity=~critical|error", {"severity": "error"}, True),
    ("feature=~amount", {"feature": "amount_eur"}, False),  # fully anchored
    ("feature=~amount.*", {"feature": "amount_eur"}, True),
    ("feature!~amount|age", {"feature": "age"}, False),
    ("feature!~amount|age", {"feature": "country"}, True),
    ("team=", {}, True),  # a missing label is ""
    ("team!=", {}, False),
    ('severity="critical"', {"severity": "critical"}, True),
    ('summary="a \\"quoted\\" word"', {"summary": 'a "quoted" word'}, True),
    ("  rule = drift ", {"rule": "drift"}, True),
])
def test_matchers(text, labels, expected):
    assert Matcher.parse(text).matches(labels) is expected


def test_matcher_parts_and_round_trip():
    m = Matcher.parse("feature=~amount|age")
    assert (m.name, m.type, m.value) == ("feature", MatchType.REGEX, "amount|age")
    assert Matcher.parse(str(m)) == m


@pytest.mark.parametrize("text", ["severity", "=x", "1abc=x", "a==b~", "x=~(", "x=~[a-"])
def test_bad_matchers(text):
    if text == "a==b~":  # "=" then the value "=b~": valid, as in Alertmanager
        assert Matcher.parse(text).value == "=b~"
        return
    with pytest.raises(ValueError):
        Matcher.parse(text)


def test_alert_labels_add_rule_and_severity():
    labels = alert_labels(record("f", severity=Severity.CRITICAL, rule="drift"))
    assert labels["rule"] == "drift" and labels["severity"] == "critical" and labels["model_id"] == "fraud"


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("1h30m", 5400), ("2d", 172800),
                                               ("1w", 604800), ("250ms", 0.25), ("1.5h", 5400), (0, 0)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5", "5 m", "m", "-5m", "five minutes", "", 300, None, True])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


def test_windows():
    assert Window.parse(None).immediate and Window.parse("0s").immediate
    assert Window.parse("1 event") == Window(events=1)
    events = Window.parse("3 events")
    assert not events.elapsed(since_ts=0, since_events=10, ts=1e9, events=12)
    assert events.elapsed(since_ts=0, since_events=10, ts=0, events=13)
    assert str(events) == "3 events" and str(Window.parse("5m")) == "300s"
