"""Model quality on a real broker: predictions and labels from separate producers, joined in the worker."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from driftline.client import AsyncProducer
from tests.support.kafka import wait_until
from tests.support.worker import WorkerProcess, worker_config

pytestmark = pytest.mark.integration

N = 600  # within the default window of 1,000 joined events: the window is all of them


def stream(seed: int = 3):
    rng = random.Random(seed)
    rows = []
    for i in range(N):
        score = rng.random()
        label = int(rng.random() < score)  # calibrated scores
        rows.append((f"r{i}", score, int(score > 0.5), label))
    return rows


async def produce(bootstrap: str, prefix: str, rows: list, now: float) -> None:
    async with AsyncProducer(bootstrap, topic_prefix=prefix) as predictions, \
            AsyncProducer(bootstrap, topic_prefix=prefix) as labels:
        # the first 50 labels arrive before their predictions: they wait for them
        for request_id, _, _, label in rows[:50]:
            await labels.send("label", {"model_id": "m", "request_id": request_id, "label": label, "ts": now})
        await labels.flush()
        for i, (request_id, score, prediction, _) in enumerate(rows):
            await predictions.send("prediction", {
                "model_id": "m", "model_version": "v1", "request_id": request_id, "ts": now - 60 + i * 0.01,
                "features": {"x": score}, "prediction": prediction, "scores": {"0": 1 - score, "1": score}})
        await predictions.send("prediction", {  # one whose label never comes
            "model_id": "m", "model_version": "v1", "request_id": "never", "ts": now, "features": {}, "prediction": 1})
        await predictions.flush()
        for request_id, _, _, label in rows[50:]:
            await labels.send("label", {"model_id": "m", "request_id": request_id, "label": label, "ts": now + 1})
        await labels.send("label", {"model_id": "m", "request_id": "r7", "label": 1 - rows[7][3], "ts": now + 2})


def test_labels_join_and_realized_metrics_match_an_offline_computation(broker, prefix, tmp_path):
    worker = WorkerProcess(worker_config(broker.bootstrap_servers, prefix), tmp_path).start()
    rows = stream()
    try:
        asyncio.run(produce(broker.bootstrap_servers, prefix, rows, time.time()))
        wait_until(lambda: worker.value("driftline_labels_joined_total", model_id="m") == N, timeout=60,
                   what=f"{N} joins\n{worker.log_tail()}")
        wait_until(lambda: worker.value("driftline_labels_duplicate_total", model_id="m", side="labels") == 1,
                   timeout=30, what="the duplicate label counted")
        samples = worker.metrics()
    finally:
        worker.stop()

    def value(name: str, **labels: str) -> float | None:
        return samples.get((name, tuple(sorted(labels.items()))))

    version = {"model_id": "m", "model_version": "v1"}
    y_true = [label for *_, label in rows]
    y_pred = [prediction for _, _, prediction, _ in rows]
    scores = [score for _, score, _, _ in rows]
    assert value("driftline_model_performance", **version, metric="accuracy") == pytest.approx(
        accuracy_score(y_true, y_pred), abs=1e-12)
    assert value("driftline_model_performance", **version, metric="f1") == pytest.approx(
        f1_score(y_true, y_pred), abs=1e-12)
    assert value("driftline_model_performance", **version, metric="roc_auc") == pytest.approx(
        roc_auc_score(y_true, scores), abs=1e-12)
    estimated = value("driftline_estimated_performance", **version, metric="accuracy")
    assert estimated is not None and abs(estimated - accuracy_score(y_true, y_pred)) < 0.08  # calibrated scores
    assert value("driftline_labels_pending", model_id="m", side="predictions") == 1  # "never"
    assert value("driftline_labels_pending", model_id="m", side="labels") == 0
    assert value("driftline_label_delay_seconds_count") == N
    assert value("driftline_drift_detected", **version, feature="__error__", detector="adwin") == 0
