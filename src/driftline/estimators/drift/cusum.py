"""One-sided CUSUM arithmetic, vectorised over a batch, and the alarm rule.

A one-sided CUSUM ``S_t = max(0, S_{t-1} + z_t)`` over a batch is, with ``C`` the
cumulative sum of the increments, ``S_t = C_t - min(-S_0, min_{s<=t} C_s)``: a cumulative
sum and a running minimum. Increments are integers ("ticks" of 2^-20), so this is
exact: a batch gives bit for bit the statistic of the same events one by one.

The alarm rule, per statistic (it is what the threshold calibration assumes):

- an **alarm** is the statistic reaching its threshold ``h`` while *armed*; it disarms;
- it re-arms when the statistic is back at 0 (a renewal, where the next run to a false
  alarm starts), so a statistic hovering around ``h`` raises one alarm, not many;
- it is **detected** while it is disarmed (an alarm, no return to 0 since) and at or
  above ``h``: from the alarm until it falls below ``h`` (or a reset). Should it rise
  above ``h`` again before returning to 0, it is detected again, without a new alarm.

>>> path = cusum_path(np.array([3, -1, 5, -9, 4]), np.array(0))
>>> path.tolist()
[3, 2, 7, 0, 4]
>>> bank = AlarmBank([4 * TICKS])
>>> bank.scan(0, path * TICKS, np.arange(5), 0)  # alarm at 7, re-armed at 0, alarm at 4
>>> bank.statistic[:] = path[-1] * TICKS
>>> bank.alarms.tolist(), bank.last_alarm.tolist(), bank.latched.tolist()
([2], [4], [True])
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

TICKS = 1 << 20  # CUSUM increments and statistics are integers in units of 2^-20


def to_ticks(values: Any) -> np.ndarray:
    """Round to the CUSUM resolution (int64 ticks)."""
    return np.rint(np.asarray(values, dtype=np.float64) * TICKS).astype(np.int64)


def cusum_path(z: np.ndarray, s0: np.ndarray, axis: int = 0) -> np.ndarray:
    """``S_t = max(0, S_{t-1} + z_t)`` along ``axis`` from ``S_0 = s0`` (broadcast over the other axis)."""
    c = np.cumsum(z, axis=axis)
    low = np.minimum.accumulate(c, axis=axis)
    np.minimum(low, -np.expand_dims(s0, axis) if np.ndim(s0) and c.ndim > 1 else -s0, out=low)
    return c - low


def segmented_cusum(z: np.ndarray, lengths: np.ndarray, s0: np.ndarray) -> np.ndarray:
    """Independent CUSUMs over consecutive segments of ``z`` (int64), segment ``i`` from ``s0[i]``."""
    segment = np.repeat(np.arange(lengths.size), lengths)
    c = np.cumsum(z)
    starts = np.cumsum(lengths) - lengths
    local = c - np.repeat(c[starts] - z[starts], lengths)
    big = 2 * (int(np.abs(local).max(initial=0)) + int(np.abs(s0).max(initial=0)) + 1)
    low = np.minimum.accumulate(local - big * segment) + big * segment  # a running min per segment
    np.minimum(low, -np.repeat(s0, lengths), out=low)
    return local - low


class AlarmBank:
    """Alarm state of ``d`` CUSUM statistics with thresholds ``h`` (ticks).

    ``statistic`` (ticks), ``armed``, ``alarms`` (count) and ``last_alarm`` (event index
    of the latest alarm, -1 before any) per statistic; ``latched``: detected.
    """

    def __init__(self, thresholds: Sequence[int] | np.ndarray) -> None:
        self.h = np.asarray(thresholds, dtype=np.int64)
        d = self.h.size
        self.statistic = np.zeros(d, dtype=np.int64)
        self.armed = np.ones(d, dtype=bool)
        self.alarms = np.zeros(d, dtype=np.int64)
        self.last_alarm = np.full(d, -1, dtype=np.int64)

    @property
    def latched(self) -> np.ndarray:
        """Detected: disarmed by an alarm and still at or above the threshold."""
        return ~self.armed & (self.statistic >= self.h)

    def quiet(self, which: np.ndarray, zero_hit: np.ndarray) -> None:
        """Statistics ``which`` stayed below ``h``: re-arm those that hit 0."""
        self.armed[which] |= zero_hit

    def scan(self, j: int, path: np.ndarray, where: np.ndarray, offset: int) -> None:
        """Apply the alarm rule to statistic ``j`` along ``path`` (ticks at event indices ``where``)."""
        h = self.h[j]
        above = np.flatnonzero(path >= h)
        zero = np.flatnonzero(path == 0)
        armed, pos = bool(self.armed[j]), 0
        while True:
            pending = above if armed else zero
            i = int(np.searchsorted(pending, pos))
            if i == pending.size:
                break
            pos = int(pending[i]) + 1
            if armed:
                self.alarms[j] += 1
                self.last_alarm[j] = offset + int(where[pos - 1])
            armed = not armed
        self.armed[j] = armed

    def reset(self) -> None:
        self.statistic[:] = 0
        self.armed[:] = True

    def to_state(self) -> dict[str, Any]:
        return {"statistic": self.statistic.copy(), "armed": self.armed.copy(),
                "alarms": self.alarms.copy(), "last_alarm": self.last_alarm.copy()}

    def set_state(self, state: dict[str, Any]) -> None:
        for name in ("statistic", "armed", "alarms", "last_alarm"):
            getattr(self, name)[:] = np.asarray(state[name])
