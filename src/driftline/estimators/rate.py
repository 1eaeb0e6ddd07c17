"""An exponentially decayed event rate, on a clock the caller passes in."""

from __future__ import annotations

import math
from typing import Self

import numpy as np

from driftline.estimators.base import Estimator, State


class DecayedRate(Estimator):
    """Events per second, exponentially decayed with time constant ``tau_seconds``.

    The caller passes the time of every update (processing time in the worker), so the
    estimator itself has no clock. With a steady rate r the value converges to r; when
    events stop, it decays towards 0 with the time constant.

    Examples
    --------
    >>> rate = DecayedRate(tau_seconds=60.0)
    >>> for second in range(600):
    ...     rate = rate.add(10, now=float(second))
    >>> round(rate.value(now=599.0), 1)
    10.1
    >>> round(rate.value(now=599.0 + 60.0), 1)  # a minute of silence: 1/e of it
    3.7
    """

    def __init__(self, tau_seconds: float = 60.0) -> None:
        self.tau_seconds = tau_seconds
        self._reset()

    def _reset(self) -> None:
        self._weight = 0.0  # decayed event count
        self._time = math.nan  # time of the last update
        self._start = math.nan  # time of the first update

    def add(self, count: float, now: float) -> Self:
        """Count ``count`` events at time ``now`` (seconds)."""
        if math.isnan(self._time):
            self._start = self._time = now
        elif now > self._time:
            self._weight *= math.exp(-(now - self._time) / self.tau_seconds)
            self._time = now
        self._weight += count
        return self

    def update_batch(self, values: np.ndarray) -> Self:
        """``values`` are event times; each counts one event at its time (in order)."""
        for t in np.asarray(values, dtype=np.float64):
            self.add(1.0, float(t))
        return self

    def value(self, now: float) -> float:
        """Events per second as of ``now``."""
        if math.isnan(self._time):
            return 0.0
        decayed = self._weight * math.exp(-max(now - self._time, 0.0) / self.tau_seconds)
        # Bias-corrected like an EWMA: before a time constant has passed, divide by the weight of
        # the time actually observed (at least one second), not by a full time constant.
        observed = max(now - self._start, 1.0)
        return decayed / (self.tau_seconds * -math.expm1(-observed / self.tau_seconds))

    def _get_state(self) -> State:
        return {"weight": self._weight, "time": self._time, "start": self._start}

    def _set_state(self, state: State) -> None:
        self._weight = float(state["weight"])
        self._time = float(state["time"])
        self._start = float(state["start"])
