"""Reference distributions: what "no drift" looks like for every column of a model.

A :class:`Reference` is built once from example rows (a training set, a good week of
traffic, or the first events of a model version through :class:`ReferenceBuilder`) and
then only read. Per column it keeps:

- numeric (:class:`NumericReference`): a sorted sample (at most ``sample_size`` values;
  above that, the order statistics at evenly spaced ranks of all values, so the sample
  is the full data's quantile function), quantile bin edges (``bins`` bins; values
  outside the reference range fall in the outer bins), counts per bin plus one missing
  bucket over *all* rows, mean, std, min and max;
- categorical (:class:`CategoricalReference`): counts of the ``max_categories`` most
  frequent categories, one "other" bucket (rarer and unseen categories) and one missing
  bucket, and the names of up to 10,000 known categories (to tell new ones apart).

Values: a number is numeric, a string or bool categorical, ``None``/NaN/inf missing;
``kinds`` overrides the inferred kind. The prediction and the positive-class score are
columns like any other, kept apart from the features. For multivariate drift the
reference also keeps a joint sample of the numeric features (rows x features).

>>> ref = Reference.from_rows([{"x": float(i), "c": "ab"[i % 2]} for i in range(100)], bins=4)
>>> ref.features["x"].edges.tolist(), ref.features["x"].counts.tolist()
([25.0, 50.0, 75.0], [25, 25, 25, 25, 0])
>>> ref.features["c"].categories, ref.features["c"].counts.tolist()
(['a', 'b'], [50, 50, 0, 0])
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping, Self, Sequence

import numpy as np

from driftline.estimators.base import Estimator, State

NUMERIC = "numeric"
CATEGORICAL = "categorical"
MAX_KNOWN = 10_000  # category names kept to recognise new categories
Columns = Mapping[str, Sequence[Any] | np.ndarray]


def numeric_values(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Float64 array with NaN for missing values (None, non-finite numbers, strings); like the
    monitor's numeric columns, a bool counts as 0 or 1."""
    try:
        out = np.array(values, dtype=np.float64)  # None becomes NaN
    except (TypeError, ValueError):  # strings among the numbers
        out = np.array([v if isinstance(v, (int, float)) else math.nan
                        for v in np.asarray(values, dtype=object).tolist()], dtype=np.float64)
    out[~np.isfinite(out)] = np.nan
    return out


def category_values(values: Sequence[Any] | np.ndarray) -> list[str | None]:
    """Values as category names (``str(v)``), ``None`` where missing (None or NaN)."""
    return [None if v is None or (isinstance(v, float) and not math.isfinite(v)) else str(v)
            for v in np.asarray(values, dtype=object).tolist()]


def infer_kind(values: Sequence[Any] | np.ndarray) -> str:
    """Numeric when every present value is a number, categorical otherwise."""
    array = np.asarray(values)
    if array.dtype.kind in "fiu":
        return NUMERIC
    present = [v for v in array.tolist() if v is not None]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
    return NUMERIC if numeric and present else CATEGORICAL


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array


class _ColumnReference:
    """Immutable plain-data record; equal when every field is equal."""

    kind: str
    _fields: tuple[str, ...] = ()

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"kind": self.kind}
        for name in self._fields:
            value = getattr(self, name)
            state[name] = value.copy() if isinstance(value, np.ndarray) else value
        return state

    @property
    def rows(self) -> int:
        return int(self.counts.sum())  # type: ignore[attr-defined]

    @property
    def missing_rate(self) -> float:
        return float(self.counts[-1] / self.rows) if self.rows else 0.0  # type: ignore[attr-defined]

    @property
    def probabilities(self) -> np.ndarray:
        """Share of the reference rows in each bucket (the last bucket is missing values)."""
        return self.counts / max(self.rows, 1)  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(np.array_equal(getattr(self, f), getattr(other, f)) for f in self._fields)

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self  # immutable

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rows={self.rows}, buckets={len(self.counts)})"  # type: ignore[attr-defined]


class NumericReference(_ColumnReference):
    """The reference distribution of one numeric column.

    ``counts`` has one entry per bin (``len(edges) + 1`` of them; bin ``i`` holds values in
    ``[edges[i-1], edges[i])``) and a last entry for missing values.
    """

    kind = NUMERIC
    _fields = ("sample", "edges", "counts", "mean", "std", "minimum", "maximum")

    def __init__(self, sample: Any, edges: Any, counts: Any, mean: float, std: float,
                 minimum: float, maximum: float) -> None:
        self.sample = _frozen(np.asarray(sample, dtype=np.float64))
        self.edges = _frozen(np.asarray(edges, dtype=np.float64))
        self.counts = _frozen(np.asarray(counts, dtype=np.int64))
        self.mean, self.std = float(mean), float(std)
        self.minimum, self.maximum = float(minimum), float(maximum)

    @classmethod
    def from_values(cls, values: Sequence[Any] | np.ndarray, bins: int = 10, sample_size: int = 10_000) -> Self:
        x = numeric_values(values)
        finite = np.sort(x[np.isfinite(x)])
        n = finite.size
        ranks = ((np.arange(sample_size) + 0.5) * n / sample_size).astype(np.int64)  # evenly spaced order statistics
        sample = finite if n <= sample_size else finite[ranks]
        if sample.size:
            ranks = np.minimum((np.arange(1, bins) * sample.size) // bins, sample.size - 1)
            edges = np.unique(sample[ranks])
        else:
            edges = np.empty(0)
        counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=edges.size + 1)
        std = float(finite.std(ddof=1)) if n > 1 else 0.0
        mean, lo, hi = (float(finite.mean()), float(finite[0]), float(finite[-1])) if n else (math.nan,) * 3
        return cls(sample, edges, np.append(counts, x.size - n), mean, std, lo, hi)

    def bucket_labels(self) -> list[str]:
        bounds = [-math.inf, *self.edges.tolist(), math.inf]
        return [f"[{a:.4g}, {b:.4g})" for a, b in zip(bounds, bounds[1:])] + ["missing"]


class CategoricalReference(_ColumnReference):
    """The reference distribution of one categorical column.

    ``counts`` has one entry per tracked category, then "other" (categories beyond the
    cap, and at run time unseen ones), then missing.
    """

    kind = CATEGORICAL
    _fields = ("categories", "counts", "known")

    def __init__(self, categories: Sequence[str], counts: Any, known: Sequence[str] = ()) -> None:
        self.categories = [str(c) for c in categories]
        self.counts = _frozen(np.asarray(counts, dtype=np.int64))
        self.known = sorted({*map(str, known), *self.categories})

    @classmethod
    def from_values(cls, values: Sequence[Any] | np.ndarray, max_categories: int = 50) -> Self:
        names = category_values(values)
        counter = Counter(v for v in names if v is not None)
        ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        top = ranked[:max_categories]
        other = sum(n for _, n in ranked[max_categories:])
        counts = [n for _, n in top] + [other, len(names) - sum(counter.values())]
        return cls([c for c, _ in top], counts, [c for c, _ in ranked[:MAX_KNOWN]])

    def bucket_labels(self) -> list[str]:
        return [*self.categories, "other", "missing"]


ColumnReference = NumericReference | CategoricalReference


def column_reference_from_state(state: Mapping[str, Any]) -> ColumnReference:
    fields = {k: v for k, v in state.items() if k != "kind"}
    return NumericReference(**fields) if state["kind"] == NUMERIC else CategoricalReference(**fields)


def build_column(values: Sequence[Any] | np.ndarray, kind: str | None = None, *, bins: int = 10,
                 max_categories: int = 50, sample_size: int = 10_000) -> ColumnReference:
    """One column's reference, of the given or inferred kind."""
    if (kind or infer_kind(values)) == NUMERIC:
        return NumericReference.from_values(values, bins, sample_size)
    return CategoricalReference.from_values(values, max_categories)


def _prediction_kind(values: Sequence[Any] | np.ndarray) -> str:
    """Predictions that are integers with few distinct values are class labels."""
    if infer_kind(values) == CATEGORICAL:
        return CATEGORICAL
    x = numeric_values(values)
    x = x[np.isfinite(x)]
    return CATEGORICAL if x.size and np.all(x == np.round(x)) and np.unique(x).size <= 20 else NUMERIC


class Reference:
    """The reference of one model version: its features, prediction, score and joint sample.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = Reference.from_columns({"a": rng.normal(size=500), "b": rng.normal(size=500)},
    ...                              predictions=rng.integers(0, 2, 500))
    >>> sorted(ref.features), ref.prediction.kind, ref.joint.shape, ref.joint_columns
    (['a', 'b'], 'categorical', (500, 2), ['a', 'b'])
    >>> Reference.from_state(ref.to_state()) == ref
    True
    """

    def __init__(self, features: Mapping[str, ColumnReference], prediction: ColumnReference | None = None,
                 score: ColumnReference | None = None, joint: np.ndarray | None = None,
                 joint_columns: Sequence[str] = ()) -> None:
        self.features = dict(features)
        self.prediction = prediction
        self.score = score
        self.joint_columns = list(joint_columns)
        self.joint = None if joint is None else _frozen(np.asarray(joint, dtype=np.float64))

    @classmethod
    def from_columns(cls, columns: Columns, *, predictions: Sequence[Any] | np.ndarray | None = None,
                     scores: Sequence[Any] | np.ndarray | None = None, kinds: Mapping[str, str] | None = None,
                     prediction_kind: str | None = None, bins: int = 10, max_categories: int = 50,
                     sample_size: int = 10_000, seed: int = 0) -> Self:
        """A reference from column arrays (``None``/NaN where missing); ``kinds`` overrides inference."""
        kinds = kinds or {}
        options = {"bins": bins, "max_categories": max_categories, "sample_size": sample_size}
        features = {name: build_column(values, kinds.get(name), **options) for name, values in columns.items()}
        prediction = score = None
        if predictions is not None:
            prediction = build_column(predictions, prediction_kind or _prediction_kind(predictions), **options)
        if scores is not None:
            score = build_column(scores, NUMERIC, **options)
        numeric = [name for name, ref in features.items() if ref.kind == NUMERIC]
        joint = None
        if numeric:
            joint = np.column_stack([numeric_values(columns[name]) for name in numeric])
            if joint.shape[0] > sample_size:
                rows = np.random.default_rng(seed).choice(joint.shape[0], sample_size, replace=False)
                joint = joint[np.sort(rows)]
        return cls(features, prediction, score, joint, numeric)

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]], **options: Any) -> Self:
        """A reference from feature dicts (absent features are missing)."""
        return cls.from_columns(rows_to_columns(rows), **options)

    @classmethod
    def from_jsonl(cls, path: str | Path, *, positive_class: str | None = None, **options: Any) -> Self:
        """JSON lines of prediction events (``features``, ``prediction``, ``scores``) or plain feature rows."""
        rows, predictions, scores = [], [], []
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                if not line.strip():
                    continue
                record = json.loads(line)
                if isinstance(record.get("features"), dict):
                    rows.append(record["features"])
                    predictions.append(record.get("prediction"))
                    scores.append(positive_score(record.get("scores"), positive_class))
                else:
                    rows.append(record)
        has = lambda values: values if any(v is not None for v in values) else None  # noqa: E731
        return cls.from_rows(rows, predictions=has(predictions), scores=has(scores), **options)

    @classmethod
    def from_csv(cls, path: str | Path, *, prediction: str | None = None, score: str | None = None,
                 **options: Any) -> Self:
        """A CSV file with a header; empty cells are missing, columns of numbers are numeric."""
        with open(path, newline="", encoding="utf-8") as handle:
            columns = rows_to_columns(csv.DictReader(handle))
        return cls._from_table({name: _parse_csv_column(v) for name, v in columns.items()}, prediction, score, options)

    @classmethod
    def from_parquet(cls, path: str | Path, *, prediction: str | None = None, score: str | None = None,
                     **options: Any) -> Self:
        """A Parquet file (needs pyarrow)."""
        import pyarrow.parquet as pq  # optional dependency

        return cls._from_table(pq.read_table(path).to_pydict(), prediction, score, options)

    @classmethod
    def _from_table(cls, columns: dict[str, Any], prediction: str | None, score: str | None,
                    options: dict[str, Any]) -> Self:
        predictions = columns.pop(prediction) if prediction else None
        scores = columns.pop(score) if score else None
        return cls.from_columns(columns, predictions=predictions, scores=scores, **options)

    def to_state(self) -> dict[str, Any]:
        return {
            "features": {name: ref.to_state() for name, ref in self.features.items()},
            "prediction": self.prediction.to_state() if self.prediction else None,
            "score": self.score.to_state() if self.score else None,
            "joint": None if self.joint is None else self.joint.copy(),
            "joint_columns": list(self.joint_columns),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        optional = lambda s: None if s is None else column_reference_from_state(s)  # noqa: E731
        features = {name: column_reference_from_state(s) for name, s in state["features"].items()}
        return cls(features, optional(state["prediction"]), optional(state["score"]), state["joint"],
                   state["joint_columns"])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reference):
            return NotImplemented
        same_joint = (self.joint is None and other.joint is None) or (
            self.joint is not None and other.joint is not None
            and np.array_equal(self.joint, other.joint, equal_nan=True))
        return (self.features == other.features and self.prediction == other.prediction
                and self.score == other.score and self.joint_columns == other.joint_columns and same_joint)

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self  # immutable

    def __repr__(self) -> str:
        return f"Reference(features={sorted(self.features)}, prediction={self.prediction}, score={self.score})"


def rows_to_columns(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Transpose feature dicts into columns, ``None`` where a row lacks a feature."""
    columns: dict[str, list[Any]] = {}
    n = 0
    for row in rows:
        for name, value in row.items():
            column = columns.get(name)
            if column is None:
                column = columns[name] = [None] * n
            column.append(value)
        n += 1
        for column in columns.values():
            if len(column) < n:
                column.append(None)
    return columns


def positive_score(scores: Any, positive_class: str | None = None) -> float | None:
    """The positive-class probability of a ``scores`` field: the number itself, or the entry of
    ``positive_class`` (default ``"1"``, else ``"true"``, else the last class in sorted order)."""
    if scores is None or isinstance(scores, bool):
        return None
    if isinstance(scores, (int, float)):
        return float(scores)
    if isinstance(scores, dict) and scores:
        keys = [positive_class] if positive_class else ["1", "true", "True", sorted(scores)[-1]]
        key = next((k for k in keys if k in scores), None)
        value = scores.get(key) if key is not None else None
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return None


def _parse_csv_column(values: list[Any]) -> list[Any]:
    present = [v for v in values if v not in (None, "")]
    try:
        numbers = [float(v) for v in present]
    except ValueError:
        return [v if v not in (None, "") else None for v in values]
    it = iter(numbers)
    return [next(it) if v not in (None, "") else None for v in values]


class ReferenceBuilder(Estimator):
    """Learn a reference from the first ``size`` events of a stream (a warm-up).

    Fed like :class:`~driftline.estimators.drift.model.ModelDrift` (columns, or a numpy
    structured array, plus optional predictions and scores); keeps the first ``size``
    rows as plain lists and builds the :class:`Reference` on :meth:`build`.

    Examples
    --------
    >>> builder = ReferenceBuilder(size=3)
    >>> builder = builder.update_batch({"x": [1.0, 2.0]}).update_batch({"x": [3.0, 4.0], "c": ["a", "b"]})
    >>> builder.rows, builder.ready, builder.build().features["c"].counts.tolist()
    (3, True, [1, 0, 2])
    """

    def __init__(self, size: int = 10_000, kinds: Mapping[str, str] | None = None, bins: int = 10,
                 max_categories: int = 50, sample_size: int = 10_000, seed: int = 0) -> None:
        self.size = size
        self.kinds = dict(kinds or {})
        self.bins = bins
        self.max_categories = max_categories
        self.sample_size = sample_size
        self.seed = seed
        self._reset()

    def _reset(self) -> None:
        self._rows = 0
        self._columns: dict[str, list[Any]] = {}
        self._predictions: list[Any] = []
        self._scores: list[Any] = []

    def update_batch(self, columns: Columns | np.ndarray,  # type: ignore[override]
                     predictions: Sequence[Any] | np.ndarray | None = None,
                     scores: Sequence[Any] | np.ndarray | None = None) -> Self:
        columns = as_columns(columns)
        take = min(batch_size(columns, predictions, scores), self.size - self._rows)
        if take <= 0:
            return self
        for name, values in columns.items():
            column = self._columns.setdefault(name, [None] * self._rows)
            column.extend(np.asarray(values, dtype=object)[:take].tolist())
        for name, column in self._columns.items():
            if name not in columns:
                column.extend([None] * take)
        for kept, new in ((self._predictions, predictions), (self._scores, scores)):
            kept.extend([None] * take if new is None else np.asarray(new, dtype=object)[:take].tolist())
        self._rows += take
        return self

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def ready(self) -> bool:
        return self._rows >= self.size

    def build(self) -> Reference:
        present = lambda values: values if any(v is not None for v in values) else None  # noqa: E731
        return Reference.from_columns(
            self._columns, predictions=present(self._predictions), scores=present(self._scores),
            kinds=self.kinds, bins=self.bins, max_categories=self.max_categories,
            sample_size=self.sample_size, seed=self.seed)

    def _get_state(self) -> State:
        return {"rows": self._rows, "columns": {k: list(v) for k, v in self._columns.items()},
                "predictions": list(self._predictions), "scores": list(self._scores)}

    def _set_state(self, state: State) -> None:
        self._rows = int(state["rows"])
        self._columns = {k: list(v) for k, v in state["columns"].items()}
        self._predictions, self._scores = list(state["predictions"]), list(state["scores"])


def as_columns(columns: Columns | np.ndarray) -> Columns:
    """A mapping of columns, from a mapping or a numpy structured array (one field per column)."""
    if isinstance(columns, np.ndarray):
        return {name: columns[name] for name in columns.dtype.names or ()}
    return columns


def batch_size(columns: Columns, *others: Any) -> int:
    """The number of events in a batch: the length of its longest column."""
    lengths = [len(v) for v in columns.values()] + [len(v) for v in others if v is not None]
    return max(lengths, default=0)
