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
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.fakes.webhook import FakeWebhookReceiver
from tests.support.kafka import async_wait_until, create_topics, produce, wait_until
from tests.support.worker import WorkerProcess, worker_config

pytestmark = pytest.mark.integration

EVENTS = 200_000
MODELS = ("fraud", "churn", "ranker", "pricing")
ENVELOPE = 250
PARTITIONS = 4
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
        kafka={"partitions": PARTITIONS},
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


def new_stream(bootstrap: str, name: str) -> str:
    """A topic prefix of its own with the prediction stream (and some invalid messages) in it."""
    prefix = f"ck{name}{random.randrange(10**8)}"
    asyncio.run(create_topics(bootstrap, [f"{prefix}.predictions", f"{prefix}.labels"], partitions=PARTITIONS))
    asyncio.run(produce(bootstrap, f"{prefix}.predictions", predictions() + invalid()))
    return prefix


def produce_labels(bootstrap: str, prefix: str) -> int:
    messages = labels()
    asyncio.run(produce(bootstrap, f"{prefix}.labels", messages))
    return sum(len(json.loads(v)["events"]) for _, v in messages)


def assert_same(clean: dict, crashed: dict) -> None:
    assert clean, "the clean run exported nothing"
    families = {name for name, _ in clean}
    for family in ("driftline_events_total", "driftline_feature_mean", "driftline_labels_pending",
                   "driftline_labels_joined_total", "driftline_model_performance", "driftline_feature_drift",
                   "driftline_drift_detected", "driftline_feature_missing_ratio"):
        assert family in families, f"{family} missing from the comparison"
    diff = differences(clean, crashed)
    assert diff == [], f"{len(diff)} differences:\n" + "\n".join(diff[:60])


@pytest.fixture(scope="module")
def clean_run(broker, kafka_kind, tmp_path_factory) -> dict:
    """The state after the whole stream on one worker that never crashes."""
    skip_unless_apache(kafka_kind)
    bootstrap = broker.bootstrap_servers
    prefix = new_stream(bootstrap, "clean")
    worker = WorkerProcess(config(bootstrap, prefix), tmp_path_factory.mktemp("clean"), name="clean").start()
    try:
        run_to_end(worker, "prediction", EVENTS, [])
        run_to_end(worker, "label", produce_labels(bootstrap, prefix), [])
        return settled(worker)
    finally:
        worker.stop()


@pytest.mark.apache
def test_sigkilled_workers_end_in_the_state_of_a_run_without_crashes(broker, clean_run, tmp_path: Path):
    bootstrap = broker.bootstrap_servers
    prefix = new_stream(bootstrap, "crashes")
    rng = random.Random(2026)
    worker = WorkerProcess(config(bootstrap, prefix), tmp_path, name="crashes").start()
    try:
        run_to_end(worker, "prediction", EVENTS, sorted(rng.sample(range(EVENTS // 10, EVENTS * 9 // 10), 3)))
        expected_labels = produce_labels(bootstrap, prefix)
        run_to_end(worker, "label", expected_labels, [rng.randrange(expected_labels // 4, expected_labels * 3 // 4)])
        crashed = settled(worker)
        log = worker.log_path.read_text()
    finally:
        worker.stop()
    assert log.count("restored partition") >= 8, "the restarts restored nothing"
    assert_same(clean_run, crashed)


@pytest.mark.apache
async def test_three_workers_split_the_partitions_and_take_over_from_a_killed_one(broker, clean_run, tmp_path: Path):
    """Three workers in one group; one is SIGKILLed mid-stream. The other two take its partitions over
    from its checkpoints: together they end in the state of one worker that never crashed, and the
    notifier (which may have died with it) delivers every alert notification once."""
    bootstrap = broker.bootstrap_servers
    prefix = await asyncio.to_thread(new_stream, bootstrap, "trio")
    rng = random.Random(7)
    async with FakeWebhookReceiver() as webhook:
        routing = {"route": {"receiver": "hook", "group_by": ["..."], "group_wait": "0s", "group_interval": "1s",
                             "repeat_interval": "24h"},
                   "receivers": [{"name": "hook", "type": "webhook", "settings": {"url": webhook.url}}]}
        (tmp_path / "routing.yaml").write_text(yaml.safe_dump(routing))
        workers = []
        for i in range(3):
            cfg = config(bootstrap, prefix)
            cfg["alerting"].update(notify=True, routing=str(tmp_path / "routing.yaml"), notify_tick_seconds=0.2)
            workers.append(WorkerProcess(cfg, tmp_path, name=f"worker{i}"))
        await asyncio.gather(*(asyncio.to_thread(w.start) for w in workers))
        victim, survivors = workers[1], [workers[0], workers[2]]
        try:
            threshold = rng.randrange(EVENTS // 4, EVENTS // 2)
            await async_wait_until(lambda: sum(processed(w) for w in workers) >= threshold, timeout=120,
                                   what=f"{threshold} events across the workers")
            assert processed(victim) > 0, "the victim owned no partition"
            victim.kill()

            def total(kind: str) -> float:
                return sum(processed(w, kind) for w in survivors)

            await async_wait_until(lambda: total("prediction") >= EVENTS, timeout=120,
                                   what=f"all events on the survivors\n{survivors[0].log_tail()}")
            expected_labels = await asyncio.to_thread(produce_labels, bootstrap, prefix)
            await async_wait_until(lambda: total("label") >= expected_labels, timeout=120, what="all labels")
            states = await asyncio.gather(*(asyncio.to_thread(settled, w) for w in survivors))
            logs = [w.log_path.read_text() for w in survivors]
        finally:
            for w in workers:
                await asyncio.to_thread(w.stop)
        assert any("restored partition" in log for log in logs), "no survivor took a partition over"
        overlap = set(states[0]) & {key for key in states[1] if key[0] != "driftline_events_invalid_total"}
        assert not [k for k in overlap if dict(k[1]).get("model_id")], "a model is monitored by two workers"
        assert_same(clean_run, {**states[0], **states[1]})

        deliveries = Counter((alert["fingerprint"], alert["status"])
                             for request in webhook.received for alert in request.json()["alerts"])
        assert deliveries, "no alert was delivered (the fraud model drifts)"
        assert [k for k, n in deliveries.items() if n > 1] == [], "alerts delivered more than once"


def test_a_poison_checkpoint_stops_the_worker_with_a_clear_message(broker, tmp_path: Path):
    """An unreadable checkpoint must not be skipped (that would silently reset the state): the worker
    stops at once and says which record is wrong."""
    bootstrap = broker.bootstrap_servers
    prefix = f"ckpoison{random.randrange(10**8)}"
    asyncio.run(create_topics(bootstrap, [f"{prefix}.predictions", f"{prefix}.checkpoints"], partitions=1))
    asyncio.run(produce(bootstrap, f"{prefix}.checkpoints", [(b"c/00000/0000000003", b"not a snapshot")]))
    cfg = config(bootstrap, prefix)
    cfg["kafka"]["partitions"] = 1
    worker = WorkerProcess(cfg, tmp_path, name="poisoned")
    try:
        worker.start()
    except AssertionError:
        pass  # it may die before it serves /healthz
    assert worker.process is not None
    wait_until(lambda: worker.process.poll() is not None, timeout=60, what=f"the worker to stop\n{worker.log_tail()}")
    assert worker.process.returncode != 0
    assert "checkpoint commit c/00000/0000000003 of partition 0 is unreadable" in worker.log_path.read_text()
