"""The client SDK against a real broker: envelopes of one model, keyed by it, every event exactly once."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from driftline.broker import EmbeddedBroker
from driftline.client import AsyncProducer, Producer
from driftline.config import LimitsConfig
from driftline.events.decoder import EventDecoder
from driftline.events.schema import EventKind
from driftline.events.topic import TopicNames
from tests.support.kafka import async_wait_until, consume, create_topics

pytestmark = pytest.mark.integration

N = 5_000
MODELS = ("fraud-detector", "churn-model", "ranker.v2")


async def read_events(bootstrap: str, topic: str, kind: EventKind, messages: int) -> list[Any]:
    """The events of the first ``messages`` records of ``topic``, checking every record is a clean envelope."""
    records = await consume(bootstrap, topic, messages)
    assert len(records) == messages
    decoder = EventDecoder(kind, LimitsConfig())
    events = []
    for record in records:
        out = decoder.decode(record.value, time.time())
        assert out.rejected == []
        assert {event.model_id for event in out.events} == {record.key.decode()}  # one model, keyed by it
        events.extend(out.events)
    return events


def assert_exactly_once(events: list[Any], expected: set[str]) -> None:
    request_ids = [event.request_id for event in events]
    assert len(request_ids) == len(expected) and set(request_ids) == expected


async def test_async_producer_delivers_every_event_once_in_few_envelopes(bootstrap: str, prefix: str) -> None:
    topics = TopicNames(prefix)
    await create_topics(bootstrap, list(topics.inputs), partitions=3)
    async with AsyncProducer(bootstrap, topic_prefix=prefix) as producer:
        for i in range(N):
            model_id = MODELS[i % len(MODELS)]
            assert producer.emit_prediction(model_id, {"amount": float(i), "country": "DE"}, i % 2,
                                            request_id=f"p{i}", model_version="v1", scores=0.3)
        assert await producer.flush(timeout=30)
    stats = producer.stats
    assert (stats.emitted, stats.sent, stats.buffered, stats.dropped) == (N, N, 0, {})
    assert stats.batches_sent <= N // 100  # batching: far fewer messages than events
    events = await read_events(bootstrap, topics.predictions, EventKind.PREDICTION, stats.batches_sent)
    assert_exactly_once(events, {f"p{i}" for i in range(N)})


def test_sync_producer_from_threads_delivers_every_event_once(bootstrap: str, prefix: str) -> None:
    topics = TopicNames(prefix)
    asyncio.run(create_topics(bootstrap, list(topics.inputs), partitions=3))
    threads = 4
    with Producer(bootstrap, topic_prefix=prefix) as producer:
        def emit(index: int) -> None:
            for i in range(index, N, threads):
                producer.emit_features(MODELS[i % len(MODELS)], {"amount": float(i)}, request_id=f"f{i}")

        workers = [threading.Thread(target=emit, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert producer.flush(timeout=30)
    stats = producer.stats
    assert (stats.emitted, stats.sent, stats.buffered, stats.dropped) == (N, N, 0, {})
    assert stats.batches_sent <= N // 100
    events = asyncio.run(read_events(bootstrap, topics.features, EventKind.FEATURE, stats.batches_sent))
    assert_exactly_once(events, {f"f{i}" for i in range(N)})


async def test_a_lone_event_is_sent_after_linger_seconds_without_a_flush(bootstrap: str, prefix: str) -> None:
    topics = TopicNames(prefix)
    await create_topics(bootstrap, list(topics.inputs))
    async with AsyncProducer(bootstrap, topic_prefix=prefix, linger_seconds=0.05) as producer:
        assert producer.emit_label("fraud-detector", "a1b2c3", 1)
        await async_wait_until(lambda: producer.stats.sent == 1, timeout=30, what="the lingering batch to be sent")
        [label] = await read_events(bootstrap, topics.labels, EventKind.LABEL, 1)
    assert (label.model_id, label.request_id, label.label) == ("fraud-detector", "a1b2c3", 1)


async def test_a_broker_that_goes_away_turns_into_counted_send_failures(prefix: str) -> None:
    with EmbeddedBroker() as broker:
        producer = AsyncProducer(broker.bootstrap_servers, topic_prefix=prefix, request_timeout_seconds=1.0)
        await producer.start()
        assert producer.emit_label("m", "before", 1)
        assert await producer.flush(timeout=30)
        broker.stop()
        for i in range(10):
            assert producer.emit_label("m", f"after-{i}", 1)  # still accepted: Kafka's state is not the caller's
        assert await producer.flush(timeout=60)  # settled: delivered or counted
        stats = producer.stats
        assert (stats.sent, stats.buffered, stats.dropped) == (1, 0, {"send_failed": 10})
        await producer.close(timeout=1)
