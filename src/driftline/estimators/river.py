"""river's per-event drift detectors fed from batches, shared by the drift and quality estimators."""

from __future__ import annotations

from typing import Any

import numpy as np


def feed(detector: Any, values: np.ndarray, first_event: int) -> tuple[int, int]:
    """Update ``detector`` with the non-NaN ``values`` in order (river detectors are per event).

    ``first_event`` is the stream position of ``values[0]``. Returns the number of detections
    and the stream position of the last one (-1 when there was none).

    >>> from river import drift
    >>> feed(drift.ADWIN(), np.r_[np.zeros(2000), np.ones(2000)], first_event=0)[0] >= 1
    True
    """
    present = np.flatnonzero(~np.isnan(values))
    update = detector.update
    alarms, last = 0, -1
    for i, value in zip(present.tolist(), values[present].tolist()):
        update(value)
        if detector.drift_detected:
            alarms += 1
            last = first_event + i
    return alarms, last


class AlarmCounter:
    """Detections of a river detector over a stream: counts, the last one, and a ``hold`` after it.

    Mixed into the estimators that wrap a river detector (``self._detector``); they set
    ``self.hold`` and call :meth:`_reset_alarms` from ``_reset``.
    """

    hold: int
    _detector: Any

    def _reset_alarms(self) -> None:
        self._events = 0
        self._alarms = 0
        self._last_alarm = -1

    def _feed(self, values: np.ndarray, size: int) -> None:
        """Feed ``values`` (NaN skipped) standing for ``size`` events of the stream."""
        alarms, last = feed(self._detector, values, self._events)
        if alarms:
            self._alarms += alarms
            self._last_alarm = last
        self._events += size

    @property
    def events(self) -> int:
        return self._events

    @property
    def alarms(self) -> int:
        """Detections so far."""
        return self._alarms

    @property
    def last_alarm(self) -> int:
        """The stream position (0-based) of the latest detection; -1 before any."""
        return self._last_alarm

    @property
    def drift_detected(self) -> bool:
        """True for ``hold`` events after a detection."""
        return self._last_alarm >= 0 and self._events - 1 - self._last_alarm < self.hold
