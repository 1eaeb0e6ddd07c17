"""Real Kafka brokers for tests: embedded Tansu by default, Apache Kafka with DRIFTLINE_TEST_KAFKA=apache."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from driftline.broker import EmbeddedBroker

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


class ApacheKafka:
    """A single-node Apache Kafka (KRaft) started by scripts/kafka/start.

    ``sasl`` adds a SASL_PLAINTEXT listener, ``ssl`` an SSL and a SASL_SSL listener with a
    throw-away CA (``ssl_cafile``); :meth:`restart` stops the broker and starts it again on the
    same ports and data directory.
    """

    # the start script's output keys and the options that give the same port again
    LISTENERS = {"bootstrap": "--port", "controller": "--controller-port", "sasl_bootstrap": "--sasl-port",
                 "ssl_bootstrap": "--ssl-port", "sasl_ssl_bootstrap": "--sasl-ssl-port"}

    def __init__(self, sasl: bool = False, ssl: bool = False) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="driftline-kafka-"))
        self.sasl = sasl
        self.ssl = ssl
        self.bootstrap_servers = ""
        self.sasl_bootstrap_servers = ""
        self.ssl_bootstrap_servers = ""
        self.sasl_ssl_bootstrap_servers = ""
        self.ssl_cafile = ""

    def start(self) -> ApacheKafka:
        options = []
        if self.sasl:
            from driftline.broker import free_port
            options += ["--sasl-port", str(free_port())]
        if self.ssl:
            options += ["--ssl", "--sasl-ssl"]
        return self._start(options)

    def restart(self) -> ApacheKafka:
        """Stop the broker (SIGTERM) and start it again where it was: same ports, same data."""
        endpoints = dict(line.split("=", 1) for line in (self.dir / "broker.env").read_text().split())
        self.stop()
        options: list[str] = []
        for key, flag in self.LISTENERS.items():
            if key in endpoints:
                options += [flag, endpoints[key].rpartition(":")[2]]
        return self._start(options)

    def _start(self, options: list[str]) -> ApacheKafka:
        command = [str(REPO / "scripts/kafka/start"), "--dir", str(self.dir), "--watch-pid", str(os.getpid()), *options]
        out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=600).stdout
        values = dict(line.split("=", 1) for line in out.split())
        self.bootstrap_servers = values["bootstrap"]
        self.sasl_bootstrap_servers = values.get("sasl_bootstrap", "")
        self.ssl_bootstrap_servers = values.get("ssl_bootstrap", "")
        self.sasl_ssl_bootstrap_servers = values.get("sasl_ssl_bootstrap", "")
        self.ssl_cafile = values.get("ssl_cafile", "")
        return self

    def stop(self) -> None:
        subprocess.run([str(REPO / "scripts/kafka/stop"), "--dir", str(self.dir)], check=False, timeout=60)


def broker_kind() -> str:
    return os.environ.get("DRIFTLINE_TEST_KAFKA", "tansu").lower()


def start_broker() -> Any:
    if broker_kind() == "apache":
        return ApacheKafka().start()
    return EmbeddedBroker().start()


async def create_topics(bootstrap: str, names: list[str], partitions: int = 1, **configs: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([
            NewTopic(name, num_partitions=partitions, replication_factor=1, topic_configs=configs or None)
            for name in names
        ])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(topic, key=key, value=value) for key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def consume(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[Any]:
    """Read ``count`` records of ``topic`` from the beginning (all partitions); fail after ``timeout``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        partitions: set[int] | None = None
        while partitions is None:
            partitions = consumer.partitions_for_topic(topic) or None
            if partitions is None:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(topic) or None
                if time.monotonic() > deadline:
                    raise AssertionError(f"topic {topic} does not exist after {timeout} s")
                await asyncio.sleep(0.1)
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        while len(records) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"read {len(records)} of {count} records of {topic} in {timeout} s")
            batch = await consumer.getmany(timeout_ms=int(min(remaining, 1.0) * 1000))
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


def wait_until(check: Callable[[], T], timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except AssertionError:  # the check knows it can never succeed (e.g. the process died)
            raise
        except Exception as exc:  # a check may fail until the thing is up
            last = exc
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; last: {last!r}")
        time.sleep(interval)


async def async_wait_until(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
            if asyncio.iscoroutine(last):
                last = await last
        except Exception as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; last: {last!r}")
        await asyncio.sleep(interval)
