"""A calibration map for binary scores, fitted once on the first labelled events (histogram binning).

CBPE assumes that a score *is* the probability of the positive class. Many models' scores are
not calibrated even when the model is fine; this map corrects them. It is histogram binning
(Zadrozny and Elkan, 2001): equal-frequency bins of the raw score over the first ``events``
labelled events with a score (the reference window), and per bin the share of positives
among them; a score maps to the share of its bin. It is fitted once and then frozen, so a
model whose scores later stop matching it shows up as a growing CBPE estimate error. Before it
is fitted, scores map to themselves.

>>> rng = np.random.default_rng(0)
>>> from driftline.estimators.performance.task import ROW_DTYPE
>>> rows = np.zeros(4000, dtype=ROW_DTYPE)
>>> rows["p"] = rng.random(4000)
>>> rows["y"] = rng.random(4000) < rows["p"] ** 2  # the true probability is the score squared
>>> cal = HistogramCalibration(events=4000, bins=10).update_batch(rows)
>>> cal.fitted, np.round(cal.transform(np.array([0.05, 0.5, 0.95])), 1).tolist()
(True, [0.0, 0.2, 0.9])
"""

from __future__ import annotations

from typing import Self

import numpy as np

from driftline.estimators.base import Estimator, State


class HistogramCalibration(Estimator):
    """Histogram-binning calibration of binary scores, fitted on the first ``events`` labelled rows.

    Parameters
    ----------
    events
        Labelled rows with a score to fit on.
    bins
        Equal-frequency bins of the raw score.

    Input: encoded rows (``y`` 0/1, ``p`` the raw positive-class score); rows without a score are skipped.
    """

    def __init__(self, events: int = 1000, bins: int = 10) -> None:
        self.events = events
        self.bins = bins
        self._reset()

    def _reset(self) -> None:
        self._y = np.empty(0)
        self._p = np.empty(0)
        self._edges = np.empty(0)  # inner bin edges; bins are (edge[i-1], edge[i]]
        self._values = np.empty(0)  # calibrated probability per bin, once fitted

    def update_batch(self, values: np.ndarray) -> Self:
        if self.fitted or values.size == 0:
            return self
        scored = values[~np.isnan(values["p"])]
        room = self.events - self._y.size
        self._y = np.concatenate([self._y, scored["y"][:room]])
        self._p = np.concatenate([self._p, scored["p"][:room]])
        if self._y.size >= self.events:
            self._fit()
        return self

    def _fit(self) -> None:
        y, p = self._y, self._p
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, self.bins + 1)[1:-1]))
        ids = np.searchsorted(edges, p, side="left")
        counts = np.bincount(ids, minlength=edges.size + 1)
        sums = np.bincount(ids, weights=y, minlength=edges.size + 1)
        self._values = np.where(counts > 0, sums / np.maximum(counts, 1), y.mean())
        self._edges = edges
        self._y, self._p = np.empty(0), np.empty(0)

    @property
    def fitted(self) -> bool:
        return self._values.size > 0

    @property
    def collected(self) -> int:
        """Labelled rows collected so far for the fit (0 once fitted)."""
        return int(self._y.size)

    def transform(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of raw scores ``p`` (``p`` itself before the fit; NaN stays NaN)."""
        if not self.fitted:
            return p
        return np.where(np.isnan(p), np.nan, self._values[np.searchsorted(self._edges, p, side="left")])

    def _get_state(self) -> State:
        return {"y": self._y.copy(), "p": self._p.copy(), "edges": self._edges.copy(), "values": self._values.copy()}

    def _set_state(self, state: State) -> None:
        self._y = np.asarray(state["y"], dtype=np.float64)
        self._p = np.asarray(state["p"], dtype=np.float64)
        self._edges = np.asarray(state["edges"], dtype=np.float64)
        self._values = np.asarray(state["values"], dtype=np.float64)
