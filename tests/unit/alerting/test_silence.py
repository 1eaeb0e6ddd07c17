"""Silences: active windows, expiry, muting, and records applied idempotently (latest wins)."""

from __future__ import annotations

import json

import msgspec
import pytest

from driftline.alerting.silence import Silence, SilenceSet
from driftline.error import DecodeError

LABELS = {"model_id": "fraud", "model_version": "v7", "severity": "warning", "rule": "feature_drift_strong"}


def silence(id="s1", matchers=("model_id=fraud", "rule=~feature_drift.*"), start=100.0, end=200.0, now=90.0):
    return Silence.new(list(matchers), starts_at=start, ends_at=end, created_by="ana", comment="retraining",
                       now=now, id=id)


def test_active_window_is_start_inclusive_end_exclusive():
    s = silence()
    assert [s.active(t) for t in (99.9, 100, 199.9, 200)] == [False, True, True, False]
    silences = SilenceSet([s])
    assert silences.mutes(LABELS, 150) == "s1"
    assert silences.mutes(LABELS, 99) is None and silences.mutes(LABELS, 200) is None
    assert silences.mutes({**LABELS, "model_id": "other"}, 150) is None
    assert silences.mutes({**LABELS, "rule": "concept_drift"}, 150) is None
    assert [x.id for x in silences.active(150)] == ["s1"]


def test_expire_ends_a_silence_now_and_returns_the_record_to_publish():
    silences = SilenceSet([silence()])
    expired = silences.expire("s1", 150)
    assert expired is not None and expired.ends_at.timestamp() == 150 and expired.updated_at.timestamp() == 150
    assert expired.starts_at.timestamp() == 100 and expired.created_at.timestamp() == 90
    assert silences.mutes(LABELS, 150) is None and silences.get("s1") == expired
    assert silences.expire("s1", 160) is None and silences.expire("nope", 160) is None


def test_expiring_a_pending_silence_starts_and_ends_it_now():
    silences = SilenceSet([silence(now=10)])
    expired = silences.expire("s1", 50)
    assert expired is not None and expired.starts_at.timestamp() == expired.ends_at.timestamp() == 50
    assert silences.mutes(LABELS, 150) is None


def test_an_expiry_on_a_clock_behind_the_creators_still_wins():
    silences = SilenceSet([silence(now=90)])
    expired = silences.expire("s1", 50)
    assert expired is not None and expired.updated_at > silence(now=90).updated_at
    assert silences.get("s1") == expired


def test_records_apply_idempotently_and_the_latest_update_wins_in_any_order():
    original = silence()
    extended = msgspec.structs.replace(original.expired(120), ends_at=original.ends_at)  # an edit at 120 ...
    extended = msgspec.structs.replace(extended, ends_at=extended.ends_at.replace(year=2100))
    expired = original.expired(150)
    for order in ([original, extended, expired], [expired, original, extended], [extended, expired, original, expired]):
        silences = SilenceSet()
        for rec in order:
            silences.apply(rec)
        assert silences.get("s1") == expired and len(silences) == 1
    silences = SilenceSet([original])
    assert silences.apply(original) is False and silences.apply(expired) is True and silences.apply(original) is False


def test_ties_on_updated_at_resolve_the_same_way_everywhere():
    a = silence(matchers=["model_id=a"])
    b = silence(matchers=["model_id=b"])
    one, two = SilenceSet([a, b]), SilenceSet([b, a])
    assert one.get("s1") == two.get("s1")


def test_json_round_trip_for_the_compacted_topic():
    s = silence()
    data = json.loads(s.encode())
    assert data["starts_at"] == "1970-01-01T00:01:40Z" and data["created_by"] == "ana"
    assert set(data) == {"id", "matchers", "starts_at", "ends_at", "created_by", "comment", "created_at", "updated_at"}
    assert Silence.decode(s.encode()) == s


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.update(matchers=["team=~.*"]), "at least one matcher that does not match an empty label"),
    (lambda d: d.update(matchers=[]), "at least one matcher"),
    (lambda d: d.update(matchers=["severity"]), "expected a matcher"),
    (lambda d: d.update(ends_at="1970-01-01T00:00:01Z"), "ends_at is before starts_at"),
    (lambda d: d.update(starts_at="1970-01-01T00:01:40"), "timezone"),
    (lambda d: d.pop("created_by"), "created_by"),
])
def test_invalid_records_are_decode_errors(mutate, message):
    data = json.loads(silence().encode())
    mutate(data)
    with pytest.raises(DecodeError) as info:
        Silence.decode(json.dumps(data).encode())
    assert info.value.reason == "invalid_silence" and message in str(info.value)


def test_new_refuses_invalid_silences():
    with pytest.raises(ValueError, match="does not match an empty label"):
        silence(matchers=["model_id!=x"])


def test_remove_collect_and_state():
    silences = SilenceSet([silence("old", end=200), silence("new", end=10_000)])
    assert silences.collect(now=1000, retention=500) == ["old"] and [s.id for s in silences] == ["new"]
    assert SilenceSet.from_state(json.loads(json.dumps(silences.to_state()))).get("new") == silences.get("new")
    silences.remove("new")
    assert len(silences) == 0
