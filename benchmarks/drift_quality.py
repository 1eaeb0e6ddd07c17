"""Detection quality of driftline's drift detectors, against river and Evidently, in one run.

    .venv/bin/python benchmarks/drift_quality.py [--reps 20] [--workers 2] [--quick]

A model of seven independent features (six numeric N(0,1), one with 1% missing values,
and one categorical), a reference of 50,000 rows, and per scenario one feature changing
at a random point after 10,000 events:

==========  =====================================================================
mean        mean shift of 0.25 standard deviations
variance    variance x1.5 at the same mean
uniform     normal -> uniform with the same mean and variance (a change of shape)
bimodal     normal -> symmetric mixture of N(+-0.9, 0.19) (same mean and variance)
gradual     the mean drifts by 1e-4 standard deviations per event (0.25 after 2,500)
missing     missing rate 1% -> 6%
category    category shares [.40 .25 .15 .12 .08] -> [.34 .25 .15 .14 .12]
==========  =====================================================================

Reported per detector: mean detection delay in events after the change (first alarm at
or after it; ``missed`` when none within 30,000 events) and false alarms per 10^6 events
on no-change streams, counted over all features of the model (the unit of driftline's
budget). Anchors, all at their default parameters, per feature: river's ADWIN,
PageHinkley and KSWIN on the values (missing values skipped) plus, to give them a chance,
one instance on the missing indicator of the feature with missing values and one per
category indicator of the categorical feature; Evidently's default drift test on
consecutive windows of 1,000 events (reference > 1,000 rows: Wasserstein distance
normed by the reference std >= 0.1 for numeric columns, Jensen-Shannon distance >= 0.1
for categorical ones; missing values dropped), computed by a reimplementation of its
code that is checked against the real ``evidently`` package on sample windows when it
is importable. driftline runs at its default budget (1e7 events between false alarms of
the model) and at the false-alarm rate each anchor shows in the same run (also, at
ADWIN's rate, watching only what the river anchors watch: ``same``). ``bound`` is
the delay of an oracle CUSUM that knows the change, ``ln(ERT) / KL`` (``2 ln(ERT) / d^2``
for a mean shift of ``d`` standard deviations), at the model's budget.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from river import drift as river_drift
from scipy import stats
from scipy.spatial import distance

from driftline.estimators.drift.model import DriftOptions, ModelDrift
from driftline.estimators.reference import Reference

NUMERIC = ["mean", "variance", "uniform", "bimodal", "gradual", "missing"]
CATS = np.array(list("abcde"), dtype=object)
P_CAT, Q_CAT = np.array([0.40, 0.25, 0.15, 0.12, 0.08]), np.array([0.34, 0.25, 0.15, 0.14, 0.12])
SCENARIOS = NUMERIC + ["category"]
RAMP = 1e-4
REFERENCE_ROWS, PRE, HORIZON, WINDOW = 50_000, 10_000, 30_000, 1000
ANCHORS = ("adwin", "page_hinkley", "kswin", "evidently")


def rows(rng: np.random.Generator, n: int, change: str | None = None, since: int = 0) -> dict[str, np.ndarray]:
    """``n`` events of the model; feature ``change`` is post-change, ``since`` events into it."""
    out = {name: rng.normal(size=n) for name in NUMERIC}
    out["missing"][rng.random(n) < 0.01] = np.nan
    out["category"] = rng.choice(CATS, n, p=P_CAT)
    if change == "mean":
        out["mean"] += 0.25
    elif change == "variance":
        out["variance"] *= math.sqrt(1.5)
    elif change == "uniform":
        out["uniform"] = rng.uniform(-math.sqrt(3), math.sqrt(3), n)
    elif change == "bimodal":
        out["bimodal"] = rng.choice([-0.9, 0.9], n) + math.sqrt(1 - 0.81) * rng.normal(size=n)
    elif change == "gradual":
        out["gradual"] += RAMP * (since + np.arange(n))
    elif change == "missing":
        out["missing"] = np.where(rng.random(n) < 0.06, np.nan, rng.normal(size=n))
    elif change == "category":
        out["category"] = rng.choice(CATS, n, p=Q_CAT)
    return out


def kl(scenario: str) -> float:
    """Per-event Kullback-Leibler divergence of the post-change distribution from the pre-change one."""
    x = np.linspace(-8, 8, 200_001)
    normal = stats.norm.pdf(x)
    post = {"uniform": stats.uniform.pdf(x, -math.sqrt(3), 2 * math.sqrt(3)),
            "bimodal": (stats.norm.pdf(x, -0.9, 0.436) + stats.norm.pdf(x, 0.9, 0.436)) / 2}
    if scenario == "mean":
        return 0.25**2 / 2
    if scenario == "variance":
        return 0.5 * (1.5 - 1 - math.log(1.5))
    if scenario in post:
        p = post[scenario]
        return float(np.trapezoid(np.where(p > 0, p * np.log(np.where(p > 0, p, 1) / normal), 0), x))
    if scenario == "missing":
        return 0.06 * math.log(6) + 0.94 * math.log(0.94 / 0.99)
    return float((Q_CAT * np.log(Q_CAT / P_CAT)).sum())


def bound(scenario: str, ert: float) -> float:
    if scenario == "gradual":  # the mean after t events is RAMP * t: sum of KL = RAMP^2 t^3 / 6
        return (6 * math.log(ert) / RAMP**2) ** (1 / 3)
    return math.log(ert) / kl(scenario)


# --- river and Evidently -----------------------------------------------------------------

def river_inputs(feature: str, columns: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The per-event input streams of one feature's river instances (NaN: skipped)."""
    if feature == "category":
        return [(columns["category"] == c).astype(float) for c in CATS]
    values = [columns[feature]]
    if feature == "missing":
        values.append(np.isnan(columns[feature]).astype(float))
    return values


def make_river(method: str) -> Any:
    return {"adwin": river_drift.ADWIN, "page_hinkley": river_drift.PageHinkley,
            "kswin": lambda: river_drift.KSWIN(seed=7)}[method]()


def river_alarms(method: str, stream: np.ndarray) -> list[int]:
    detector, alarms = make_river(method), []
    for i, value in enumerate(stream.tolist()):
        if value == value:
            detector.update(value)
            if detector.drift_detected:
                alarms.append(i)
    return alarms


def evidently_drift(reference: np.ndarray, window: np.ndarray, categorical: bool) -> tuple[float, bool]:
    """Evidently's default test for a reference of more than 1,000 rows, as its code computes it."""
    if categorical:
        keys = sorted(set(reference.tolist()) | set(window.tolist()))
        ref = np.array([np.sum(reference == k) for k in keys]) / reference.size
        cur = np.array([np.sum(window == k) for k in keys]) / window.size
        value = float(distance.jensenshannon(ref, cur))
    else:
        reference, window = reference[~np.isnan(reference)], window[~np.isnan(window)]
        value = stats.wasserstein_distance(reference, window) / max(float(np.std(reference)), 0.001)
    return value, value >= 0.1


def check_evidently(reference: dict[str, np.ndarray], rng: np.random.Generator, windows: int) -> str:
    """Compare the reimplementation with the real evidently package on a few windows."""
    try:
        os.environ.setdefault("DO_NOT_TRACK", "1")
        import pandas as pd
        from evidently import Report
        from evidently.presets import DataDriftPreset
    except Exception as exc:  # noqa: BLE001 - any import problem means: not available
        return f"reimplementation (real evidently not importable: {type(exc).__name__})"
    ref = pd.DataFrame({k: v for k, v in reference.items()})
    worst, agree = 0.0, 0
    for w in range(windows):
        cur = rows(rng, WINDOW, SCENARIOS[w % len(SCENARIOS)], 2000)
        result = Report([DataDriftPreset()]).run(pd.DataFrame(cur), ref).dict()
        real = {m["config"]["column"]: m["value"] for m in result["metrics"] if "column" in m["config"]}
        for name, value in real.items():
            ours, _ = evidently_drift(reference[name], cur[name], name == "category")
            worst = max(worst, abs(ours - value))
            agree += (ours >= 0.1) == (value >= 0.1)
    total = windows * len(reference)
    return (f"reimplementation, checked against evidently on {windows} windows: {agree}/{total} decisions agree, "
            f"max |diff| {worst:.1e}")


# --- tasks (run in worker processes) ----------------------------------------------------

def reference_columns() -> dict[str, np.ndarray]:
    return rows(np.random.default_rng(12345), REFERENCE_ROWS)


COVERAGE = {"full": ("cusum",),
            "same": ("cusum_up", "cusum_down", "cusum_missing", "cusum_category", "cusum_category_down")}


def options(budget: float, coverage: str) -> DriftOptions:
    """driftline's defaults; ``same`` coverage: only the streams the river anchors watch
    (each feature's level, its missing rate, each category's share)."""
    return DriftOptions(budget_events=budget, detectors=COVERAGE[coverage], multivariate=coverage == "full")


def calibration(budget: float, coverage: str) -> tuple[dict[str, Any], float]:
    reference = Reference.from_columns(reference_columns())
    start = time.perf_counter()
    model = ModelDrift(reference, options(budget, coverage))
    return model.calibration, (time.perf_counter() - start) / len(model.scores("feature"))


def build_model(budget: float, coverage: str, calibrated: dict[str, Any]) -> ModelDrift:
    return ModelDrift(Reference.from_columns(reference_columns()), options(budget, coverage), calibrated)


def driftline_false_alarms(budget: float, coverage: str, calibrated: dict[str, Any], n: int,
                           seed: int) -> dict[str, Any]:
    model = build_model(budget, coverage, calibrated)
    rng = np.random.default_rng(seed)
    spent, done = 0.0, 0
    while done < n:
        batch = rows(rng, 1000)
        start = time.perf_counter()
        model.update_batch(batch)
        spent += time.perf_counter() - start
        done += 1000
    subjects = {name: model.column(kind, name).alarms for kind in ("feature", "multivariate")
                for name in (model.scores(kind)) if model.column(kind, name).alarms}
    values = done * (len(SCENARIOS) + 1)  # features plus the multivariate detector's row
    return {"alarms": model.alarms, "events": done, "ns_per_value": spent / values * 1e9, "by": subjects}


def driftline_delays(budget: float, coverage: str, calibrated: dict[str, Any], scenario: str, reps: int,
                     seed: int) -> list[float]:
    model = build_model(budget, coverage, calibrated)
    rng = np.random.default_rng(seed)
    delays = []
    for _ in range(reps):
        column = model.column("feature", scenario).clone()
        pre = PRE + int(rng.integers(0, WINDOW))
        column.update_batch(rows(rng, pre)[scenario])
        seen = column.alarms
        delay = math.inf
        for start in range(0, HORIZON, 50):
            column.update_batch(rows(rng, 50, scenario, start)[scenario])
            if column.alarms > seen:
                delay = column.last_alarm - pre + 1
                break
        delays.append(delay)
    return delays


def anchor_false_alarms(method: str, n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    columns = rows(rng, n)
    if method == "evidently":
        reference = reference_columns()
        alarms = sum(evidently_drift(reference[f], columns[f][i:i + WINDOW], f == "category")[1]
                     for f in SCENARIOS for i in range(0, n - WINDOW + 1, WINDOW))
    else:
        alarms = sum(len(river_alarms(method, s)) for f in SCENARIOS for s in river_inputs(f, columns))
    return {"alarms": alarms, "events": n}


def anchor_delays(method: str, scenario: str, reps: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    reference = reference_columns()[scenario] if method == "evidently" else None
    delays = []
    for _ in range(reps):
        pre = (PRE if method != "kswin" else 1000) + int(rng.integers(0, WINDOW))
        horizon = HORIZON if method != "kswin" else 5000
        before, after = rows(rng, pre), rows(rng, horizon, scenario, 0)
        stream = np.concatenate([before[scenario], after[scenario]])
        if method == "evidently":
            ends = [i + WINDOW for i in range(0, stream.size - WINDOW + 1, WINDOW)
                    if i + WINDOW > pre and evidently_drift(reference, stream[i:i + WINDOW], scenario == "category")[1]]
            delays.append(ends[0] - pre if ends else math.inf)
            continue
        full = {scenario: stream}
        first = [a for s in river_inputs(scenario, full) for a in river_alarms(method, s) if a >= pre]
        delays.append(min(first) - pre + 1 if first else math.inf)
    return delays


# --- the report ---------------------------------------------------------------------------

def summary(delays: list[float]) -> str:
    """Mean delay and the half-width of its 95% confidence interval, and how many were missed."""
    hit = np.array([d for d in delays if math.isfinite(d)])
    missed = len(delays) - hit.size
    if not hit.size:
        return f"{'-':>7s}" + " " * 7 + f" ({missed} missed)"
    ci = 1.96 * hit.std(ddof=1) / math.sqrt(hit.size) if hit.size > 1 else math.nan
    return f"{hit.mean():7.0f} +-{ci:4.0f}" + (f" ({missed} missed)" if missed else " " * 11)


def rate(result: dict[str, Any]) -> str:
    """False alarms per 10^6 events with a 95% Poisson interval."""
    k, n = result["alarms"], result["events"]
    low, high = (stats.chi2.ppf(0.025, 2 * k) / 2 if k else 0.0), stats.chi2.ppf(0.975, 2 * k + 2) / 2
    return f"{k / n * 1e6:9.2f} [{low / n * 1e6:.2f}, {high / n * 1e6:.2f}]"


def run(args: argparse.Namespace) -> None:
    pool = ProcessPoolExecutor(max_workers=args.workers)
    n_fa = {"driftline": 200_000 if args.quick else 6_000_000, "adwin": 400_000 if args.quick else 2_000_000,
            "page_hinkley": 200_000, "kswin": 3000 if args.quick else 6000, "evidently": 500_000}
    jobs: dict[Any, Any] = {("fa", m): [pool.submit(anchor_false_alarms, m, n_fa[m] // 2, seed) for seed in (1, 2)]
                            for m in ANCHORS}
    configs = [(1e7, "full")]
    calibrations = {(1e7, "full"): pool.submit(calibration, 1e7, "full")}
    for i, s in enumerate(SCENARIOS):
        for m in ANCHORS:
            reps = max(args.reps // 4, 3) if m == "kswin" else args.reps
            jobs[("delay", m, s)] = pool.submit(anchor_delays, m, s, reps, 20 + i)
    results = {m: merge([job.result() for job in jobs[("fa", m)]]) for m in ANCHORS}
    matched = {m: 1e6 / max(r["alarms"] / r["events"] * 1e6, 1e6 / r["events"]) for m, r in results.items()
               if m != "evidently"}
    configs += [(b, "full") for b in sorted(set(matched.values()), reverse=True)] + [(matched["adwin"], "same")]
    for key in configs[1:]:
        calibrations[key] = pool.submit(calibration, *key)
    for b, coverage in configs:
        calibrated, seconds = calibrations[(b, coverage)].result()
        n = min(n_fa["driftline"], int(400 * b)) // 2  # two halves, one per worker
        jobs[("fa", b, coverage)] = [pool.submit(driftline_false_alarms, b, coverage, calibrated, n, seed)
                                     for seed in (3, 4)]
        for i, s in enumerate(SCENARIOS):
            jobs[("delay", b, coverage, s)] = pool.submit(driftline_delays, b, coverage, calibrated, s, args.reps,
                                                          30 + i)
    check = check_evidently(reference_columns(), np.random.default_rng(5), 4 if args.quick else 12)
    report(jobs, configs, results, matched, check, calibrations[(1e7, "full")].result()[1])
    pool.shutdown()


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"alarms": sum(p["alarms"] for p in parts), "events": sum(p["events"] for p in parts)}


def report(jobs: dict[Any, Any], configs: list[tuple[float, str]], results: dict[str, Any],
           matched: dict[str, float], check: str, seconds: float) -> None:
    label = {(b, c): f"driftline@{b:.0e}" + ("" if c == "full" else " same") for b, c in configs}
    label[(1e7, "full")] = "driftline@1e7"
    columns = [label[c] for c in configs] + list(ANCHORS)
    print("\nMean detection delay in events after the change, +- the 95% interval (missed: none within 30,000)\n")
    print(f"{'scenario':9s}{'bound':>7s}" + "".join(f"{c:>25s}" for c in columns))
    for s in SCENARIOS:
        cells = [summary(jobs[("delay", *c, s)].result()) for c in configs]
        cells += [summary(jobs[("delay", m, s)].result()) for m in ANCHORS]
        print(f"{s:9s}{bound(s, 1e7):7.0f}" + "".join(f"{c:>25s}" for c in cells))
    print("\nFalse alarms per 10^6 events over the whole model [95% interval]; driftline's budget is 10^6 / ERT\n")
    for c in configs:
        halves = [job.result() for job in jobs[("fa", *c)]]
        fa = {**merge(halves), "by": {k: sum(h["by"].get(k, 0) for h in halves) for h in halves for k in h["by"]}}
        print(f"  {label[c]:22s} {rate(fa):28s} budget {1e6 / c[0]:9.2f}   ({fa['alarms']} in {fa['events']:,}"
              f" events: {fa['by'] or 'none'})")
    for m in ANCHORS:
        extra = f"  -> driftline budget {matched[m]:.2e}" if m in matched else ""
        print(f"  {m:22s} {rate(results[m]):28s} ({results[m]['alarms']} in {results[m]['events']:,} events){extra}")
    base = jobs[("fa", 1e7, "full")][0].result()
    print(f"\ndriftline batch update: {base['ns_per_value']:.0f} ns per feature value (batches of 1,000 events, "
          f"7 features + multivariate); calibration {seconds:.2f} s per column (7 features + multivariate)")
    print(f"'same': driftline watching only what the river anchors watch ({', '.join(COVERAGE['same'])}).")
    print(f"Evidently: {check}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=20, help="changes per scenario and detector")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="shorter no-change streams")
    start = time.perf_counter()
    run(parser.parse_args())
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
