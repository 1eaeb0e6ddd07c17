"""Turn decoded events into per-model column batches, the unit every monitor updates on.

One pass over the events of a micro-batch groups them by (model_id, model_version)
and transposes their features into columns, so that estimators update per column
with numpy instead of per event in Python.

>>> from driftline.events.schema import PredictionEvent
>>> events = [PredictionEvent(model_id="m", ts=1.0, features={"x": 1.0, "c": "DE"}, prediction=1),
...           PredictionEvent(model_id="m", ts=2.0, features={"x": 3.0}, prediction=0)]
>>> [batch] = group_events(EventKind.PREDICTION, events, [1.0, 2.0])
>>> batch.key, batch.size, batch.columns, batch.ts.tolist()
(('m', 'unversioned'), 2, {'x': [1.0, 3.0], 'c': ['DE', None]}, [1.0, 2.0])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any, Sequence

import numpy as np

from driftline.events.schema import EventKind

LABEL_VERSION = ""  # labels belong to a model until they are joined to a prediction's version


@dataclass(slots=True)
class ModelBatch:
    """The events of one (model_id, model_version) in one micro-batch, as columns."""

    kind: EventKind
    model_id: str
    model_version: str
    ts: np.ndarray  # float64 epoch seconds, one per event
    events: list[Any]  # the decoded events, in input order
    columns: dict[str, list[Any]] = field(default_factory=dict)  # feature -> values, None where absent

    @property
    def key(self) -> tuple[str, str]:
        return (self.model_id, self.model_version)

    @property
    def size(self) -> int:
        return len(self.events)


def group_events(kind: EventKind, events: Sequence[Any], ts: Sequence[float]) -> list[ModelBatch]:
    """Group ``events`` (with their epoch timestamps ``ts``) into one column batch per model version."""
    labels = kind is EventKind.LABEL
    groups: dict[tuple[str, str], list[int]] = {}
    for i, event in enumerate(events):
        version = (event.model_version or LABEL_VERSION) if labels else event.model_version
        key = (event.model_id, version)
        members = groups.get(key)
        if members is None:
            groups[key] = [i]
        else:
            members.append(i)
    if len(groups) == 1:  # the common case: one envelope of one model version
        ((key, _),) = groups.items()
        return [_batch(kind, key, list(events), np.asarray(ts, dtype=np.float64), labels)]
    ts_array = np.asarray(ts, dtype=np.float64)
    return [
        _batch(kind, key, [events[i] for i in members], ts_array[members], labels)
        for key, members in groups.items()
    ]


def _batch(kind: EventKind, key: tuple[str, str], events: list[Any], ts: np.ndarray, labels: bool) -> ModelBatch:
    batch = ModelBatch(kind=kind, model_id=key[0], model_version=key[1], ts=ts, events=events)
    if labels:
        return batch
    columns = _same_features(events)
    if columns is not None:
        batch.columns = columns
        return batch
    n = len(events)
    columns = batch.columns
    for i, event in enumerate(events):
        for name, value in event.features.items():
            column = columns.get(name)
            if column is None:
                column = columns[name] = [None] * n
            column[i] = value
    return batch


_features = attrgetter("features")


def _same_features(events: list[Any]) -> dict[str, list[Any]] | None:
    """The columns when every event has the same feature names (the usual case), built by C-level
    maps per feature (twice as fast as the general loop); None when they differ."""
    features = list(map(_features, events))
    names = list(features[0]) if features else []
    if sum(map(len, features)) != len(names) * len(features):
        return None
    try:
        return {name: list(map(itemgetter(name), features)) for name in names}
    except KeyError:  # as many names, but not the same ones
        return None
