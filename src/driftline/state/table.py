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
from typing import Any, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from driftline.config import KafkaConfig
from driftline.error import StateError

log = logging.getLogger(__name__)

MAX_RECORD_BYTES = 900 * 1024  # under Kafka's default message.max.bytes (1 MiB), with room for the key


class CompactedTable:
    """Reads a compacted topic back into a dict and appends records to it.

    ``None`` as a value is a tombstone: the key is deleted.
    """

    def __init__(self, kafka: KafkaConfig, topic: str, partitions: int = 1) -> None:
        self.kafka = kafka
        self.topic = topic
        self.partitions = partitions
        self._producer: AIOKafkaProducer | None = None

    async def ensure_topic(self, compact: bool = True, configs: dict[str, str] | None = None) -> None:
        """Create the topic (compacted, unless ``compact`` is false; more topic ``configs``) if it
        does not exist yet."""
        admin = AIOKafkaAdminClient(**self.kafka.aiokafka_options("-admin"))
        await admin.start()
        try:
            await admin.create_topics([NewTopic(
                self.topic, num_partitions=self.partitions, replication_factor=self.kafka.replication_factor,
                topic_configs={"cleanup.policy": "compact" if compact else "delete", **(configs or {})},
            )])
        except TopicAlreadyExistsError:
            pass
        finally:
            await admin.close()

    async def load(self, timeout: float = 60.0, partitions: Iterable[int] | None = None) -> dict[bytes, bytes]:
        """Every key's latest value, read from the beginning to the fetch-reported high-watermark
        (of ``partitions`` of the topic, or of all of them)."""
        consumer = AIOKafkaConsumer(**self.kafka.aiokafka_options("-restore"), enable_auto_commit=False,
                                    auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024)
        await consumer.start()
        table: dict[bytes, bytes] = {}
        try:
            tps = await _partitions(consumer, self.topic, timeout)
            if partitions is not None:
                wanted = set(partitions)
                tps = [tp for tp in tps if tp.partition in wanted]
            if not tps:
                return table
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            deadline = time.monotonic() + timeout
            while not await _caught_up(consumer, tps):
                if time.monotonic() > deadline:
                    raise StateError(f"could not read {self.topic} to its end within {timeout:g} s")
                batches = await consumer.getmany(*tps, timeout_ms=200)
                for records in batches.values():
                    for record in records:
                        if record.key is None:
                            continue
                        if record.value is None:
                            table.pop(record.key, None)
                        else:
                            table[record.key] = record.value
        finally:
            await stop_consumer(consumer)
        log.debug("loaded %d keys from %s", len(table), self.topic)
        return table

    async def partition_count(self, timeout: float = 60.0) -> int:
        """The topic's number of partitions, as the broker's metadata has it."""
        consumer = AIOKafkaConsumer(**self.kafka.aiokafka_options("-metadata"), enable_auto_commit=False)
        await consumer.start()
        try:
            return len(await _partitions(consumer, self.topic, timeout))
        finally:
            await stop_consumer(consumer)

    async def put(self, key: bytes, value: bytes | None) -> None:
        """Append a record (acks=all) and wait until the broker has it."""
        await self.put_many([(key, value)])

    async def put_many(self, records: list[tuple[bytes, bytes | None]], partition: int | None = None) -> None:
        """Append records in order (acks=all), sent together, and wait until the broker has them all.

        ``partition`` places them all in one partition of the topic (else the key decides)."""
        if not records:
            return
        if self._producer is None:
            producer = AIOKafkaProducer(**self.kafka.aiokafka_options("-state"), acks="all",
                                        max_request_size=MAX_RECORD_BYTES + 64 * 1024)
            try:
                await producer.start()
            except BaseException:
                await producer.stop()  # not kept: the next call starts a new one (the broker may be back)
                raise
            self._producer = producer
        deliveries = [await self._producer.send(self.topic, key=key, value=value, partition=partition)
                      for key, value in records]
        await asyncio.gather(*deliveries)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


async def stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """Stop a consumer; aiokafka 0.14 raises CancelledError from stopping a group-less consumer whose
    internal task had not run yet, which must not cancel the caller (it was not cancelled)."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


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
