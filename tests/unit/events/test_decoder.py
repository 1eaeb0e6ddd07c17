"""The decoder: every input comes out decoded or rejected with a reason, never both, never neither."""

from __future__ import annotations

import json
import math

import msgspec
import pytest

from driftline.config import LimitsConfig
from driftline.events.decoder import EventDecoder, Reason
from driftline.events.schema import EventKind, FeatureEvent, LabelEvent, PredictionEvent

NOW = 1_795_500_000.0  # 2026-11-24, a day after the contract's example


def prediction(**overrides):
    event = {"model_id": "fraud-detector", "model_version": "v7", "request_id": "a1b2c3",
             "ts": "2026-11-23T10:00:00.123Z",
             "features": {"amount": 129.5, "country": "DE", "account_age_days": None},
             "prediction": 1, "scores": {"0": 0.08, "1": 0.92},
             "segment": {"region": "eu"}, "latency_ms": 12.4}
    event.update(overrides)
    return event


def encode(value) -> bytes:
    return json.dumps(value).encode()


def decode(raw: bytes, kind: EventKind = EventKind.PREDICTION, **limits):
    return EventDecoder(kind, LimitsConfig(**limits)).decode(raw, NOW)


def test_contract_example_decodes_to_a_typed_event():
    out = decode(encode(prediction()))
    assert out.rejected == []
    [event] = out.events
    assert isinstance(event, PredictionEvent)
    assert event.features == {"amount": 129.5, "country": "DE", "account_age_days": None}
    assert event.scores == {"0": 0.08, "1": 0.92}
    assert out.ts == [pytest.approx(1795428000.123)]


def test_defaults_and_epoch_seconds():
    out = decode(encode({"model_id": "m", "ts": 1700000000.5, "features": {}, "prediction": "cat"}))
    [event] = out.events
    assert event.model_version == "unversioned" and event.request_id is None and event.prediction == "cat"
    assert out.ts == [1700000000.5]


def test_naive_timestamp_is_utc():
    out = decode(encode(prediction(ts="2026-11-23T10:00:00")))
    assert out.ts == [1795428000.0]


def test_envelope_decodes_every_event_in_order():
    events = [prediction(request_id=str(i), features={"x": float(i)}) for i in range(300)]
    out = decode(encode({"events": events}))
    assert out.rejected == []
    assert [e.request_id for e in out.events] == [str(i) for i in range(300)]


def test_envelope_with_events_key_late_in_the_object_still_decodes():
    events = [prediction()]
    raw = encode({"padding": "x" * 100, "events": events})
    assert len(decode(raw).events) == 1


def test_a_feature_named_events_is_not_an_envelope():
    out = decode(encode(prediction(features={"events": 3.0})))
    assert out.rejected == [] and out.events[0].features == {"events": 3.0}


def test_empty_envelope_is_nothing_and_no_error():
    out = decode(b'{"events": []}')
    assert out.events == [] and out.rejected == []


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json at all", Reason.NOT_JSON),
        (b"\xff\xfe", Reason.NOT_JSON),
        (b"[1, 2]", Reason.NOT_OBJECT),
        (b'"a string"', Reason.NOT_OBJECT),
        (encode({k: v for k, v in prediction().items() if k != "ts"}), Reason.MISSING_FIELD),
        (encode({k: v for k, v in prediction().items() if k != "prediction"}), Reason.MISSING_FIELD),
        (encode({k: v for k, v in prediction().items() if k != "features"}), Reason.MISSING_FIELD),
        (encode(prediction(features=[1, 2])), Reason.WRONG_TYPE),
        (encode(prediction(features={"x": {"nested": 1}})), Reason.WRONG_TYPE),
        (encode(prediction(prediction=None)), Reason.WRONG_TYPE),
        (encode(prediction(scores="high")), Reason.WRONG_TYPE),
        (encode(prediction(model_id="has space")), Reason.BAD_MODEL_ID),
        (encode(prediction(model_id="")), Reason.BAD_MODEL_ID),
        (encode(prediction(model_id="x" * 129)), Reason.BAD_MODEL_ID),
        (encode(prediction(model_id=42)), Reason.BAD_MODEL_ID),
        (encode(prediction(ts="yesterday")), Reason.BAD_TIMESTAMP),
        (encode(prediction(ts=NOW + 86400)), Reason.BAD_TIMESTAMP),
        (encode(prediction(ts=-5)), Reason.BAD_TIMESTAMP),
        (b'{"model_id": "m", "ts": NaN, "features": {}, "prediction": 1}', Reason.BAD_TIMESTAMP),
        (encode(prediction(features={f"f{i}": 1.0 for i in range(11)})), Reason.TOO_MANY_FEATURES),
        (b"[" * 100_000, Reason.NOT_JSON),
        (b'{"events": 3}', Reason.WRONG_TYPE),
    ],
)
def test_malformed_single_events_are_rejected_with_a_reason(raw, reason):
    out = decode(raw, max_features=10)
    assert out.events == []
    [rejection] = out.rejected
    assert rejection.reason is reason, rejection.detail
    assert rejection.raw == raw and rejection.index is None
    assert rejection.detail


def test_too_large_is_rejected_before_decoding():
    raw = encode(prediction(features={"blob": "x" * 2000}))
    [rejection] = decode(raw, max_message_bytes=1000).rejected
    assert rejection.reason is Reason.TOO_LARGE and rejection.raw == raw


def test_one_bad_event_in_an_envelope_costs_that_event_alone():
    good = [prediction(request_id=str(i)) for i in range(5)]
    bad = {"model_id": "fraud-detector", "ts": 1.0}  # no features, no prediction
    elements = good[:2] + [bad] + good[2:] + [7, prediction(model_id="other-model")]
    out = decode(encode({"events": elements}))
    assert [e.request_id for e in out.events] == ["0", "1", "2", "3", "4"]
    assert [(r.reason, r.index) for r in out.rejected] == [
        (Reason.MISSING_FIELD, 2), (Reason.NOT_OBJECT, 6), (Reason.MIXED_MODELS, 7)]
    assert json.loads(out.rejected[0].raw) == bad  # the element's own bytes, not the whole message
    assert json.loads(out.rejected[2].raw)["model_id"] == "other-model"


def test_too_many_events_in_an_envelope_rejects_the_excess_only():
    out = decode(encode({"events": [prediction(request_id=str(i)) for i in range(7)]}), max_batch_events=5)
    assert len(out.events) == 5
    assert [(r.reason, r.index) for r in out.rejected] == [(Reason.TOO_MANY_EVENTS, 5), (Reason.TOO_MANY_EVENTS, 6)]


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_feature_values_are_missing_not_errors(literal):
    raw = b'{"model_id": "m", "ts": 1.0, "features": {"x": ' + literal + b', "y": 2}, "prediction": 1}'
    out = decode(raw)
    assert out.rejected == []
    value = out.events[0].features["x"]
    assert isinstance(value, float) and not math.isfinite(value)


def test_non_finite_values_inside_an_envelope_keep_the_rest():
    raw = (b'{"events": [{"model_id": "m", "ts": 1.0, "features": {"x": NaN}, "prediction": 1},'
           b' {"model_id": "m", "ts": 2.0, "features": {"x": 1}, "prediction": 0}]}')
    out = decode(raw)
    assert out.rejected == [] and len(out.events) == 2


def test_feature_events_have_no_prediction():
    out = decode(encode({"model_id": "m", "ts": 1.0, "features": {"x": 1}}), EventKind.FEATURE)
    assert isinstance(out.events[0], FeatureEvent) and not isinstance(out.events[0], PredictionEvent)


def test_label_events():
    out = decode(encode({"model_id": "m", "request_id": "r1", "label": 1, "ts": 5.0}), EventKind.LABEL)
    [label] = out.events
    assert isinstance(label, LabelEvent) and label.label == 1 and label.model_version is None
    [rejection] = decode(encode({"model_id": "m", "label": 1, "ts": 5.0}), EventKind.LABEL).rejected
    assert rejection.reason is Reason.MISSING_FIELD


def test_label_envelopes_do_not_count_features():
    labels = [{"model_id": "m", "request_id": str(i), "label": i % 2, "ts": 5.0} for i in range(20)]
    out = decode(encode({"events": labels}), EventKind.LABEL, max_features=1)
    assert len(out.events) == 20 and out.rejected == []


def test_unknown_fields_are_ignored_for_forward_compatibility():
    out = decode(encode(prediction(extra={"anything": [1, 2]})))
    assert out.rejected == [] and len(out.events) == 1


def test_msgspec_encoded_envelopes_round_trip():
    event = PredictionEvent(model_id="m", ts=1.0, features={"a": 1.0, "b": "x", "c": None, "d": True},
                            prediction=0.3, scores=0.3)
    raw = msgspec.json.encode({"events": [event, event]})
    out = decode(raw)
    assert out.events == [event, event]
