"""The hot path: a micro-batch of Kafka messages in, monitors updated, bad input dead-lettered.

The faust agents (:mod:`driftline.events.agent`) stay thin: they take messages from
the stream in micro-batches and hand them here. Nothing here knows faust, so the
same path runs under benchmarks and tests.

For each micro-batch:

1. decode every message (one event or an envelope) with the topic's decoder;
2. write every rejection to the dead-letter topic, with its reason, and count it;
3. group the valid events into one column batch per model version;
4. update that version's monitor from the batch (or dead-letter the batch if a new
   model would exceed ``monitoring.max_models``).

With checkpoints on, a gate first drops the records that the restored state already
reflects or that belong to partitions this worker does not own (:mod:`driftline.checkpoint`).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import Awaitable, Callable, Protocol, Sequence

import msgspec

from driftline.config import Config
from driftline.error import DecodeError, StateError
from driftline.estimators.reference import Reference
from driftline.events.batch import group_events
from driftline.events.control import decode_command
from driftline.events.decoder import EventDecoder, Reason, Rejection
from driftline.events.schema import EventKind
from driftline.metrics.instrument import WorkerInstruments
from driftline.monitor import ModelLimitError, MonitorRegistry
from driftline.state.codec import decode_snapshot

log = logging.getLogger(__name__)

Clock = Callable[[], float]
# Called after each micro-batch with the models it touched and its processing time (rule evaluation).
BatchHook = Callable[[set[str], float], Awaitable[None]]


class InputRecord(Protocol):
    """What the processor needs of a consumed Kafka message (faust's ``Message`` has it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


class Gate(Protocol):
    """Decides which consumed records to process (:class:`driftline.checkpoint.Checkpointer`):
    those of owned partitions not already reflected in the restored state."""

    def admit(self, record: InputRecord) -> bool: ...

    def processed(self, events: int) -> None: ...


class DeadLetterSink(Protocol):
    """Where dead letters go: the ``<prefix>.deadletter`` topic, keyed by the original key."""

    async def send(self, key: bytes | None, value: bytes) -> None: ...


class DeadLetter(msgspec.Struct, omit_defaults=True):
    """A dead-letter record of the contract, plus ``detail`` (for people) and ``index`` (in an envelope)."""

    reason: str
    topic: str
    partition: int
    offset: int
    raw: str  # base64 of the rejected bytes
    detail: str = ""
    index: int | None = None


_encode = msgspec.json.Encoder().encode
REFERENCE_SNAPSHOT = "reference"  # the snapshot kind of a reference in a rebase command


def _sources(events: list, spans: list[tuple[int, InputRecord]]) -> dict[int, InputRecord]:
    """The record each event came from, by the event's id (only needed on the rare dead-letter path)."""
    ends = [start for start, _ in spans[1:]] + [len(events)]
    return {id(events[i]): record for (start, record), end in zip(spans, ends) for i in range(start, end)}


def _model_key(key: bytes | None) -> str:
    """The model a message is keyed by (the contract keys by model_id); "" when it is not one."""
    try:
        return key.decode() if key is not None and len(key) <= 128 else ""
    except UnicodeDecodeError:
        return ""


class EventProcessor:
    """Decodes micro-batches of messages of the three input topics and updates the monitors."""

    def __init__(
        self,
        config: Config,
        monitors: MonitorRegistry,
        dead_letters: DeadLetterSink,
        instruments: WorkerInstruments,
        clock: Clock = time.time,
        after_batch: BatchHook | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.monitors = monitors
        self.gate = gate
        self.lock = asyncio.Lock()  # held while a micro-batch is applied (see process)
        self.after_batch = after_batch
        self.dead_letters = dead_letters
        self.instruments = instruments
        self.clock = clock
        self._decoders = {kind: EventDecoder(kind, config.limits) for kind in EventKind}
        self.rejected = 0  # inputs dead-lettered so far, for status lines
        self._invalid = {reason: instruments.invalid.labels(reason.value) for reason in Reason}

    async def process(self, kind: EventKind, records: Sequence[InputRecord]) -> int:
        """Process one micro-batch of messages of one input topic; returns the valid events applied.

        The state changes of a micro-batch are applied without an await in between, under
        :attr:`lock`, and its outputs (dead letters, alert records) are handed to the producer
        before the lock is released: a checkpoint, which takes the lock, never sees half a batch.
        """
        async with self.lock:
            started = time.perf_counter()
            now = self.clock()
            if self.gate is not None:
                records = [record for record in records if self.gate.admit(record)]
            letters: list[tuple[InputRecord, Rejection]] = []
            applied, touched = self._apply(kind, records, now, letters)
            if self.gate is not None:
                self.gate.processed(applied)
            for record, rejection in letters:
                await self._dead_letter(record, rejection)
            if self.after_batch is not None and touched:
                await self.after_batch(touched, now)
            self.instruments.batch_seconds.observe(time.perf_counter() - started)
            self.instruments.batch_events.observe(applied)
            return applied

    async def control(self, records: Sequence[InputRecord]) -> int:
        """Apply operator commands from ``<prefix>.control`` (:mod:`driftline.events.control`)."""
        async with self.lock:
            now = self.clock()
            if self.gate is not None:
                records = [record for record in records if self.gate.admit(record)]
            letters: list[tuple[InputRecord, Rejection]] = []
            touched: set[str] = set()
            for record in records:
                try:
                    command = decode_command(record.value)
                    reference = None
                    if command.reference is not None:
                        reference = Reference.from_state(decode_snapshot(command.reference, REFERENCE_SNAPSHOT))
                except (DecodeError, StateError, KeyError, TypeError, ValueError) as exc:
                    letters.append((record, Rejection(Reason.WRONG_TYPE, f"control command: {exc}", record.value)))
                    continue
                versions = self.monitors.rebase(command.model_id, command.model_version, reference,
                                                command.warmup_events)
                if versions:
                    touched.add(command.model_id)
                    log.warning("re-based drift of %s %s (requested by %s%s)", command.model_id, ", ".join(versions),
                                command.requested_by or "unknown", f": {command.reason}" if command.reason else "")
                else:
                    log.warning("re-base of %s %s ignored: no such model version on this worker", command.model_id,
                                command.model_version or "(all versions)")
            for record, rejection in letters:
                await self._dead_letter(record, rejection)
            if self.after_batch is not None and touched:
                await self.after_batch(touched, now)
            return len(records) - len(letters)

    def _apply(self, kind: EventKind, records: Sequence[InputRecord], now: float,
               letters: list[tuple[InputRecord, Rejection]]) -> tuple[int, set[str]]:
        """Decode ``records`` and update the monitors; rejections are appended to ``letters``."""
        decoder = self._decoders[kind]
        monitors = self.monitors
        events: list = []
        ts: list[float] = []
        spans: list[tuple[int, InputRecord]] = []  # (first event index, record) per message with valid events
        for record in records:
            decoded = decoder.decode(record.value, now)
            if decoded.events:
                events.extend(decoded.events)
                ts.extend(decoded.ts)
                spans.append((len(events) - len(decoded.events), record))
            if decoded.rejected:
                model_id = _model_key(record.key)
                monitors.record_invalid(model_id, len(decoded.rejected), now)
                monitors.dirty.add(model_id)
                letters.extend((record, rejection) for rejection in decoded.rejected)
        applied = 0
        touched: set[str] = set()
        if not events:
            return applied, touched
        source: dict[int, InputRecord] | None = None
        for batch in group_events(kind, events, ts):
            model_id = batch.model_id
            if model_id not in monitors.partitions:
                source = source or _sources(events, spans)
                monitors.place(model_id, source[id(batch.events[0])].partition)
            try:
                if kind is EventKind.LABEL:
                    joined = monitors.record_labels(batch, now)
                else:
                    monitors.get(model_id, batch.model_version).update(batch, now)
                    joined = monitors.join_predictions(batch) if kind is EventKind.PREDICTION else []
                if joined:
                    self._observe_delays(joined)
                applied += batch.size
                touched.add(model_id)
            except ModelLimitError as exc:
                source = source or _sources(events, spans)
                monitors.record_invalid("", batch.size, now)
                for event in batch.events:
                    rejection = Rejection(Reason.MODEL_LIMIT, str(exc), msgspec.json.encode(event))
                    letters.append((source[id(event)], rejection))
        monitors.dirty.update(touched)
        return applied, touched

    def _observe_delays(self, joined: list) -> None:
        observe = self.instruments.label_delay.observe
        for item in joined:
            observe(max(item.label_ts - item.prediction_ts, 0.0))  # a label ahead of its prediction: no delay

    async def _dead_letter(self, record: InputRecord, rejection: Rejection) -> None:
        self._invalid[rejection.reason].inc()
        self.rejected += 1
        letter = DeadLetter(
            reason=rejection.reason.value,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            raw=base64.b64encode(rejection.raw).decode("ascii"),
            detail=rejection.detail,
            index=rejection.index,
        )
        await self.dead_letters.send(record.key, _encode(letter))
        self.instruments.deadletter.labels(record.topic).inc()
        log.debug("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, rejection.detail)
