"""Task types, their metric names, and the encoding of predictions, scores and labels into numeric rows.

Every estimator of the package works on *encoded rows* (:data:`ROW_DTYPE`), one per event:

==========  =================================  =================================  ==============
field       binary                             multiclass                         regression
==========  =================================  =================================  ==============
``y``       label is the positive class (0/1)  label's class code                 label
``yhat``    prediction is positive (0/1)       prediction's class code            prediction
``p``       probability of the positive class  probability of the true class      NaN
``q``       NaN                                probability of the predicted class NaN
``ts``      event time (epoch seconds)         event time                         event time
==========  =================================  =================================  ==============

``y`` is NaN for predictions that have no label yet; ``p``/``q`` are NaN without scores.

Classes are compared by their *key*, the string :func:`class_key` gives: strings as they are,
``True``/``False`` as ``"1"``/``"0"``, integral numbers without a fraction (``1.0`` -> ``"1"``).
Score objects (``{"0": 0.1, "1": 0.9}``) are keyed the same way and normalised to sum to one.
A binary model's positive class is ``pos_label`` (default ``"1"``); a binary prediction that is a
number strictly between 0 and 1 is read as the positive-class probability (thresholded for the
predicted class, and used as the score when the event has none).

>>> enc = Encoder(BINARY)
>>> rows = enc.encode([1, 0, 0.8], [0.9, {"0": 0.7, "1": 0.3}, None], labels=[True, 1, 0], ts=[1.0, 2.0, 3.0])
>>> rows["y"].tolist(), rows["yhat"].tolist(), rows["p"].tolist()
([1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.9, 0.3, 0.8])
>>> infer_task(["cat", "dog"], None), infer_task([0.0, 1.0], [0.2, 0.7]), infer_task([3.5, 1.2], None)
('multiclass', 'binary', 'regression')
"""

from __future__ import annotations

import math
from operator import itemgetter
from typing import Any, Sequence

import numpy as np

from driftline.estimators.base import State

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"
TASKS = (BINARY, MULTICLASS, REGRESSION)
REALIZED_METRICS: dict[str, tuple[str, ...]] = {
    BINARY: ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier", "ece"),
    MULTICLASS: ("accuracy", "macro_f1", "log_loss"),
    REGRESSION: ("mae", "rmse", "mape", "bias"),
}
ESTIMATED_METRICS: dict[str, tuple[str, ...]] = {
    BINARY: ("accuracy", "precision", "recall", "f1", "roc_auc"),
    MULTICLASS: ("accuracy",),
    REGRESSION: (),
}
ALL_METRICS = frozenset(m for names in REALIZED_METRICS.values() for m in names)
ROW_DTYPE = np.dtype([("y", "f8"), ("yhat", "f8"), ("p", "f8"), ("q", "f8"), ("ts", "f8")])
OTHER_CLASS = "__other__"  # the class of every class beyond ``max_classes``


def class_key(value: Any) -> str:
    """The string a class is known by: ``True`` -> ``"1"``, ``2.0`` -> ``"2"``, ``"cat"`` -> ``"cat"``."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def infer_task(predictions: Sequence[Any], scores: Sequence[Any] | None,
               labels: Sequence[Any] | None = None, pos_label: str | None = None) -> str:
    """The task of a model, from its first predictions (and labels, when known).

    Strings, or score objects with more than two classes, make a multiclass model (binary when
    ``pos_label`` is declared); booleans, or numbers that are all 0 or 1, a binary one; numbers in
    [0, 1] with scores too; any other number a regression.
    """
    values = list(predictions) + ([] if labels is None else list(labels))
    score_list = [] if scores is None else [s for s in scores if s is not None]
    if any(isinstance(v, str) for v in values) or any(isinstance(s, dict) and len(s) > 2 for s in score_list):
        return BINARY if pos_label is not None else MULTICLASS
    if all(isinstance(v, (bool, np.bool_)) or v in (0, 1) for v in values):
        return BINARY
    if score_list and all(0.0 <= float(v) <= 1.0 for v in predictions):
        return BINARY
    return REGRESSION


def _floats(values: Sequence[Any]) -> np.ndarray | None:
    """``values`` as float64 when they all are numbers (or booleans), else None."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return values.astype(np.float64, copy=False)
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array if array.ndim == 1 else None


def _normalised(scores: dict[str, float], key: str) -> float:
    total = sum(scores.values())
    return scores.get(key, 0.0) / total if total > 0 else math.nan


class Encoder:
    """Turns raw predictions, scores and labels into :data:`ROW_DTYPE` rows for one task.

    Multiclass classes get codes in order of appearance, up to ``max_classes``; later classes
    share the code of :data:`OTHER_CLASS`. The vocabulary is state (:meth:`get_state`).
    """

    def __init__(self, task: str, pos_label: str | None = None, threshold: float = 0.5,
                 max_classes: int = 50) -> None:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
        self.task = task
        self.pos_key = "1" if pos_label is None else class_key(pos_label)
        self.threshold = threshold
        self.max_classes = max_classes
        self._codes: dict[str, int] = {}

    @property
    def classes(self) -> list[str]:
        return list(self._codes)

    def encode(self, predictions: Sequence[Any], scores: Sequence[Any] | None = None,
               labels: Sequence[Any] | None = None, ts: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
        """One row per prediction; ``labels`` None for predictions without labels yet."""
        n = len(predictions)
        rows = np.empty(n, dtype=ROW_DTYPE)
        rows["ts"] = 0.0 if ts is None else np.asarray(ts, dtype=np.float64)
        rows["q"] = np.nan
        if self.task == REGRESSION:
            rows["yhat"] = self._numbers(predictions)
            rows["y"] = np.nan if labels is None else self._numbers(labels)
            rows["p"] = np.nan
        elif self.task == BINARY:
            yhat, p_pred = self._binary_predictions(predictions)
            rows["yhat"] = yhat
            rows["p"] = np.where(np.isnan(p_pred), self._positive_scores(scores, n), p_pred)
            rows["y"] = np.nan if labels is None else self._binary(labels)
        else:
            rows["yhat"] = self._class_codes(predictions)
            rows["q"] = self._class_scores(scores, predictions, n)
            rows["y"] = np.nan if labels is None else self._class_codes(labels)
            rows["p"] = np.nan if labels is None else self._class_scores(scores, labels, n)
        return rows

    @staticmethod
    def _numbers(values: Sequence[Any]) -> np.ndarray:
        array = _floats(values)
        if array is None:
            raise ValueError("a regression model's predictions and labels must be numbers")
        return array

    def _binary(self, values: Sequence[Any]) -> np.ndarray:
        array = _floats(values)
        if array is not None and self.pos_key == "1":
            return (array == 1.0).astype(np.float64)
        pos = self.pos_key
        return np.fromiter((class_key(v) == pos for v in values), dtype=np.float64, count=len(values))

    def _binary_predictions(self, values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted class (0/1) and, for predictions strictly inside (0, 1), the prediction as a score."""
        array = _floats(values)
        if array is None:
            return self._binary(values), np.full(len(values), np.nan)
        crisp = (array == 0.0) | (array == 1.0)
        if crisp.all():
            return self._binary(values), np.full(array.size, np.nan)
        yhat = np.where(crisp, self._binary(values), (array >= self.threshold).astype(np.float64))
        return yhat, np.where(crisp, np.nan, array)

    def _positive_scores(self, scores: Sequence[Any] | None, n: int) -> np.ndarray:
        if scores is None:
            return np.full(n, np.nan)
        array = _floats(scores)
        if array is not None:
            return array
        pos = self.pos_key
        try:  # the usual case, every score an object holding the positive class: C-level maps
            positive = np.fromiter(map(itemgetter(pos), scores), dtype=np.float64, count=n)
            total = np.fromiter(map(sum, map(dict.values, scores)), dtype=np.float64, count=n)
        except (KeyError, TypeError, IndexError, ValueError):
            return np.fromiter((_positive(s, pos) for s in scores), dtype=np.float64, count=n)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, positive / total, math.nan)

    def _class_codes(self, values: Sequence[Any]) -> np.ndarray:
        codes, limit = self._codes, self.max_classes
        out = np.empty(len(values), dtype=np.float64)
        for i, value in enumerate(values):
            key = class_key(value)
            code = codes.get(key)
            if code is None:
                if len(codes) >= limit:
                    key = OTHER_CLASS
                code = codes.setdefault(key, len(codes))
            out[i] = code
        return out

    @staticmethod
    def _class_scores(scores: Sequence[Any] | None, classes: Sequence[Any], n: int) -> np.ndarray:
        if scores is None:
            return np.full(n, np.nan)
        return np.fromiter((_normalised(s, class_key(c)) if isinstance(s, dict) else math.nan
                            for s, c in zip(scores, classes)), dtype=np.float64, count=n)

    def get_state(self) -> State:
        return {"classes": list(self._codes)}

    def set_state(self, state: State) -> None:
        self._codes = {str(k): i for i, k in enumerate(state["classes"])}


def _positive(score: Any, pos_key: str) -> float:
    """The positive-class probability of one event's ``scores`` (NaN when it has none)."""
    if score is None:
        return math.nan
    if isinstance(score, dict):
        if pos_key in score or len(score) != 2:
            return _normalised(score, pos_key)
        return 1.0 - _normalised(score, next(k for k in score if k != pos_key))
    return float(score)
