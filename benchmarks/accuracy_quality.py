"""Model quality in the stream: realized metrics, CBPE estimates, error-stream detectors, label join.

    .venv/bin/python benchmarks/accuracy_quality.py [--reps 10] [--events 60000] [--workers 2] [--quick]

A binary classifier on three N(0, 1) inputs. The truth is P(y=1|x) = sigmoid(w.x), so the true
accuracy of any window of predictions is known exactly (the mean over its events of
P(correct|x)). The model is a slightly mis-estimated logistic model (its coefficients are
off by ~5%), so its scores are close to, not exactly, calibrated. Predictions arrive at 10
per second; each label arrives after a lognormal delay (median 10 minutes, 1% beyond 5.5
hours), so labels come back out of order and the joined stream lags the predictions.
Scenarios, changing at one third of the stream; the inputs never change:

============  ============================================================================
stable        nothing changes (false alarms of the detectors)
concept       w = (1.5, -1.0, 0.8) -> (1.5, +1.0, 0.8): P(y|x) changes, the model is now wrong
calibration   the true logit shrinks to 0.4 w.x: same ranking, the scores are overconfident
============  ============================================================================

The stream runs through the real pieces: :class:`driftline.events.join.LabelJoin` in micro-
batches of 100 predictions (plus the labels due by then), and one
:class:`driftline.estimators.performance.quality.ModelQuality` per stream (windows of 2,000
joined events and 2,000 predictions; all five detectors). Reported:

- ``exact``: the largest |difference| between the realized metrics and scikit-learn's on the
  same window (the last 2,000 joined events, and a 30-minute event-time window), checked
  every 50 micro-batches;
- ``cbpe mae``: mean |CBPE accuracy - true accuracy| of the prediction window, before the
  change (calibrated) and at the end of the stream (after the change), and the estimate error
  |CBPE - realized| on the joined window likewise (before: no post-change event in the
  window; after: at least 90% of them post-change);
- per detector, the median delay from the change to the first alarm (on a window that holds
  at least one post-change label), in predictions (this includes waiting for labels) and in
  labelled post-change events, how many streams it missed, and false alarms per 10^6 joined
  events on the stable stream;
- the join's throughput on one core, predictions + labels per second.
"""

from __future__ import annotations

import argparse
import math
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from driftline.estimators.performance.detector import DETECTORS
from driftline.estimators.performance.quality import ModelQuality
from driftline.events.join import LabelJoin

W = np.array([1.5, -1.0, 0.8])
W_MODEL = W * 1.05 + np.array([0.05, 0.05, -0.05])  # a slightly mis-estimated model
W_CONCEPT = np.array([1.5, 1.0, 0.8])
RATE = 10.0  # predictions per second
DELAY_MU, DELAY_SIGMA = math.log(600.0), 1.2
STEP, WINDOW, TIME_WINDOW = 100, 2000, 1800.0
SCENARIOS = ("stable", "concept", "calibration")


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def generate(scenario: str, n: int, seed: int) -> dict[str, np.ndarray]:
    """One stream: scores, predictions, labels, the true P(y=1|x), event times, label times."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    change = n // 3
    after = np.arange(n) >= change
    logit = x @ W
    if scenario == "concept":
        logit = np.where(after, x @ W_CONCEPT, logit)
    elif scenario == "calibration":
        logit = np.where(after, 0.4 * logit, logit)
    truth = sigmoid(logit)
    score = sigmoid(x @ W_MODEL)
    ts = np.arange(n) / RATE
    return {"score": score, "pred": (score >= 0.5).astype(float), "label": (rng.random(n) < truth).astype(float),
            "truth": truth, "ts": ts, "label_ts": ts + rng.lognormal(DELAY_MU, DELAY_SIGMA, n), "change": change}


def true_accuracy(s: dict[str, np.ndarray], idx: np.ndarray) -> float:
    t = s["truth"][idx]
    return float(np.where(s["pred"][idx] == 1.0, t, 1.0 - t).mean())


def sklearn_binary(y: np.ndarray, yhat: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn import metrics as skm

    return {"accuracy": skm.accuracy_score(y, yhat), "precision": skm.precision_score(y, yhat, zero_division=0),
            "recall": skm.recall_score(y, yhat, zero_division=0), "f1": skm.f1_score(y, yhat, zero_division=0),
            "roc_auc": skm.roc_auc_score(y, p), "log_loss": skm.log_loss(y, p, labels=[0, 1]),
            "brier": skm.brier_score_loss(y, p)}


def exact_gap(quality: ModelQuality, s: dict[str, np.ndarray], joined: list[int], join_ts: list[float],
              seconds: float | None) -> float:
    """max |ours - sklearn| on the same window, recomputed offline from the joined events."""
    idx, jts = np.array(joined), np.array(join_ts)
    keep = idx[-WINDOW:] if seconds is None else idx[jts > jts.max() - seconds]
    theirs = sklearn_binary(s["label"][keep], s["pred"][keep], s["score"][keep])
    ours = quality.realized
    return max(abs(ours[k] - v) for k, v in theirs.items())


def run(args: tuple[str, int, int]) -> dict[str, Any]:
    """One stream through the join and ModelQuality; what the table reports."""
    scenario, n, seed = args
    s = generate(scenario, n, seed)
    change = s["change"]
    join = LabelJoin()
    quality = ModelQuality("binary", window_events=WINDOW, cbpe_window_events=WINDOW, detectors=list(DETECTORS))
    by_time = ModelQuality("binary", window_events=None, window_seconds=TIME_WINDOW, cbpe=False, detectors=[])
    label_order = np.argsort(s["label_ts"], kind="stable")
    ids = np.array([f"r{i}" for i in range(n)], dtype=object)
    joined_idx: list[int] = []
    joined_ts: list[float] = []
    out: dict[str, Any] = {"scenario": scenario, "exact": 0.0, "cbpe_before": [], "cbpe_after": [],
                           "err_before": [], "err_after": [], "first_alarm": {}, "alarms": {}}
    seen_alarms = dict.fromkeys(DETECTORS, 0)
    lab = 0
    for step, start in enumerate(range(0, n, STEP)):
        end = min(start + STEP, n)
        batch = slice(start, end)
        stop = lab + int(np.searchsorted(s["label_ts"][label_order[lab:]], s["ts"][end - 1], side="right"))
        joined = micro_batch(join, s, ids, batch, label_order[lab:stop])
        lab = stop
        quality.update_predictions(s["pred"][batch].tolist(), s["score"][batch].tolist(), s["ts"][batch])
        quality.update_joined(joined)
        by_time.update_joined(joined)
        joined_idx += [int(j.request_id[1:]) for j in joined]
        joined_ts += [max(j.prediction_ts, j.label_ts) for j in joined]
        record(out, quality, s, end, change, joined_idx, seen_alarms)
        if step % 50 == 49 and len(joined_idx) >= WINDOW:
            out["exact"] = max(out["exact"], exact_gap(quality, s, joined_idx, joined_ts, None),
                               exact_gap(by_time, s, joined_idx, joined_ts, TIME_WINDOW))
    out["alarms"] = quality.alarms
    out["joined"] = quality.counts["joined"]
    out["joined_after"] = int(np.sum(np.array(joined_idx) >= change))
    out["delay_median"] = float(np.median(s["label_ts"] - s["ts"]))
    return out


def micro_batch(join: LabelJoin, s: dict[str, np.ndarray], ids: np.ndarray, batch: slice,
                due: np.ndarray) -> list[Any]:
    """One micro-batch through the join: its predictions, then the labels due by its end, then expiry."""
    joined = join.add_predictions(ids[batch].tolist(), s["ts"][batch], "v1", s["pred"][batch].tolist(),
                                  s["score"][batch].tolist())
    joined += join.add_labels(ids[due].tolist(), s["label"][due].tolist(), s["label_ts"][due])
    join.expire(join.watermark)
    return joined


def record(out: dict[str, Any], quality: ModelQuality, s: dict[str, np.ndarray], end: int, change: int,
           joined_idx: list[int], seen_alarms: dict[str, int]) -> None:
    """After a micro-batch: CBPE vs the truth, the estimate error, and new alarms after the change."""
    if end >= WINDOW:
        gap = abs(quality.estimated["accuracy"] - true_accuracy(s, np.arange(end - WINDOW, end)))
        if end <= change:
            out["cbpe_before"].append(gap)
        elif end >= change + 2 * WINDOW:
            out["cbpe_after"].append(gap)
    if len(joined_idx) >= WINDOW and "accuracy" in quality.estimate_error:
        after = float(np.mean(np.array(joined_idx[-WINDOW:]) >= change))  # share of post-change joins
        if after == 0.0:
            out["err_before"].append(quality.estimate_error["accuracy"])
        elif after >= 0.9:
            out["err_after"].append(quality.estimate_error["accuracy"])
    for name, count in quality.alarms.items():
        if count > seen_alarms[name] and end > change and name not in out["first_alarm"]:
            last = quality.last_alarms[name]  # the join-order index of the alarm
            labelled = int(np.sum(np.array(joined_idx[:last + 1]) >= change))
            if labelled > 0:  # an alarm on pre-change labels only is a false alarm, not a detection
                out["first_alarm"][name] = (end - change, labelled)
        seen_alarms[name] = count


def join_throughput(n: int, seed: int = 0, batch: int = 1000) -> tuple[float, float]:
    """Predictions + labels per second through LabelJoin on one core (batches of ``batch`` events)."""
    rng = np.random.default_rng(seed)
    ids = [f"req-{i:09d}" for i in range(n)]
    ts = np.arange(n) / 1000.0
    label_ts = ts + rng.lognormal(math.log(60.0), 1.0, n)
    order = np.argsort(label_ts, kind="stable")
    preds, scores = (rng.random(n) < 0.5).astype(float).tolist(), rng.random(n).tolist()
    label_ids, labels, lts = [ids[i] for i in order], [preds[i] for i in order], label_ts[order]
    join = LabelJoin(ttl_seconds=3600.0)
    start, lab, joined = time.perf_counter(), 0, 0
    for k in range(0, n, batch):
        joined += len(join.add_predictions(ids[k:k + batch], ts[k:k + batch], "v1", preds[k:k + batch],
                                           scores[k:k + batch]))
        stop = lab + int(np.searchsorted(lts[lab:], ts[min(k + batch, n) - 1], side="right"))
        joined += len(join.add_labels(label_ids[lab:stop], labels[lab:stop], lts[lab:stop]))
        lab = stop
        join.expire(join.watermark)
    elapsed = time.perf_counter() - start
    events = n + lab
    start = time.perf_counter()
    LabelJoin.from_state(join.to_state())
    return events / elapsed, time.perf_counter() - start


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def summarize(results: list[dict[str, Any]], reps: int, n: int) -> None:
    print(f"\nstreams of {n:,} predictions, {reps} per scenario, change at {n // 3:,}; "
          f"label delay median {results[0]['delay_median'] / 60:.1f} min (lognormal, sigma {DELAY_SIGMA})\n")
    print(f"{'scenario':<12} {'exact max|diff|':>16} {'cbpe mae before':>16} {'cbpe mae after':>15} "
          f"{'est.err before':>15} {'est.err after':>14}")
    for scenario in SCENARIOS:
        rs = [r for r in results if r["scenario"] == scenario]
        mean = lambda key: _mean([v for r in rs for v in r[key]])  # noqa: E731
        print(f"{scenario:<12} {max(r['exact'] for r in rs):>16.1e} {mean('cbpe_before'):>16.4f} "
              f"{mean('cbpe_after'):>15.4f} {mean('err_before'):>15.4f} {mean('err_after'):>14.4f}")
    print(f"\n{'detector':<8} {'false alarms/1e6 (stable)':>26} "
          + " ".join(f"{s + ' delay pred/lab (missed)':>38}" for s in SCENARIOS[1:]))
    for name in DETECTORS:
        stable = [r for r in results if r["scenario"] == "stable"]
        rate = 1e6 * sum(r["alarms"][name] for r in stable) / max(sum(r["joined"] for r in stable), 1)
        cells = []
        for scenario in SCENARIOS[1:]:
            rs = [r for r in results if r["scenario"] == scenario]
            hits = [r["first_alarm"][name] for r in rs if name in r["first_alarm"]]
            pred = np.median([h[0] for h in hits]) if hits else math.nan
            lab = np.median([h[1] for h in hits]) if hits else math.nan
            cells.append(f"{pred:>14,.0f} / {lab:>8,.0f} ({len(rs) - len(hits)} of {len(rs)})")
        print(f"{name:<8} {rate:>26,.0f} " + " ".join(f"{c:>38}" for c in cells))
    calibrated = _mean([v for r in results for v in r["cbpe_before"]])
    exact = max(r["exact"] for r in results)
    print(f"\nstated: realized == sklearn within 1e-12 ({'ok' if exact <= 1e-12 else 'FAILED'}: {exact:.1e}); "
          f"CBPE accuracy MAE vs the true accuracy <= 0.01 while calibrated "
          f"({'ok' if calibrated <= 0.01 else 'FAILED'}: {calibrated:.4f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="2 reps of 30,000 events")
    args = parser.parse_args()
    reps, n = (2, 30_000) if args.quick else (args.reps, args.events)
    jobs = [(scenario, n, 1000 * i + k) for i, scenario in enumerate(SCENARIOS) for k in range(reps)]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(run, jobs))
    summarize(results, reps, n)
    rate, restore = join_throughput(300_000 if args.quick else 1_000_000)
    print(f"\nlabel join: {rate:,.0f} events/s on one core (predictions + labels, batches of 1,000, "
          f"TTL expiry each batch); snapshot + restore of its state {restore:.2f} s")
    print(f"(whole run {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
