"""Quality per segment of one model version: a :class:`ModelQuality` per segment value, capped.

A segment is the value of one name the user configures for a model (``country``, ``region``):
each event's value becomes the ``segment`` label of its metrics. To keep label cardinality
bounded, the first ``max_segments`` distinct values each get their own estimators and later
ones share :data:`OTHER_SEGMENT`; events without a value belong to no segment (the whole
version still counts them). Which values got a segment is part of the state, so a restored
version assigns the next events exactly like one that never stopped.

The caller admits each event's value once, when its prediction arrives (:meth:`SegmentedQuality.admit`),
and carries the admitted name with the prediction until its label joins it
(``driftline.events.join.Joined.segment``); joined events are routed by that name.

>>> seg = SegmentedQuality(max_segments=2, quality={"task": "binary", "window_events": 100, "detectors": []})
>>> names = seg.admit(["DE", "FR", "US", None, "DE"])
>>> names
['DE', 'FR', '__other__', None, 'DE']
>>> seg = seg.update_predictions(names, [1, 0, 1, 1, 0], [0.9, 0.2, 0.7, 0.6, 0.4], ts=[1.0, 2.0, 3.0, 4.0, 5.0])
>>> rows = segment_rows([SegmentRow(1, 0.9, 1, 1.0, 9.0, "DE"), SegmentRow(0, 0.4, 1, 5.0, 9.0, "DE"),
...                      SegmentRow(0, 0.2, 0, 2.0, 9.0, "FR")])
>>> seg = seg.update_joined(rows)
>>> seg.segments, seg.realized["DE"]["accuracy"], seg.realized["FR"]["accuracy"], seg.counts["DE"]["joined"]
(['DE', 'FR', '__other__'], 0.5, 1.0, 2)
>>> segment_label(True), segment_label(3.0), segment_label(2.5), segment_label(float("nan"))
('true', '3', '2.5', None)
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, NamedTuple, Self, Sequence

import numpy as np

from driftline.estimators.base import Estimator, State
from driftline.estimators.performance.quality import JOINED_DTYPE, ModelQuality

OTHER_SEGMENT = "__other__"  # the segment of values beyond the cap
MAX_LABEL_CHARS = 128  # longer values are cut: a label value, not free text
SEGMENT_DTYPE = np.dtype(JOINED_DTYPE.descr + [("segment", "O")])


class SegmentRow(NamedTuple):
    """A joined event with its segment, for callers (and tests) without a label join."""

    prediction: Any
    scores: Any
    label: Any
    prediction_ts: float
    label_ts: float
    segment: str | None


def segment_rows(joined: Sequence[Any]) -> np.ndarray:
    """Joined events with a ``segment`` attribute as a :data:`SEGMENT_DTYPE` array."""
    rows = np.empty(len(joined), dtype=SEGMENT_DTYPE)
    for name in SEGMENT_DTYPE.names:
        rows[name] = [getattr(j, name) for j in joined]
    return rows


def segment_label(value: Any) -> str | None:
    """An event's segment value as a label value: strings as they are (cut to 128 characters),
    booleans ``true``/``false``, integral numbers without a fraction; None (or NaN) is no segment."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            return None
        text = str(int(value)) if float(value).is_integer() else repr(float(value))
        return text[:MAX_LABEL_CHARS]
    return str(value)[:MAX_LABEL_CHARS]


def segment_values(events: Iterable[Any], key: str) -> list[str | None]:
    """Each event's value of ``key``: from its ``segment`` object if it has the key, else from its features."""
    out: list[str | None] = []
    for event in events:
        segment = getattr(event, "segment", None)
        if segment is not None and key in segment:
            out.append(segment_label(segment[key]))
        else:
            features = getattr(event, "features", None)
            out.append(segment_label(features.get(key)) if features is not None else None)
    return out


def _groups(names: Iterable[str | None]) -> dict[str, list[int]]:
    """Event indices per segment, in order of first appearance; events without a segment left out."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        if name is not None:
            members = groups.get(name)
            if members is None:
                groups[name] = [i]
            else:
                members.append(i)
    return groups


class SegmentedQuality(Estimator):
    """A :class:`ModelQuality` per segment, at most ``max_segments`` of them plus :data:`OTHER_SEGMENT`.

    Parameters
    ----------
    max_segments
        Distinct values that get their own segment; later values share ``__other__``.
    quality
        Keyword arguments of each segment's :class:`ModelQuality` (declare the version's task
        here, so that no segment infers another one from its own first events).

    ``update_batch`` takes :data:`SEGMENT_DTYPE` rows (joined events with their segment).
    """

    def __init__(self, max_segments: int = 20, quality: Mapping[str, Any] | None = None) -> None:
        if max_segments < 1:
            raise ValueError("max_segments must be at least 1")
        self.max_segments = max_segments
        self.quality = dict(quality or {})
        self._reset()

    def _reset(self) -> None:
        self._segments: dict[str, ModelQuality] = {}
        self._named = 0  # segments of their own (all but __other__)

    def _segment(self, value: str) -> str:
        """The segment of a value, admitting it while there is room."""
        if value in self._segments:
            return value
        if self._named >= self.max_segments:
            value = OTHER_SEGMENT
            if value in self._segments:
                return value
        else:
            self._named += value != OTHER_SEGMENT
        self._segments[value] = ModelQuality(**self.quality)
        return value

    def admit(self, values: Sequence[str | None]) -> list[str | None]:
        """The segment of each value (None stays None: no segment), admitting new values while there is room."""
        known, segment = self._segments, self._segment
        return [v if v is None or v in known else segment(v) for v in values]

    def update_predictions(self, segments: Sequence[str | None], predictions: Sequence[Any],
                           scores: Sequence[Any] | None = None,
                           ts: Sequence[float] | np.ndarray | None = None) -> Self:
        """Feed each segment's CBPE window with its predictions (``segments`` from :meth:`admit`)."""
        times = None if ts is None else np.asarray(ts, dtype=np.float64)
        for name, idx in _groups(self.admit(segments)).items():
            self._segments[name].update_predictions(
                [predictions[i] for i in idx], None if scores is None else [scores[i] for i in idx],
                None if times is None else times[idx])
        return self

    def update_joined(self, joined: Sequence[Any] | np.ndarray) -> Self:
        """Feed joined events (with a ``segment`` attribute or field) to their segments' realized metrics."""
        if isinstance(joined, np.ndarray):
            for name, idx in _groups(self.admit(joined["segment"].tolist())).items():
                self._segments[name].update_joined(joined[idx][list(JOINED_DTYPE.names)])
            return self
        for name, idx in _groups(self.admit([j.segment for j in joined])).items():
            self._segments[name].update_joined([joined[i] for i in idx])
        return self

    def update_batch(self, values: np.ndarray) -> Self:
        return self.update_joined(values)

    @property
    def segments(self) -> list[str]:
        """The segments, in the order their first value came."""
        return list(self._segments)

    @property
    def realized(self) -> dict[str, dict[str, float]]:
        """``{segment: {metric: value}}`` (see :attr:`ModelQuality.realized`)."""
        return {name: q.realized for name, q in self._segments.items()}

    @property
    def estimated(self) -> dict[str, dict[str, float]]:
        """``{segment: {metric: CBPE estimate}}``."""
        return {name: q.estimated for name, q in self._segments.items()}

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """``{segment: counts}`` (see :attr:`ModelQuality.counts`)."""
        return {name: q.counts for name, q in self._segments.items()}

    def items(self) -> list[tuple[str, ModelQuality]]:
        """``(segment, its ModelQuality)`` pairs (a copy: a scrape may read while the stream adds)."""
        return list(self._segments.items())

    def _get_state(self) -> State:
        return {"segments": [[name, q._get_state()] for name, q in self._segments.items()], "named": self._named}

    def _set_state(self, state: State) -> None:
        self._reset()
        for name, quality_state in state["segments"]:
            quality = self._segments[str(name)] = ModelQuality(**self.quality)
            quality._set_state(quality_state)
        self._named = int(state["named"])
