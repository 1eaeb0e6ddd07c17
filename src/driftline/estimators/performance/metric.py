"""Realized quality metrics of a window of labelled rows, computed exactly as scikit-learn does.

The functions take encoded rows (:data:`~driftline.estimators.performance.task.ROW_DTYPE`)
and return ``{metric: value}`` for the requested metric names. A metric that is undefined on
the rows (an empty window; ROC AUC with one class; a score metric without scores) is left out
rather than reported as NaN. Where scikit-learn's default returns 0 for a zero division
(precision without predicted positives, recall without positives), so do these.

Definitions (``e = yhat - y``; score metrics use the rows that have a score):

=============  ======================================================================
``accuracy``   share of rows with ``yhat == y``
``precision``  TP / (TP + FP);  ``recall``: TP / (TP + FN);  ``f1``: 2TP / (2TP + FP + FN)
``macro_f1``   unweighted mean of per-class F1 over the classes present in y or yhat
``roc_auc``    probability that a positive outranks a negative (ties count half)
``log_loss``   mean of -log p(true class), probabilities clipped to [eps, 1 - eps]
``brier``      mean of (y - p)^2
``ece``        sum over 10 equal-width score bins of |sum(y) - sum(p)| / n (bins as
               ``sklearn.calibration.calibration_curve``: (lo, hi], the first closed)
``mae``        mean |e|;  ``rmse``: sqrt(mean e^2);  ``bias``: mean e (> 0: over-prediction)
``mape``       mean |e| / max(|y|, eps)
=============  ======================================================================

>>> from driftline.estimators.performance.task import ROW_DTYPE
>>> rows = np.zeros(4, dtype=ROW_DTYPE)
>>> rows["y"], rows["yhat"], rows["p"] = [1, 0, 1, 0], [1, 0, 0, 1], [0.9, 0.2, 0.4, 0.6]
>>> m = binary_metrics(rows, ("accuracy", "f1", "roc_auc", "brier"))
>>> {k: round(v, 4) for k, v in m.items()}
{'accuracy': 0.5, 'f1': 0.5, 'roc_auc': 0.75, 'brier': 0.1925}
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from driftline.estimators.performance.task import BINARY, MULTICLASS, REGRESSION

EPS = float(np.finfo(np.float64).eps)
ECE_BINS = 10


def ranked_auc(scores: np.ndarray, weights: np.ndarray) -> float:
    """Expected ROC AUC when event i is positive with probability ``weights[i]``, ranked by ``scores``.

    The share of (positive, negative) pairs of distinct events in which the positive has the
    higher score, ties counting half, as a ratio of expectations. With 0/1 weights (labels) it
    is the exact ROC AUC; NaN when there are no such pairs.
    """
    order = np.argsort(scores, kind="stable")
    s, w = scores[order], weights[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos = np.add.reduceat(w, starts) if s.size else np.zeros(0)
    neg = np.add.reduceat(1.0 - w, starts) if s.size else np.zeros(0)
    self_pairs = float((w * (1.0 - w)).sum())
    neg_below = np.cumsum(neg) - neg
    concordant = float((pos * neg_below).sum()) + 0.5 * (float((pos * neg).sum()) - self_pairs)
    pairs = float(pos.sum()) * float(neg.sum()) - self_pairs
    return concordant / pairs if pairs > 0 else float("nan")


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else 0.0


def confusion_metrics(tp: float, fp: float, fn: float, tn: float) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of a (possibly expected) binary confusion matrix."""
    return {"accuracy": _ratio(tp + tn, tp + fp + fn + tn), "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn), "f1": _ratio(2 * tp, 2 * tp + fp + fn)}


def _log_loss_binary(y: np.ndarray, p: np.ndarray) -> float:
    p1, p0 = np.clip(p, EPS, 1 - EPS), np.clip(1.0 - p, EPS, 1 - EPS)
    return float(-(y * np.log(p1) + (1.0 - y) * np.log(p0)).mean())


def _ece(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    ids = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], p)
    gap = np.bincount(ids, weights=y, minlength=bins) - np.bincount(ids, weights=p, minlength=bins)
    return float(np.abs(gap).sum() / y.size)


def binary_metrics(rows: np.ndarray, names: Iterable[str]) -> dict[str, float]:
    """Binary metrics of labelled rows (``y``, ``yhat`` in {0, 1}; ``p`` the positive-class score)."""
    names = tuple(names)
    if rows.size == 0:
        return {}
    y, yhat = rows["y"], rows["yhat"]
    tp = float((y * yhat).sum())
    fp, fn = float(yhat.sum()) - tp, float(y.sum()) - tp
    values = confusion_metrics(tp, fp, fn, float(y.size) - tp - fp - fn)
    scored = ~np.isnan(rows["p"])
    if scored.any():
        ys, p = y[scored], np.clip(rows["p"][scored], 0.0, 1.0)
        values.update(roc_auc=ranked_auc(p, ys), log_loss=_log_loss_binary(ys, p),
                      brier=float(((ys - p) ** 2).mean()), ece=_ece(ys, p))
    return {k: values[k] for k in names if k in values and not np.isnan(values[k])}


def multiclass_metrics(rows: np.ndarray, names: Iterable[str]) -> dict[str, float]:
    """Multiclass metrics of labelled rows (class codes; ``p`` the true class's probability)."""
    names = tuple(names)
    if rows.size == 0:
        return {}
    y, yhat = rows["y"].astype(np.int64), rows["yhat"].astype(np.int64)
    k = int(max(y.max(), yhat.max())) + 1
    tp = np.bincount(y[y == yhat], minlength=k).astype(np.float64)
    true, pred = np.bincount(y, minlength=k), np.bincount(yhat, minlength=k)
    present = (true + pred) > 0
    f1 = 2 * tp[present] / (true[present] + pred[present])
    values = {"accuracy": float(tp.sum() / y.size), "macro_f1": float(f1.mean())}
    p = rows["p"][~np.isnan(rows["p"])]
    if p.size:
        values["log_loss"] = float(-np.log(np.clip(p, EPS, 1 - EPS)).mean())
    return {k: values[k] for k in names if k in values}


def regression_metrics(rows: np.ndarray, names: Iterable[str]) -> dict[str, float]:
    """Regression metrics of labelled rows (``y`` the label, ``yhat`` the prediction)."""
    names = tuple(names)
    rows = rows[np.isfinite(rows["y"]) & np.isfinite(rows["yhat"])]
    if rows.size == 0:
        return {}
    y = rows["y"]
    e = rows["yhat"] - y
    a = np.abs(e)
    values = {"mae": float(a.mean()), "rmse": float(np.sqrt((e * e).mean())),
              "mape": float((a / np.maximum(np.abs(y), EPS)).mean()), "bias": float(e.mean())}
    return {k: values[k] for k in names if k in values}


METRIC_FUNCTIONS = {BINARY: binary_metrics, MULTICLASS: multiclass_metrics, REGRESSION: regression_metrics}
