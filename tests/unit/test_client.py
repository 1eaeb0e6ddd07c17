"""The client SDK without a broker: envelopes, batching, drop accounting, never raising, never blocking.

Producers that need to be started point at a loopback port nobody listens on, so every event
they accept stays buffered until it is dropped with a counted reason.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, AsyncIterator

import numpy as np
import pytest

from driftline.broker import free_port
from driftline.client import (
    AsyncProducer,
    DropReason,
    EncodedEvent,
    EventBatcher,
    Producer,
    encode_event,
)
from driftline.config import KafkaConfig, LimitsConfig, Secret
from driftline.error import DriftlineError
from driftline.events.decoder import EventDecoder
from driftline.events.schema import EventKind

NOW = 1_795_500_000.0  # 2026-11-24
TOPIC = "driftline.predictions"


def dead_servers() -> str:
    return f"127.0.0.1:{free_port()}"  # free right now, and nothing will listen on it


def prediction(i: int, model_id: str = "fraud-detector", **extra: Any) -> dict[str, Any]:
    return {"model_id": model_id, "ts": NOW - 60, "features": {"amount": float(i), "country": "DE"},
            "prediction": i % 2, "request_id": f"r{i}", **extra}


def encoded(kind: EventKind, event: dict[str, Any]) -> EncodedEvent:
    result = encode_event(kind, event)
    assert isinstance(result, EncodedEvent), result
    return result


def decode(kind: EventKind, raw: bytes) -> list[Any]:
    out = EventDecoder(kind, LimitsConfig()).decode(raw, NOW)
    assert out.rejected == []
    return out.events


def batched(batcher: EventBatcher, events: list[dict[str, Any]], now: float = 0.0) -> None:
    for event in events:
        data = encoded(EventKind.PREDICTION, event)
        batcher.add(TOPIC, data.model_id, data.data, now)


def buffered_events(producer: AsyncProducer, kind: EventKind = EventKind.PREDICTION) -> list[Any]:
    """The events a producer holds, decoded as the worker would decode them."""
    return [event for batch in producer._batcher.unsent() for event in decode(kind, batch.envelope())]


@pytest.fixture
async def producer() -> AsyncIterator[AsyncProducer]:
    started = AsyncProducer(dead_servers(), max_buffer_events=50, max_batch_bytes=2_000)
    await started.start()
    yield started
    await started.close(timeout=0.05)  # whatever it holds cannot be delivered


# --- the envelope and batching ---------------------------------------------------------------


@pytest.mark.parametrize("kind, event", [
    (EventKind.PREDICTION, prediction(0, model_version="v7", scores={"0": 0.1, "1": 0.9}, segment={"region": "eu"},
                                      latency_ms=12.5)),
    (EventKind.FEATURE, {"model_id": "fraud-detector", "ts": NOW, "features": {"x": None, "y": True}}),
    (EventKind.LABEL, {"model_id": "fraud-detector", "request_id": "r0", "label": 1, "ts": NOW}),
])
def test_envelope_decodes_with_the_workers_decoder_into_the_same_events(kind: EventKind, event: dict[str, Any]) -> None:
    batcher = EventBatcher(max_events=500, max_bytes=900_000, linger_seconds=0.05)
    for i in range(20):
        data = encoded(kind, {**event, "request_id": f"r{i}"})
        batcher.add(f"driftline.{kind.value}s", data.model_id, data.data, now=0.0)
    batcher.seal_all()
    [batch] = batcher.ready
    assert batch.key == b"fraud-detector" and batch.count == 20
    envelope = batch.envelope()
    assert envelope.startswith(b'{"events":[') and len(envelope) == batch.size
    events = decode(kind, envelope)
    assert [e.request_id for e in events] == [f"r{i}" for i in range(20)]
    for decoded in events:
        for name, value in event.items():
            if name != "request_id":
                assert getattr(decoded, name) == value


def test_one_batch_per_topic_and_model() -> None:
    batcher = EventBatcher(max_events=500, max_bytes=900_000, linger_seconds=0.05)
    for topic in ("p.predictions", "p.features"):
        for model_id in ("a", "b"):
            data = encoded(EventKind.PREDICTION, prediction(0, model_id))
            batcher.add(topic, model_id, data.data, now=0.0)
            batcher.add(topic, model_id, data.data, now=0.0)
    batcher.seal_all()
    assert sorted((b.topic, b.model_id, b.count) for b in batcher.ready) == [
        ("p.features", "a", 2), ("p.features", "b", 2), ("p.predictions", "a", 2), ("p.predictions", "b", 2)]


def test_a_batch_is_sealed_when_it_holds_max_events() -> None:
    batcher = EventBatcher(max_events=3, max_bytes=900_000, linger_seconds=60)
    batched(batcher, [prediction(i) for i in range(7)])
    assert [b.count for b in batcher.ready] == [3, 3]
    batcher.seal_all()
    assert [b.count for b in batcher.ready] == [3, 3, 1]


def test_a_batch_is_sealed_before_the_next_event_would_exceed_max_bytes() -> None:
    batcher = EventBatcher(max_events=500, max_bytes=400, linger_seconds=60)
    events = [prediction(i) for i in range(40)]
    batched(batcher, events)
    batcher.seal_all()
    batches = list(batcher.ready)
    assert len(batches) > 5 and sum(b.count for b in batches) == 40
    for batch, following in zip(batches, batches[1:]):
        assert len(batch.envelope()) <= 400
        assert len(batch.envelope()) + 1 + len(following.parts[0]) > 400  # the next event did not fit
    decoded = [e for b in batches for e in decode(EventKind.PREDICTION, b.envelope())]
    assert [e.request_id for e in decoded] == [e["request_id"] for e in events]


def test_a_batch_is_sealed_linger_seconds_after_its_first_event() -> None:
    batcher = EventBatcher(max_events=500, max_bytes=900_000, linger_seconds=0.05)
    batched(batcher, [prediction(0, "a")], now=10.0)
    batched(batcher, [prediction(0, "b")], now=10.02)
    assert batcher.due(10.01) == pytest.approx(0.04) and not batcher.ready
    assert batcher.due(10.05) == pytest.approx(0.02)
    assert [b.model_id for b in batcher.ready] == ["a"]
    assert batcher.due(10.07) is None
    assert [b.model_id for b in batcher.ready] == ["a", "b"]


# --- encoding ----------------------------------------------------------------------------------


def test_ts_defaults_to_now_and_datetimes_are_rfc3339_utc() -> None:
    before = time.time()
    stamped = encoded(EventKind.LABEL, {"model_id": "m", "request_id": "r", "label": 0})
    [event] = decode(EventKind.LABEL, stamped.data)
    assert before <= event.ts <= time.time()
    naive = encoded(EventKind.LABEL, {"model_id": "m", "request_id": "r", "label": 0, "ts": datetime(2026, 11, 23, 10)})
    assert b'"ts":"2026-11-23T10:00:00Z"' in naive.data


def test_numpy_scalars_encode_as_numbers_and_non_finite_values_as_missing() -> None:
    features = {"a": np.float32(1.5), "b": np.int64(3), "c": np.bool_(True), "d": math.nan, "e": math.inf}
    [event] = decode(EventKind.FEATURE, encoded(EventKind.FEATURE, {"model_id": "m", "ts": NOW, "features": features}).data)
    assert event.features == {"a": 1.5, "b": 3, "c": True, "d": None, "e": None}


async def test_optional_fields_that_are_none_are_left_out(producer: AsyncProducer) -> None:
    assert producer.emit_prediction("m", {"x": 1}, 1, model_version=None, scores=None) is True
    [batch] = producer._batcher.unsent()
    assert set(json.loads(batch.envelope())["events"][0]) == {"model_id", "ts", "features", "prediction"}


# --- drop accounting ---------------------------------------------------------------------------


GARBAGE_EMITS = [
    ("emit_prediction", ("bad id", {"x": 1}, 1), {}),
    ("emit_prediction", (123, {"x": 1}, 1), {}),
    ("emit_prediction", ("m" * 129, {"x": 1}, 1), {}),
    ("emit_prediction", ("m", [1, 2], 1), {}),
    ("emit_prediction", ("m", {"x": 1}, None), {}),
    ("emit_prediction", (None, None, None), {}),
    ("emit_features", ("m", "not a mapping"), {}),
    ("emit_label", ("m", None, 1), {}),
    ("emit_label", ("m", "r", None), {}),
    ("emit_label", ([], {}, None), {}),
    ("emit", ("nonsense", {"model_id": "m", "features": {}}), {}),
    ("emit", (None, None), {}),
    ("emit", (EventKind.LABEL, 42), {}),
    ("emit", ([], {"model_id": "m"}), {}),
]


async def test_invalid_events_are_dropped_and_counted_and_nothing_raises(producer: AsyncProducer) -> None:
    for method, args, kwargs in GARBAGE_EMITS:
        assert getattr(producer, method)(*args, **kwargs) is False, (method, args)
    assert producer.stats.dropped == {"invalid": len(GARBAGE_EMITS)}
    assert producer.stats.emitted == producer.stats.buffered == 0


async def test_values_json_cannot_hold_are_dropped_as_unserializable(producer: AsyncProducer) -> None:
    assert producer.emit_prediction("m", {"x": object()}, 1) is False
    assert producer.emit_prediction("m", {"x": 1}, 1, scores=object()) is False
    assert producer.emit_features("m", {"x": 1j}) is False
    assert producer.emit_features("m", {(1, 2): 1}) is False
    assert producer.emit_label("m", "r", 1, ts=object()) is False
    assert producer.stats.dropped == {"unserializable": 5}


async def test_an_event_larger_than_max_batch_bytes_is_dropped_as_too_large(producer: AsyncProducer) -> None:
    assert producer.emit_features("m", {"text": "x" * 2_000}) is False
    assert producer.emit_features("m", {"text": "x" * 100}) is True
    assert producer.stats.dropped == {"too_large": 1}


async def test_unexpected_errors_inside_emit_are_caught_and_counted(producer: AsyncProducer, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> bool:
        raise RuntimeError("a bug")

    monkeypatch.setattr(producer._batcher, "add", broken)
    assert producer.emit_prediction("m", {"x": 1}, 1) is False
    assert producer.stats.dropped == {"error": 1}
    assert producer.stats.emitted == producer.stats.buffered == 0


async def test_emit_is_synchronous_and_a_full_buffer_drops_instead_of_waiting(producer: AsyncProducer) -> None:
    assert not inspect.iscoroutinefunction(AsyncProducer.emit_prediction)
    results = [producer.emit_prediction("m", {"x": i}, 1) for i in range(120)]
    assert results == [True] * 50 + [False] * 70  # Kafka is unreachable: nothing leaves the buffer
    stats = producer.stats
    assert (stats.emitted, stats.buffered, stats.sent, stats.dropped) == (50, 50, 0, {"buffer_full": 70})
    assert [e.features["x"] for e in buffered_events(producer)] == list(range(50))


async def test_close_gives_up_after_its_timeout_and_counts_what_it_could_not_send(producer: AsyncProducer) -> None:
    for i in range(30):
        producer.emit_label("m", f"r{i}", 1)
    assert await producer.flush(timeout=0.05) is False
    await producer.close(timeout=0.1)
    stats = producer.stats
    assert (stats.emitted, stats.buffered, stats.sent, stats.dropped) == (30, 0, 0, {"closed_unsent": 30})
    assert producer.emit_label("m", "r", 1) is False
    assert producer.stats.dropped == {"closed_unsent": 30, "closed": 1}
    await producer.close()  # idempotent
    assert await producer.flush() is True


async def test_emit_before_start_is_dropped_as_not_started() -> None:
    producer = AsyncProducer(dead_servers())
    assert producer.emit_label("m", "r", 1) is False
    assert producer.stats.dropped == {"not_started": 1}
    await producer.close()
    with pytest.raises(DriftlineError):
        await producer.start()


async def test_send_waits_for_room_instead_of_dropping(producer: AsyncProducer) -> None:
    for i in range(50):
        assert producer.emit_label("m", f"r{i}", 1)
    waiting = asyncio.create_task(producer.send(EventKind.LABEL, {"model_id": "m", "request_id": "x", "label": 1}))
    for _ in range(5):
        await asyncio.sleep(0)  # let it run: it must be parked, not dropped
    assert not waiting.done() and producer.stats.dropped == {}
    await producer.close(timeout=0.1)
    assert await waiting is False
    assert producer.stats.dropped == {"closed_unsent": 50, "closed": 1}


def test_every_drop_reason_is_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "client.md").read_text(encoding="utf-8")
    assert [reason.value for reason in DropReason if f"| `{reason.value}` |" not in docs] == []


# --- options -----------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [
    {"max_batch_bytes": 2_000_000}, {"max_batch_bytes": 10}, {"max_batch_events": 0}, {"max_buffer_events": 0},
    {"linger_seconds": -1}, {"acks": 2}, {"compression_type": "brotli"}, {"topic_prefix": "bad prefix"},
    {"security_protocol": "SASL_SSL"}, {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"},
    {"sasl_mechanism": "GSSAPI"}, {"request_timeout_seconds": 0},
])
@pytest.mark.parametrize("producer_class", [AsyncProducer, Producer])
def test_bad_options_fail_loudly_in_the_constructor(producer_class: type, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        producer_class("127.0.0.1:9092", **options)


def test_from_config_maps_kafka_config_and_never_shows_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_KAFKA_PASSWORD", "s3cret")
    kafka = KafkaConfig(bootstrap_servers="a:9092, b:9092", topic_prefix="prod", client_id="svc",
                        security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256", sasl_username="user",
                        sasl_password=Secret(env="TEST_KAFKA_PASSWORD"))
    producer = AsyncProducer.from_config(kafka, linger_seconds=0.2)
    assert producer.bootstrap_servers == ["a:9092", "b:9092"]
    assert producer.topics.predictions == "prod.predictions"
    assert producer._batcher.linger_seconds == 0.2
    options = producer._kafka_options
    assert (options["client_id"], options["sasl_mechanism"], options["sasl_plain_username"],
            options["sasl_plain_password"]) == ("svc-client", "SCRAM-SHA-256", "user", "s3cret")
    assert "s3cret" not in repr(producer)


# --- the synchronous producer ------------------------------------------------------------------


def test_sync_producer_from_many_threads_keeps_the_buffer_bound_and_never_raises() -> None:
    threads, per_thread, bound = 8, 500, 1_000
    results: list[list[bool]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    producer = Producer(dead_servers(), max_buffer_events=bound)
    start = threading.Barrier(threads)

    def emit(index: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                results[index].append(producer.emit_prediction(f"model-{index}", {"x": i}, 1, request_id=f"{index}-{i}"))
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=emit, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    accepted = sum(r.count(True) for r in results)
    assert accepted == bound and sum(map(len, results)) == threads * per_thread
    assert producer.stats.dropped == {"buffer_full": threads * per_thread - bound}
    assert producer.flush(timeout=0.05) is False
    producer.close(timeout=0.1)
    assert producer.stats.dropped == {"buffer_full": threads * per_thread - bound, "closed_unsent": bound}
    assert producer.stats.buffered == 0
    assert producer.emit_label("m", "r", 1) is False and producer.stats.dropped["closed"] == 1
    producer.close()  # idempotent
