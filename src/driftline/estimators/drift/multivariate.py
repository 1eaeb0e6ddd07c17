"""Multivariate drift: PCA reconstruction error of the numeric features (as NannyML does).

:func:`fit_pca` standardises the reference's joint sample of numeric features (missing
values imputed with the mean, i.e. 0), fits PCA on a random 70% of its rows and keeps the
fewest components explaining ``variance`` (default 65%) of the variance. An event's
reconstruction error is the Euclidean distance between its standardised features and
their projection on those components: it grows when the features stop varying together
the way they did, even if every feature's own distribution is unchanged (a change of
correlation). The errors of the held-out 30% are the error's no-change distribution.

:class:`PCADrift` reports ``reconstruction_error``, the mean error over a sliding window,
and runs ``cusum_pca``: an upward CUSUM on the normal score of the error's rank among
the held-out errors (robust to single outliers), calibrated like the other CUSUMs.

>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(4000, 2)); x[:, 1] = 0.9 * x[:, 0] + np.sqrt(1 - 0.81) * x[:, 1]
>>> model = fit_pca(x, ["a", "b"])
>>> model.components.shape, round(float(np.median(model.error_reference.sample)), 2)
((2, 1), 0.21)
>>> pca = PCADrift(model, threshold=20.0).update_batch(rng.normal(size=(300, 2)))  # correlation gone
>>> pca.drift_detected, round(pca.reconstruction_error, 1)
(True, 0.8)
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Self, Sequence

import numpy as np

from driftline.estimators.base import Estimator, State
from driftline.estimators.drift.rank import RankCUSUM
from driftline.estimators.reference import NumericReference, column_reference_from_state


class PCAModel:
    """A fitted PCA: feature ``columns``, standardisation ``mean``/``scale``, ``components``
    (features x kept components) and the held-out errors' ``error_reference``."""

    def __init__(self, columns: Sequence[str], mean: Any, scale: Any, components: Any,
                 error_reference: NumericReference | Mapping[str, Any]) -> None:
        self.columns = list(columns)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.components = np.asarray(components, dtype=np.float64).reshape(self.mean.size, -1)
        self.error_reference: NumericReference = (
            column_reference_from_state(error_reference) if isinstance(error_reference, Mapping)
            else error_reference)  # type: ignore[assignment]

    def errors(self, x: np.ndarray) -> np.ndarray:
        """Reconstruction error of each row of ``x`` (events x features, NaN where missing)."""
        z = (np.asarray(x, dtype=np.float64).reshape(-1, self.mean.size) - self.mean) / self.scale
        z[~np.isfinite(z)] = 0.0
        projected = z @ self.components
        return np.sqrt(np.maximum((z * z).sum(axis=1) - (projected * projected).sum(axis=1), 0.0))

    def to_state(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "mean": self.mean.copy(), "scale": self.scale.copy(),
                "components": self.components.copy(), "error_reference": self.error_reference.to_state()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PCAModel):
            return NotImplemented
        return (self.columns == other.columns and self.error_reference == other.error_reference
                and all(np.array_equal(getattr(self, f), getattr(other, f)) for f in ("mean", "scale", "components")))

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict[int, Any]) -> PCAModel:
        return self  # immutable by convention


def fit_pca(joint: np.ndarray, columns: Sequence[str], variance: float = 0.65, holdout: float = 0.3,
            seed: int = 0) -> PCAModel:
    """Fit PCA on part of a joint reference sample; the rest gives the no-change error distribution."""
    x = np.asarray(joint, dtype=np.float64)
    rows = np.random.default_rng(seed).permutation(x.shape[0])
    cut = max(int(round(x.shape[0] * (1 - holdout))), 2)
    fit, held = x[rows[:cut]], x[rows[cut:]]
    with np.errstate(invalid="ignore"):
        mean = np.nan_to_num(np.nanmean(fit, axis=0))
        scale = np.nan_to_num(np.nanstd(fit, axis=0))
    scale[scale <= 0] = 1.0
    z = np.nan_to_num((fit - mean) / scale)
    _, singular, vt = np.linalg.svd(z, full_matrices=False)
    explained = np.cumsum(singular**2) / max(float((singular**2).sum()), 1e-300)
    k = int(min(np.searchsorted(explained, variance) + 1, max(x.shape[1] - 1, 1)))
    partial = PCAModel(columns, mean, scale, vt[:k].T, NumericReference.from_values([0.0]))
    errors = partial.errors(held if held.shape[0] else fit)
    return PCAModel(columns, mean, scale, vt[:k].T, NumericReference.from_values(errors, bins=10))


class PCADrift(Estimator):
    """Reconstruction-error drift of a model's numeric features; ``update_batch`` takes events x features.

    Parameters
    ----------
    model
        The :class:`PCAModel` (see :func:`fit_pca`).
    threshold
        Threshold of ``cusum_pca`` (``None``: not run).
    allowance
        The CUSUM's ``k``, in standard deviations of the error's normal score.
    window
        Events over which ``reconstruction_error`` is averaged.
    """

    def __init__(self, model: PCAModel | Mapping[str, Any], threshold: float | None = None,
                 allowance: float = 0.25, window: int = 5000) -> None:
        self.model = model if isinstance(model, PCAModel) else PCAModel(**model)
        self.threshold = threshold
        self.allowance = allowance
        self.window = window
        thresholds = {} if threshold is None else {"cusum_up": threshold}
        self._cusum = RankCUSUM(self.model.error_reference, thresholds, allowance)
        self._cusum._names = self._cusum._labels = ["cusum_pca"] * len(thresholds)
        self._reset()

    def _reset(self) -> None:
        self._cusum._reset()
        self._events = 0
        self._ring = np.zeros(self.window)

    def update_batch(self, values: np.ndarray) -> Self:
        errors = self.model.errors(values)
        n = errors.size
        keep = errors[-self.window:]
        self._ring[(self._events + n - keep.size + np.arange(keep.size)) % self.window] = keep
        self._cusum.update_batch(errors)
        self._events += n
        return self

    @property
    def events(self) -> int:
        return self._events

    @property
    def reconstruction_error(self) -> float:
        """Mean reconstruction error over the window (NaN before any event)."""
        filled = min(self._events, self.window)
        return float(self._ring[:filled].mean()) if filled else math.nan

    @property
    def drift_detected(self) -> bool:
        return self._cusum.drift_detected

    @property
    def drift_score(self) -> float:
        return self._cusum.drift_score

    @property
    def alarms(self) -> int:
        return self._cusum.alarms

    @property
    def last_alarm(self) -> int:
        return self._cusum.last_alarm

    def values(self) -> dict[str, float]:
        return {"reconstruction_error": self.reconstruction_error}

    def statistics(self) -> dict[str, float]:
        return self._cusum.statistics()

    def detections(self) -> dict[str, bool]:
        return self._cusum.detections()

    def reset(self) -> None:
        self._cusum.reset()

    def to_state(self) -> State:
        snapshot = super().to_state()
        snapshot["params"]["model"] = self.model.to_state()
        return snapshot

    def _get_state(self) -> State:
        return {"events": self._events, "ring": self._ring.copy(), "cusum": [self._cusum._get_state()]}

    def _set_state(self, state: State) -> None:
        self._events = int(state["events"])
        self._ring[:] = np.asarray(state["ring"])
        self._cusum._set_state(state["cusum"][0])
