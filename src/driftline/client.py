"""The producer SDK that services use to emit events (DESIGN.md §1–2).

``emit_*`` never raises into and never blocks the caller's request path: it encodes
the event, appends it to a bounded buffer and returns True, or returns False and
counts the drop under a :class:`DropReason`. A background task sends one batched
envelope ``{"events": [...]}`` per (topic, model_id), keyed by the model_id::

    async with AsyncProducer("kafka:9092") as producer:
        producer.emit_prediction("fraud-detector", {"amount": 129.5}, 1, request_id="a1b2c3")

:class:`Producer` is the same for threaded services; it runs an :class:`AsyncProducer`
on an event loop in a daemon thread. See docs/client.md.

>>> batcher = EventBatcher(max_events=2, max_bytes=1000, linger_seconds=0.05)
>>> for i in range(3):
...     _ = batcher.add("driftline.labels", "m", b'{"n":%d}' % i, now=0.0)
>>> [b.envelope() for b in batcher.ready], batcher.due(now=0.05), [b.count for b in batcher.ready]
([b'{"events":[{"n":0},{"n":1}]}'], None, [2, 1])
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import re
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Self

import msgspec
from aiokafka import AIOKafkaProducer
from aiokafka.helpers import create_ssl_context

from driftline.config import KafkaConfig
from driftline.error import DriftlineError
from driftline.events.schema import MODEL_ID_PATTERN, EventKind
from driftline.events.topic import TopicNames

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 1_000_000
"""The largest envelope allowed: under the worker's 1 MiB limit with room for the key and record headers."""

_OPEN, _CLOSE = b'{"events":[', b"]}"
_MODEL_ID = re.compile(MODEL_ID_PATTERN)
_TOPIC_PREFIX = re.compile(r"[A-Za-z0-9._-]{1,200}")


class DropReason(str, enum.Enum):
    """Why an event was not delivered; the value is the key in :attr:`ProducerStats.dropped`."""

    INVALID = "invalid"  # bad model_id, features not a mapping, a required field missing, unknown kind
    UNSERIALIZABLE = "unserializable"  # a value JSON cannot represent (e.g. an arbitrary object)
    TOO_LARGE = "too_large"  # one event alone exceeds max_batch_bytes
    BUFFER_FULL = "buffer_full"  # max_buffer_events were buffered and not yet delivered
    NOT_STARTED = "not_started"  # emitted before start()
    CLOSED = "closed"  # emitted after close() began
    SEND_FAILED = "send_failed"  # Kafka did not take the batch after aiokafka's retries / request timeout
    CLOSED_UNSENT = "closed_unsent"  # still buffered or unacknowledged when close() ran out of time
    ERROR = "error"  # an unexpected exception inside emit (a bug; logged)


@dataclass(frozen=True, slots=True)
class ProducerStats:
    """Counters of a producer: ``emitted == sent + buffered + drops after acceptance``."""

    emitted: int  # events accepted into the buffer
    sent: int  # events acknowledged by Kafka
    dropped: Mapping[str, int]  # events dropped, by DropReason value
    batches_sent: int  # envelopes acknowledged by Kafka
    buffered: int  # events accepted but not yet sent or dropped

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class _Tally:
    """The counters, shared by callers' threads and the event loop; a lock guards every change."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buffered = self.emitted = self.sent = self.batches_sent = 0
        self.dropped: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def full(self) -> bool:
        return self.buffered >= self.limit

    def reserve(self) -> bool:
        with self._lock:
            if self.buffered >= self.limit:
                return False
            self.buffered += 1
            self.emitted += 1
            return True

    def unreserve(self) -> None:
        with self._lock:
            self.buffered -= 1
            self.emitted -= 1

    def drop(self, reason: DropReason, count: int = 1, buffered: bool = False) -> None:
        with self._lock:
            self.dropped[reason.value] += count
            if buffered:
                self.buffered -= count

    def delivered(self, count: int) -> None:
        with self._lock:
            self.sent += count
            self.batches_sent += 1
            self.buffered -= count

    def snapshot(self) -> ProducerStats:
        with self._lock:
            return ProducerStats(self.emitted, self.sent, dict(self.dropped), self.batches_sent, self.buffered)


class _LogLimiter:
    """Logs a warning per key at most once per ``interval`` seconds, saying how many were held back."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._held: Counter[str] = Counter()

    def warning(self, key: str, message: str, *args: Any, exc_info: Any = None) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -self.interval) < self.interval:
            self._held[key] += 1
            return
        self._last[key] = now
        held = self._held.pop(key, 0)
        suffix = f" ({held} similar since the last report)" if held else ""
        log.warning(message + suffix, *args, exc_info=exc_info)


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """One event as JSON bytes, ready to join an envelope."""

    kind: EventKind
    model_id: str
    data: bytes


def _enc_hook(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()  # numpy scalars
    raise TypeError(f"cannot serialize {type(value).__name__}")


_ENCODER = msgspec.json.Encoder(enc_hook=_enc_hook, decimal_format="number")


def _is_valid(kind: EventKind, event: Mapping[str, Any]) -> bool:
    """The checks that cost next to nothing; the worker checks the rest."""
    model_id = event.get("model_id")
    if not isinstance(model_id, str) or _MODEL_ID.fullmatch(model_id) is None:
        return False
    if kind is EventKind.LABEL:
        return isinstance(event.get("request_id"), str) and event.get("label") is not None
    if not isinstance(event.get("features"), Mapping):
        return False
    return kind is EventKind.FEATURE or event.get("prediction") is not None


def encode_event(kind: EventKind | str, event: dict[str, Any], max_bytes: int = MAX_MESSAGE_BYTES) -> EncodedEvent | DropReason:
    """Check and encode ``event`` (filling in ``ts``, in place); a DropReason if it cannot be sent.

    A missing ``ts`` becomes the current epoch time; a naive datetime is taken as UTC. Datetimes
    are written as RFC 3339, numpy scalars as numbers, NaN and infinities as null (missing).

    >>> encode_event("label", {"model_id": "m", "request_id": "r", "label": 1, "ts": 5.0}).data
    b'{"model_id":"m","request_id":"r","label":1,"ts":5.0}'
    >>> encode_event("prediction", {"model_id": "bad id", "features": {}, "prediction": 1})
    <DropReason.INVALID: 'invalid'>
    """
    try:
        kind = EventKind(kind)
    except ValueError:
        return DropReason.INVALID
    if not _is_valid(kind, event):
        return DropReason.INVALID
    ts = event.get("ts")
    if ts is None:
        event["ts"] = time.time()
    elif isinstance(ts, datetime) and ts.tzinfo is None:
        event["ts"] = ts.replace(tzinfo=timezone.utc)
    try:
        data = _ENCODER.encode(event)
    except (TypeError, ValueError, OverflowError, RecursionError):
        return DropReason.UNSERIALIZABLE
    if len(data) + len(_OPEN) + len(_CLOSE) > max_bytes:
        return DropReason.TOO_LARGE
    return EncodedEvent(kind, event["model_id"], data)


class Batch:
    """The events of one model on one topic that become one Kafka message."""

    __slots__ = ("topic", "model_id", "created", "parts", "count", "size", "sealed", "done", "waiters")

    def __init__(self, topic: str, model_id: str, created: float) -> None:
        self.topic = topic
        self.model_id = model_id
        self.created = created
        self.parts: list[bytes] = []
        self.count = 0
        self.size = len(_OPEN) + len(_CLOSE)  # the envelope's exact size in bytes
        self.sealed = False  # no more events: it is ready to send
        self.done = False  # delivered or dropped, and counted
        self.waiters: list[asyncio.Future[None]] = []

    @property
    def key(self) -> bytes:
        return self.model_id.encode()

    def fits(self, data: bytes, max_bytes: int) -> bool:
        return self.size + len(data) + (1 if self.count else 0) <= max_bytes

    def add(self, data: bytes) -> None:
        self.size += len(data) + (1 if self.count else 0)
        self.parts.append(data)
        self.count += 1

    def envelope(self) -> bytes:
        return _OPEN + b",".join(self.parts) + _CLOSE


class EventBatcher:
    """Groups encoded events into envelopes per (topic, model_id); pure: callers pass the time.

    A batch is sealed (moved to :attr:`ready`) when it holds ``max_events``, when the next event
    would take it over ``max_bytes``, or ``linger_seconds`` after its first event (see :meth:`due`).
    """

    def __init__(self, max_events: int, max_bytes: int, linger_seconds: float) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.linger_seconds = linger_seconds
        self.ready: deque[Batch] = deque()
        self._pending: dict[tuple[str, str], Batch] = {}
        self._lingering: deque[Batch] = deque()  # in creation order, so the oldest is first

    def add(self, topic: str, model_id: str, data: bytes, now: float) -> bool:
        """Add one event (it must fit an envelope alone); True if a sender should look now."""
        batch = self._pending.get((topic, model_id))
        if batch is not None and not batch.fits(data, self.max_bytes):
            self._seal(batch)
            batch = None
        wake = batch is None
        if batch is None:
            batch = self._pending[(topic, model_id)] = Batch(topic, model_id, now)
            self._lingering.append(batch)
        batch.add(data)
        if batch.count >= self.max_events:
            self._seal(batch)
            wake = True
        return wake

    def due(self, now: float) -> float | None:
        """Seal the batches that lingered long enough; seconds until the next is due, or None."""
        while self._lingering:
            batch = self._lingering[0]
            wait = batch.created + self.linger_seconds - now
            if not batch.sealed and wait > 0:
                return wait
            self._lingering.popleft()
            if not batch.sealed:
                self._seal(batch)
        return None

    def seal_all(self) -> None:
        for batch in list(self._pending.values()):
            self._seal(batch)
        self._lingering.clear()

    def unsent(self) -> list[Batch]:
        """Every batch not yet handed to a sender, sealed or not."""
        return [*self.ready, *self._pending.values()]

    def _seal(self, batch: Batch) -> None:
        batch.sealed = True
        del self._pending[(batch.topic, batch.model_id)]
        self.ready.append(batch)


def _present(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


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
        if kafka.security_protocol.endswith("SSL"):
            context = create_ssl_context(cafile=kafka.ssl_cafile, certfile=kafka.ssl_certfile, keyfile=kafka.ssl_keyfile)
            context.check_hostname = kafka.ssl_check_hostname
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


class Producer(_Emitter):
    """The synchronous twin of :class:`AsyncProducer` for threaded (e.g. WSGI) services.

    It runs an AsyncProducer on its own event loop in a daemon thread. ``emit_*`` may be called
    from any thread: the event is checked and encoded in the caller's thread, a slot of the
    bounded buffer is taken there (so a burst cannot outgrow ``max_buffer_events`` before the loop
    runs), and the loop is handed the bytes with ``call_soon_threadsafe``. The constructor starts
    it and raises for bad options; a broker that is down only makes events buffer, then drop.

    Parameters
    ----------
    bootstrap_servers, **options
        As for :class:`AsyncProducer`.
    """

    def __init__(self, bootstrap_servers: str | list[str], **options: Any) -> None:
        self._async = AsyncProducer(bootstrap_servers, **options)
        self._tally, self._max_bytes, self._logs = self._async._tally, self._async._max_bytes, self._async._logs
        self._closed = False
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="driftline-producer", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._async.start(), self._loop).result()
        except BaseException:
            self._stop_loop()
            raise

    def __repr__(self) -> str:
        return f"Producer({self._async!r})"

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything emitted so far is delivered or counted as dropped; False on timeout."""
        if self._closed:
            return True
        future = asyncio.run_coroutine_threadsafe(self._async.flush(timeout), self._loop)
        try:
            return future.result(None if timeout is None else timeout + 5.0)
        except TimeoutError:
            future.cancel()
            return False

    def close(self, timeout: float = 10.0) -> None:
        """Flush for at most ``timeout`` seconds, then stop the loop and its thread; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            asyncio.run_coroutine_threadsafe(self._async.close(timeout), self._loop).result(timeout + 5.0)
        except Exception as exc:
            log.warning("driftline client: close did not finish cleanly: %r", exc)
        finally:
            self._stop_loop()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _refuse(self) -> DropReason | None:
        return DropReason.CLOSED if self._closed else self._async._refuse()

    def _deliver(self, encoded: EncodedEvent) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._async._deliver_from_thread, encoded)
        except RuntimeError:  # the loop is closed
            self._tally.unreserve()
            return False
        return True

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
