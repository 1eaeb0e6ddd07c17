"""Properties of the alert state machine over any sequence of values."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.alerting.evaluator import AlertEvaluator
from driftline.alerting.model import Status

from tests.unit.alerting.support import T0, drift, ruleset

RULES = """
rules:
  - {name: plain, select: {value: feature_drift}, condition: {above: 0.5}, severity: warning,
     annotations: {summary: s}}
  - {name: hysteresis, select: {value: feature_drift}, condition: {above: 0.6}, for: 30s,
     resolve: {below: 0.3, for: 20s}, severity: warning, annotations: {summary: s}}
  - {name: counted, select: {value: feature_drift}, condition: {above: 0.4}, for: 3 events,
     resolve: {below: 0.2, for: 2 events}, severity: warning, annotations: {summary: s}}
"""

step = st.tuples(
    st.floats(min_value=0, max_value=60),  # seconds since the previous step
    st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=2, max_size=2),  # per feature; None = series absent
)


@settings(max_examples=200, deadline=None)
@given(st.lists(step, max_size=60))
def test_records_alternate_firing_and_resolved_per_fingerprint(steps):
    ev = AlertEvaluator(ruleset(RULES))
    history = defaultdict(list)
    t = 0.0
    for dt, values in steps:
        t += dt
        samples = [drift(v, t, f"f{i}") for i, v in enumerate(values) if v is not None]
        for record in ev.evaluate(samples, event_time=T0 + t, now=T0 + t):
            history[record.fingerprint].append(record)
    for records in history.values():
        assert [r.status for r in records] == [Status.FIRING, Status.RESOLVED] * (len(records) // 2) + \
            [Status.FIRING] * (len(records) % 2)  # starts firing, never two of a kind in a row
        for firing, resolved in zip(records[::2], records[1::2]):
            assert resolved.starts_at == firing.starts_at and resolved.ends_at >= resolved.starts_at
        starts = [r.starts_at for r in records[::2]]
        assert starts == sorted(starts)
    open_ones = {fp for fp, records in history.items() if records[-1].status is Status.FIRING}
    assert {r.fingerprint for r in ev.firing()} == open_ones
