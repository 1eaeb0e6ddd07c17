"""Drift of one model version: every feature, the prediction, the score and their joint shape.

This is the facade the Monitor uses. Build it once per model version from a
:class:`~driftline.estimators.reference.Reference` and :class:`DriftOptions` (building
calibrates every threshold, ~0.2-0.5 s per column), update it per micro-batch, read it
at scrape time::

    drift = ModelDrift(reference, DriftOptions(budget_events=1e7))
    drift.update_batch({"amount": [12.0, None], "country": ["DE", "FR"]}, predictions=[1, 0], scores=[0.9, 0.2])
    drift.values("feature")      # {"amount": {"psi": 0.01, ..., "cusum_up": 0.12, ...}, "country": {...}}
    drift.values("prediction")   # {"prediction": {...}, "score": {...}}
    drift.values("multivariate") # {"pca": {"reconstruction_error": 0.8, "cusum_pca": 0.05}}
    drift.detections("feature")  # {"amount": {"cusum_up": False, ..., "cusum_missing": False}, ...}
    drift.scores("feature")      # {"amount": 0.12, ...}: each column's largest statistic / threshold
    drift.drift_detected, drift.drift_score  # any detection; the importance-weighted model score

Subjects are grouped by **kind**: ``"feature"`` (one per feature), ``"prediction"``
(``"prediction"`` and ``"score"``, the positive-class probability), ``"multivariate"``
(``"pca"``). :meth:`ModelDrift.column` gives one subject's estimator for details (e.g.
:meth:`~driftline.estimators.drift.column.ColumnDrift.drifted_buckets`).

**The false-alarm budget.** ``budget_events`` is the expected number of events between
false alarms of the model, all its subjects and detectors together. It is split by a
union bound (expected alarm counts add up whatever the dependence): subject ``s`` gets the
share ``w_s`` (a feature's importance, floored at a tenth of the mean importance; 1 each
without importances; 1 for the prediction, score and multivariate subjects, normalised
to sum 1), its detectors the shares of :mod:`~driftline.estimators.drift.column`, so that
detector ``i`` is calibrated to ``budget_events / (w_s * share_i)`` events between alarms.
"""

from __future__ import annotations

import math
import zlib
from typing import Any, Iterable, Mapping, Self, Sequence

import msgspec
import numpy as np

from driftline.estimators.base import Estimator, State
from driftline.estimators.drift.calibration import calibrate
from driftline.estimators.drift.column import ColumnDrift, calibrate_column, enabled_detectors
from driftline.estimators.drift.adapter import METHODS
from driftline.estimators.drift.encoder import NumericEncoder
from driftline.estimators.drift.multivariate import PCADrift, fit_pca
from driftline.estimators.drift.rank import RankCUSUM
from driftline.estimators.reference import (
    NUMERIC, ColumnReference, Columns, NumericReference, Reference, as_columns, batch_size, numeric_values,
)

KINDS = ("feature", "prediction", "multivariate")


class DriftOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How a model's drift is watched.

    ``budget_events``: expected events between false alarms of the whole model.
    ``window_events``/``half_life_events``: the window and decayed histogram.
    ``bins``: re-bin numeric references to this many quantile bins (``None``: as built).
    ``detectors``: ``"cusum"`` (all calibrated CUSUMs) and/or single names (``cusum_up``,
    ``cusum_down``, ``cusum_scale_up``, ``cusum_scale_down``, ``cusum_bin``, ``cusum_category``,
    ``cusum_missing``, ``cusum_pca``) and river's ``adwin``, ``page_hinkley``, ``kswin`` (opt in).
    ``statistics``: window statistics to report (``None``: all).
    ``thresholds``: fixed thresholds, by detector (a CUSUM's ``h``, no calibration) or by
    statistic (e.g. ``{"psi": 0.25}``: a detector named like the statistic).
    ``importances``: feature -> importance, for the budget split and the model score.
    ``shift``: the shift (in standard deviations of a score) location and scale CUSUMs are
    tuned to. ``bucket_kappa``: bucket CUSUMs are tuned to a share change carrying this
    many nats of evidence per event (0.01: 10% -> 14%, 1% -> 2.6%, 40% -> 47%).
    ``reference_uncertainty``: calibrate for the reference being a sample (see
    :mod:`~driftline.estimators.drift.calibration`).
    """

    budget_events: float = 1e7
    window_events: int = 5000
    half_life_events: float = 1000.0
    bins: int | None = None
    detectors: tuple[str, ...] = ("cusum",)
    statistics: tuple[str, ...] | None = None
    thresholds: dict[str, float] = msgspec.field(default_factory=dict)
    importances: dict[str, float] = msgspec.field(default_factory=dict)
    multivariate: bool = True
    variance_explained: float = 0.65
    shift: float = 0.2
    bucket_kappa: float = 0.01
    reference_uncertainty: bool = True
    seed: int = 0


def weighted_drift_score(scores: Mapping[str, float], importances: Mapping[str, float] | None = None) -> float:
    """Importance-weighted mean of per-feature drift scores, each capped at 1 (detected).

    >>> weighted_drift_score({"a": 2.0, "b": 0.5, "c": 0.0}, {"a": 3.0, "b": 1.0})
    0.875
    """
    if not scores:
        return 0.0
    weights = {name: (importances or {}).get(name, 0.0 if importances else 1.0) for name in scores}
    total = sum(weights.values())
    if total <= 0:
        weights, total = {name: 1.0 for name in scores}, float(len(scores))
    return sum(weights[name] * min(max(score, 0.0), 1.0) for name, score in scores.items()) / total


def subject_weights(reference: Reference, options: DriftOptions) -> dict[tuple[str, str], float]:
    """Each subject's share of the false-alarm budget (summing to 1)."""
    importances = options.importances
    mean = float(np.mean([max(v, 0.0) for v in importances.values()])) if importances else 1.0
    raw = {("feature", name): max(importances.get(name, mean), mean / 10) / mean if importances else 1.0
           for name in reference.features}
    raw.update({("prediction", name): 1.0 for name, ref in (("prediction", reference.prediction),
                                                             ("score", reference.score)) if ref is not None})
    if _multivariate(reference, options):
        raw[("multivariate", "pca")] = 1.0
    total = sum(raw.values())
    return {subject: w / total for subject, w in raw.items()}


def _multivariate(reference: Reference, options: DriftOptions) -> bool:
    on = enabled_detectors(options.detectors)
    return bool(options.multivariate and "cusum_pca" in on and reference.joint is not None
                and len(reference.joint_columns) >= 2 and reference.joint.shape[0] >= 20)


def rebinned(reference: ColumnReference, bins: int | None) -> ColumnReference:
    """A numeric reference with ``bins`` quantile bins, counts estimated from its sample."""
    if bins is None or not isinstance(reference, NumericReference) or reference.edges.size + 1 == bins:
        return reference
    sample, rows, missing = reference.sample, reference.rows, int(reference.counts[-1])
    fresh = NumericReference.from_values(sample, bins, sample.size)
    counts = np.round(fresh.counts[:-1] * (rows - missing) / max(sample.size, 1)).astype(np.int64)
    return NumericReference(sample, fresh.edges, np.append(counts, missing), reference.mean, reference.std,
                            reference.minimum, reference.maximum)


def _rng(seed: int, kind: str, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(f"{kind}:{name}".encode())])


def calibrate_model(reference: Reference, options: DriftOptions) -> dict[str, Any]:
    """Thresholds and designs of every subject (plain data), from the reference and the budget."""
    weights = subject_weights(reference, options)
    fixed = {k: v for k, v in options.thresholds.items() if k.startswith("cusum")}
    design = {"detectors": options.detectors, "fixed": fixed, "shift": options.shift, "kappa": options.bucket_kappa,
              "uncertainty": options.reference_uncertainty}
    out: dict[str, Any] = {kind: {} for kind in KINDS}
    for (kind, name), weight in weights.items():
        ert = options.budget_events / weight
        rng = _rng(options.seed, kind, name)
        if kind == "multivariate":
            out[kind][name] = _calibrate_pca(reference, options, ert, rng)
        else:
            column = _column_reference(reference, kind, name, options)
            out[kind][name] = calibrate_column(column, ert, rng, **design)
    return out


def _calibrate_pca(reference: Reference, options: DriftOptions, ert: float, rng: np.random.Generator) -> dict[str, Any]:
    assert reference.joint is not None
    model = fit_pca(reference.joint, reference.joint_columns, options.variance_explained, seed=options.seed)
    rows = model.error_reference.rows
    allowance = max(options.shift / 2, math.log(ert) / (2 * math.sqrt(max(rows, 1))))
    fixed = options.thresholds.get("cusum_pca")
    if fixed is None:
        increments = RankCUSUM.increments(NumericEncoder(model.error_reference), allowance)["cusum_up"]
        fixed = calibrate(increments, ert, rng, options.reference_uncertainty).threshold
    return {"model": model, "threshold": fixed, "allowance": allowance}


def _column_reference(reference: Reference, kind: str, name: str, options: DriftOptions) -> ColumnReference:
    column = reference.features[name] if kind == "feature" else getattr(reference, name)
    return rebinned(column, options.bins)


class ModelDrift(Estimator):
    """Drift of one model version (see the module docstring for the read API).

    Parameters
    ----------
    reference
        The model version's :class:`~driftline.estimators.reference.Reference`.
    options
        :class:`DriftOptions` (or a dict of them).
    calibration
        Thresholds from :func:`calibrate_model`; computed when ``None`` (the slow part, done
        once: a restored or cloned ModelDrift reuses it).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> reference = Reference.from_columns({"x": rng.normal(size=5000), "c": rng.choice(["a", "b"], 5000)},
    ...                                    predictions=rng.integers(0, 2, 5000))
    >>> drift = ModelDrift(reference, DriftOptions(budget_events=1e6))
    >>> drift = drift.update_batch({"x": rng.normal(size=3000), "c": rng.choice(["a", "b"], 3000)},
    ...                            predictions=rng.integers(0, 2, 3000))
    >>> drift.drift_detected, sorted(drift.values("feature")["c"])[:4]
    (False, ['chi2', 'cusum_category', 'cusum_category_down', 'cusum_missing'])
    >>> drift = drift.update_batch({"x": rng.normal(size=1000), "c": ["b"] * 1000},
    ...                            predictions=rng.integers(0, 2, 1000))
    >>> drift.drift_detected, drift.detected(), drift.column("feature", "c").drifted_buckets()
    (True, {'feature': {'c': ['cusum_category', 'cusum_category_down']}}, ['b', 'a'])
    """

    def __init__(self, reference: Reference | Mapping[str, Any],
                 options: DriftOptions | Mapping[str, Any] | None = None,
                 calibration: Mapping[str, Any] | None = None) -> None:
        self.reference = reference if isinstance(reference, Reference) else Reference.from_state(reference)
        self.options = options if isinstance(options, DriftOptions) else msgspec.convert(options or {}, DriftOptions)
        if calibration is None:
            calibration = calibrate_model(self.reference, self.options)
        self.calibration = dict(calibration)
        opts = self.options
        on = enabled_detectors(opts.detectors)
        shared = {"window": opts.window_events, "half_life": opts.half_life_events, "statistics": opts.statistics,
                  "river": {m: {} for m in METHODS if m in on},
                  "limits": {k: v for k, v in opts.thresholds.items() if not k.startswith("cusum")}}
        self._columns: dict[str, dict[str, ColumnDrift | PCADrift]] = {kind: {} for kind in KINDS}
        for kind in ("feature", "prediction"):
            for name, params in self.calibration[kind].items():
                ref = _column_reference(self.reference, kind, name, opts)
                self._columns[kind][name] = ColumnDrift(ref, **params, **shared)
        for name, params in self.calibration["multivariate"].items():
            self._columns["multivariate"][name] = PCADrift(params["model"], params["threshold"], params["allowance"],
                                                           opts.window_events)
        self._reset()

    def _reset(self) -> None:
        self._events = 0
        for column in self._all():
            column._reset()

    def _all(self) -> Iterable[ColumnDrift | PCADrift]:
        for kind in KINDS:
            yield from self._columns[kind].values()

    def update_batch(self, columns: Columns | np.ndarray,  # type: ignore[override]
                     predictions: Sequence[Any] | np.ndarray | None = None,
                     scores: Sequence[Any] | np.ndarray | None = None) -> Self:
        """Update from one batch: feature columns (a feature absent from the batch counts as
        missing in all its events), and optionally the predictions and positive-class scores."""
        columns = as_columns(columns)
        n = batch_size(columns, predictions, scores)
        if n == 0:
            return self
        absent = np.full(n, None, dtype=object)
        numeric: dict[str, np.ndarray] = {}  # converted once, for the column and the multivariate detector
        for name, column in self._columns["feature"].items():
            values = columns.get(name, absent)
            if column.reference.kind == NUMERIC:
                values = numeric[name] = numeric_values(values)
            column.update_batch(values)
        for name, values in (("prediction", predictions), ("score", scores)):
            if name in self._columns["prediction"]:
                self._columns["prediction"][name].update_batch(absent if values is None else values)
        for pca in self._columns["multivariate"].values():
            assert isinstance(pca, PCADrift)
            pca.update_batch(np.column_stack([numeric[c] for c in pca.model.columns]))
        self._events += n
        return self

    def column(self, kind: str, name: str) -> ColumnDrift | PCADrift:
        """One subject's estimator, e.g. ``column("feature", "amount")``."""
        return self._columns[kind][name]

    def values(self, kind: str = "feature") -> dict[str, dict[str, float]]:
        """Subject -> statistic -> value: window statistics, and each CUSUM over its threshold."""
        return {name: {**c.values(), **c.statistics()} if isinstance(c, PCADrift) else c.values()
                for name, c in self._columns[kind].items()}

    def detections(self, kind: str = "feature") -> dict[str, dict[str, bool]]:
        """Subject -> detector -> detected, for every detector of every subject of ``kind``."""
        return {name: c.detections() for name, c in self._columns[kind].items()}

    def scores(self, kind: str = "feature") -> dict[str, float]:
        """Subject -> drift score (largest statistic over its threshold; 1 = at the threshold)."""
        return {name: c.drift_score for name, c in self._columns[kind].items()}

    def detected(self) -> dict[str, dict[str, list[str]]]:
        """Kind -> subject -> names of its detected detectors, only where something is detected."""
        out: dict[str, dict[str, list[str]]] = {}
        for kind in KINDS:
            for name, flags in self.detections(kind).items():
                hits = [d for d, hit in flags.items() if hit and d not in METHODS]
                if hits:
                    out.setdefault(kind, {})[name] = hits
        return out

    @property
    def events(self) -> int:
        return self._events

    @property
    def alarms(self) -> int:
        """Calibrated alarms so far, over all subjects (the count the budget is about)."""
        return sum(c.alarms for c in self._all())

    @property
    def drift_detected(self) -> bool:
        return any(c.drift_detected for c in self._all())

    @property
    def drift_score(self) -> float:
        """Importance-weighted mean of the features' drift scores, each capped at 1."""
        return weighted_drift_score(self.scores("feature"), self.options.importances or None)

    def reset(self) -> None:
        """Clear every detector's statistic and detection (an acknowledgement)."""
        for column in self._all():
            column.reset()

    def to_state(self) -> State:
        snapshot = super().to_state()
        params = snapshot["params"]
        params["reference"] = self.reference.to_state()
        params["options"] = msgspec.to_builtins(self.options)
        params["calibration"] = {**self.calibration, "multivariate": {
            name: {**part, "model": self._columns["multivariate"][name].model.to_state()}  # type: ignore[union-attr]
            for name, part in self.calibration["multivariate"].items()}}
        return snapshot

    def _get_state(self) -> State:
        """The events seen, and [kind, subject, state] per subject."""
        return {"events": self._events,
                "subjects": [[kind, name, c._get_state()] for kind, cols in self._columns.items()
                             for name, c in cols.items()]}

    def _set_state(self, state: State) -> None:
        self._events = int(state["events"])
        for kind, name, part in state["subjects"]:
            self._columns[kind][name]._set_state(part)
