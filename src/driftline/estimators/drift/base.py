"""The base of every per-column drift estimator: a reference, an encoder, codes in."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Mapping, Self, Sequence

import numpy as np

from driftline.estimators.base import Estimator, State
from driftline.estimators.drift.cusum import AlarmBank, cusum_path
from driftline.estimators.drift.encoder import Encoder, encoder_for
from driftline.estimators.reference import ColumnReference, column_reference_from_state


def as_reference(reference: ColumnReference | Mapping[str, Any]) -> ColumnReference:
    """A column reference from itself or from its plain-data state."""
    return column_reference_from_state(reference) if isinstance(reference, Mapping) else reference


class ColumnEstimator(Estimator):
    """An estimator of one column (feature, prediction or score) against its reference.

    ``update_batch(values)`` encodes the values (:mod:`~driftline.estimators.drift.encoder`)
    and hands the codes to :meth:`update_codes`; a :class:`~driftline.estimators.drift.column.ColumnDrift`
    encodes once and calls :meth:`update_codes` of each of its parts, sharing its encoder.
    In :meth:`to_state` the reference is plain data.
    """

    def __init__(self, reference: ColumnReference | Mapping[str, Any], encoder: Encoder | None = None) -> None:
        self.reference = as_reference(reference)
        self._encoder = encoder if encoder is not None else encoder_for(self.reference)

    def update_batch(self, values: Sequence[Any] | np.ndarray) -> Self:
        return self.update_codes(self._encoder.encode(values))

    @abstractmethod
    def update_codes(self, codes: np.ndarray) -> Self:
        """Update with the codes of a batch of values."""

    def to_state(self) -> State:
        snapshot = super().to_state()
        snapshot["params"]["reference"] = self.reference.to_state()
        return snapshot


class CusumEstimator(ColumnEstimator):
    """A bank of one-sided CUSUMs of one column, read through detector names.

    Subclasses build ``_bank`` (:class:`~driftline.estimators.drift.cusum.AlarmBank`) in
    ``_reset()`` and name each statistic in ``_names`` (a detector name, shared by the
    statistics of one family, e.g. every bin) and ``_labels`` (what it watches).
    """

    _bank: AlarmBank
    _names: list[str]
    _labels: list[str]
    _events: int

    @property
    def events(self) -> int:
        return self._events

    @property
    def alarms(self) -> int:
        """Alarms raised so far, over all statistics."""
        return int(self._bank.alarms.sum())

    @property
    def last_alarm(self) -> int:
        """Index (0-based, counting every event seen) of the event of the latest alarm; -1 before any."""
        return int(self._bank.last_alarm.max(initial=-1))

    @property
    def drift_detected(self) -> bool:
        return bool(self._bank.latched.any())

    @property
    def drift_score(self) -> float:
        """The largest statistic as a fraction of its threshold (1 = at the threshold)."""
        return float(max(self._ratios(), default=0.0))

    def _ratios(self) -> list[float]:
        bank = self._bank
        return [s / h if h > 0 else 0.0 for s, h in zip(bank.statistic.tolist(), bank.h.tolist())]

    def statistics(self) -> dict[str, float]:
        """Detector name -> its (largest) statistic over its threshold."""
        out: dict[str, float] = {}
        for name, ratio in zip(self._names, self._ratios()):
            out[name] = max(out.get(name, 0.0), ratio)
        return out

    def detections(self) -> dict[str, bool]:
        """Detector name -> detected (an alarm and the statistic still above its threshold)."""
        out: dict[str, bool] = {}
        for name, latched in zip(self._names, self._bank.latched.tolist()):
            out[name] = out.get(name, False) or latched
        return out

    def crossed(self) -> list[str]:
        """What the detected statistics watch (a detector name, or a bucket's label)."""
        return [label for label, latched in zip(self._labels, self._bank.latched.tolist()) if latched]

    def reset(self) -> None:
        """Clear the statistics and detections (an operator's acknowledgement); counts stay."""
        self._bank.reset()

    def _get_state(self) -> State:
        return {"events": self._events, **self._bank.to_state()}

    def _set_state(self, state: State) -> None:
        self._events = int(state["events"])
        self._bank.set_state(state)


class TableCUSUM(CusumEstimator):
    """CUSUMs whose increment for an event is looked up by its code: ``_table`` is
    statistics x codes, in ticks (built by the subclass before ``_reset()``)."""

    _table: np.ndarray

    def update_codes(self, codes: np.ndarray) -> Self:
        n = codes.size
        if n == 0 or not self._names:
            self._events += n
            return self
        bank = self._bank
        path = cusum_path(np.take(self._table, codes, axis=1), bank.statistic, axis=1)  # statistics x events
        bank.statistic[:] = path[:, -1]
        quiet = path.max(axis=1) < bank.h
        bank.quiet(quiet, path.min(axis=1)[quiet] == 0)
        for j in np.flatnonzero(~quiet).tolist():
            bank.scan(j, path[j], np.arange(n), self._events)
        self._events += n
        return self
