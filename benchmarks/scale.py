"""Memory per monitored feature and per model on one worker, and the time to checkpoint and restore.

    .venv/bin/python benchmarks/scale.py [--quick] [--models 10000] [--features 20] [--drift-models 100]

The worker's state is built in-process, through the worker's own path: per model version, a
:class:`~driftline.monitor.MonitorRegistry` (the worker's configuration defaults) gets
prediction batches (:class:`~driftline.events.batch.ModelBatch`, from
:func:`~driftline.events.batch.group_events` of decoded events, 500 events each) and the
label batches of those predictions, until each model is in its steady state. Every row
runs in a fresh process, and memory is its RSS (``/proc/self/status`` VmRSS after
``gc.collect()``) above the RSS of the same process just before the first model, divided
by the monitored features (models x features) and by the models:

- **drift off**: quality on (label join, realized metrics, CBPE, ADWIN), feature summaries
  and rates. ``--models`` models x ``--features`` features (default 10,000 x 20: the
  target), each fed 1,500 predictions (the quality window is 1,000) and their labels.
- **drift on, steady**: the same plus drift, after the warm-up and calibration
  (``drift.warmup_events``, default 5,000 events of reference per model version) and 1,500
  more events. Calibration costs seconds per model (DESIGN.md, drift), far too long for
  thousands of models in a benchmark: the first model is calibrated for real and every other
  model gets its own reference (built from its own warm-up) and a deep copy of the first
  model's thresholds, so that its memory is what a calibrated model holds; only the
  threshold values are borrowed. ``--drift-models`` models (default 100) are built, and the
  per-feature figure is extrapolated to ``--models`` (said so in the table).
- **drift on, warming up**: the same models half-way through their warm-up, when the
  reference rows are buffered (the peak before calibration).

Checkpoint and restore (drift off and drift on rows): every model's state
(``MonitorRegistry.model_state``) encoded with the snapshot codec
(``driftline.state.codec.encode_snapshot(kind="model")``), then decoded and restored into a
fresh registry (``MonitorRegistry.restore_model``); time for all models, bytes per model.
Left out (and said so) when the registry has no per-model snapshot API.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # as `driftline worker` runs (driftline.cli), before numpy loads

import msgspec  # noqa: E402
import numpy as np  # noqa: E402

from driftline.config import DriftConfig, LimitsConfig, MonitoringConfig, QualityConfig  # noqa: E402
from driftline.events.batch import group_events  # noqa: E402
from driftline.events.decoder import EventDecoder  # noqa: E402
from driftline.events.schema import EventKind  # noqa: E402
from driftline.monitor import MonitorRegistry  # noqa: E402

BATCH = 500
STEADY_EVENTS = 1500
CATEGORIES = ("a", "b", "c", "d", "e")


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def settled_rss() -> int:
    gc.collect()
    return rss_bytes()


class Feeder:
    """Decoded prediction and label batches of one model, fresh objects every call (as from Kafka)."""

    def __init__(self, features: int, seed: int) -> None:
        self.features = features
        self.rng = np.random.default_rng(seed)
        self.predictions = EventDecoder(EventKind.PREDICTION, LimitsConfig())
        self.labels = EventDecoder(EventKind.LABEL, LimitsConfig())
        self.names = [f"f{i:02d}" for i in range(features)]
        self.sequence = 0

    def batch(self, model_id: str, n: int, ts: float, labels: bool) -> tuple[Any, Any]:
        """One envelope of ``n`` predictions of ``model_id`` (and one of their labels), decoded."""
        rng = self.rng
        numeric = np.round(rng.normal(size=(n, self.features)), 4).tolist()
        cats = rng.integers(0, len(CATEGORIES), size=(n, self.features)).tolist()
        scores = np.round(rng.beta(2, 5, size=n), 4).tolist()
        events, label_events = [], []
        for i in range(n):
            row, cat = numeric[i], cats[i]
            request_id = f"r{self.sequence + i}"
            events.append({"model_id": model_id, "model_version": "v1", "request_id": request_id,
                           "ts": ts + i * 0.001, "prediction": int(scores[i] > 0.5),
                           "scores": {"0": round(1 - scores[i], 4), "1": scores[i]},
                           "features": {name: CATEGORIES[cat[j]] if j % 5 == 4 else row[j]
                                        for j, name in enumerate(self.names)}})
            if labels:
                label_events.append({"model_id": model_id, "request_id": request_id,
                                     "label": int(rng.random() < scores[i]), "ts": ts + i * 0.001 + 1.0})
        self.sequence += n
        now = ts + n * 0.001 + 2.0
        decoded = self.predictions.decode(msgspec.json.encode({"events": events}), now)
        [batch] = group_events(EventKind.PREDICTION, decoded.events, decoded.ts)
        label_batch = None
        if labels:
            decoded_labels = self.labels.decode(msgspec.json.encode({"events": label_events}), now)
            [label_batch] = group_events(EventKind.LABEL, decoded_labels.events, decoded_labels.ts)
        return batch, label_batch


def feed(registry: MonitorRegistry, feeder: Feeder, model_id: str, events: int, ts: float, labels: bool) -> float:
    """Feed ``events`` predictions (and their labels) of one model in batches; returns the next ts."""
    done = 0
    while done < events:
        n = min(BATCH, events - done)
        batch, label_batch = feeder.batch(model_id, n, ts, labels)
        now = ts + n * 0.001 + 2.0
        registry.get(batch.model_id, batch.model_version).update(batch, now)
        registry.join_predictions(batch)
        if label_batch is not None:
            registry.record_labels(label_batch, now)
        ts += n * 0.001
        done += n
    return ts


def build(spec: dict[str, Any]) -> dict[str, Any]:
    """Build one row's registry in this process and measure it."""
    mode, models, features, warmup = spec["mode"], spec["models"], spec["features"], spec["warmup"]
    drift_on = mode != "drift off"
    config = MonitoringConfig(max_models=models + 10)
    drift = DriftConfig(enabled=drift_on, warmup_events=warmup)
    registry = MonitorRegistry(config, QualityConfig(), drift)
    feeder = Feeder(features, spec["seed"])
    from driftline.estimators.drift.model import ModelDrift
    base = settled_rss()
    started = time.perf_counter()
    calibration: Any = None
    calibrate_seconds = 0.0
    for m in range(models):
        model_id = f"model-{m:05d}"
        ts = 1.7e9
        if mode == "drift on, warming up":
            feed(registry, feeder, model_id, warmup // 2, ts, labels=True)
            continue
        ts = feed(registry, feeder, model_id, warmup if drift_on else 0, ts, labels=True)
        if drift_on:
            version = registry.get(model_id, "v1").drift
            assert version is not None and version.needs_calibration, "warm-up did not complete"
            if calibration is None:
                t = time.perf_counter()
                estimator = version.calibrate()  # the first model: calibrated for real
                calibrate_seconds = time.perf_counter() - t
                calibration = (estimator.options, estimator.calibration)
            else:
                assert version.builder is not None
                version.reference = version.builder.build()
                estimator = ModelDrift(version.reference, calibration[0], copy.deepcopy(calibration[1]))
            version.install(estimator)
        feed(registry, feeder, model_id, STEADY_EVENTS, ts, labels=True)
    build_seconds = time.perf_counter() - started
    used = settled_rss() - base
    monitored = sum(len(m.features) for m in registry)
    result = {"mode": mode, "models": models, "features": features, "monitored_features": monitored,
              "bytes": used, "bytes_per_feature": used / max(monitored, 1), "bytes_per_model": used / models,
              "rss_bytes": rss_bytes(), "build_seconds": build_seconds, "calibrate_seconds": calibrate_seconds,
              "watching": sum(1 for m in registry if m.drift is not None and m.drift.estimator is not None)}
    if spec["checkpoint"] and mode != "drift on, warming up":
        result.update(checkpoint(registry, config, drift))
    return result


def breakdown(spec: dict[str, Any]) -> dict[str, Any]:
    """Where a model's memory goes: bytes per model still allocated after building ``models`` models,
    by the driftline source file that allocated them (tracemalloc; slow, so a small sample)."""
    import tracemalloc
    drift_on = spec["drift"]
    config = MonitoringConfig(max_models=spec["models"] + 10)
    drift = DriftConfig(enabled=drift_on, warmup_events=spec["warmup"])
    registry = MonitorRegistry(config, QualityConfig(), drift)
    feeder = Feeder(spec["features"], spec["seed"])
    src = str(REPO / "src" / "driftline")
    tracemalloc.start(25)
    before = tracemalloc.take_snapshot()
    for m in range(spec["models"]):
        model_id = f"model-{m:05d}"
        ts = feed(registry, feeder, model_id, spec["warmup"] if drift_on else 0, 1.7e9, labels=True)
        if drift_on:
            version = registry.get(model_id, "v1").drift
            assert version is not None
            version.install(version.calibrate())
        feed(registry, feeder, model_id, STEADY_EVENTS, ts, labels=True)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    sizes: dict[str, int] = {}
    for stat in after.compare_to(before, "traceback"):
        frames = [f for f in stat.traceback if f.filename.startswith(src)]
        where = (frames[-1].filename[len(src) + 1:] + ":" + str(frames[-1].lineno)) if frames else "other"
        sizes[where] = sizes.get(where, 0) + stat.size_diff
    return {"drift": drift_on, "models": spec["models"],
            "per_model": {k: v / spec["models"] for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])}}


def checkpoint(registry: MonitorRegistry, config: MonitoringConfig, drift: DriftConfig) -> dict[str, Any]:
    """Snapshot, encode, decode and restore every model; the seconds of each step and the bytes."""
    snapshot = getattr(registry, "model_state", None)
    restore = getattr(MonitorRegistry, "restore_model", None)
    if snapshot is None or restore is None:
        return {"checkpoint": "not measured: MonitorRegistry has no model_state/restore_model"}
    from driftline.state.codec import decode_snapshot, encode_snapshot
    ids = registry.model_ids()
    seconds = {"snapshot": 0.0, "encode": 0.0, "decode": 0.0, "restore": 0.0}
    clock = time.perf_counter
    blobs = {}
    for model_id in ids:  # one model at a time, as a checkpoint writes them (and as memory allows)
        t0 = clock()
        state = snapshot(model_id)
        t1 = clock()
        blobs[model_id] = encode_snapshot("model", state)
        t2 = clock()
        seconds["snapshot"] += t1 - t0
        seconds["encode"] += t2 - t1
    del state
    size = sum(len(b) for b in blobs.values())
    fresh = MonitorRegistry(config, QualityConfig(), drift)
    for model_id in ids:
        t0 = clock()
        state = decode_snapshot(blobs.pop(model_id), "model")
        t1 = clock()
        fresh.restore_model(model_id, state)
        t2 = clock()
        seconds["decode"] += t1 - t0
        seconds["restore"] += t2 - t1
    assert len(fresh) == len(registry), (len(fresh), len(registry))
    return {"checkpoint": "measured", **{f"{k}_seconds": v for k, v in seconds.items()}, "snapshot_bytes": size,
            "snapshot_bytes_per_model": size / max(len(ids), 1)}


def run_row(spec: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    """One row in a fresh process (clean RSS)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--row", json.dumps(spec)]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        print(f"  !! row {spec['mode']!r} did not finish within {timeout:g} s")
        return None
    if out.returncode != 0:
        print(f"  !! row {spec['mode']!r} failed:\n{out.stderr[-3000:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 models, 20 with drift")
    parser.add_argument("--models", type=int, default=None, help="models, drift off (default 10,000)")
    parser.add_argument("--features", type=int, default=20, help="features per model (default 20)")
    parser.add_argument("--drift-models", type=int, default=None, help="models built with drift on (default 100)")
    parser.add_argument("--warmup", type=int, default=DriftConfig().warmup_events,
                        help=f"drift.warmup_events (default {DriftConfig().warmup_events}, the configuration's)")
    parser.add_argument("--no-checkpoint", action="store_true", help="skip the checkpoint and restore timing")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per row (default 3600)")
    parser.add_argument("--row", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.row:
        spec = json.loads(args.row)
        print(json.dumps(breakdown(spec) if "drift" in spec else build(spec)))
        return 0
    models = args.models or (1000 if args.quick else 10_000)
    drift_models = args.drift_models or (20 if args.quick else 100)
    started = time.monotonic()
    print(f"host CPUs: {os.cpu_count()}; load average {os.getloadavg()[0]:.2f}; {args.features} features per model "
          f"(4 of 5 numeric); {STEADY_EVENTS} steady events per model (+ labels) in batches of {BATCH}; "
          f"drift.warmup_events {args.warmup}")
    rows = []
    for mode, n in (("drift off", models), ("drift on, steady", drift_models), ("drift on, warming up", drift_models)):
        spec = {"mode": mode, "models": n, "features": args.features, "warmup": args.warmup, "seed": args.seed,
                "checkpoint": not args.no_checkpoint}
        result = run_row(spec, args.timeout)
        if result is not None:
            rows.append(result)
            print(f"  {mode}: {n} models built in {result['build_seconds']:.1f} s"
                  + (f" (the first model's calibration {result['calibrate_seconds']:.1f} s)"
                     if result["calibrate_seconds"] else ""))
    print("\nMEMORY (RSS growth of a fresh process, after gc)")
    print(f"  {'state':<22} {'models':>7} {'features':>9} {'MiB':>8} {'KiB/feature':>12} {'KiB/model':>10} "
          f"{'at ' + format(models, ',') + ' models':>18}")
    for r in rows:
        at_scale = r["bytes_per_model"] * models / 2**20
        note = "" if r["models"] == models else " (extrapolated)"
        print(f"  {r['mode']:<22} {r['models']:>7,} {r['monitored_features']:>9,} {r['bytes'] / 2**20:>8.1f} "
              f"{r['bytes_per_feature'] / 1024:>12.2f} {r['bytes_per_model'] / 1024:>10.1f} "
              f"{at_scale:>14,.0f} MiB{note}")
    off = next((r for r in rows if r["mode"] == "drift off"), None)
    if off is not None:
        per_feature = off["bytes_per_feature"] / 1024
        print(f"\n  targets: <= 4 KiB per monitored feature in steady state (drift off: {per_feature:.2f} KiB, "
              f"{'met' if per_feature <= 4 else 'MISSED'}); {models:,} models x {args.features} features in 1 GiB RSS "
              f"(drift off: process RSS {off['rss_bytes'] / 2**20:,.0f} MiB, "
              f"{'met' if off['rss_bytes'] <= 2**30 else 'MISSED'})")
    print("\nCHECKPOINT AND RESTORE (every model: snapshot -> codec encode -> decode -> restore into a fresh registry)")
    for r in rows:
        if "checkpoint" not in r:
            continue
        if r["checkpoint"] != "measured":
            print(f"  {r['mode']}: {r['checkpoint']}")
            continue
        total = r["snapshot_seconds"] + r["encode_seconds"] + r["decode_seconds"] + r["restore_seconds"]
        print(f"  {r['mode']:<18} {r['models']:>6,} models: snapshot {r['snapshot_seconds']:.2f} s, encode "
              f"{r['encode_seconds']:.2f} s, decode {r['decode_seconds']:.2f} s, restore {r['restore_seconds']:.2f} s "
              f"(total {total:.2f} s, {total / r['models'] * 1e3:.2f} ms per model); "
              f"{r['snapshot_bytes'] / 2**20:.1f} MiB, {r['snapshot_bytes_per_model'] / 1024:.1f} KiB per model")
    print("\nWHERE A MODEL'S MEMORY GOES (tracemalloc, allocations still held, by allocating line in src/driftline; "
          "KiB per model)")
    for drift_on, n in ((False, 20), (True, 2)):
        spec = {"drift": drift_on, "models": n, "features": args.features, "warmup": args.warmup, "seed": args.seed,
                "mode": f"breakdown drift {'on' if drift_on else 'off'}"}
        result = run_row(spec, args.timeout)
        if result is None:
            continue
        items = list(result["per_model"].items())
        total = sum(v for _, v in items)
        print(f"  drift {'on' if drift_on else 'off'} ({n} models, total {total / 1024:,.1f} KiB per model):")
        for where, size in items[:8]:
            print(f"    {size / 1024:>9,.1f}  {where}")
    print(f"\ntotal run time {time.monotonic() - started:.1f} s")
    return 0 if len(rows) == 3 else 1


if __name__ == "__main__":
    sys.exit(main())
