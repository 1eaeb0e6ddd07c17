"""Drift on a real broker: a warm-up reference, calibrated detectors, injected drift in one feature only."""

from __future__ import annotations

import asyncio
import json
import random
import time

import pytest

from tests.support.kafka import produce, wait_until
from tests.support.worker import WorkerProcess, worker_config

pytestmark = pytest.mark.integration

WARMUP = 2000


def envelopes(start: int, n: int, shift: float, now: float, seed: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    events = []
    for i in range(start, start + n):
        features = {"amount": rng.gauss(100 + shift * 20, 20), "age": rng.gauss(40, 10),
                    "country": rng.choices(["DE", "FR", "US"], [0.5, 0.3, 0.2])[0]}
        score = rng.random()
        events.append({"model_id": "fraud", "model_version": "v7", "request_id": str(i), "ts": now + i * 0.001,
                       "features": features, "prediction": int(score > 0.5), "scores": {"0": 1 - score, "1": score}})
    return [(b"fraud", json.dumps({"events": events[j:j + 250]}).encode()) for j in range(0, n, 250)]


def detected(worker: WorkerProcess, feature: str) -> float:
    return sum(value for (name, labels), value in worker.metrics().items()
               if name == "driftline_drift_detected" and ("feature", feature) in labels)


def test_injected_drift_is_detected_in_that_feature_only(broker, prefix, tmp_path):
    config = worker_config(broker.bootstrap_servers, prefix, drift={"warmup_events": WARMUP})
    worker = WorkerProcess(config, tmp_path).start()
    now = time.time() - 600
    try:
        asyncio.run(produce(broker.bootstrap_servers, f"{prefix}.predictions", envelopes(0, WARMUP, 0.0, now, 1)))
        wait_until(lambda: worker.value("driftline_drift_phase", model_id="fraud", model_version="v7",
                                        phase="watching") == 1, timeout=90, what=f"calibration\n{worker.log_tail()}")
        # as much again without drift: nothing fires at the default budget
        asyncio.run(produce(broker.bootstrap_servers, f"{prefix}.predictions",
                            envelopes(WARMUP, WARMUP, 0.0, now, 2)))
        wait_until(lambda: worker.value("driftline_events_total", model_id="fraud", model_version="v7",
                                        kind="prediction") == 2 * WARMUP, timeout=60, what="no-drift events")
        assert sum(detected(worker, f) for f in ("amount", "age", "country")) == 0
        # amount shifts by one standard deviation
        asyncio.run(produce(broker.bootstrap_servers, f"{prefix}.predictions",
                            envelopes(2 * WARMUP, 1000, 1.0, now, 3)))
        wait_until(lambda: detected(worker, "amount") >= 1, timeout=60, what="drift detected in amount")
        samples = worker.metrics()
    finally:
        worker.stop()
    assert detected_in(samples, "age") == 0 and detected_in(samples, "country") == 0
    psi = samples[("driftline_feature_drift", tuple(sorted({"model_id": "fraud", "model_version": "v7",
                                                              "feature": "amount", "method": "psi"}.items())))]
    assert psi > 0.1
    # the importance-weighted mean of per-feature scores capped at 1: one of three features at its threshold
    assert samples[("driftline_drift_score", (("model_id", "fraud"), ("model_version", "v7")))] >= 1 / 3


def detected_in(samples: dict, feature: str) -> float:
    return sum(v for (name, labels), v in samples.items()
               if name == "driftline_drift_detected" and ("feature", feature) in labels)
