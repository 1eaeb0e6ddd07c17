"""Effectively-once state: per input partition, checkpoints of the models' state and the offsets it reflects.

A worker owns the input partitions the consumer group assigns it (the same partition
number of every input topic: events are keyed by model_id, so a model's predictions,
features and labels share it). For each owned partition the :class:`Checkpointer` knows the
next offset of every input topic that the in-memory state expects, and:

- **admits** a consumed record only if its partition is owned and its offset is not below
  that expectation (a record below it is already in the state: after a restore, Kafka
  redelivers from the group's committed offset, which may lag the checkpoint);
- **checkpoints** after ``checkpoint.interval_events`` events or ``interval_seconds``,
  whichever comes first, and when partitions are revoked or the worker stops;
- on **assignment**, restores each newly assigned partition from its newest checkpoint and
  seeks every input topic of it to the checkpoint's offsets, before the consumer fetches.

A checkpoint of partition ``p``, in order:

1. take the processing lock, so no micro-batch is half applied;
2. snapshot (encode) the models of ``p`` that changed since the last checkpoint, and the
   offsets; release the lock — the stream goes on while the rest happens in the background;
3. flush the producer, so that every dead letter and alert record of the batches the
   state reflects is in Kafka before a checkpoint says they were processed;
4. write the states and the commit (:class:`~driftline.state.store.CheckpointStore`), acks=all.

A checkpoint waits for the previous one's write; revocation and stop wait for theirs.

The processing lock is the one the :class:`~driftline.events.processor.EventProcessor`
holds for each micro-batch; rule evaluation on the timer takes it too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Protocol

from driftline.config import CheckpointConfig
from driftline.error import StateError
from driftline.evaluation import RuleEvaluation
from driftline.events.processor import InputRecord
from driftline.metrics.instrument import WorkerInstruments
from driftline.monitor import MonitorRegistry
from driftline.state.codec import encode_snapshot
from driftline.state.store import Checkpoint, CheckpointStore

log = logging.getLogger(__name__)

Seek = Callable[[str, int, int], Awaitable[None]]  # (topic, partition, offset)


class TopicPartitionLike(Protocol):
    topic: str
    partition: int


@dataclass
class OwnedPartition:
    """What this worker knows of one input partition it owns (or had until a rebalance)."""

    partition: int
    generation: int
    offsets: dict[str, int] = field(default_factory=dict)  # input topic -> next offset the state expects
    checkpoint: Checkpoint | None = None  # the newest one written or restored
    garbage: list[bytes] = field(default_factory=list)  # unreferenced keys found at restore
    advanced: bool = False  # offsets moved since the last checkpoint
    owned: bool = True  # False between a revocation and the next assignment ("parked")


class Checkpointer:
    """Owns the input partitions' state: admission of records, checkpoints, restore on assignment."""

    def __init__(self, config: CheckpointConfig, monitors: MonitorRegistry, evaluation: RuleEvaluation | None,
                 store: CheckpointStore, input_topics: Iterable[str], lock: asyncio.Lock,
                 instruments: WorkerInstruments, flush: Callable[[], Awaitable[None]],
                 clock: Callable[[], float] = time.monotonic,
                 on_restored: Callable[[set[str]], None] | None = None) -> None:
        self.config = config
        self.monitors = monitors
        self.evaluation = evaluation
        self.store = store
        self.input_topics = tuple(input_topics)
        self.lock = lock
        self.instruments = instruments
        self.flush = flush
        self.clock = clock
        self.on_restored = on_restored  # e.g. calibrate restored versions that were calibrating
        self.partitions: dict[int, OwnedPartition] = {}
        self._events_since = 0
        self._last = clock()
        self._topic_ready = False
        self._writing: asyncio.Task[None] | None = None  # the checkpoint being written

    # -- the hot path ---------------------------------------------------------------------------

    def admit(self, record: InputRecord) -> bool:
        """Whether to process ``record``; advances the partition's expected offset when it is."""
        owned = self.partitions.get(record.partition)
        if owned is None or not owned.owned:
            self.instruments.skipped.labels("not_owned").inc()
            return False
        expected = owned.offsets.get(record.topic, 0)
        if record.offset < expected:
            self.instruments.skipped.labels("replayed").inc()
            return False
        owned.offsets[record.topic] = record.offset + 1
        owned.advanced = True
        return True

    def position(self, topic: str, partition: int) -> int | None:
        """The next offset of ``topic`` that the state of an owned ``partition`` expects."""
        owned = self.partitions.get(partition)
        if owned is None or not owned.owned:
            return None
        return owned.offsets.get(topic, 0)

    def processed(self, events: int) -> None:
        """Count the events a micro-batch applied (towards ``interval_events``)."""
        self._events_since += events

    async def maybe_checkpoint(self) -> None:
        """Checkpoint if ``interval_events`` events or ``interval_seconds`` passed (lock held)."""
        if self._events_since >= self.config.interval_events or self.clock() - self._last >= self.config.interval_seconds:
            await self.checkpoint_locked()

    async def on_timer(self) -> None:
        """Checkpoint idle partitions too (timer evaluations and calibrations change state)."""
        if self.clock() - self._last >= self.config.interval_seconds:
            async with self.lock:
                await self.checkpoint_locked()

    # -- checkpoints ----------------------------------------------------------------------------

    async def checkpoint_locked(self, partitions: Iterable[int] | None = None, wait: bool = False) -> None:
        """Checkpoint ``partitions`` (default: every owned one) that changed; the lock must be held.

        The snapshot is taken (and encoded) now, under the lock; it is written in the background
        while the stream goes on, unless ``wait``. One write at a time, in order.
        """
        await self.settle()
        self._events_since, self._last = 0, self.clock()
        wanted = [self.partitions[p] for p in (self.partitions if partitions is None else partitions)
                  if p in self.partitions and self.partitions[p].owned]
        dirty = self.monitors.dirty
        by_partition: dict[int, list[str]] = {}  # one pass over the models, not one per partition
        for model_id, partition in self.monitors.partitions.items():
            by_partition.setdefault(partition, []).append(model_id)
        due = [owned for owned in wanted if owned.advanced or owned.checkpoint is None
               or any(m in dirty for m in by_partition.get(owned.partition, ()))]
        if not due:
            return
        started = time.perf_counter()
        snapshots = []
        for owned in due:  # 3. the changed models and the offsets, as they are now
            models = by_partition.get(owned.partition, [])
            changed = {m: encode_snapshot(self.store.kind, self.model_state(m)) for m in models
                       if m in dirty or owned.checkpoint is None or m not in owned.checkpoint.models}
            dropped = set(owned.checkpoint.models) - set(models) if owned.checkpoint is not None else set()
            snapshots.append((owned, dict(owned.offsets), changed, dropped))
            owned.advanced = False
            dirty.difference_update(changed)
        self._writing = asyncio.create_task(self._write(snapshots, started))
        if wait:
            await self.settle(raise_errors=True)

    async def _write(self, snapshots: list[tuple[OwnedPartition, dict[str, int], dict[str, bytes], set[str]]],
                     started: float) -> None:
        await self.flush()  # 2. dead letters and alert records of the covered input first
        for i, (owned, offsets, changed, dropped) in enumerate(snapshots):
            try:  # 4. model records, then the commit, acks=all
                owned.checkpoint = await self.store.write(owned.partition, owned.generation, offsets, changed,
                                                          dropped, owned.checkpoint, owned.garbage)
            except BaseException:
                for later, _, unwritten, _ in snapshots[i:]:  # written next time
                    self.monitors.dirty.update(m for m in unwritten if m in self.monitors.partitions)
                    later.advanced = True
                raise
            owned.garbage = []
            self.instruments.checkpoints.inc()
        self.instruments.checkpoint_seconds.observe(time.perf_counter() - started)
        log.debug("checkpointed partitions %s", [owned.partition for owned, *_ in snapshots])

    async def settle(self, raise_errors: bool = False) -> None:
        """Wait for the checkpoint being written, if any; a failed one is logged (its models are
        written with the next) unless ``raise_errors``."""
        writing, self._writing = self._writing, None
        if writing is None:
            return
        try:
            await writing
        except Exception:
            if raise_errors:
                raise
            log.exception("writing a checkpoint failed; the next one writes its models again")

    def _models(self, partition: int) -> list[str]:
        return self.monitors.models_on([partition])

    def model_state(self, model_id: str) -> dict[str, Any]:
        alerts = self.evaluation.model_state(model_id) if self.evaluation is not None else None
        return {"monitors": self.monitors.model_state(model_id), "alerts": alerts}

    def restore_model(self, model_id: str, state: dict[str, Any]) -> None:
        self.monitors.restore_model(model_id, state["monitors"])
        if self.evaluation is not None:
            self.evaluation.restore_model(model_id, state["alerts"])

    def drop_partition(self, partition: int) -> None:
        for model_id in self._models(partition):
            self.monitors.drop_model(model_id)
            if self.evaluation is not None:
                self.evaluation.drop_model(model_id)
        self.partitions.pop(partition, None)

    # -- rebalances -----------------------------------------------------------------------------

    async def on_revoked(self, partitions: set[int]) -> None:
        """Checkpoint the revoked partitions and park them: their state stays in memory, unused,
        until the next assignment says whether it is still ours."""
        async with self.lock:
            await self.checkpoint_locked(partitions, wait=True)
            for p in partitions:
                if p in self.partitions:
                    self.partitions[p].owned = False
        log.info("partitions %s revoked", sorted(partitions))

    async def on_assigned(self, partitions: set[int], generation: int, seek: Seek) -> None:
        """Restore newly assigned partitions and seek every input topic of every assigned partition.

        Parked state is kept when the new generation directly follows the one it was owned in
        (nobody else can have owned it in between); otherwise it is dropped and restored.
        """
        async with self.lock:
            await self.settle()
            if not self._topic_ready:
                await self.store.ensure_topic()
                self._topic_ready = True
            for p, owned in list(self.partitions.items()):
                if p not in partitions or owned.generation != generation - 1:
                    self.drop_partition(p)
            for p in sorted(partitions):
                owned = self.partitions.get(p)
                if owned is None:
                    owned = await self._restore(p, generation)
                owned.generation, owned.owned = generation, True
                for topic in self.input_topics:
                    await seek(topic, p, owned.offsets.get(topic, 0))
        log.info("partitions %s assigned (generation %d)", sorted(partitions), generation)

    async def _restore(self, partition: int, generation: int) -> OwnedPartition:
        started = time.perf_counter()
        restored = await self.store.load(partition)
        owned = OwnedPartition(partition, generation, garbage=restored.garbage, checkpoint=restored.checkpoint)
        if restored.checkpoint is not None:
            owned.offsets = dict(restored.checkpoint.offsets)
            for model_id, state in restored.models.items():
                try:
                    self.restore_model(model_id, state)
                except (KeyError, TypeError, ValueError) as exc:
                    raise StateError(f"checkpoint {restored.checkpoint.seq} of partition {partition}: state of "
                                     f"model {model_id} does not restore: {exc!r}") from exc
                self.monitors.partitions[model_id] = partition
            if self.on_restored is not None:
                self.on_restored(set(restored.models))
            self.instruments.restores.inc()
            log.info("restored partition %d: %d models, %d bytes, offsets %s (checkpoint %d of generation %d) "
                     "in %.2f s", partition, len(restored.models), restored.bytes, owned.offsets,
                     restored.checkpoint.seq, restored.checkpoint.generation, time.perf_counter() - started)
        self.partitions[partition] = owned
        return owned

    async def close(self) -> None:
        """A last checkpoint of everything owned (on a graceful stop)."""
        async with self.lock:
            await self.checkpoint_locked(wait=True)
        await self.store.close()
