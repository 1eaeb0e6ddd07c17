"""The label join: one model's predictions and labels, matched by request_id in event time.

Labels arrive minutes to weeks after their predictions, and now and then before them.
:class:`LabelJoin` keeps both sides pending until their counterpart arrives:

- a prediction and a label with the same ``request_id`` join when their event times are at
  most ``ttl_seconds`` apart (either order); a pair further apart does not join, and both
  count as expired;
- a second prediction with a pending or joined ``request_id``, and a second label for a
  pending label or a joined request, are duplicates and are ignored (joined request ids are
  remembered until the watermark passes their prediction time + TTL, at most ``max_joined``);
- :meth:`LabelJoin.expire` drops what waited longer than the TTL in *event time*: a pending
  prediction (or label) at time ``t`` expires once the watermark passes ``t + ttl_seconds``;
  the caller passes the watermark (e.g. :attr:`LabelJoin.watermark`, the newest event time
  seen, minus an allowed lateness), so the join has no clock;
- memory is bounded: when more than ``max_pending`` items (predictions + labels) wait, the
  oldest in event time are evicted and counted as evicted.

Every input ends up in exactly one place: each prediction is joined, pending, expired, a
duplicate or evicted, and so is each label (a join takes one of each). The pending state is
part of checkpoints (:meth:`LabelJoin.to_state`: columnar lists and arrays, no pickle).
Per item the work is a few dict operations and a heap push, so one core joins well over
100,000 events/s (``benchmarks/accuracy_quality.py`` measures it).

>>> join = LabelJoin(ttl_seconds=3600.0)
>>> join.add_predictions(["a", "b"], [0.0, 10.0], "v1", [1, 0], [0.9, 0.2])
[]
>>> [(j.request_id, j.label, j.delay) for j in join.add_labels(["b", "c", "b"], [1, 0, 1], [70.0, 80.0, 90.0])]
[('b', 1, 60.0)]
>>> join.expire(join.watermark + 3600.0), join.pending
({'expired_predictions': 1, 'expired_labels': 1}, {'predictions': 0, 'labels': 0})
>>> join.counts["joined"], join.counts["duplicate_labels"]
(1, 1)
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import OrderedDict
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

State = dict[str, Any]
_PREDICTION, _LABEL = 0, 1
COUNTERS = ("joined", "duplicate_predictions", "duplicate_labels", "expired_predictions", "expired_labels",
            "evicted_predictions", "evicted_labels")


class Joined(NamedTuple):
    """A prediction with its label."""

    request_id: str
    model_version: str
    prediction: Any
    scores: Any
    label: Any
    prediction_ts: float
    label_ts: float
    segment: str | None = None

    @property
    def delay(self) -> float:
        """Label time minus prediction time, seconds (for ``driftline_label_delay_seconds``)."""
        return self.label_ts - self.prediction_ts


def label_delays(joined: Sequence[Joined]) -> np.ndarray:
    """The label delay of each joined event, seconds."""
    return np.fromiter((j.label_ts - j.prediction_ts for j in joined), dtype=np.float64, count=len(joined))


def group_joined(joined: Iterable[Joined]) -> dict[tuple[str, str | None], list[Joined]]:
    """Joined events per (model_version, segment), in order: one list per ModelQuality."""
    groups: dict[tuple[str, str | None], list[Joined]] = {}
    for j in joined:
        key = (j.model_version, j.segment)
        members = groups.get(key)
        if members is None:
            groups[key] = [j]
        else:
            members.append(j)
    return groups


def _floats(ts: Sequence[float] | np.ndarray) -> list[float]:
    return np.asarray(ts, dtype=np.float64).tolist()


class LabelJoin:
    """Predictions and labels of one model, joined by request_id within a TTL in event time.

    Parameters
    ----------
    ttl_seconds
        How long (event time) a prediction waits for its label, and a label for its prediction.
    max_pending
        Cap on pending predictions + labels; beyond it the oldest (event time) are evicted.
    max_joined
        Cap on remembered joined request ids (for duplicate detection); beyond it the
        earliest joined are forgotten (a later duplicate label then waits as pending and expires).
    """

    def __init__(self, ttl_seconds: float = 7 * 86400.0, max_pending: int = 1_000_000,
                 max_joined: int = 1_000_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_pending = max_pending
        self.max_joined = max_joined
        self._reset()

    def _reset(self) -> None:
        # request_id -> (ts, model_version, prediction, scores, segment)
        self._predictions: dict[str, tuple[float, str, Any, Any, str | None]] = {}
        self._labels: dict[str, tuple[float, Any]] = {}  # request_id -> (ts, label)
        self._joined: OrderedDict[str, float] = OrderedDict()  # joined request_id -> prediction ts, join order
        # (ts, kind, request_id) of every pending item and remembered join (the prediction's
        # entry); stale entries (joined, expired) are skipped when popped
        self._heap: list[tuple[float, int, str]] = []
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._watermark = -math.inf

    def add_predictions(self, request_ids: Sequence[str], ts: Sequence[float] | np.ndarray,
                        model_version: str | Sequence[str], predictions: Sequence[Any],
                        scores: Sequence[Any] | None = None,
                        segments: Sequence[str | None] | None = None) -> list[Joined]:
        """Add predictions (``model_version`` one for all, or one each); return those whose label was waiting."""
        times = _floats(ts)
        n = len(times)
        versions = itertools.repeat(model_version, n) if isinstance(model_version, str) else model_version
        scores_ = itertools.repeat(None, n) if scores is None else scores
        segments_ = itertools.repeat(None, n) if segments is None else segments
        predictions_, labels, joined, heap = self._predictions, self._labels, self._joined, self._heap
        ttl = self.ttl_seconds
        push = heapq.heappush
        out: list[Joined] = []
        duplicates = late = 0
        for rid, t, version, prediction, score, segment in zip(request_ids, times, versions, predictions, scores_,
                                                                segments_):
            if rid in predictions_ or rid in joined:
                duplicates += 1
                continue
            label = labels.pop(rid, None)
            if label is None:
                predictions_[rid] = (t, version, prediction, score, segment)
                push(heap, (t, _PREDICTION, rid))
            elif abs(label[0] - t) <= ttl:
                out.append(Joined(rid, version, prediction, score, label[1], t, label[0], segment))
                joined[rid] = t
                push(heap, (t, _PREDICTION, rid))
            else:
                late += 1
        self._after_batch(times, len(out), duplicates, late, "duplicate_predictions")
        return out

    def add_labels(self, request_ids: Sequence[str], labels: Sequence[Any],
                   ts: Sequence[float] | np.ndarray) -> list[Joined]:
        """Add labels; return those whose prediction was waiting."""
        times = _floats(ts)
        predictions, labels_, joined, heap = self._predictions, self._labels, self._joined, self._heap
        ttl = self.ttl_seconds
        push = heapq.heappush
        out: list[Joined] = []
        duplicates = late = 0
        for rid, label, t in zip(request_ids, labels, times):
            if rid in labels_ or rid in joined:
                duplicates += 1
                continue
            prediction = predictions.pop(rid, None)
            if prediction is None:
                labels_[rid] = (t, label)
                push(heap, (t, _LABEL, rid))
            elif abs(t - prediction[0]) <= ttl:
                pt, version, value, score, segment = prediction
                out.append(Joined(rid, version, value, score, label, pt, t, segment))
                joined[rid] = pt  # the prediction's heap entry now stands for the remembered join
            else:
                late += 1
        self._after_batch(times, len(out), duplicates, late, "duplicate_labels")
        return out

    def _after_batch(self, times: list[float], joined: int, duplicates: int, late: int, duplicate_key: str) -> None:
        counts = self._counts
        counts["joined"] += joined
        counts[duplicate_key] += duplicates
        counts["expired_predictions"] += late  # a pair further apart than the TTL: both sides expired
        counts["expired_labels"] += late
        if times:
            self._watermark = max(self._watermark, max(times))
        while len(self._joined) > self.max_joined:
            self._joined.popitem(last=False)
        if len(self._predictions) + len(self._labels) > self.max_pending:
            self._evict(len(self._predictions) + len(self._labels) - self.max_pending)
        if len(self._heap) > 2 * (len(self._predictions) + len(self._labels) + len(self._joined)) + 1024:
            self._rebuild_heap()

    def _pop_oldest(self) -> int:
        """Pop the oldest heap entry; drop what it stands for. -1 stale, 0/1 a pending prediction/label, 2 a join."""
        t, kind, rid = heapq.heappop(self._heap)
        if kind == _PREDICTION:
            entry = self._predictions.get(rid)
            if entry is not None and entry[0] == t:
                del self._predictions[rid]
                return _PREDICTION
            if self._joined.get(rid) == t:
                del self._joined[rid]
                return 2
            return -1
        entry_ = self._labels.get(rid)
        if entry_ is not None and entry_[0] == t:
            del self._labels[rid]
            return _LABEL
        return -1

    def _evict(self, excess: int) -> None:
        counts = self._counts
        while excess > 0 and self._heap:
            kind = self._pop_oldest()
            if kind == _PREDICTION:
                counts["evicted_predictions"] += 1
                excess -= 1
            elif kind == _LABEL:
                counts["evicted_labels"] += 1
                excess -= 1

    def expire(self, watermark: float) -> dict[str, int]:
        """Expire what waited more than the TTL before event time ``watermark``; return the counts of this call."""
        cutoff = watermark - self.ttl_seconds
        heap = self._heap
        expired = [0, 0]
        while heap and heap[0][0] < cutoff:
            kind = self._pop_oldest()
            if kind in (_PREDICTION, _LABEL):
                expired[kind] += 1
        self._counts["expired_predictions"] += expired[_PREDICTION]
        self._counts["expired_labels"] += expired[_LABEL]
        return {"expired_predictions": expired[_PREDICTION], "expired_labels": expired[_LABEL]}

    def _rebuild_heap(self) -> None:
        heap = [(entry[0], _PREDICTION, rid) for rid, entry in self._predictions.items()]
        heap += [(entry[0], _LABEL, rid) for rid, entry in self._labels.items()]
        heap += [(t, _PREDICTION, rid) for rid, t in self._joined.items()]
        heapq.heapify(heap)
        self._heap = heap

    @property
    def watermark(self) -> float:
        """The newest event time seen (predictions and labels); -inf before any."""
        return self._watermark

    @property
    def pending(self) -> dict[str, int]:
        return {"predictions": len(self._predictions), "labels": len(self._labels)}

    @property
    def counts(self) -> dict[str, int]:
        """The counters, and their totals ``duplicates``, ``expired`` and ``evicted``."""
        c = dict(self._counts)
        c["duplicates"] = c["duplicate_predictions"] + c["duplicate_labels"]
        c["expired"] = c["expired_predictions"] + c["expired_labels"]
        c["evicted"] = c["evicted_predictions"] + c["evicted_labels"]
        return c

    def to_state(self) -> State:
        """Parameters and state as plain data: the pending items column by column."""
        preds = self._predictions
        entries = list(preds.values())
        versions = sorted({e[1] for e in entries})
        code = {v: i for i, v in enumerate(versions)}
        labels = list(self._labels.values())
        state = {
            "predictions": {"request_id": list(preds), "ts": np.array([e[0] for e in entries], dtype=np.float64),
                            "versions": versions, "version": np.array([code[e[1]] for e in entries], dtype=np.int32),
                            "prediction": [e[2] for e in entries], "scores": [e[3] for e in entries],
                            "segment": [e[4] for e in entries]},
            "labels": {"request_id": list(self._labels), "ts": np.array([e[0] for e in labels], dtype=np.float64),
                       "label": [e[1] for e in labels]},
            "joined": {"request_id": list(self._joined), "ts": np.array(list(self._joined.values()), dtype=np.float64)},
            "counts": dict(self._counts), "watermark": self._watermark,
        }
        params = {"ttl_seconds": self.ttl_seconds, "max_pending": self.max_pending, "max_joined": self.max_joined}
        return {"params": params, "state": state}

    @classmethod
    def from_state(cls, snapshot: State) -> LabelJoin:
        """Rebuild a join from :meth:`to_state`'s output."""
        join = cls(**snapshot["params"])
        s = snapshot["state"]
        p = s["predictions"]
        versions = [str(v) for v in p["versions"]]
        for rid, t, v, pred, score, seg in zip(p["request_id"], _floats(p["ts"]), np.asarray(p["version"]).tolist(),
                                               p["prediction"], p["scores"], p["segment"]):
            join._predictions[rid] = (t, versions[v], pred, score, seg)
        lab = s["labels"]
        join._labels.update((rid, (t, value)) for rid, t, value in zip(lab["request_id"], _floats(lab["ts"]),
                                                                        lab["label"]))
        join._joined.update(zip(s["joined"]["request_id"], _floats(s["joined"]["ts"])))
        join._counts.update({k: int(v) for k, v in s["counts"].items()})
        join._watermark = float(s["watermark"])
        join._rebuild_heap()
        return join
