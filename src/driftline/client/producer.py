"""The emit methods both producers share, and :class:`AsyncProducer`, which sends batches with aiokafka."""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import re
import ssl
import time
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaProducer
from aiokafka.helpers import create_ssl_context

from driftline.client.batch import Batch, EventBatcher
from driftline.client.encoding import MAX_MESSAGE_BYTES, EncodedEvent, _present, encode_event
from driftline.client.tally import DropReason, ProducerStats, _LogLimiter, _Tally
from driftline.config import KafkaConfig
from driftline.error import DriftlineError
from driftline.events.schema import EventKind
from driftline.events.topic import TopicNames

log = logging.getLogger("driftline.client")  # the one logger docs/client.md names, for the whole package

_TOPIC_PREFIX = re.compile(r"[A-Za-z0-9._-]{1,200}")


class _Emitter:
    """The emit methods shared by both producers; subclasses say how an accepted event reaches the loop."""

    _tally: _Tally
    _max_bytes: int
    _logs: _LogLimiter

    @classmethod
    def from_config(cls, kafka: KafkaConfig, **overrides: Any) -> Self:
        """A producer for driftline's :class:`~driftline.config.KafkaConfig`; ``overrides`` win."""
        options: dict[str, Any] = {
            "topic_prefix": kafka.topic_prefix, "client_id": f"{kafka.client_id}-client",
            "security_protocol": kafka.security_protocol, "sasl_mechanism": kafka.sasl_mechanism,
            "sasl_username": kafka.sasl_username,
            "sasl_password": kafka.sasl_password.reveal() if kafka.sasl_password else None,
        }
        context = kafka.ssl_context()
        if context is not None:
            options["ssl_context"] = context
        return cls(kafka.servers, **{**options, **overrides})

    def emit_prediction(self, model_id: str, features: Mapping[str, Any], prediction: Any, *,
                        model_version: str | None = None, request_id: str | None = None,
                        ts: float | datetime | None = None, scores: float | Mapping[str, float] | None = None,
                        segment: Mapping[str, str] | None = None, latency_ms: float | None = None) -> bool:
        """Buffer a prediction event; True if accepted, False if dropped (and counted). Never raises."""
        return self._submit(EventKind.PREDICTION, _present(
            model_id=model_id, ts=ts, features=features, prediction=prediction, model_version=model_version,
            request_id=request_id, scores=scores, segment=segment, latency_ms=latency_ms))

    def emit_features(self, model_id: str, features: Mapping[str, Any], *, model_version: str | None = None,
                      request_id: str | None = None, ts: float | datetime | None = None,
                      segment: Mapping[str, str] | None = None) -> bool:
        """Buffer a feature event (data drift only); True if accepted. Never raises."""
        return self._submit(EventKind.FEATURE, _present(
            model_id=model_id, ts=ts, features=features, model_version=model_version,
            request_id=request_id, segment=segment))

    def emit_label(self, model_id: str, request_id: str, label: Any, *, ts: float | datetime | None = None,
                   model_version: str | None = None) -> bool:
        """Buffer a label event, joined to its prediction by (model_id, request_id). Never raises."""
        return self._submit(EventKind.LABEL, _present(
            model_id=model_id, request_id=request_id, label=label, ts=ts, model_version=model_version))

    def emit(self, kind: EventKind | str, event: Mapping[str, Any]) -> bool:
        """Buffer any event of the contract (a copy of ``event``); True if accepted. Never raises."""
        return self._submit(kind, event, owned=False)

    @property
    def stats(self) -> ProducerStats:
        return self._tally.snapshot()

    @property
    def dropped_total(self) -> int:
        return self.stats.dropped_total

    def _submit(self, kind: EventKind | str, event: Any, owned: bool = True) -> bool:
        reserved = False
        try:
            reason = self._refuse()
            if reason is None and not isinstance(event, Mapping):
                reason = DropReason.INVALID
            if reason is None:
                encoded = encode_event(kind, event if owned else dict(event), self._max_bytes)
                if isinstance(encoded, DropReason):
                    reason = encoded
                elif not self._tally.reserve():
                    reason = DropReason.BUFFER_FULL
                else:
                    reserved = True
                    if self._deliver(encoded):
                        return True
                    reason, reserved = DropReason.CLOSED, False  # _deliver released the slot
        except Exception as exc:
            if reserved:
                self._tally.unreserve()
            reason = DropReason.ERROR
            self._logs.warning("emit", "driftline client: unexpected error in emit, event dropped", exc_info=exc)
        self._tally.drop(reason)
        return False

    def _refuse(self) -> DropReason | None:
        raise NotImplementedError

    def _deliver(self, encoded: EncodedEvent) -> bool:
        raise NotImplementedError


class _State(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"


def _check_options(options: dict[str, Any]) -> None:
    """Raise ValueError for producer options that can never work."""
    problems = {
        "bootstrap_servers": not options["bootstrap_servers"],
        "topic_prefix": not _TOPIC_PREFIX.fullmatch(str(options["topic_prefix"])),
        "max_batch_events": not 1 <= options["max_batch_events"],
        "max_batch_bytes": not 64 <= options["max_batch_bytes"] <= MAX_MESSAGE_BYTES,
        "linger_seconds": not 0 <= options["linger_seconds"],
        "max_buffer_events": not 1 <= options["max_buffer_events"],
        "request_timeout_seconds": not 0 < options["request_timeout_seconds"],
        "acks": options["acks"] not in (0, 1, -1, "all"),
        "compression_type": options["compression_type"] not in (None, "gzip", "snappy", "lz4", "zstd"),
        "security_protocol": options["security_protocol"] not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
        "sasl_mechanism": options["sasl_mechanism"] not in (None, "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
    }
    bad = [f"{name}={options[name]!r}" for name, wrong in problems.items() if wrong]
    if bad:
        raise ValueError(f"invalid producer options: {', '.join(bad)} (max_batch_bytes: 64..{MAX_MESSAGE_BYTES})")
    if str(options["security_protocol"]).startswith("SASL") and None in (
            options["sasl_mechanism"], options["sasl_username"], options["sasl_password"]):
        raise ValueError(f"security_protocol {options['security_protocol']} needs sasl_mechanism, sasl_username and sasl_password")


class AsyncProducer(_Emitter):
    """Emits events to driftline's input topics in batched envelopes, from an asyncio service.

    Parameters
    ----------
    bootstrap_servers
        ``"host:port"``, comma-separated, or a list of them.
    topic_prefix
        The topics are ``<prefix>.predictions``, ``<prefix>.features`` and ``<prefix>.labels``.
    max_batch_events, max_batch_bytes, linger_seconds
        An envelope is sent when it holds ``max_batch_events``, when the next event would take it
        over ``max_batch_bytes`` (at most :data:`MAX_MESSAGE_BYTES`), or ``linger_seconds`` after its
        first event, whichever comes first.
    max_buffer_events
        Events accepted but not yet delivered, at most; beyond it ``emit_*`` drops (``buffer_full``).
    security_protocol, sasl_mechanism, sasl_username, sasl_password, ssl_context, acks, compression_type
        Passed to :class:`aiokafka.AIOKafkaProducer` (an SSL protocol without a context gets the default one).
    request_timeout_seconds
        How long aiokafka tries one batch (retries included) before it counts as ``send_failed``.

    The ``emit_*`` methods must be called on the event loop the producer was started on.
    """

    def __init__(self, bootstrap_servers: str | list[str], *, topic_prefix: str = "driftline",
                 client_id: str = "driftline-client", max_batch_events: int = 500, max_batch_bytes: int = 900_000,
                 linger_seconds: float = 0.05, max_buffer_events: int = 100_000,
                 security_protocol: str = "PLAINTEXT", sasl_mechanism: str | None = None,
                 sasl_username: str | None = None, sasl_password: str | None = None,
                 ssl_context: ssl.SSLContext | None = None,
                 acks: int | str = 1, compression_type: str | None = None,
                 request_timeout_seconds: float = 30.0) -> None:
        options = dict(locals())
        del options["self"]
        _check_options(options)
        self.bootstrap_servers = bootstrap_servers
        self.topics = TopicNames(topic_prefix)
        self._topic = {EventKind.PREDICTION: self.topics.predictions, EventKind.FEATURE: self.topics.features,
                       EventKind.LABEL: self.topics.labels}
        self._batcher = EventBatcher(max_batch_events, max_batch_bytes, linger_seconds)
        self._max_bytes = max_batch_bytes
        self._tally = _Tally(max_buffer_events)
        self._logs = _LogLimiter()
        if security_protocol.endswith("SSL") and ssl_context is None:
            ssl_context = create_ssl_context()
        self._kafka_options = {
            "bootstrap_servers": bootstrap_servers, "client_id": client_id, "acks": acks,
            "compression_type": compression_type, "security_protocol": security_protocol,
            "sasl_mechanism": sasl_mechanism or "PLAIN", "sasl_plain_username": sasl_username,
            "sasl_plain_password": sasl_password, "ssl_context": ssl_context,
            "request_timeout_ms": int(request_timeout_seconds * 1000),
            "max_batch_size": max_batch_bytes + 1024,  # several small envelopes share a record batch
        }
        self._state = _State.NEW
        self._kafka: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Task[None] | None = None
        self._inflight: set[Batch] = set()
        self._wake = asyncio.Event()  # the sender has something to look at
        self._room = asyncio.Event()  # the buffer has room again, or the producer closed

    def __repr__(self) -> str:
        return f"AsyncProducer({self.bootstrap_servers!r}, topic_prefix={self.topics.prefix!r}, state={self._state.value})"

    async def start(self) -> None:
        """Start the sender; fails only for options aiokafka rejects, never because Kafka is down."""
        if self._state is _State.RUNNING:
            return
        if self._state is not _State.NEW:
            raise DriftlineError("this producer is closed; create a new one")
        self._kafka = AIOKafkaProducer(**self._kafka_options)
        self._state = _State.RUNNING
        self._task = asyncio.get_running_loop().create_task(self._run(), name="driftline-producer")

    async def send(self, kind: EventKind | str, event: Mapping[str, Any]) -> bool:
        """Like :meth:`emit`, but wait for room in the buffer instead of dropping (for batch jobs)."""
        while self._state is _State.RUNNING and self._tally.full:
            self._room.clear()
            await self._room.wait()
        return self.emit(kind, event)

    async def flush(self, timeout: float | None = None) -> bool:
        """Send everything buffered so far; True once all of it is delivered or counted as dropped."""
        if self._state in (_State.NEW, _State.CLOSED):
            return True
        self._batcher.seal_all()
        waiting = [*self._batcher.ready, *self._inflight]
        if not waiting:
            return True
        self._wake.set()
        loop = asyncio.get_running_loop()
        futures = []
        for batch in waiting:
            futures.append(loop.create_future())
            batch.waiters.append(futures[-1])
        _, pending = await asyncio.wait(futures, timeout=timeout)
        return not pending

    async def close(self, timeout: float = 10.0) -> None:
        """Flush for at most ``timeout`` seconds, stop, and count what is left as ``closed_unsent``."""
        if self._state is _State.NEW:
            self._state = _State.CLOSED
        if self._state is not _State.RUNNING:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._state = _State.CLOSING
        self._room.set()
        await self.flush(timeout)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._stop_kafka(max(deadline - loop.time(), 0.5))
        for batch in [*self._batcher.unsent(), *self._inflight]:
            self._settle(batch, DropReason.CLOSED_UNSENT)
        self._state = _State.CLOSED

    async def __aenter__(self) -> AsyncProducer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def _refuse(self) -> DropReason | None:
        state = self._state
        if state is _State.RUNNING:
            return DropReason.BUFFER_FULL if self._tally.full else None
        return DropReason.NOT_STARTED if state is _State.NEW else DropReason.CLOSED

    def _deliver(self, encoded: EncodedEvent) -> bool:
        if self._state is not _State.RUNNING:  # reached through Producer's hop to the loop
            self._tally.unreserve()
            return False
        if self._batcher.add(self._topic[encoded.kind], encoded.model_id, encoded.data, time.monotonic()):
            self._wake.set()
        return True

    def _deliver_from_thread(self, encoded: EncodedEvent) -> None:
        """Producer's callback on the loop: the event is counted as emitted already."""
        try:
            delivered = self._deliver(encoded)
        except Exception as exc:
            self._tally.unreserve()
            self._tally.drop(DropReason.ERROR)
            self._logs.warning("emit", "driftline client: unexpected error in emit, event dropped", exc_info=exc)
            return
        if not delivered:
            self._tally.drop(DropReason.CLOSED)

    async def _run(self) -> None:
        """The sender: connect (retrying), then send each batch as it becomes due."""
        await self._connect()
        while True:
            self._wake.clear()
            wait = self._batcher.due(time.monotonic())
            if self._batcher.ready:
                await self._send(self._batcher.ready.popleft())
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass

    async def _connect(self) -> None:
        delay = 0.1
        while True:
            assert self._kafka is not None
            try:
                await self._kafka.start()
                log.info("driftline client: connected to Kafka at %s", self.bootstrap_servers)
                return
            except Exception as exc:
                self._logs.warning("connect", "driftline client: cannot reach Kafka at %s (%s); events stay buffered",
                                   self.bootstrap_servers, exc)
            await self._kafka.stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            self._kafka = AIOKafkaProducer(**self._kafka_options)

    async def _send(self, batch: Batch) -> None:
        assert self._kafka is not None
        self._inflight.add(batch)
        value, batch.parts = batch.envelope(), []
        try:
            future = await self._kafka.send(batch.topic, value, key=batch.key)
        except Exception as exc:  # no metadata within the request timeout, producer closed, ...
            self._settle(batch, DropReason.SEND_FAILED, exc)
            return
        future.add_done_callback(functools.partial(self._on_delivery, batch))

    def _on_delivery(self, batch: Batch, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            self._settle(batch, DropReason.SEND_FAILED, asyncio.CancelledError())
        else:
            error = future.exception()
            self._settle(batch, DropReason.SEND_FAILED if error else None, error)

    def _settle(self, batch: Batch, reason: DropReason | None, error: BaseException | None = None) -> None:
        """Count ``batch`` once as delivered (reason None) or dropped, and wake whoever waits for it."""
        if batch.done:
            return
        batch.done = True
        self._inflight.discard(batch)
        if reason is None:
            self._tally.delivered(batch.count)
        else:
            self._tally.drop(reason, batch.count, buffered=True)
            if error is not None:
                self._logs.warning(reason.value, "driftline client: dropped %d events of %s on %s: %r",
                                   batch.count, batch.model_id, batch.topic, error)
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._room.set()

    async def _stop_kafka(self, timeout: float) -> None:
        """Stop aiokafka (it delivers what it holds); past ``timeout`` let it finish in the background."""
        if self._kafka is None:
            return
        self._stopping = asyncio.ensure_future(self._kafka.stop())
        done, _ = await asyncio.wait({self._stopping}, timeout=timeout)
        if not done:
            log.warning("driftline client: Kafka did not confirm %d events within the close timeout; "
                        "they count as closed_unsent", sum(b.count for b in self._inflight))
