"""A key → latest-value table kept in a compacted Kafka topic.

The notification log, the silences and the checkpoints are such tables: the latest
record per key is the truth, and on start the whole topic is read back.

Reading back stops at the high-watermark that fetch responses report, not at the
offsets ListOffsets(LATEST) answers: the embedded broker (Tansu) answers the start
of the last record batch there (DESIGN.md §6), which would stop a restore early.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from driftline.config import KafkaConfig
from driftline.error import StateError

log = logging.getLogger(__name__)


class CompactedTable:
    """Reads a compacted topic back into a dict and appends records to it.

    ``None`` as a value is a tombstone: the key is deleted.
    """

    def __init__(self, kafka: KafkaConfig, topic: str, partitions: int = 1) -> None:
        self.kafka = kafka
        self.topic = topic
        self.partitions = partitions
        self._producer: AIOKafkaProducer | None = None

    async def ensure_topic(self, compact: bool = True) -> None:
        """Create the topic (compacted, unless ``compact`` is false) if it does not exist yet."""
        admin = AIOKafkaAdminClient(**self.kafka.aiokafka_options("-admin"))
        await admin.start()
        try:
            await admin.create_topics([NewTopic(
                self.topic, num_partitions=self.partitions, replication_factor=self.kafka.replication_factor,
                topic_configs={"cleanup.policy": "compact" if compact else "delete"},
            )])
        except TopicAlreadyExistsError:
            pass
        finally:
            await admin.close()

    async def load(self, timeout: float = 60.0) -> dict[bytes, bytes]:
        """Every key's latest value, read from the beginning to the fetch-reported high-watermark."""
        consumer = AIOKafkaConsumer(**self.kafka.aiokafka_options("-restore"), enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        table: dict[bytes, bytes] = {}
        try:
            partitions = await _partitions(consumer, self.topic, timeout)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            deadline = time.monotonic() + timeout
            while not await _caught_up(consumer, partitions):
                if time.monotonic() > deadline:
                    raise StateError(f"could not read {self.topic} to its end within {timeout:g} s")
                batches = await consumer.getmany(*partitions, timeout_ms=200)
                for records in batches.values():
                    for record in records:
                        if record.key is None:
                            continue
                        if record.value is None:
                            table.pop(record.key, None)
                        else:
                            table[record.key] = record.value
        finally:
            await consumer.stop()
        log.debug("loaded %d keys from %s", len(table), self.topic)
        return table

    async def put(self, key: bytes, value: bytes | None) -> None:
        """Append a record (acks=all) and wait until the broker has it."""
        await self.put_many([(key, value)])

    async def put_many(self, records: list[tuple[bytes, bytes | None]]) -> None:
        """Append records in order (acks=all), sent together, and wait until the broker has them all."""
        if not records:
            return
        if self._producer is None:
            self._producer = AIOKafkaProducer(**self.kafka.aiokafka_options("-state"), acks="all")
            await self._producer.start()
        deliveries = [await self._producer.send(self.topic, key=key, value=value) for key, value in records]
        await asyncio.gather(*deliveries)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


async def _partitions(consumer: AIOKafkaConsumer, topic: str, timeout: float) -> list[TopicPartition]:
    deadline = time.monotonic() + timeout
    while True:
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return [TopicPartition(topic, p) for p in sorted(partitions)]
        if time.monotonic() > deadline:
            raise StateError(f"topic {topic} does not exist")
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.05)


async def _caught_up(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> bool:
    for tp in partitions:
        highwater: Any = consumer.highwater(tp)
        if highwater is None:  # no fetch response for it yet
            return False
        if await consumer.position(tp) < highwater:
            return False
    return True
