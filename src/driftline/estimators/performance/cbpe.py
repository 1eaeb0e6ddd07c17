"""Estimated performance without labels: confidence-based performance estimation (CBPE, after NannyML).

If a classifier's scores are calibrated, an event predicted positive with score ``p`` is a
true positive with probability ``p`` and a false positive with probability ``1 - p``. Summing
over a window gives the *expected* confusion matrix

    TP = sum(p [yhat=1]),  FP = sum((1-p) [yhat=1]),  FN = sum(p [yhat=0]),  TN = sum((1-p) [yhat=0])

and from it accuracy, precision, recall and F1 (ratios of the expectations, as NannyML does).
The expected ROC AUC is the expected share of concordant (positive, negative) pairs of
distinct events, each event being positive with probability ``p``, ranked by its raw score
(:func:`~driftline.estimators.performance.metric.ranked_auc`). A multiclass model's expected
accuracy is the mean probability of the predicted class.

Scores may pass through a calibration map first
(:class:`~driftline.estimators.performance.calibration.HistogramCalibration`); ranking for the
AUC always uses the raw score. Events without a score are left out.

>>> from driftline.estimators.performance.task import Encoder
>>> rows = Encoder("binary").encode([1, 1, 0, 0], [0.9, 0.6, 0.3, 0.1], ts=[0.0, 1.0, 2.0, 3.0])
>>> est = PerformanceEstimate("binary", window_events=100).update_batch(rows)
>>> {k: round(v, 4) for k, v in est.values.items()}
{'accuracy': 0.775, 'precision': 0.75, 'recall': 0.7895, 'f1': 0.7692, 'roc_auc': 0.9018}
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from driftline.estimators.performance.calibration import HistogramCalibration
from driftline.estimators.performance.metric import confusion_metrics, ranked_auc
from driftline.estimators.performance.realized import WindowMetrics
from driftline.estimators.performance.task import BINARY, ESTIMATED_METRICS, MULTICLASS

Transform = Callable[[np.ndarray], np.ndarray]


def expected_metrics(task: str, rows: np.ndarray, names: Iterable[str],
                     transform: Transform | None = None) -> dict[str, float]:
    """CBPE estimates of ``names`` on encoded rows (their labels, if any, are not used)."""
    names = tuple(names)
    if task == BINARY:
        scored = rows[~np.isnan(rows["p"])]
        if scored.size == 0:
            return {}
        raw = np.clip(scored["p"], 0.0, 1.0)
        p = raw if transform is None else transform(raw)
        yhat = scored["yhat"]
        tp, fn = float((p * yhat).sum()), float((p * (1.0 - yhat)).sum())
        fp = float(yhat.sum()) - tp
        values = confusion_metrics(tp, fp, fn, float(p.size) - tp - fp - fn)
        if "roc_auc" in names:
            values["roc_auc"] = ranked_auc(raw, p)
    elif task == MULTICLASS:
        q = rows["q"][~np.isnan(rows["q"])]
        values = {"accuracy": float(q.mean())} if q.size else {}
    else:
        values = {}
    return {k: values[k] for k in names if k in values and not np.isnan(values[k])}


class PerformanceEstimate(WindowMetrics):
    """CBPE over a sliding window of recent predictions (by events and/or event time).

    Parameters: :class:`~driftline.estimators.performance.realized.WindowMetrics`; ``task`` is
    ``"binary"`` or ``"multiclass"`` (a regression has nothing to estimate: values are empty),
    ``metrics`` selects among :data:`~driftline.estimators.performance.task.ESTIMATED_METRICS`.

    Input: encoded rows of predictions (no labels needed), ``ts`` the prediction's event time.
    """

    CATALOG = ESTIMATED_METRICS

    def estimate(self, calibration: HistogramCalibration | None = None) -> dict[str, float]:
        """``{metric: estimate}`` on the current window, scores mapped by ``calibration`` once it is fitted."""
        transform = calibration.transform if calibration is not None and calibration.fitted else None
        # a fitted calibration never changes, so whether there is one is all the cache needs to know
        return self._cached(int(transform is not None),
                            lambda rows: expected_metrics(self.task, rows, self._names, transform))

    @property
    def values(self) -> dict[str, float]:
        """``{metric: estimate}`` with the scores taken as calibrated."""
        return self.estimate()
