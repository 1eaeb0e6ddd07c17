"""A real worker process on a real broker: events in, monitors updated, bad input dead-lettered, /metrics out."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import Counter

import pytest

from tests.support.kafka import consume, produce, wait_until
from tests.support.worker import WorkerProcess, worker_config

pytestmark = pytest.mark.integration

NOW = time.time()


def prediction(model: str = "m1", i: int = 0, **overrides) -> dict:
    event = {"model_id": model, "model_version": "v1", "request_id": f"{model}-{i}", "ts": NOW - 30 + i * 0.001,
             "features": {"amount": float(i % 100), "country": ["DE", "FR"][i % 2], "age": None if i % 4 == 0 else 30.0},
             "prediction": i % 2, "scores": {"0": 0.3, "1": 0.7}}
    event.update(overrides)
    return event


def envelope(events: list[dict]) -> bytes:
    return json.dumps({"events": events}).encode()


# (message, expected dead letters as (reason, index)) for every reason the decoder and registry know
BAD_MESSAGES: list[tuple[bytes, list[tuple[str, int | None]]]] = [
    (b"{not json", [("not_json", None)]),
    (b"[1, 2, 3]", [("not_object", None)]),
    (json.dumps({"model_id": "m1", "ts": NOW, "features": {}}).encode(), [("missing_field", None)]),
    (json.dumps(prediction(features=[1, 2])).encode(), [("wrong_type", None)]),
    (json.dumps(prediction(model_id="no spaces allowed")).encode(), [("bad_model_id", None)]),
    (json.dumps(prediction(ts="last tuesday")).encode(), [("bad_timestamp", None)]),
    (json.dumps(prediction(features={f"f{i}": 1.0 for i in range(21)})).encode(), [("too_many_features", None)]),
    (json.dumps(prediction(features={"blob": "x" * 70_000})).encode(), [("too_large", None)]),
    (envelope([prediction(i=1), prediction("m2", 2), {"model_id": "m1"}]), [("mixed_models", 1), ("missing_field", 2)]),
    (envelope([prediction(i=i) for i in range(12)]), [("too_many_events", 10), ("too_many_events", 11)]),
]
# sent once m1 and m2 are known: a third model exceeds monitoring.max_models = 2
MODEL_LIMIT = (json.dumps(prediction("m3")).encode(), [("model_limit", None)])


@pytest.fixture(scope="module")
def scenario(broker, tmp_path_factory):
    """One worker; good and bad input on all three topics; returns the worker while it still runs."""
    prefix = f"w{int(time.time() * 1000) % 10**9}"
    config = worker_config(
        broker.bootstrap_servers, prefix,
        limits={"max_message_bytes": 65536, "max_features": 20, "max_batch_events": 10},
        monitoring={"max_models": 2},
    )
    worker = WorkerProcess(config, tmp_path_factory.mktemp("worker")).start()
    good = [(b"m1", envelope([prediction(i=i) for i in range(j, j + 10)])) for j in range(0, 100, 10)]
    good.append((b"m2", json.dumps(prediction("m2", 0)).encode()))
    features = [(b"m1", envelope([{k: v for k, v in prediction(i=i).items() if k not in ("prediction", "scores")}
                                  for i in range(5)]))]
    labels = [(b"m1", envelope([{"model_id": "m1", "request_id": f"m1-{i}", "label": i % 2, "ts": NOW} for i in range(7)]))]
    bad = [(b"bad", message) for message, _ in BAD_MESSAGES]
    # bad input interleaved with good, so a worker that stalled on bad input would miss the good after it
    interleaved = [m for pair in zip(good, bad) for m in pair] + good[len(bad):]

    async def send() -> None:
        await produce(broker.bootstrap_servers, f"{prefix}.predictions", interleaved)
        await produce(broker.bootstrap_servers, f"{prefix}.features", features)
        await produce(broker.bootstrap_servers, f"{prefix}.labels", labels)
        # one more good batch after everything else: it must be processed too
        await produce(broker.bootstrap_servers, f"{prefix}.predictions", [(b"m2", envelope([prediction("m2", 1)]))])

    asyncio.run(send())
    wait_until(lambda: worker.value("driftline_events_total", model_id="m2", model_version="v1", kind="prediction") == 2,
               timeout=60, what=f"m2's events processed\n{worker.log_tail()}")
    asyncio.run(produce(broker.bootstrap_servers, f"{prefix}.predictions", [(b"bad", MODEL_LIMIT[0])]))
    expected_dead = sum(len(letters) for _, letters in [*BAD_MESSAGES, MODEL_LIMIT])
    dead = asyncio.run(consume(broker.bootstrap_servers, f"{prefix}.deadletter", expected_dead))
    try:
        yield worker, dead, prefix
    finally:
        worker.stop()


def test_valid_events_of_every_topic_are_counted_per_model_version_and_kind(scenario):
    worker, _, _ = scenario
    m1 = {"model_id": "m1", "model_version": "v1"}
    # 100 from the good envelopes + the 1 good event in the mixed envelope + 10 from the too-long envelope
    assert worker.value("driftline_events_total", **m1, kind="prediction") == 111
    assert worker.value("driftline_events_total", **m1, kind="feature") == 5
    assert worker.value("driftline_events_total", model_id="m1", model_version="", kind="label") == 7
    # m2: one single event and one envelope at the end; its event in the mixed envelope was dead-lettered
    assert worker.value("driftline_events_total", model_id="m2", model_version="v1", kind="prediction") == 2
    assert worker.value("driftline_models_monitored") == 2


def test_per_feature_statistics_are_exported(scenario):
    worker, _, _ = scenario
    labels = {"model_id": "m1", "model_version": "v1"}
    indices = [*range(100), 1, *range(10), *range(5)]  # good envelopes, mixed, too-long envelope, feature events
    missing_age = sum(1 for i in indices if i % 4 == 0)
    assert worker.value("driftline_feature_missing_ratio", **labels, feature="age") == pytest.approx(missing_age / 116)
    assert worker.value("driftline_feature_missing_ratio", **labels, feature="country") == 0.0
    assert worker.value("driftline_feature_mean", **labels, feature="amount") == pytest.approx(
        (sum(i % 100 for i in range(100)) + 1 + sum(range(10)) + sum(range(5))) / 116)
    lag = worker.value("driftline_event_lag_seconds", model_id="m1")
    assert lag is not None and 0 < lag < 3600


def test_every_bad_input_is_dead_lettered_with_its_reason_and_raw_bytes(scenario):
    _, dead, prefix = scenario
    letters = [json.loads(record.value) for record in dead]
    assert Counter((l["reason"], l.get("index")) for l in letters) == Counter(
        letter for _, expected in [*BAD_MESSAGES, MODEL_LIMIT] for letter in expected)
    for letter in letters:
        assert letter["topic"] == f"{prefix}.predictions" and letter["offset"] >= 0 and letter["detail"]
        raw = base64.b64decode(letter["raw"])
        if letter["reason"] in ("not_json", "not_object", "too_large"):
            assert any(raw == message for message, _ in BAD_MESSAGES)
        if letter["reason"] == "model_limit":
            assert json.loads(raw)["model_id"] == "m3"
    assert all(record.key == b"bad" for record in dead)


def test_invalid_counter_per_reason(scenario):
    worker, _, _ = scenario
    expected = Counter(reason for _, letters in [*BAD_MESSAGES, MODEL_LIMIT] for reason, _ in letters)
    for reason, count in expected.items():
        assert worker.value("driftline_events_invalid_total", reason=reason) == count, reason


def test_batch_histogram_is_observed(scenario):
    worker, _, _ = scenario
    assert worker.value("driftline_batch_seconds_count") >= 1
    assert worker.value("driftline_batch_events_sum") == 111 + 2 + 5 + 7


def test_worker_stops_cleanly_on_sigterm(broker, prefix, tmp_path):
    worker = WorkerProcess(worker_config(broker.bootstrap_servers, prefix), tmp_path).start()
    assert worker.stop() == 0, worker.log_tail()
