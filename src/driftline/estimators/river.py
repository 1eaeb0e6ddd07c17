"""Feeding river's per-event drift detectors from a batch, shared by the drift and quality estimators."""

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
