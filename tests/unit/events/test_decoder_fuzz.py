"""The decoder under fuzzing: whatever the bytes, it never raises, and every input comes out exactly once.

For any bytes, any JSON (NaN, infinities, integers beyond float range, deep nesting) and any
envelope: ``decode`` returns; every rejection carries one of driftline's reasons, a detail and
raw bytes; an envelope of n elements gives n outcomes (events plus rejections, each index at
most once); a whole-message rejection comes alone; the events of a message share one model and
have timestamps between 1970 and the horizon. Messages drawn by :class:`MessageMaker` also
come out exactly as constructed: which models' events are valid, which reasons the rest get.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.config import LimitsConfig
from driftline.events.decoder import Decoded, EventDecoder, Reason
from driftline.events.schema import EVENT_TYPES, EventKind
from tests.support.fuzz import ANY, MessageMaker

NOW = 1_795_500_000.0
LIMITS = LimitsConfig(max_message_bytes=65536, max_features=20, max_batch_events=10)
DECODERS = {kind: EventDecoder(kind, LIMITS) for kind in EventKind}
REASONS = {reason.value for reason in Reason}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

kinds = st.sampled_from(list(EventKind))
json_scalars = (st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True)
                | st.integers(min_value=-(10**400), max_value=10**400) | st.text(max_size=30))
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=6),
    max_leaves=40,
)


def dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def check(out: Decoded, raw: bytes | None, kind: EventKind, elements: int | None = None) -> None:
    """The invariants every decoding keeps; ``elements``: the envelope's length, if it is one."""
    assert len(out.events) == len(out.ts)
    event_type = EVENT_TYPES[kind]
    horizon = NOW + LIMITS.max_future_seconds
    for event, ts in zip(out.events, out.ts):
        assert type(event) is event_type
        assert isinstance(ts, float) and 0.0 <= ts <= horizon
    assert len({event.model_id for event in out.events}) <= 1, "one model per message"
    for rejection in out.rejected:
        assert rejection.reason.value in REASONS
        assert isinstance(rejection.detail, str) and rejection.detail
        assert isinstance(rejection.raw, bytes)
    whole = [r for r in out.rejected if r.index is None]
    if whole:
        assert out.events == [] and len(out.rejected) == 1, "a whole-message rejection comes alone"
        assert whole[0].raw == (raw or b"")
    indices = [r.index for r in out.rejected if r.index is not None]
    assert len(indices) == len(set(indices))
    if elements is not None and not whole:
        assert len(out.events) + len(out.rejected) == elements
        assert all(0 <= i < elements for i in indices)


@FUZZ
@given(raw=st.binary(max_size=400), kind=kinds)
def test_any_bytes(raw: bytes, kind: EventKind) -> None:
    check(DECODERS[kind].decode(raw, NOW), raw, kind)


@FUZZ
@given(value=json_values, kind=kinds)
def test_any_json(value: Any, kind: EventKind) -> None:
    raw = dumps(value)
    out = DECODERS[kind].decode(raw, NOW)
    is_envelope = isinstance(value, dict) and "events" in value
    check(out, raw, kind, len(value["events"]) if is_envelope and isinstance(value["events"], list) else None)
    if not isinstance(value, dict):
        assert [r.reason for r in out.rejected] == [Reason.NOT_OBJECT]
    elif not is_envelope:
        assert len(out.events) + len(out.rejected) == 1


@FUZZ
@given(elements=st.lists(json_values, max_size=14), kind=kinds)
def test_any_envelope(elements: list[Any], kind: EventKind) -> None:
    raw = dumps({"events": elements})
    out = DECODERS[kind].decode(raw, NOW)
    check(out, raw, kind, len(elements))
    for rejection in out.rejected:
        if rejection.index is not None and rejection.index >= LIMITS.max_batch_events:
            assert rejection.reason is Reason.TOO_MANY_EVENTS


@FUZZ
@given(rng=st.randoms(use_true_random=False), kind=kinds)
def test_constructed_messages_come_out_as_constructed(rng: Any, kind: EventKind) -> None:
    message = MessageMaker(rng, NOW, LIMITS).message(kind)
    out = DECODERS[kind].decode(message.value, NOW)
    check(out, message.value, kind)
    assert tuple(event.model_id for event in out.events) == message.events
    got = Counter(r.reason.value for r in out.rejected)
    wanted = Counter(message.rejected)
    wildcards = wanted.pop(ANY, 0)
    assert sum(got.values()) == sum(wanted.values()) + wildcards
    assert not wanted - got, f"expected {wanted} (+{wildcards} any), got {got}: {[r.detail for r in out.rejected]}"


@FUZZ
@given(rng=st.randoms(use_true_random=False), kind=kinds, flips=st.lists(st.integers(min_value=0), max_size=8))
def test_corrupted_bytes_of_real_messages(rng: Any, kind: EventKind, flips: list[int]) -> None:
    raw = bytearray(MessageMaker(rng, NOW, LIMITS).message(kind).value or b"")
    for position in flips:
        if raw:
            raw[position % len(raw)] = rng.randrange(256)
    check(DECODERS[kind].decode(bytes(raw), NOW), bytes(raw), kind)


@pytest.mark.parametrize("depth", [900, 999, 1000, 5000, 30_000])
@pytest.mark.parametrize("stack", [0, 700])
def test_deep_nesting_never_raises_however_deep_the_stack_already_is(depth: int, stack: int) -> None:
    """msgspec and json give up at the interpreter's recursion limit, which the worker's stack eats into."""
    raw = b'{"model_id": "m", "ts": 1.0, "features": {}, "prediction": 1, "x": ' + b"[" * depth + b"]" * depth + b"}"
    envelope = b'{"events": [' + raw + b"]}"

    def at_depth(n: int, message: bytes) -> Decoded:
        return at_depth(n - 1, message) if n > 0 else DECODERS[EventKind.PREDICTION].decode(message, NOW)

    assert stack < sys.getrecursionlimit() - 100
    for message in (raw, envelope):
        out = at_depth(stack, message)
        check(out, message, EventKind.PREDICTION)
        assert len(out.events) + len(out.rejected) == 1
        if out.rejected:
            assert out.rejected[0].reason is Reason.NOT_JSON


def test_a_record_without_a_value_is_rejected_not_raised() -> None:
    out = DECODERS[EventKind.LABEL].decode(None, NOW)
    assert [(r.reason, r.raw) for r in out.rejected] == [(Reason.NOT_JSON, b"")]


@pytest.mark.parametrize("literal", [b"1" + b"0" * 400, b"-1" + b"0" * 400])
def test_integers_beyond_float_range_are_non_finite_values_not_errors(literal: bytes) -> None:
    raw = b'{"model_id": "m", "ts": 1.0, "features": {"x": ' + literal + b'}, "prediction": ' + literal + b"}"
    out = DECODERS[EventKind.PREDICTION].decode(raw, NOW)
    assert out.rejected == []
    assert math.isinf(out.events[0].features["x"]) and math.isinf(out.events[0].prediction)
    [rejection] = DECODERS[EventKind.PREDICTION].decode(raw.replace(b'"ts": 1.0', b'"ts": ' + literal), NOW).rejected
    assert rejection.reason is Reason.BAD_TIMESTAMP


@pytest.mark.parametrize(("raw", "events"), [
    (b'{"\x80odel_id": "m", "ts": 1.0, "features": {}, "prediction": 1}', 0),
    (b'{"model_id": "m", "ts": 1.0, "features": {"\xff": 1}, "prediction": 1}', 0),
    (b'{"events": [{"model_id": "m", "ts": 1.0, "features": {"\xc3": 1}, "prediction": 1}]}', 0),
    (b'{"events": [{"\xfe": 1}, {"model_id": "m", "ts": 1.0, "features": {}, "prediction": 1}]}', 1),
])
def test_keys_that_are_not_utf8_are_rejected_not_raised(raw: bytes, events: int) -> None:
    """msgspec raises UnicodeDecodeError (not a DecodeError) for such a key; found by the fuzzing above."""
    out = DECODERS[EventKind.PREDICTION].decode(raw, NOW)
    check(out, raw, EventKind.PREDICTION)
    assert len(out.events) == events and len(out.rejected) == 1


class _Untouchable:
    def decode(self, raw: bytes) -> Any:
        raise AssertionError("parsed a message over the size limit")


@FUZZ
@given(raw=st.binary(min_size=65, max_size=400) | json_values.map(dumps).filter(lambda raw: len(raw) > 64), kind=kinds)
def test_the_size_limit_is_enforced_before_any_parsing(raw: bytes, kind: EventKind) -> None:
    decoder = EventDecoder(kind, LimitsConfig(max_message_bytes=64))
    decoder._single = decoder._batch = decoder._elements = decoder._raw_list = _Untouchable()  # type: ignore[assignment]
    [rejection] = decoder.decode(raw, NOW).rejected
    assert rejection.reason is Reason.TOO_LARGE and rejection.raw == raw
