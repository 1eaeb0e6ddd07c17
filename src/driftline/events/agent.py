"""The faust agents: thin adapters from faust streams to the :class:`EventProcessor`.

Each input topic gets one agent. It takes messages in micro-batches
(``stream.take_events``: up to ``worker.batch_max_messages`` messages or whatever
arrived within ``worker.batch_max_wait_seconds``), hands the raw messages to the
processor and lets faust acknowledge them after the batch is applied. faust's cost
is per message (DESIGN.md §6), which is why the envelope carries many events.
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from driftline.config import WorkerConfig
from driftline.events.processor import EventProcessor
from driftline.events.schema import EventKind
from driftline.events.topic import TopicNames

log = logging.getLogger(__name__)


class TopicSink:
    """A :class:`~driftline.events.processor.DeadLetterSink` that writes to a faust topic."""

    def __init__(self, topic: faust.TopicT) -> None:
        self.topic = topic

    async def send(self, key: bytes | None, value: bytes) -> None:
        await self.topic.send(key=key, value=value)


def raw_topic(app: faust.App, name: str, partitions: int | None = None, replicas: int | None = None) -> faust.TopicT:
    """A topic of raw bytes: driftline decodes values itself (msgspec), never through faust's codecs."""
    return app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
        partitions=partitions, replicas=replicas,
    )


def register_agents(
    app: faust.App, processor: EventProcessor, topics: TopicNames, worker: WorkerConfig,
    partitions: int, replicas: int,
) -> None:
    """Register one agent per input topic on ``app``, and one for operator commands (``<prefix>.control``)."""
    for kind, name in ((EventKind.PREDICTION, topics.predictions),
                       (EventKind.FEATURE, topics.features),
                       (EventKind.LABEL, topics.labels)):
        topic = raw_topic(app, name, partitions, replicas)
        app.agent(topic, name=f"driftline.{kind.value}")(_agent(processor, kind, worker))
    control = raw_topic(app, topics.control, partitions, replicas)
    app.agent(control, name="driftline.control")(_control_agent(processor))


def _control_agent(processor: EventProcessor) -> Any:
    async def control_agent(stream: faust.StreamT) -> None:
        async for events in stream.take_events(100, 0.05):
            await processor.control([event.message for event in events])

    return control_agent


def _agent(processor: EventProcessor, kind: EventKind, worker: WorkerConfig) -> Any:
    async def agent(stream: faust.StreamT) -> None:
        async for events in stream.take_events(worker.batch_max_messages, worker.batch_max_wait_seconds):
            await processor.process(kind, [event.message for event in events])

    agent.__name__ = agent.__qualname__ = f"{kind.value}_agent"
    return agent
