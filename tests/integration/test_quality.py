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


SEGMENTS = {"quality": {"window_events": 200, "segments": {"*": "country"}, "max_segments": 3}}
COUNTRIES = ["DE", "US", "GB", "IT", "ES"]


def segmented_stream(start: int, n: int, fr_accuracy: float, seed: int) -> list[dict]:
    """Every 20th event is from FR (5% of traffic); the others from five more countries, 90% accurate."""
    rng = random.Random(seed)
    rows = []
    for i in range(start, start + n):
        country = "FR" if i % 20 == 0 else COUNTRIES[i % 5]
        prediction = i % 2
        correct = rng.random() < (fr_accuracy if country == "FR" else 0.9)
        rows.append({"request_id": f"s{i}", "country": country, "prediction": prediction,
                     "label": prediction if correct else 1 - prediction, "i": i})
    return rows


async def produce_segmented(bootstrap: str, prefix: str, rows: list[dict], now: float) -> None:
    async with AsyncProducer(bootstrap, topic_prefix=prefix) as producer:
        for r in rows:
            score = 0.8 if r["prediction"] else 0.2
            await producer.send("prediction", {
                "model_id": "m", "model_version": "v1", "request_id": r["request_id"], "ts": now - 3600 + r["i"],
                "features": {"x": float(r["i"] % 7), "country": r["country"]}, "prediction": r["prediction"],
                "scores": {"0": 1 - score, "1": score}})
    async with AsyncProducer(bootstrap, topic_prefix=prefix) as producer:  # labels after their predictions
        for r in rows:
            await producer.send("label", {"model_id": "m", "request_id": r["request_id"], "label": r["label"],
                                          "ts": now - 3500 + r["i"]})


def test_a_segment_s_accuracy_drops_while_the_whole_model_s_barely_moves(broker, prefix, tmp_path):
    """FR (5% of traffic) goes from 90% to 30% accurate: its segment shows it, the whole version hardly.

    Segments come from the feature ``country``, capped at 3 (FR, US, GB come first; IT, ES and DE share
    ``__other__``); every value equals scikit-learn on the same window of joined events."""
    worker = WorkerProcess(worker_config(broker.bootstrap_servers, prefix, **SEGMENTS), tmp_path).start()
    before_rows, after_rows = segmented_stream(0, 1500, 0.9, 1), segmented_stream(1500, 1500, 0.3, 2)
    now = time.time()
    try:
        scrapes = []
        for rows, joined in ((before_rows, 1500), (before_rows + after_rows, 3000)):
            asyncio.run(produce_segmented(broker.bootstrap_servers, prefix, rows[-1500:], now))
            wait_until(lambda: worker.value("driftline_labels_joined_total", model_id="m") == joined, timeout=45,
                       what=f"{joined} joins\n{worker.log_tail()}")
            scrapes.append((rows, worker.metrics()))
    finally:
        worker.stop()

    version = {"model_id": "m", "model_version": "v1"}
    accuracy: dict[str, list[float]] = {}
    for rows, samples in scrapes:
        windows = {"": rows[-200:]}  # the whole version: the last 200 joins, in label order
        named = ("FR", "US", "GB")  # the first three countries; the others share __other__
        for segment in ("FR", "US", "GB", "__other__"):
            members = [r for r in rows if (r["country"] if r["country"] in named else "__other__") == segment]
            windows[segment] = members[-200:]
        for segment, window in windows.items():
            expected = accuracy_score([r["label"] for r in window], [r["prediction"] for r in window])
            if segment:
                name, labels = "driftline_segment_performance", {**version, "segment": segment, "metric": "accuracy"}
                assert samples[("driftline_segment_window_events",
                                tuple(sorted({**version, "segment": segment}.items())))] == len(window)
            else:
                name, labels = "driftline_model_performance", {**version, "metric": "accuracy"}
            value = samples.get((name, tuple(sorted(labels.items()))))
            assert value == pytest.approx(expected, abs=1e-12), (segment, value, expected)
            accuracy.setdefault(segment, []).append(value)
        assert ("driftline_segment_performance", tuple(sorted({**version, "segment": "DE", "metric": "accuracy"}
                                                               .items()))) not in samples  # capped
    whole, fr = accuracy[""], accuracy["FR"]
    assert fr[0] - fr[1] > 0.25, f"FR dropped: {fr}"
    assert abs(whole[0] - whole[1]) < 0.06, f"the whole version barely moved: {whole}"
