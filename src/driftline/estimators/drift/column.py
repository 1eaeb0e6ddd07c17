"""Everything driftline tracks for one column: a feature, the prediction or the score.

A :class:`ColumnDrift` encodes each batch once and updates its parts:

- window and decayed-histogram statistics (:class:`~driftline.estimators.drift.numeric.NumericDrift`
  or :class:`~driftline.estimators.drift.categorical.CategoricalDrift`);
- calibrated CUSUMs: location and scale (:class:`~driftline.estimators.drift.rank.RankCUSUM`,
  numeric columns), one per bucket for its share growing
  (:class:`~driftline.estimators.drift.bucket.BucketCUSUM`) and one per large category
  for its share falling (:class:`~driftline.estimators.drift.shrink.ShrinkCUSUM`);
- optionally river's detectors (:class:`~driftline.estimators.drift.adapter.RiverDetector`);
- optionally fixed limits on statistics (e.g. ``{"psi": 0.25}``), checked when read.

:func:`calibrate_column` splits a column's share of the model's false-alarm budget
among its CUSUM statistics and calibrates each threshold from the reference. Family
weights are below; a family's weight is split evenly among its buckets, except that a
bucket the reference never saw (no missing values, no "other" category) gets 0.002
(it alarms on a handful of events anyway, so it needs little budget); the weights of
the enabled statistics are then normalised to sum 1.

=======================  =======  ===========
detector                 numeric  categorical
=======================  =======  ===========
``cusum_up``             0.3
``cusum_down``           0.3
``cusum_scale_up``       0.1
``cusum_scale_down``     0.1
``cusum_bin``            0.15
``cusum_category``                0.6
``cusum_category_down``           0.3
``cusum_missing``        0.05     0.1
=======================  =======  ===========

>>> from driftline.estimators.reference import NumericReference
>>> rng = np.random.default_rng(0)
>>> ref = NumericReference.from_values(rng.normal(size=20_000))
>>> column = ColumnDrift.calibrated(ref, ert=1e8, rng=np.random.default_rng(1))
>>> column = column.update_batch(rng.normal(size=5000)).update_batch(rng.normal(0.5, 1.0, 1000))
>>> column.drift_detected, column.crossed(), column.alarms
(True, ['cusum_up', 'cusum_bin'], 2)
>>> column.last_alarm >= 5000  # the index of the event of the latest alarm
True
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Self, Sequence

import numpy as np

from driftline.estimators.base import State
from driftline.estimators.drift.adapter import METHODS, RiverDetector
from driftline.estimators.drift.base import ColumnEstimator
from driftline.estimators.drift.bucket import BucketCUSUM, design
from driftline.estimators.drift.calibration import calibrate, draw_atoms
from driftline.estimators.drift.categorical import CategoricalDrift
from driftline.estimators.drift.encoder import Encoder, NumericEncoder
from driftline.estimators.drift.numeric import NumericDrift
from driftline.estimators.drift.rank import DETECTORS as RANK_DETECTORS
from driftline.estimators.drift.rank import RankCUSUM
from driftline.estimators.drift.shrink import ShrinkCUSUM, shrink_design, shrinkable
from driftline.estimators.reference import NUMERIC, ColumnReference

WEIGHTS = {
    "numeric": {"cusum_up": 0.3, "cusum_down": 0.3, "cusum_scale_up": 0.1, "cusum_scale_down": 0.1,
                "cusum_bin": 0.15, "cusum_missing": 0.05},
    "categorical": {"cusum_category": 0.6, "cusum_category_down": 0.3, "cusum_missing": 0.1},
}
EMPTY = 0.002  # the weight of a bucket the reference never saw (new categories, missing values)
CUSUMS = (*RANK_DETECTORS, "cusum_bin", "cusum_category", "cusum_category_down", "cusum_missing", "cusum_pca")


def enabled_detectors(detectors: Sequence[str]) -> set[str]:
    """Detector names, with ``"cusum"`` standing for every calibrated CUSUM."""
    names = set(detectors)
    if "cusum" in names:
        names |= set(CUSUMS)
    unknown = names - set(CUSUMS) - set(METHODS) - {"cusum"}
    if unknown:
        raise ValueError(f"unknown detectors {sorted(unknown)}; known: cusum, {', '.join(CUSUMS + tuple(METHODS))}")
    return names


def budget_shares(reference: ColumnReference, detectors: Sequence[str]) -> dict[str, Any]:
    """Each CUSUM statistic's share of the column's budget: ``rank`` (name -> share),
    ``buckets`` and ``shrink`` (one share per bucket, 0 when not watched); they sum to 1."""
    on = enabled_detectors(detectors)
    weights = {d: w for d, w in WEIGHTS[reference.kind].items() if d in on}
    counts = reference.counts
    family = ["cusum_bin" if reference.kind == NUMERIC else "cusum_category"] * (counts.size - 1) + ["cusum_missing"]
    live = [n for n, c in zip(family, counts.tolist()) if c > 0]
    buckets = [0.0 if n not in weights else EMPTY if c == 0 else weights[n] / live.count(n)
               for n, c in zip(family, counts.tolist())]
    down = shrinkable(reference) if reference.kind != NUMERIC and "cusum_category_down" in weights else []
    shrink = [weights["cusum_category_down"] / len(down)] * len(down) if down else []
    rank = {d: weights[d] for d in RANK_DETECTORS if d in weights and reference.kind == NUMERIC}
    total = sum(buckets) + sum(shrink) + sum(rank.values()) or 1.0
    return {"rank": {d: w / total for d, w in rank.items()}, "buckets": [w / total for w in buckets],
            "shrink": [w / total for w in shrink]}


def calibrate_column(reference: ColumnReference, ert: float, rng: np.random.Generator, *,
                     detectors: Sequence[str] = ("cusum",), fixed: Mapping[str, float] | None = None,
                     shift: float = 0.2, kappa: float = 0.01, uncertainty: bool = True) -> dict[str, Any]:
    """ColumnDrift parameters (``rank``, ``buckets``, ``shrink``) giving the column ``ert`` events
    between false alarms over all its CUSUMs; ``fixed`` thresholds (by detector) are taken as given."""
    fixed = dict(fixed or {})
    shares = budget_shares(reference, detectors)
    out: dict[str, Any] = {"rank": None, "buckets": None, "shrink": None}
    if shares["rank"]:
        encoder = NumericEncoder(reference)  # type: ignore[arg-type]
        worst = math.log(ert / min(shares["rank"].values()))
        allowance = max(shift / 2, worst / (2 * math.sqrt(max(reference.rows, 1))))
        increments = RankCUSUM.increments(encoder, allowance)
        atoms = draw_atoms(next(iter(increments.values())).probs, rng)  # the four share their atoms
        out["rank"] = {"allowance": allowance, "thresholds": {
            d: fixed[d] if d in fixed else calibrate(increments[d], ert / w, rng, uncertainty, atoms).threshold
            for d, w in shares["rank"].items()}}
    names = ["cusum_bin" if reference.kind == NUMERIC else "cusum_category"] * (reference.counts.size - 1)
    for part, kind, down in (("buckets", names + ["cusum_missing"], False),
                             ("shrink", ["cusum_category_down"] * len(shares["shrink"]), True)):
        if any(shares[part]):
            out[part] = _calibrate_bernoulli(reference, ert, shares[part], kind, down, rng, fixed, kappa, uncertainty)
    return out


def _calibrate_bernoulli(reference: ColumnReference, ert: float, shares: Sequence[float], names: Sequence[str],
                         down: bool, rng: np.random.Generator, fixed: Mapping[str, float], kappa: float,
                         uncertainty: bool) -> dict[str, list[Any]]:
    """Designs and thresholds of bucket CUSUMs (up) or shrink CUSUMs (down), one per share."""
    erts = [ert / w if w > 0 else math.inf for w in shares]
    make = (lambda e: shrink_design(reference, kappa, e)) if down else (lambda e: design(reference, kappa, e))
    designs = {e: make(math.log(e) if math.isfinite(e) else 0.0) for e in set(erts)}
    alternatives = [designs[e][i] for i, e in enumerate(erts)]
    kind = ShrinkCUSUM if down else BucketCUSUM
    overshoots: dict[tuple[float, ...], float] = {}  # buckets with practically the same design share one fit
    thresholds = []
    for name, e, inc in zip(names, erts, kind.increments(reference, alternatives)):
        if not math.isfinite(e) or name in fixed:
            thresholds.append(None if not math.isfinite(e) else float(fixed[name]))
            continue
        key = tuple(np.round(np.log(np.abs(np.append(inc.values, inc.probs[0]))), 1).tolist())
        result = calibrate(inc, e, rng, uncertainty, rho=overshoots.get(key))
        overshoots.setdefault(key, result.rho)
        thresholds.append(result.threshold)
    return {"thresholds": thresholds, "alternatives": alternatives}


class ColumnDrift(ColumnEstimator):
    """Drift statistics and detectors of one column.

    Parameters
    ----------
    reference
        The column's reference.
    rank
        Location and scale CUSUMs (numeric columns): ``{"thresholds": {detector: h}, "allowance": k}``.
    buckets
        Bucket CUSUMs: ``{"thresholds": [h per bucket], "alternatives": [p1 per bucket]}``.
    shrink
        Shrink CUSUMs (categorical columns): the same, one per bucket of
        :func:`~driftline.estimators.drift.shrink.shrinkable`.
    window, half_life
        Sliding window size and decayed-histogram half-life, in events.
    statistics
        Names of the statistics :meth:`values` reports (``None``: all).
    river
        river detectors to run: method name -> its parameters.
    limits
        Fixed limits on statistics (statistic name -> value above which it is detected).
    """

    def __init__(self, reference: ColumnReference | Mapping[str, Any], rank: Mapping[str, Any] | None = None,
                 buckets: Mapping[str, Any] | None = None, shrink: Mapping[str, Any] | None = None,
                 window: int = 5000, half_life: float = 1000.0, statistics: Sequence[str] | None = None,
                 river: Mapping[str, Mapping[str, Any]] | None = None, limits: Mapping[str, float] | None = None,
                 encoder: Encoder | None = None) -> None:
        super().__init__(reference, encoder)
        self.rank, self.buckets, self.shrink = (None if p is None else dict(p) for p in (rank, buckets, shrink))
        self.window, self.half_life = window, half_life
        self.statistics = None if statistics is None else list(statistics)
        self.river = {method: dict(params) for method, params in (river or {}).items()}
        self.limits = dict(limits or {})
        ref, enc = self.reference, self._encoder
        self._window = (NumericDrift if ref.kind == NUMERIC else CategoricalDrift)(ref, window, half_life, encoder=enc)
        self._cusums: list[RankCUSUM | BucketCUSUM | ShrinkCUSUM] = []
        if self.rank is not None and ref.kind == NUMERIC:
            self._cusums.append(RankCUSUM(ref, self.rank["thresholds"], self.rank["allowance"], encoder=enc))
        for part, kind in ((self.buckets, BucketCUSUM), (self.shrink, ShrinkCUSUM)):
            if part is not None:
                self._cusums.append(kind(ref, part["thresholds"], part["alternatives"], encoder=enc))
        self._river = {m: RiverDetector(ref, m, p, hold=window, encoder=enc) for m, p in self.river.items()}
        self._reset()

    @classmethod
    def calibrated(cls, reference: ColumnReference, ert: float, rng: np.random.Generator, *,
                   detectors: Sequence[str] = ("cusum",), fixed: Mapping[str, float] | None = None,
                   shift: float = 0.2, kappa: float = 0.01, uncertainty: bool = True, **options: Any) -> Self:
        """A column whose CUSUMs together raise a false alarm every ``ert`` events on average."""
        river = {m: {} for m in METHODS if m in enabled_detectors(detectors)}
        parts = calibrate_column(reference, ert, rng, detectors=detectors, fixed=fixed, shift=shift, kappa=kappa,
                                 uncertainty=uncertainty)
        return cls(reference, river=river, **parts, **options)

    def _parts(self) -> list[Any]:
        return [self._window, *self._cusums, *self._river.values()]

    def _reset(self) -> None:
        for part in self._parts():
            part._reset()

    def update_codes(self, codes: np.ndarray) -> Self:
        for part in self._parts():
            part.update_codes(codes)
        return self

    @property
    def events(self) -> int:
        return self._window.events

    @property
    def alarms(self) -> int:
        """Alarms of the calibrated CUSUMs so far."""
        return sum(c.alarms for c in self._cusums)

    @property
    def last_alarm(self) -> int:
        """Event index of the latest CUSUM alarm (-1 before any)."""
        return max((c.last_alarm for c in self._cusums), default=-1)

    @property
    def drift_detected(self) -> bool:
        """A calibrated CUSUM or a fixed limit is detected (river detectors do not count)."""
        return any(c.drift_detected for c in self._cusums) or any(self._limits_crossed().values())

    @property
    def drift_score(self) -> float:
        """The largest statistic over its threshold or limit (1 = at the threshold)."""
        stats = self._window.values()
        ratios = [c.drift_score for c in self._cusums]
        ratios += [stats[name] / limit for name, limit in self.limits.items()
                   if limit > 0 and not math.isnan(stats[name])]
        return float(max(ratios, default=0.0))

    def _limits_crossed(self) -> dict[str, bool]:
        stats = self._window.values()
        return {name: bool(stats[name] > limit) for name, limit in self.limits.items()}

    def values(self) -> dict[str, float]:
        """Statistic name -> value: window statistics, and each CUSUM over its threshold."""
        stats = self._window.values()
        if self.statistics is not None:
            stats = {name: stats[name] for name in self.statistics if name in stats}
        for cusum in self._cusums:
            stats.update(cusum.statistics())
        return stats

    def detections(self) -> dict[str, bool]:
        """Detector name -> detected, for every detector (CUSUMs, river's, fixed limits)."""
        out: dict[str, bool] = {}
        for cusum in self._cusums:
            out.update(cusum.detections())
        out.update({method: r.drift_detected for method, r in self._river.items()})
        out.update(self._limits_crossed())
        return out

    def crossed(self) -> list[str]:
        """Names of the detectors (CUSUMs and fixed limits) currently detected."""
        return [name for name, hit in self.detections().items() if hit and name not in self._river]

    def drifted_buckets(self) -> list[str]:
        """Labels of the bins or categories whose bucket CUSUM is detected."""
        return [label for c in self._cusums if not isinstance(c, RankCUSUM) for label in c.crossed()]

    def reset(self) -> None:
        """Clear every CUSUM's statistic and detection (an acknowledgement)."""
        for cusum in self._cusums:
            cusum.reset()

    def _get_state(self) -> State:
        """The parts' states, in order: window, CUSUMs, river detectors."""
        return {"parts": [part._get_state() for part in self._parts()]}

    def _set_state(self, state: State) -> None:
        for part, part_state in zip(self._parts(), state["parts"], strict=True):
            part._set_state(part_state)
