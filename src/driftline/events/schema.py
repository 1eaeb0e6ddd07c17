"""The event schemas of the contract (DESIGN.md §2), as msgspec structs.

msgspec validates while it decodes, in C, so a whole batched envelope is
decoded and type-checked in one call. What types cannot say (the feature-count
limit, the timestamp range, one model per envelope) is checked by
:mod:`driftline.events.decoder` right after.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, TypeAlias

import msgspec

MODEL_ID_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"
DEFAULT_VERSION = "unversioned"

ModelId = Annotated[str, msgspec.Meta(pattern=MODEL_ID_PATTERN)]
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
# number -> numeric, string or bool -> categorical, null (or a non-finite number) -> missing
FeatureValue: TypeAlias = float | str | bool | None
# RFC 3339 string or epoch seconds
Timestamp: TypeAlias = float | datetime
Scores: TypeAlias = float | dict[str, float]


class EventKind(str, enum.Enum):
    """What a message on an input topic carries; the value is the ``kind`` metric label."""

    PREDICTION = "prediction"
    FEATURE = "feature"
    LABEL = "label"


class FeatureEvent(msgspec.Struct, kw_only=True, gc=False):
    """Features without a prediction, e.g. logged by a feature pipeline; feeds data drift only."""

    model_id: ModelId
    ts: Timestamp
    features: dict[str, FeatureValue]
    model_version: ShortText = DEFAULT_VERSION
    request_id: ShortText | None = None
    segment: dict[str, str] | None = None


class PredictionEvent(FeatureEvent, kw_only=True, gc=False):
    """A model's prediction with the features it saw."""

    prediction: float | str | bool
    scores: Scores | None = None
    latency_ms: float | None = None


class LabelEvent(msgspec.Struct, kw_only=True, gc=False):
    """The true outcome of an earlier prediction, joined to it by (model_id, request_id)."""

    model_id: ModelId
    request_id: ShortText
    label: float | str | bool
    ts: Timestamp
    model_version: ShortText | None = None


Event: TypeAlias = FeatureEvent | PredictionEvent | LabelEvent

EVENT_TYPES: dict[EventKind, type[FeatureEvent] | type[LabelEvent]] = {
    EventKind.PREDICTION: PredictionEvent,
    EventKind.FEATURE: FeatureEvent,
    EventKind.LABEL: LabelEvent,
}
