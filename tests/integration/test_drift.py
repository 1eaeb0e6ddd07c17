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


def phase(worker: WorkerProcess) -> str | None:
    for (name, labels), value in worker.metrics().items():
        if name == "driftline_drift_phase" and value == 1 and dict(labels)["model_id"] == "fraud":
            return dict(labels)["phase"]
    return None


def rebase(worker: WorkerProcess, *args: str) -> str:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "driftline", "rebase", "fraud", "--config",
                           str(worker.config_path), "--reason", "new normal after the pricing change", *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_rebase_makes_the_new_normal_the_reference(broker, prefix, tmp_path):
    """After a lasting change the operator re-bases: `driftline rebase` from the next events, then to a
    reference file. The detections stop, and the shifted stream is watched against its own reference."""
    warmup = 1000
    config = worker_config(broker.bootstrap_servers, prefix, drift={"warmup_events": warmup})
    worker = WorkerProcess(config, tmp_path).start()
    now = time.time() - 600
    try:
        asyncio.run(produce(broker.bootstrap_servers, f"{prefix}.predictions", envelopes(0, warmup, 0.0, now, 1)))
        wait_until(lambda: phase(worker) == "watching", timeout=90, what=f"calibration\n{worker.log_tail()}")
        asyncio.run(produce(broker.bootstrap_servers, f"{prefix}.predictions", envelopes(warmup, 1000, 1.0, now, 3)))
        wait_until(lambda: detected(worker, "amount") >= 1, timeout=60, what="drift detected in amount")

        assert "re-base every version from its next 1000 events" in rebase(worker, "--warmup", str(warmup))
        wait_until(lambda: phase(worker) == "warming_up", timeout=60, what=f"the re-base\n{worker.log_tail()}")
        assert detected(worker, "amount") == 0  # the old detectors are gone
        asyncio.run(produce(broker.bootstrap_servers, f"{prefix}.predictions",
                            envelopes(2000, 2 * warmup, 1.0, now, 4)))
        wait_until(lambda: phase(worker) == "watching", timeout=90, what="calibration on the new normal")
        wait_until(lambda: worker.value("driftline_events_total", model_id="fraud", model_version="v7",
                                        kind="prediction") == 4000, timeout=60, what="all events")
        assert detected(worker, "amount") == 0  # the shifted stream is the reference now

        # a reference file: back to the original distribution, which the current stream is not
        rows = [json.loads(v)["events"] for _, v in envelopes(0, warmup, 0.0, now, 5)]
        reference = tmp_path / "reference.jsonl"
        reference.write_text("\n".join(json.dumps(e) for batch in rows for e in batch))
        assert f"to {reference}" in rebase(worker, "--reference", str(reference), "--version", "v7")
        wait_until(lambda: worker.log_path.read_text().count("re-based drift of fraud v7") == 2, timeout=60,
                   what="the second re-base")
        wait_until(lambda: phase(worker) == "watching", timeout=90, what="calibration of the file reference")
        asyncio.run(produce(broker.bootstrap_servers, f"{prefix}.predictions", envelopes(4000, 1000, 1.0, now, 6)))
        wait_until(lambda: detected(worker, "amount") >= 1, timeout=60, what="drift against the file reference")
        log = worker.log_path.read_text()
    finally:
        worker.stop()
    assert "re-based drift of fraud v7 (requested by" in log and "new normal after the pricing change" in log
