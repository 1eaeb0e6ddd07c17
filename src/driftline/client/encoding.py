"""One event checked and encoded as JSON bytes, ready to join an envelope ``{"events": [...]}``."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import msgspec

from driftline.client.tally import DropReason
from driftline.events.schema import MODEL_ID_PATTERN, EventKind

MAX_MESSAGE_BYTES = 1_000_000
"""The largest envelope allowed: under the worker's 1 MiB limit with room for the key and record headers."""

_OPEN, _CLOSE = b'{"events":[', b"]}"
_MODEL_ID = re.compile(MODEL_ID_PATTERN)


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """One event as JSON bytes, ready to join an envelope."""

    kind: EventKind
    model_id: str
    data: bytes


def _enc_hook(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()  # numpy scalars
    raise TypeError(f"cannot serialize {type(value).__name__}")


_ENCODER = msgspec.json.Encoder(enc_hook=_enc_hook, decimal_format="number")


def _is_valid(kind: EventKind, event: Mapping[str, Any]) -> bool:
    """The checks that cost next to nothing; the worker checks the rest."""
    model_id = event.get("model_id")
    if not isinstance(model_id, str) or _MODEL_ID.fullmatch(model_id) is None:
        return False
    if kind is EventKind.LABEL:
        return isinstance(event.get("request_id"), str) and event.get("label") is not None
    if not isinstance(event.get("features"), Mapping):
        return False
    return kind is EventKind.FEATURE or event.get("prediction") is not None


def encode_event(kind: EventKind | str, event: dict[str, Any], max_bytes: int = MAX_MESSAGE_BYTES) -> EncodedEvent | DropReason:
    """Check and encode ``event`` (filling in ``ts``, in place); a DropReason if it cannot be sent.

    A missing ``ts`` becomes the current epoch time; a naive datetime is taken as UTC. Datetimes
    are written as RFC 3339, numpy scalars as numbers, NaN and infinities as null (missing).

    >>> encode_event("label", {"model_id": "m", "request_id": "r", "label": 1, "ts": 5.0}).data
    b'{"model_id":"m","request_id":"r","label":1,"ts":5.0}'
    >>> encode_event("prediction", {"model_id": "bad id", "features": {}, "prediction": 1})
    <DropReason.INVALID: 'invalid'>
    """
    try:
        kind = EventKind(kind)
    except ValueError:
        return DropReason.INVALID
    if not _is_valid(kind, event):
        return DropReason.INVALID
    ts = event.get("ts")
    if ts is None:
        event["ts"] = time.time()
    elif isinstance(ts, datetime) and ts.tzinfo is None:
        event["ts"] = ts.replace(tzinfo=timezone.utc)
    try:
        data = _ENCODER.encode(event)
    except (TypeError, ValueError, OverflowError, RecursionError):
        return DropReason.UNSERIALIZABLE
    if len(data) + len(_OPEN) + len(_CLOSE) > max_bytes:
        return DropReason.TOO_LARGE
    return EncodedEvent(kind, event["model_id"], data)


def _present(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}
