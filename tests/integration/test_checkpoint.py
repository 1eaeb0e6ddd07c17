"""Effectively-once state on a real broker: SIGKILLed workers restore their checkpoints and end where
a run without crashes ends, and several workers split and take over partitions with their state.

Rebalancing, restore to the high-watermark and compaction are proven on Apache Kafka (the embedded
broker gets them partly wrong, DESIGN.md §6), so these tests run there only.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.kafka import create_topics, produce, wait_until
from tests.support.worker import WorkerProcess, worker_config

pytestmark = [pytest.mark.integration, pytest.mark.apache]

EVENTS = 200_000
MODELS = ("fraud", "churn", "ranker", "pricing")
ENVELOPE = 250
BASE_TS = time.time() - 3000.0

# Values that depend on processing time or on how the stream was cut into micro-batches and runs,
# not on the events: they legitimately differ between a run with crashes and one without.
PROCESSING_TIME = (
    "driftline_event_lag_seconds", "driftline_event_rate", "driftline_label_rate", "driftline_batch_",
    "driftline_checkpoint", "driftline_restores", "driftline_records_skipped", "driftline_label_delay_seconds",
    "driftline_notifications", "driftline_models_monitored", "driftline_alerts_firing", "driftline_deadletter",
    "driftline_events_invalid_total", "python_", "process_",  # process counters restart at 0
)


def skip_unless_apache(kafka_kind: str) -> None:
    if kafka_kind != "apache":
        pytest.skip("rebalances, restores and compaction are proven on Apache Kafka (DRIFTLINE_TEST_KAFKA=apache)")


def predictions(seed: int = 7) -> list[tuple[bytes, bytes]]:
    """EVENTS prediction events of four models (two versions of one) in envelopes; the fraud model's
    amount drifts in the second half."""
    rng = random.Random(seed)
    per_model = EVENTS // len(MODELS)
    messages = []
    for m, model in enumerate(MODELS):
        for start in range(0, per_model, ENVELOPE):
            events = []
            for i in range(start, start + ENVELOPE):
                shift = 1.0 if model == "fraud" and i > per_model // 2 else 0.0
                score = rng.random()
                events.append({
                    "model_id": model, "model_version": "v2" if model == "fraud" and i % 5 == 0 else "v1",
                    "request_id": f"{model}-{i}", "ts": BASE_TS + i * 0.05,
                    "features": {"amount": rng.gauss(100 + 20 * shift, 20), "age": rng.gauss(40, 10),
                                 "country": rng.choices(["DE", "FR", "US"], [0.5, 0.3, 0.2])[0],
                                 "tenure": None if i % 9 == 0 else rng.expovariate(0.1)},
                    "prediction": int(score > 0.5), "scores": {"0": 1 - score, "1": score},
                })
            messages.append((model.encode(), json.dumps({"events": events}).encode()))
    rng.shuffle(messages)  # models interleave; each model's own order is kept by its partition
    messages.sort(key=lambda kv: (kv[0], json.loads(kv[1])["events"][0]["ts"]))
    return messages


def labels(seed: int = 8) -> list[tuple[bytes, bytes]]:
    """Labels for every other prediction, some of them never matching, in envelopes."""
    rng = random.Random(seed)
    per_model = EVENTS // len(MODELS)
    messages = []
    for model in MODELS:
        batch = []
        for i in range(0, per_model + 400, 2):
            batch.append({"model_id": model, "request_id": f"{model}-{i}", "ts": BASE_TS + i * 0.05 + 30,
                          "label": int(rng.random() < 0.4)})
            if len(batch) == ENVELOPE:
                messages.append((model.encode(), json.dumps({"events": batch}).encode()))
                batch = []
        messages.append((model.encode(), json.dumps({"events": batch}).encode()))
    return messages


def invalid() -> list[tuple[bytes, bytes]]:
    return [(model.encode(), b"{not json") for model in MODELS for _ in range(5)]


def config(bootstrap: str, prefix: str) -> dict[str, Any]:
    return worker_config(
        bootstrap, prefix,
        kafka={"partitions": 4},
        worker={"batch_max_messages": 20},
        checkpoint={"interval_events": 20_000, "interval_seconds": 1.0},
        drift={"warmup_events": 4000, "window_events": 2000},
        quality={"window_events": 2000},
        alerting={"notify": False},
    )


def processed(worker: WorkerProcess, kind: str = "prediction") -> float:
    try:
        samples = worker.metrics()
    except OSError:
        return -1.0
    return sum(v for (name, labels), v in samples.items()
               if name == "driftline_events_total" and dict(labels).get("kind") == kind)


def state(worker: WorkerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The exported values that the events alone determine."""
    return {key: value for key, value in worker.metrics().items()
            if key[0].startswith("driftline_") and not key[0].startswith(PROCESSING_TIME)}


def run_to_end(worker: WorkerProcess, kind: str, expected: int, kill_at: list[int], timeout: float = 120.0
               ) -> WorkerProcess:
    """Let the worker process ``kind`` events up to ``expected``, SIGKILLing and restarting it each time
    the count passes the next of ``kill_at``."""
    for threshold in kill_at:
        wait_until(lambda: processed(worker, kind) >= threshold, timeout=timeout,
                   what=f"{threshold} {kind} events before the kill\n{worker.log_tail()}")
        worker.kill()
        worker.start()
    wait_until(lambda: processed(worker, kind) >= expected, timeout=timeout,
               what=f"all {expected} {kind} events\n{worker.log_tail()}")
    return worker


def settled(worker: WorkerProcess) -> dict:
    """The state once it stops changing (the last micro-batches, calibrations and evaluations done)."""
    last: list[dict] = [{}]

    def same_twice() -> bool:
        now = state(worker)
        calibrating = any(name == "driftline_drift_phase" and dict(labels)["phase"] == "calibrating" and value
                          for (name, labels), value in now.items())
        done = now == last[0] and not calibrating
        last[0] = now
        return done

    wait_until(same_twice, timeout=90, interval=1.0, what=f"state to settle\n{worker.log_tail()}")
    return last[0]


def differences(expected: dict, actual: dict) -> list[str]:
    """Samples that differ; floating-point sums may differ in the last bits with the batch boundaries."""
    out = []
    for key in sorted(set(expected) | set(actual), key=str):
        a, b = expected.get(key), actual.get(key)
        if a is None or b is None or not (a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
                                          or (math.isnan(a) and math.isnan(b))):
            out.append(f"{key}: without crashes {a}, with crashes {b}")
    return out


def test_sigkilled_workers_end_in_the_state_of_a_run_without_crashes(broker, kafka_kind, tmp_path: Path):
    skip_unless_apache(kafka_kind)
    bootstrap = broker.bootstrap_servers
    rng = random.Random(2026)
    finals = {}
    for run, kills in (("clean", 0), ("crashes", 4)):
        prefix = f"ck{run}{rng.randrange(10**6)}"
        asyncio.run(create_topics(bootstrap, [f"{prefix}.predictions", f"{prefix}.labels"], partitions=4))
        asyncio.run(produce(bootstrap, f"{prefix}.predictions", predictions() + invalid()))
        worker = WorkerProcess(config(bootstrap, prefix), tmp_path, name=run).start()
        try:
            kill_at = sorted(rng.sample(range(EVENTS // 10, EVENTS * 9 // 10), max(kills - 1, 0)))
            run_to_end(worker, "prediction", EVENTS, kill_at)
            asyncio.run(produce(bootstrap, f"{prefix}.labels", labels()))
            expected_labels = sum(len(json.loads(v)["events"]) for _, v in labels())
            run_to_end(worker, "label", expected_labels, [expected_labels // 2] if kills else [])
            finals[run] = settled(worker)
            log = worker.log_path.read_text()
        finally:
            worker.stop()
        if kills:
            assert log.count("restored partition") >= 4, "the restarts restored nothing"
    clean, crashed = finals["clean"], finals["crashes"]
    assert clean, "the clean run exported nothing"
    families = {name for name, _ in clean}
    for family in ("driftline_events_total", "driftline_feature_mean", "driftline_labels_pending",
                   "driftline_labels_joined_total", "driftline_model_performance", "driftline_feature_drift",
                   "driftline_drift_detected", "driftline_feature_missing_ratio"):
        assert family in families, f"{family} missing from the comparison"
    diff = differences(clean, crashed)
    assert diff == [], f"{len(diff)} differences:\n" + "\n".join(diff[:60])
