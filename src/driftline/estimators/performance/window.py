"""A sliding window of encoded rows, by events and by event time, as a columnar numpy buffer.

The window holds the rows of the last ``events`` arrivals (all of them up to ``max_events``
when no event count is given) whose event time lies in ``(newest - seconds, newest]``, where
``newest`` is the largest event time appended so far. Rows may arrive out of event-time order:
a row whose time is already out of the window is kept out, and a row stays out once the newest
time has passed it. Each row carries its arrival number, so which rows are in the window
depends only on the rows appended, never on how they were batched or when the buffer was
compacted. Metrics are computed from :meth:`RowWindow.view`, exactly.

>>> from driftline.estimators.performance.task import ROW_DTYPE
>>> w = RowWindow(events=3, seconds=10.0)
>>> rows = np.zeros(5, dtype=ROW_DTYPE)
>>> rows["y"], rows["ts"] = [1, 2, 3, 4, 5], [0.0, 1.0, 20.0, 2.0, 25.0]
>>> w.append(rows).view()["y"].tolist()  # arrivals 3-5; of those, times within 10 s of 25
[3.0, 5.0]
"""

from __future__ import annotations

import math
from typing import Self

import numpy as np

from driftline.estimators.base import State
from driftline.estimators.performance.task import ROW_DTYPE


class RowWindow:
    """Rows of the last ``events`` arrivals within ``seconds`` of the newest event time.

    Parameters
    ----------
    events
        Window length in arrivals; None for a window by time only.
    seconds
        Window length in event-time seconds; None for a window by events only.
    max_events
        Memory bound of a window by time: it never holds more than the last ``max_events`` rows.
    """

    def __init__(self, events: int | None = 1000, seconds: float | None = None, max_events: int = 100_000) -> None:
        if events is None and seconds is None:
            raise ValueError("a window needs a length in events, in seconds, or both")
        self.events = events
        self.seconds = seconds
        self.max_events = max_events
        self.limit = min(events, max_events) if events is not None else max_events
        self._rows = np.empty(16, dtype=ROW_DTYPE)
        self._seq = np.empty(16, dtype=np.int64)
        self._n = 0  # rows held in the buffer (some may have left the window already)
        self._total = 0  # rows ever appended
        self._newest = -math.inf
        self._version = 0  # changes whenever the window may have changed (for caches)

    def append(self, rows: np.ndarray) -> Self:
        """Append rows (in arrival order)."""
        k = rows.size
        if k == 0:
            return self
        self._version += 1
        first = self._total
        self._total += k
        ts = rows["ts"]
        if ts.size and not np.isnan(ts).all():
            self._newest = max(self._newest, float(np.nanmax(ts)))
        if k > self.limit:
            rows, first, k = rows[k - self.limit:], self._total - self.limit, self.limit
        if self._n + k > self._rows.size:
            self._compact()
            if self._n + k > self._rows.size:
                # Doubling, but never past what the window can need: after a compaction it holds at most
                # ``limit`` rows, so ``limit + k`` fits (a window of 1,000 fed 500 at a time: 1,500, not 2,048).
                self._grow(max(self._n + k, min(2 * self._rows.size, self.limit + k)))
        self._rows[self._n:self._n + k] = rows
        self._seq[self._n:self._n + k] = np.arange(first, first + k)
        self._n += k
        return self

    def _inside(self) -> np.ndarray:
        """Which of the buffer's rows are in the window."""
        inside = self._seq[:self._n] >= self._total - self.limit
        if self.seconds is not None:
            inside &= self._rows["ts"][:self._n] > self._newest - self.seconds
        return inside

    def _compact(self) -> None:
        keep = np.flatnonzero(self._inside())
        m = keep.size
        self._rows[:m] = self._rows[keep]
        self._seq[:m] = self._seq[keep]
        self._n = m

    def _grow(self, capacity: int) -> None:
        rows, seq = np.empty(capacity, dtype=ROW_DTYPE), np.empty(capacity, dtype=np.int64)
        rows[:self._n], seq[:self._n] = self._rows[:self._n], self._seq[:self._n]
        self._rows, self._seq = rows, seq

    def view(self) -> np.ndarray:
        """The rows in the window, oldest arrival first (a copy)."""
        return self._rows[:self._n][self._inside()]

    @property
    def version(self) -> int:
        """A number that changes whenever the window may have changed (for the owner's caches)."""
        return self._version

    @property
    def size(self) -> int:
        return int(self._inside().sum())

    @property
    def total(self) -> int:
        """Rows ever appended."""
        return self._total

    @property
    def newest(self) -> float:
        return self._newest

    def get_state(self) -> State:
        """The rows in the window, column by column (``y``, ``yhat``, ``p``, ``q``, ``ts``, ``seq``), and counters."""
        keep = self._inside()
        rows = self._rows[:self._n][keep]
        state: State = {name: rows[name].copy() for name in ROW_DTYPE.names}
        state.update(seq=self._seq[:self._n][keep].copy(), total=self._total, newest=self._newest)
        return state

    def set_state(self, state: State) -> None:
        seq = np.asarray(state["seq"], dtype=np.int64)
        self._rows = np.empty(max(seq.size, 16), dtype=ROW_DTYPE)
        for name in ROW_DTYPE.names:
            self._rows[name][:seq.size] = np.asarray(state[name], dtype=np.float64)
        self._seq = np.empty(self._rows.size, dtype=np.int64)
        self._seq[:seq.size] = seq
        self._n = seq.size
        self._total = int(state["total"])
        self._newest = float(state["newest"])
        self._version += 1
