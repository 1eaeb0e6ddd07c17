"""river's drift detectors (ADWIN, PageHinkley, KSWIN) behind the per-column interface.

They are wrapped, not rewritten, and fed one value per event (they have no batch
update), so they cost per event: ADWIN ~0.1 us, PageHinkley ~0.4 us, KSWIN ~190 us (a
scipy KS test per event: opt in only for low-volume columns). Their false-alarm rates
are not calibrated; they are not part of the budget and do not count in a column's
``drift_detected``.

Input per event: a numeric column's probability-integral transform ``u`` in ``[0, 1]``
(missing values skipped), so river's default parameters mean the same for every column
whatever its units; a categorical column's reference share of the event's bucket
(missing is a bucket), which falls when rarer categories become more common.

A river detector flags drift only at the event that detects it. Here ``drift_detected``
holds for ``hold`` events after the latest detection, so that it does not depend on how
events are batched.

State is written out attribute by attribute (never pickle): ADWIN's window through its
own binary serialisation (``__getstate__``, kept as a uint8 array), PageHinkley's sums,
KSWIN's window and random generator state.

>>> from driftline.estimators.reference import NumericReference
>>> rng = np.random.default_rng(0)
>>> adwin = RiverDetector(NumericReference.from_values(rng.normal(size=2000)), "adwin")
>>> adwin = adwin.update_batch(np.concatenate([rng.normal(size=2000), rng.normal(2, 1, 500)]))
>>> adwin.alarms, adwin.drift_detected
(1, True)
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Self

import numpy as np
from river import drift, stats

from driftline.estimators.base import State
from driftline.estimators.drift.base import ColumnEstimator
from driftline.estimators.drift.bucket import null_shares
from driftline.estimators.drift.encoder import Encoder, NumericEncoder
from driftline.estimators.reference import ColumnReference
from driftline.estimators.river import AlarmCounter

METHODS = {"adwin": drift.ADWIN, "page_hinkley": drift.PageHinkley, "kswin": drift.KSWIN}


class RiverDetector(AlarmCounter, ColumnEstimator):
    """One river drift detector on one column.

    Parameters
    ----------
    reference
        The column's reference.
    method
        ``"adwin"``, ``"page_hinkley"`` or ``"kswin"``.
    params
        Keyword arguments of the river detector (KSWIN's ``seed`` defaults to 0 here).
    hold
        Events for which a detection stays reported.
    """

    def __init__(self, reference: ColumnReference | Mapping[str, Any], method: str = "adwin",
                 params: Mapping[str, Any] | None = None, hold: int = 1000, encoder: Encoder | None = None) -> None:
        super().__init__(reference, encoder)
        if method not in METHODS:
            raise ValueError(f"unknown river detector {method!r}; expected one of {sorted(METHODS)}")
        self.method = method
        self.params = dict(params or {})
        self.hold = hold
        enc = self._encoder
        if isinstance(enc, NumericEncoder):
            self._inputs = enc.u
        else:
            self._inputs = null_shares(self.reference)[enc.bucket]
        self._reset()

    def _reset(self) -> None:
        defaults = {"seed": 0} if self.method == "kswin" else {}
        self._detector = METHODS[self.method](**{**defaults, **self.params})
        self._reset_alarms()

    def update_codes(self, codes: np.ndarray) -> Self:
        self._feed(self._inputs[codes], codes.size)
        return self





    def _get_state(self) -> State:
        d = self._detector
        state: State = {"events": self._events, "alarms": self._alarms, "last_alarm": self._last_alarm,
                        "drift": bool(d._drift_detected)}
        if self.method == "adwin":
            state["helper"] = np.frombuffer(d._helper.__getstate__(), dtype=np.uint8).copy()
        elif self.method == "page_hinkley":
            state.update(n=d._x_mean.n, mean=d._x_mean._mean, sums=[d._sum_increase, d._sum_decrease],
                         extremes=[None if math.isinf(d._min_increase) else d._min_increase, d._max_decrease])
        else:
            version, internal, gauss = d._rng.getstate()
            state.update(n=d.n, p_value=float(d.p_value), window=list(d.window), rng=[version, list(internal), gauss])
        return state

    def _set_state(self, state: State) -> None:
        self._events, self._alarms = int(state["events"]), int(state["alarms"])
        self._last_alarm = int(state["last_alarm"])
        d = self._detector
        d._drift_detected = bool(state["drift"])
        if self.method == "adwin":
            d._helper.__setstate__(np.asarray(state["helper"], dtype=np.uint8).tobytes())
        elif self.method == "page_hinkley":
            d._x_mean = stats.Mean()
            d._x_mean.n, d._x_mean._mean = float(state["n"]), float(state["mean"])
            d._sum_increase, d._sum_decrease = map(float, state["sums"])
            low, high = state["extremes"]
            d._min_increase, d._max_decrease = math.inf if low is None else float(low), float(high)
        else:
            d.n, d.p_value = int(state["n"]), float(state["p_value"])
            d.window.clear()
            d.window.extend(float(v) for v in state["window"])
            version, internal, gauss = state["rng"]
            d._rng.setstate((int(version), tuple(int(v) for v in internal), gauss))
