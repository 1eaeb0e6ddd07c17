"""Fuzz input for the input topics: messages valid and invalid, each with the outcome it must have.

:class:`MessageMaker` draws from a ``random.Random`` (seeded, or hypothesis' ``st.randoms()``)
one message of one input topic at a time: a single event or an envelope, valid events with
odd but legal content (NaN and infinite features, huge numbers, unicode, unknown fields,
out-of-order and old timestamps, every timestamp format), events broken in one known way
(a missing field, a bad model id, a far-future or non-finite timestamp, a wrong type, too
many features), envelopes that mix models or exceed the event limit, and messages that are
broken as a whole (random bytes, JSON that is not an object, too large, nested too deeply,
a record without a value). Each :class:`FuzzMessage` says which models its valid events
belong to and which dead-letter reasons its rejections must carry (``ANY`` where the
reason is not ours to predict, e.g. for random bytes).
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from driftline.config import LimitsConfig
from driftline.events.schema import EventKind

ANY = "*"  # a rejection whose reason is not predicted (it must still be one of driftline's reasons)
TEXT = string.ascii_letters + string.digits + " ._-/:ßü€😀\u0000\n\t\"'\\"


@dataclass(frozen=True)
class FuzzMessage:
    """One message of an input topic and what must become of it."""

    kind: EventKind
    key: bytes | None
    value: bytes | None
    events: tuple[str, ...]  # the model ids of its valid events, in order
    rejected: tuple[str, ...]  # the reasons of its rejections (ANY: some reason)


class MessageMaker:
    """Draws messages from ``rng``; valid events are of ``models`` (``strangers`` are other valid ids)."""

    def __init__(self, rng: random.Random, now: float, limits: LimitsConfig,
                 models: tuple[str, ...] = ("fraud", "churn", "rank.v2"),
                 strangers: tuple[str, ...] = ("unknown-1", "unknown.2")) -> None:
        self.rng = rng
        self.now = now
        self.limits = limits
        self.models = models
        self.strangers = strangers
        self._serial = 0

    # --- messages ---------------------------------------------------------------------------------

    def message(self, kind: EventKind | None = None) -> FuzzMessage:
        kind = kind or self.rng.choice(list(EventKind))
        shape = self.rng.choices(
            ["single", "envelope", "garbage", "json", "too_large", "deep", "tombstone", "events_not_list"],
            weights=[30, 30, 6, 6, 3, 3, 2, 2])[0]
        return getattr(self, f"_{shape}")(kind)

    def valid(self, kind: EventKind, model: str, n: int = 1) -> FuzzMessage:
        """A clean envelope of ``n`` valid events of ``model`` (for warm-ups and sentinels)."""
        events = [self.event(kind, model) for _ in range(n)]
        return FuzzMessage(kind, model.encode(), _dumps({"events": events}), (model,) * n, ())

    def _single(self, kind: EventKind) -> FuzzMessage:
        model = self._model()
        element, outcome = self._element(kind, model)
        if outcome is None:
            return FuzzMessage(kind, self._key(model), _dumps(element), (model,), ())
        return FuzzMessage(kind, self._key(model), _dumps(element), (), (outcome,))

    def _envelope(self, kind: EventKind) -> FuzzMessage:
        model = self._model()
        limit = self.limits.max_batch_events
        size = self.rng.choice([0, 1, 2, 5, limit, limit + self.rng.randint(1, 3)])
        elements, events, rejected = [], [], []
        envelope_model: str | None = None
        for index in range(size):
            element_model = model if self.rng.random() < 0.85 else self.rng.choice(self.models + self.strangers)
            element, outcome = self._element(kind, element_model)
            elements.append(element)
            if index >= limit:
                rejected.append("too_many_events")
            elif outcome is not None:
                rejected.append(outcome)
            elif envelope_model is None or element_model == envelope_model:
                envelope_model = element_model
                events.append(element_model)
            else:
                rejected.append("mixed_models")
        extra = self._extra_fields()
        value = _dumps({**extra, "events": elements} if self.rng.random() < 0.5 else {"events": elements, **extra})
        if len(value) > self.limits.max_message_bytes:
            return FuzzMessage(kind, self._key(model), value, (), ("too_large",))
        return FuzzMessage(kind, self._key(model), value, tuple(events), tuple(rejected))

    def _garbage(self, kind: EventKind) -> FuzzMessage:
        while True:
            value = self.rng.randbytes(self.rng.randint(0, 300))
            try:
                parsed = json.loads(value)
            except (ValueError, RecursionError):
                break
            if not isinstance(parsed, dict):
                break
        return FuzzMessage(kind, self._random_key(), value, (), (ANY,))

    def _json(self, kind: EventKind) -> FuzzMessage:
        """A JSON value that is not an event: a scalar or an array (not_object), or an object of junk."""
        value = self._junk(3)
        if isinstance(value, dict):
            value.pop("events", None)
            return FuzzMessage(kind, self._random_key(), _dumps(value), (), (ANY,))
        return FuzzMessage(kind, self._random_key(), _dumps(value), (), ("not_object",))

    def _too_large(self, kind: EventKind) -> FuzzMessage:
        model = self.rng.choice(self.models)
        event = self.event(kind, model)
        event["padding"] = "x" * (self.limits.max_message_bytes + self.rng.randint(0, 1000))
        return FuzzMessage(kind, model.encode(), _dumps(event), (), ("too_large",))

    def _deep(self, kind: EventKind) -> FuzzMessage:
        """An event with a field nested beyond what any JSON parser here follows (within the size limit)."""
        model = self.rng.choice(self.models)
        opener, closer = self.rng.choice([("[", "]"), ('{"a":', "}")])
        head = _dumps(self.minimal(kind, model))[:-1]
        room = (self.limits.max_message_bytes - len(head) - 100) // (len(opener) + len(closer))
        depth = self.rng.randint(min(3000, room), min(20_000, room))
        value = head + b', "deep": ' + (opener * depth).encode() + b"1" + (closer * depth).encode() + b"}"
        return FuzzMessage(kind, model.encode(), value, (), ("not_json",))

    def _tombstone(self, kind: EventKind) -> FuzzMessage:
        return FuzzMessage(kind, self.rng.choice(self.models).encode(), None, (), ("not_json",))

    def _events_not_list(self, kind: EventKind) -> FuzzMessage:
        value = self.rng.choice([3, "x", None, {"a": 1}, True])
        return FuzzMessage(kind, self._random_key(), _dumps({"events": value}), (), ("wrong_type",))

    # --- events -----------------------------------------------------------------------------------

    def _element(self, kind: EventKind, model: str) -> tuple[Any, str | None]:
        """An envelope element or single event, and its rejection reason (None: valid)."""
        roll = self.rng.random()
        if roll < 0.55:
            return self.event(kind, model), None
        if roll < 0.95:
            return self._broken(kind, model)
        junk = self._junk(2)
        return junk, ANY if isinstance(junk, dict) else "not_object"

    def event(self, kind: EventKind, model: str) -> dict[str, Any]:
        """A valid event of ``kind``, odd but legal wherever the contract allows it."""
        self._serial += 1
        event: dict[str, Any] = {"model_id": model, "ts": self._ts()}
        if self.rng.random() < 0.8:
            event["request_id"] = f"r{self._serial}"
        if kind is EventKind.LABEL:
            event["request_id"] = event.get("request_id", f"r{self._serial}")
            event["label"] = self._value(categorical=True, null=False)
            if self.rng.random() < 0.3:
                event["model_version"] = self.rng.choice(["v1", "v2"])
        else:
            event["features"] = {self._name(): self._value() for _ in range(self.rng.randint(0, self.limits.max_features))}
            if self.rng.random() < 0.7:
                event["model_version"] = self.rng.choice(["v1", "v2", "ünïcode version"])
            if self.rng.random() < 0.3:
                event["segment"] = {self._name(): self._text(10) for _ in range(self.rng.randint(0, 3))}
        if kind is EventKind.PREDICTION:
            event["prediction"] = self._value(categorical=True, null=False)
            event["scores"] = self.rng.choice([None, self._number(), {"0": self._number(), "1": self._number()}])
            if self.rng.random() < 0.3:
                event["latency_ms"] = self._number()
        event.update(self._extra_fields())
        return event

    def minimal(self, kind: EventKind, model: str) -> dict[str, Any]:
        """The smallest valid event of ``kind``."""
        if kind is EventKind.LABEL:
            return {"model_id": model, "request_id": "r", "label": 1, "ts": self.now}
        event: dict[str, Any] = {"model_id": model, "ts": self.now, "features": {"x": 1.0}}
        return {**event, "prediction": 1} if kind is EventKind.PREDICTION else event

    def _broken(self, kind: EventKind, model: str) -> tuple[dict[str, Any], str]:
        """A valid event broken in one way whose reason is known."""
        event = self.event(kind, model)
        required = ["model_id", "ts", "request_id", "label"] if kind is EventKind.LABEL else (
            ["model_id", "ts", "features"] + (["prediction"] if kind is EventKind.PREDICTION else []))
        breakages = ["missing_field", "bad_model_id", "bad_timestamp", "wrong_type"]
        if kind is not EventKind.LABEL:
            breakages.append("too_many_features")
        reason = self.rng.choice(breakages)
        if reason == "missing_field":
            del event[self.rng.choice(required)]
        elif reason == "bad_model_id":
            event["model_id"] = self.rng.choice(["has space", "", "x" * 129, 42, None, "ümlaut", "a/b", ["m"]])
        elif reason == "bad_timestamp":
            future = self.now + 30 * 86400 + self.rng.random() * 1e9
            event["ts"] = self.rng.choice([
                future, _rfc3339(future), -5, -1e12, "yesterday", "2026-13-45T99:00:00Z", "1969-12-31T23:59:59Z",
                float("nan"), float("inf"), float("-inf"), True, [1], {"t": 1}, None, 10**400])
        elif reason == "wrong_type":
            field, value = self.rng.choice(self._wrong_types(kind))
            event[field] = value
        else:  # too_many_features
            event["features"] = {f"f{i}": 1.0 for i in range(self.limits.max_features + self.rng.randint(1, 5))}
        return event, reason

    def _wrong_types(self, kind: EventKind) -> list[tuple[str, Any]]:
        common = [("request_id", ""), ("request_id", 7), ("model_version", "v" * 257), ("model_version", 3)]
        if kind is EventKind.LABEL:
            return common + [("label", None), ("label", {"a": 1}), ("label", [1])]
        features = [("features", [1, 2]), ("features", None), ("features", "x"), ("features", {"x": {"n": 1}}),
                    ("features", {"x": [1.0]}), ("segment", {"a": 1}), ("segment", "eu")]
        if kind is EventKind.PREDICTION:
            features += [("prediction", None), ("prediction", {}), ("prediction", [1]), ("scores", "high"),
                         ("scores", {"0": "x"}), ("scores", [0.1]), ("latency_ms", "slow")]
        return common + features

    # --- values -----------------------------------------------------------------------------------

    def _model(self) -> str:
        return self.rng.choice(self.models) if self.rng.random() < 0.85 else self.rng.choice(self.strangers)

    def _key(self, model: str) -> bytes | None:
        return model.encode() if self.rng.random() < 0.9 else self._random_key()

    def _random_key(self) -> bytes | None:
        return self.rng.choice([None, b"", self.rng.randbytes(self.rng.randint(1, 200)), "ключ".encode()])

    def _ts(self) -> Any:
        """A legal timestamp: any time from 1970 to a little ahead of now, in every format."""
        when = self.rng.choice([
            self.now - self.rng.random() * 3600, self.now - self.rng.random() * 86400 * 400,
            self.rng.random() * self.now, self.now + self.rng.random() * self.limits.max_future_seconds / 4, 0.0])
        style = self.rng.randrange(5)
        if style == 0:
            return when
        if style == 1:
            return int(when)
        if style == 2:
            return _rfc3339(when)
        moment = datetime.fromtimestamp(when, timezone.utc)
        if style == 3:
            return moment.astimezone(timezone(timedelta(hours=self.rng.randint(-12, 12)))).isoformat()
        return moment.replace(tzinfo=None).isoformat()  # naive: UTC

    def _value(self, categorical: bool = True, null: bool = True) -> Any:
        kinds = ["number", "number", "text", "bool", "odd"] + (["null"] if null else [])
        kind = self.rng.choice(kinds)
        if kind == "number":
            return self._number()
        if kind == "text":
            return self._text(self.rng.choice([1, 5, 40, 2000]))
        if kind == "bool":
            return self.rng.random() < 0.5
        if kind == "odd":
            return self.rng.choice([float("nan"), float("inf"), float("-inf"), 10**400, -(10**400), 1e308, 5e-324, -0.0])
        return None

    def _number(self) -> Any:
        return self.rng.choice([self.rng.random(), self.rng.gauss(0, 1e6), self.rng.randint(-10**18, 10**18), 0, 1])

    def _name(self) -> str:
        return self._text(self.rng.choice([1, 3, 12, 200])) or "f"

    def _text(self, size: int) -> str:
        return "".join(self.rng.choice(TEXT) for _ in range(self.rng.randint(0, size)))

    def _extra_fields(self) -> dict[str, Any]:
        """Unknown fields, ignored for forward compatibility (never ``events``, which makes an envelope)."""
        if self.rng.random() < 0.8:
            return {}
        return {f"x_{self._text(8)}": self._junk(3) for _ in range(self.rng.randint(1, 3))}

    def _junk(self, depth: int) -> Any:
        """A random JSON value (NaN and infinities included)."""
        roll = self.rng.random()
        if depth <= 0 or roll < 0.5:
            return self.rng.choice([None, True, False, self._number(), float("nan"), 10**400, self._text(12)])
        if roll < 0.75:
            return [self._junk(depth - 1) for _ in range(self.rng.randint(0, 4))]
        return {self._text(6): self._junk(depth - 1) for _ in range(self.rng.randint(0, 4))}


def _rfc3339(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")
