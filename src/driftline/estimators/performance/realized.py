"""Realized quality metrics of a model over a sliding window of joined (labelled) events."""

from __future__ import annotations

from typing import Callable, ClassVar, Iterable, Self

import numpy as np

from driftline.estimators.base import Estimator, State
from driftline.estimators.performance.metric import METRIC_FUNCTIONS
from driftline.estimators.performance.task import REALIZED_METRICS, TASKS
from driftline.estimators.performance.window import RowWindow


def metric_names(task: str, metrics: Iterable[str] | None, catalog: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The metrics of ``task`` in ``catalog`` that ``metrics`` selects (all when None), in catalog order."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    if metrics is None:
        return catalog[task]
    wanted = set(metrics)
    return tuple(m for m in catalog[task] if m in wanted)


class WindowMetrics(Estimator):
    """Metrics of the encoded rows in a window by events and/or event time, computed when read.

    Parameters
    ----------
    task
        ``"binary"``, ``"multiclass"`` or ``"regression"``.
    window_events, window_seconds, max_events
        The window (:class:`~driftline.estimators.performance.window.RowWindow`).
    metrics
        Metric names to report; None for all of the task's in :attr:`CATALOG`.
    """

    CATALOG: ClassVar[dict[str, tuple[str, ...]]] = REALIZED_METRICS

    def __init__(self, task: str, window_events: int | None = 1000, window_seconds: float | None = None,
                 max_events: int = 100_000, metrics: list[str] | None = None) -> None:
        self.task = task
        self.window_events = window_events
        self.window_seconds = window_seconds
        self.max_events = max_events
        self.metrics = None if metrics is None else list(metrics)
        self._names = metric_names(task, metrics, self.CATALOG)
        self._reset()

    def _reset(self) -> None:
        self._window = RowWindow(self.window_events, self.window_seconds, self.max_events)
        self._cache: tuple[tuple[int, int], dict[str, float]] = ((-1, -1), {})

    def update_batch(self, values: np.ndarray) -> Self:
        self._window.append(values)
        return self

    def _cached(self, variant: int, compute: Callable[[np.ndarray], dict[str, float]]) -> dict[str, float]:
        """``compute(rows in the window)``, recomputed only when the window (or ``variant``) changed."""
        key = (self._window.version, variant)
        if self._cache[0] != key:
            self._cache = (key, compute(self._window.view()))
        return dict(self._cache[1])

    def rows(self) -> np.ndarray:
        """The encoded rows in the window (a copy)."""
        return self._window.view()

    def version(self) -> int:
        """A number that changes whenever the window may have changed (for caches)."""
        return self._window.version

    @property
    def size(self) -> int:
        """Rows in the window."""
        return self._window.size

    @property
    def total(self) -> int:
        """Rows ever seen."""
        return self._window.total

    def _get_state(self) -> State:
        return self._window.get_state()

    def _set_state(self, state: State) -> None:
        self._window.set_state(state)


class RealizedMetrics(WindowMetrics):
    """Metrics of the labelled rows in a window by events and/or event time, computed exactly.

    River's rolling metrics were the first candidate, but its ROC AUC is an approximation
    (a fixed grid of thresholds) and its rolling wrappers keep Python objects per event; a
    numpy window of encoded rows gives values equal to scikit-learn's on the same rows (see
    :mod:`~driftline.estimators.performance.metric`) and a plain-array snapshot. Values are
    computed when read (O(window) with numpy, ROC AUC O(window log window)) and cached until
    the window changes. Parameters: :class:`WindowMetrics`.

    Input: encoded rows (:data:`~driftline.estimators.performance.task.ROW_DTYPE`) with labels,
    ``ts`` the event time of the join.

    Examples
    --------
    >>> from driftline.estimators.performance.task import Encoder
    >>> rows = Encoder("regression").encode([2.0, 4.0, 9.0], labels=[1.0, 5.0, 9.0], ts=[0.0, 1.0, 2.0])
    >>> RealizedMetrics("regression", window_events=2).update_batch(rows).values
    {'mae': 0.5, 'rmse': 0.7071067811865476, 'mape': 0.1, 'bias': -0.5}
    """

    @property
    def values(self) -> dict[str, float]:
        """``{metric: value}`` on the current window; undefined metrics left out."""
        return self._cached(0, lambda rows: METRIC_FUNCTIONS[self.task](rows, self._names))
