"""Decode and validate input messages, one event or a batched envelope at a time.

A message is either one event or ``{"events": [ ... ]}`` (DESIGN.md §2). The
fast path decodes the whole message with one msgspec call; only when that fails
does the slow path split it into its elements, so that one bad event in an
envelope of five hundred costs that event alone. Every event comes out either
decoded or as a :class:`Rejection` with a machine-readable reason and its own
raw bytes, never both and never neither.

>>> from driftline.config import LimitsConfig
>>> decoder = EventDecoder(EventKind.PREDICTION, LimitsConfig())
>>> out = decoder.decode(
...     b'{"events": [{"model_id": "m", "ts": 100.0, "features": {"x": 1}, "prediction": 1},'
...     b' {"model_id": "bad id", "ts": 100.0, "features": {}, "prediction": 0}]}',
...     now=200.0)
>>> [e.model_id for e in out.events], out.ts, [(r.reason.value, r.index) for r in out.rejected]
(['m'], [100.0], [('bad_model_id', 1)])
"""

from __future__ import annotations

import enum
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import msgspec

from driftline.config import LimitsConfig
from driftline.events.schema import EVENT_TYPES, EventKind, FeatureEvent, LabelEvent


class Reason(str, enum.Enum):
    """Why an input was dead-lettered; the value is the ``reason`` metric label (bounded set)."""

    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    BAD_MODEL_ID = "bad_model_id"
    BAD_TIMESTAMP = "bad_timestamp"
    TOO_MANY_FEATURES = "too_many_features"
    TOO_MANY_EVENTS = "too_many_events"
    MIXED_MODELS = "mixed_models"
    MODEL_LIMIT = "model_limit"


@dataclass(slots=True)
class Rejection:
    """One input that could not be used: why, and its raw bytes (an element's own, in an envelope)."""

    reason: Reason
    detail: str
    raw: bytes
    index: int | None = None  # position in the envelope, None for a single-event message


@dataclass(slots=True)
class Decoded:
    """What one message decoded to: valid events with their epoch timestamps, and rejections."""

    events: list[Any] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


# What msgspec raises for unreadable input: besides DecodeError, UnicodeDecodeError for a key
# that is not UTF-8, and RecursionError for nesting deeper than the (remaining) stack.
_UNREADABLE = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


class _Invalid(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class EventDecoder:
    """Decodes messages of one input topic (one :class:`EventKind`) under the configured limits."""

    def __init__(self, kind: EventKind, limits: LimitsConfig) -> None:
        self.kind = kind
        self.limits = limits
        self._type = EVENT_TYPES[kind]
        batch_type = msgspec.defstruct(f"{self._type.__name__}Batch", [("events", list[self._type])], gc=False)
        self._single = msgspec.json.Decoder(self._type)
        self._batch = msgspec.json.Decoder(batch_type)
        self._elements = msgspec.json.Decoder(dict[str, msgspec.Raw])
        self._raw_list = msgspec.json.Decoder(list[msgspec.Raw])

    def decode(self, raw: bytes | None, now: float) -> Decoded:
        """Decode one message; ``now`` (epoch seconds) bounds how far in the future an event may be.

        Never raises for any input: a record without a value (a tombstone) and JSON nested
        deeper than the interpreter can follow are rejected as ``not_json``.
        """
        out = Decoded()
        if raw is None:
            out.rejected.append(Rejection(Reason.NOT_JSON, "a record without a value (a tombstone)", b""))
            return out
        if len(raw) > self.limits.max_message_bytes:
            out.rejected.append(
                Rejection(Reason.TOO_LARGE, f"message of {len(raw)} bytes > {self.limits.max_message_bytes}", raw)
            )
            return out
        try:
            if raw.find(b'"events"', 0, 64) >= 0:
                events = self._batch.decode(raw).events
                if len(events) > self.limits.max_batch_events:
                    raise _Invalid(Reason.TOO_MANY_EVENTS, "")  # the slow path words it
            else:
                events = [self._single.decode(raw)]
            ts = self._checked(events, now)
        except (*_UNREADABLE, _Invalid):
            try:
                return self._decode_slowly(raw, now)
            except RecursionError:
                out.rejected.append(Rejection(Reason.NOT_JSON, "nested too deeply", raw))
                return out
        out.events = events
        out.ts = ts
        return out

    def _checked(self, events: list[Any], now: float) -> list[float]:
        """Timestamps of ``events`` after the checks types cannot express; raises _Invalid."""
        model_id = events[0].model_id if events else None
        max_features = self.limits.max_features
        horizon = now + self.limits.max_future_seconds
        labels = self.kind is EventKind.LABEL
        ts = []
        for event in events:
            if event.model_id != model_id:
                raise _Invalid(Reason.MIXED_MODELS, f"model_id {event.model_id!r} in an envelope of {model_id!r}")
            if not labels and len(event.features) > max_features:
                raise _Invalid(Reason.TOO_MANY_FEATURES, f"{len(event.features)} features > {max_features}")
            t = event.ts
            if t.__class__ is not float:
                t = _epoch(t)
            if not (0.0 <= t <= horizon):  # also False for NaN
                raise _Invalid(Reason.BAD_TIMESTAMP, f"ts {t!r} is not between 1970 and now + {self.limits.max_future_seconds:g} s")
            ts.append(t)
        return ts

    def _decode_slowly(self, raw: bytes, now: float) -> Decoded:
        """Isolate what is wrong: the whole message, or which elements of an envelope."""
        out = Decoded()
        try:
            top = self._elements.decode(raw)
        except _UNREADABLE:
            top = None
        if top is None:
            # Not strict JSON, or not an object. The standard library also reads NaN, Infinity and
            # 1e999, which the contract treats as missing values rather than as broken input.
            try:
                loose = _loads(raw)
            except (ValueError, RecursionError) as exc:
                out.rejected.append(Rejection(Reason.NOT_JSON, _one_line(exc), raw))
                return out
            if not isinstance(loose, dict):
                out.rejected.append(Rejection(Reason.NOT_OBJECT, f"expected an object, got {_json_type(loose)}", raw))
                return out
            if "events" in loose:
                elements = loose["events"]
                if not isinstance(elements, list):
                    out.rejected.append(Rejection(Reason.WRONG_TYPE, "events: expected an array", raw))
                    return out
                self._add_elements(out, [_dumps(e) for e in elements], elements, now)
            else:
                self._add_one(out, raw, loose, None, now)
            return out
        if "events" in top:
            try:
                elements_raw = [bytes(e) for e in self._raw_list.decode(top["events"])]
            except _UNREADABLE:
                out.rejected.append(Rejection(Reason.WRONG_TYPE, "events: expected an array", raw))
                return out
            self._add_elements(out, elements_raw, None, now)
        else:
            self._add_one(out, raw, None, None, now)
        return out

    def _add_elements(self, out: Decoded, elements_raw: list[bytes], parsed: list[Any] | None, now: float) -> None:
        limit = self.limits.max_batch_events
        model_id = None
        for index, element in enumerate(elements_raw):
            if index >= limit:
                out.rejected.append(Rejection(Reason.TOO_MANY_EVENTS, f"envelope holds more than {limit} events", element, index))
                continue
            before = len(out.events)
            self._add_one(out, element, None if parsed is None else parsed[index], index, now)
            if len(out.events) > before:
                event = out.events[-1]
                if model_id is None:
                    model_id = event.model_id
                elif event.model_id != model_id:
                    out.events.pop()
                    out.ts.pop()
                    detail = f"model_id {event.model_id!r} in an envelope of {model_id!r}"
                    out.rejected.append(Rejection(Reason.MIXED_MODELS, detail, element, index))

    def _add_one(self, out: Decoded, raw: bytes, parsed: Any, index: int | None, now: float) -> None:
        try:
            event = self._one(raw, parsed)
            ts = self._checked([event], now)
        except _Invalid as exc:
            out.rejected.append(Rejection(exc.reason, exc.detail, raw, index))
            return
        out.events.append(event)
        out.ts.append(ts[0])

    def _one(self, raw: bytes, parsed: Any) -> FeatureEvent | LabelEvent:
        if parsed is None:
            try:
                return self._single.decode(raw)
            except _UNREADABLE as exc:
                strict_error: Exception = exc
            try:
                parsed = _loads(raw)
            except (ValueError, RecursionError):
                raise _Invalid(Reason.NOT_JSON, _one_line(strict_error)) from None
        if not isinstance(parsed, dict):
            raise _Invalid(Reason.NOT_OBJECT, f"expected an object, got {_json_type(parsed)}")
        try:
            return msgspec.convert(parsed, self._type, strict=False)
        except msgspec.ValidationError as exc:
            raise _Invalid(_reason_of(exc), _one_line(exc)) from None


def _epoch(value: datetime | float) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)  # a naive timestamp is taken as UTC
        return value.timestamp()
    return float(value)


def _reason_of(exc: msgspec.ValidationError) -> Reason:
    message = str(exc)
    if message.endswith("`$.model_id`"):
        return Reason.BAD_MODEL_ID
    if message.endswith("`$.ts`"):
        return Reason.BAD_TIMESTAMP
    if message.startswith("Object missing required field"):
        return Reason.MISSING_FIELD
    return Reason.WRONG_TYPE


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _json_type(value: Any) -> str:
    return {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(value), "null")


def _loads(raw: bytes) -> Any:
    """The standard library's reading, with integers beyond float range as infinities (missing values)."""
    return json.loads(raw, parse_int=_parse_int)


def _parse_int(text: str) -> int | float:
    negative = text.startswith("-")
    if len(text) - negative <= 309:  # float's maximum has 309 digits; never convert a longer one
        value = int(text)
        if abs(value) <= _FLOAT_MAX:
            return value
    return float("-inf") if negative else float("inf")


_FLOAT_MAX = int(sys.float_info.max)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()

