"""The current distribution of a column: a sliding window of codes and a decayed histogram.

The window is a ring buffer of the codes of the last ``window`` events (event ``i`` at
slot ``i % window``, so any split of a stream into batches gives the same ring). The
decayed histogram weighs an event ``t`` events old by ``2 ** (-t / half_life)``.
Statistics are computed from them when read, all of them at once from one pass over the
window, and kept until the next update: the rule evaluation reads every statistic after
every micro-batch, and a scrape reads them again.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Self

import numpy as np

from driftline.estimators.base import State
from driftline.estimators.drift.base import ColumnEstimator
from driftline.estimators.drift.distance import hellinger, js, psi
from driftline.estimators.drift.encoder import Encoder
from driftline.estimators.reference import ColumnReference


_POWERS: dict[float, np.ndarray] = {}  # decay -> decay ** arange(m): a cache of constants, shared


def _powers(decay: float, n: int) -> np.ndarray:
    """``decay ** np.arange(n)`` (the same values), from a cache grown as batches grow."""
    powers = _POWERS.get(decay)
    if powers is None or powers.size < n:
        powers = _POWERS[decay] = decay ** np.arange(max(n, 1024), dtype=np.float64)
    return powers[:n]


class WindowedDrift(ColumnEstimator):
    """Base of :class:`NumericDrift` and :class:`CategoricalDrift`: window, decayed histogram,
    and the bucket distances PSI, Jensen-Shannon and Hellinger on both.

    ``STATISTICS`` lists the statistic names a subclass reports through :meth:`values`.

    Parameters
    ----------
    reference
        The column's reference.
    window
        Events in the sliding window.
    half_life
        Half-life of the decayed histogram, in events.
    """

    STATISTICS: tuple[str, ...] = ("psi", "js", "hellinger", "missing_rate", "psi_decayed", "js_decayed",
                                   "hellinger_decayed")

    def __init__(self, reference: ColumnReference | Mapping[str, Any], window: int = 5000,
                 half_life: float = 1000.0, encoder: Encoder | None = None) -> None:
        super().__init__(reference, encoder)
        self.window = window
        self.half_life = half_life
        self._decay = 2.0 ** (-1.0 / half_life)
        self._dtype = np.uint16 if self._encoder.codes <= 1 << 16 else np.uint32
        self._reset()

    def _reset(self) -> None:
        self._events = 0
        self._ring = np.zeros(self.window, dtype=self._dtype)
        self._decayed = np.zeros(self.reference.counts.size)
        self._values: dict[str, float] | None = None  # every statistic, until the next update

    def update_codes(self, codes: np.ndarray) -> Self:
        n = codes.size
        if n == 0:
            return self
        keep = codes[-self.window:]
        k = keep.size
        start = (self._events + n - k) % self.window  # event i goes to slot i % window: one or two slices
        first = min(k, self.window - start)
        self._ring[start:start + first] = keep[:first]
        self._ring[:k - first] = keep[first:]
        weights = _powers(self._decay, n)[::-1]  # decay ** (n - 1), ..., decay ** 0
        self._decayed *= self._decay**n
        self._decayed += np.bincount(self._encoder.bucket[codes], weights, minlength=self._decayed.size)
        self._events += n
        self._values = None
        return self

    @property
    def events(self) -> int:
        return self._events

    def window_codes(self) -> np.ndarray:
        """The codes of the events in the window (in no particular order)."""
        return self._ring[: min(self._events, self.window)].astype(np.intp)

    def window_counts(self) -> np.ndarray:
        """Events per reference bucket in the window (the last bucket is missing)."""
        return np.bincount(self._encoder.bucket[self.window_codes()], minlength=self.reference.counts.size)

    def _rate(self, *codes: int) -> float:
        return self._share(self.window_codes(), *codes)

    @property
    def psi(self) -> float:
        return psi(self.window_counts(), self.reference.counts)

    @property
    def js(self) -> float:
        return js(self.window_counts(), self.reference.counts)

    @property
    def hellinger(self) -> float:
        return hellinger(self.window_counts(), self.reference.counts)

    @property
    def missing_rate(self) -> float:
        return self._rate(self._encoder.missing)

    @property
    def psi_decayed(self) -> float:
        return psi(self._decayed, self.reference.counts)

    @property
    def js_decayed(self) -> float:
        return js(self._decayed, self.reference.counts)

    @property
    def hellinger_decayed(self) -> float:
        return hellinger(self._decayed, self.reference.counts)

    def values(self) -> dict[str, float]:
        """Every statistic by name (NaN before any event)."""
        if self._values is None:
            codes = self.window_codes()
            statistics = self._statistics(codes)
            self._values = {name: statistics[name] for name in self.STATISTICS}
        return dict(self._values)

    def _statistics(self, codes: np.ndarray) -> dict[str, float]:
        """The statistics of the window holding ``codes``, each computed as its property does, but
        from shared intermediate counts; subclasses add theirs."""
        counts = np.bincount(self._encoder.bucket[codes], minlength=self.reference.counts.size)
        reference = self.reference.counts
        return {"psi": psi(counts, reference), "js": js(counts, reference), "hellinger": hellinger(counts, reference),
                "missing_rate": self._share(codes, self._encoder.missing),
                "psi_decayed": self.psi_decayed, "js_decayed": self.js_decayed,
                "hellinger_decayed": self.hellinger_decayed, "_counts": counts}  # type: ignore[dict-item]

    @staticmethod
    def _share(window: np.ndarray, *codes: int) -> float:
        """The share of ``window`` holding any of ``codes`` (as :meth:`_rate`)."""
        if not window.size:
            return math.nan
        hits = sum(int(np.count_nonzero(window == code)) for code in set(codes))  # codes are one or two
        return hits / window.size

    def _get_state(self) -> State:
        return {"events": self._events, "ring": self._ring.copy(), "decayed": self._decayed.copy()}

    def _set_state(self, state: State) -> None:
        self._events = int(state["events"])
        self._ring[:] = np.asarray(state["ring"])
        self._decayed[:] = np.asarray(state["decayed"])
        self._values = None
