"""The checkpoint store: each input partition's model states and input offsets in ``<prefix>.checkpoints``.

Everything about input partition ``p`` lives in checkpoint partition ``p mod n`` (``n``
the checkpoint topic's partitions, by default as many as the inputs'), so that a worker
assigned ``p`` reads little besides it back. Two kinds of records (keys are ASCII)::

    m/<p>/<generation>/<seq>/<part>/<model_id>   one model's state (a snapshot, split into
                                                parts of at most MAX_RECORD_BYTES)
    c/<p>/<generation>                           the commit: input offsets, and where each
                                                model's latest state is (generation, seq, parts)

Writing checkpoint ``seq`` of partition ``p``:

1. append the state of every model that changed since the last checkpoint, under new keys;
2. append the commit record, and wait until the broker has all of it (acks=all);
3. only then tombstone what the commit no longer references (the models' previous
   records, commits of older generations, leftovers a restore found).

A crash anywhere leaves the previous commit and everything it references intact: new
model records are unreferenced until their commit is written. The generation in every key
fences zombies: a worker that stalled, lost its partitions and writes on with its old
generation writes to keys that no reader prefers (readers take the newest generation's
commit), and can never overwrite the new owner's records. Offsets only move forward.

Reading back goes to the high-watermark a fetch reports (:class:`~driftline.state.table.CompactedTable`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import msgspec

from driftline.config import KafkaConfig
from driftline.error import StateError
from driftline.state.codec import decode_snapshot, encode_snapshot
from driftline.state.table import MAX_RECORD_BYTES, CompactedTable

log = logging.getLogger(__name__)

COMMIT = "checkpoint-commit"
# Compaction only cleans closed segments: with the broker's default (1 GiB or 7 days) a checkpoint
# topic's active segment would hold every checkpoint ever written, and a restore would read it all.
TOPIC_CONFIG = {"segment.ms": str(10 * 60 * 1000), "segment.bytes": str(64 * 1024 * 1024),
                "min.cleanable.dirty.ratio": "0.1", "delete.retention.ms": str(60 * 60 * 1000)}


class Location(msgspec.Struct, array_like=True, frozen=True):
    """Where a model's state is: the checkpoint that wrote it and how many parts it has."""

    generation: int
    seq: int
    parts: int

    def keys(self, partition: int, model_id: str) -> list[bytes]:
        return [model_key(partition, self.generation, self.seq, i, model_id) for i in range(self.parts)]


class Checkpoint(msgspec.Struct, frozen=True):
    """A commit record: the input offsets a partition's state reflects, and where that state is."""

    partition: int
    generation: int
    seq: int
    offsets: dict[str, int]  # input topic -> the next offset to process
    models: dict[str, Location]
    written_at: float


@dataclass
class Restored:
    """What a restore found for one partition: the newest commit, its models' states, and garbage."""

    checkpoint: Checkpoint | None
    models: dict[str, Any] = field(default_factory=dict)  # model_id -> decoded state
    garbage: list[bytes] = field(default_factory=list)  # keys nothing references any more
    bytes: int = 0


def commit_key(partition: int, generation: int) -> bytes:
    return f"c/{partition:05d}/{generation:010d}".encode()


def model_key(partition: int, generation: int, seq: int, part: int, model_id: str) -> bytes:
    return f"m/{partition:05d}/{generation:010d}/{seq:012d}/{part}/{model_id}".encode()


def partition_keys(table: Mapping[bytes, bytes], partition: int) -> list[bytes]:
    """The keys of ``table`` that belong to input ``partition``."""
    commit, model = f"c/{partition:05d}/".encode(), f"m/{partition:05d}/".encode()
    return [k for k in table if k.startswith(commit) or k.startswith(model)]


def split(blob: bytes, size: int = MAX_RECORD_BYTES) -> list[bytes]:
    """``blob`` in parts of at most ``size`` bytes (one empty part for an empty blob)."""
    return [blob[i:i + size] for i in range(0, len(blob), size)] or [b""]


def newest_commit(table: Mapping[bytes, bytes], partition: int) -> Checkpoint | None:
    """The commit of the newest generation in ``table`` (one partition's records)."""
    prefix = f"c/{partition:05d}/".encode()
    commits = sorted(k for k in table if k.startswith(prefix))
    if not commits:
        return None
    try:
        checkpoint = decode_snapshot(table[commits[-1]], COMMIT)
        checkpoint = msgspec.convert(checkpoint, Checkpoint)
    except (StateError, msgspec.ValidationError) as exc:
        raise StateError(f"checkpoint commit {commits[-1].decode()} of partition {partition} is unreadable: {exc}") \
            from None
    if checkpoint.partition != partition:
        raise StateError(f"checkpoint partition {partition} holds the commit of partition {checkpoint.partition}")
    return checkpoint


def read_partition(table: Mapping[bytes, bytes], partition: int, kind: str) -> Restored:
    """Decode the newest commit of an input partition and the model states it references."""
    checkpoint = newest_commit(table, partition)
    if checkpoint is None:
        return Restored(None, garbage=partition_keys(table, partition))
    referenced = {commit_key(partition, checkpoint.generation)}
    models: dict[str, Any] = {}
    size = 0
    for model_id, location in checkpoint.models.items():
        keys = location.keys(partition, model_id)
        missing = [k.decode() for k in keys if k not in table]
        if missing:
            raise StateError(f"checkpoint {checkpoint.seq} of partition {partition} (generation "
                             f"{checkpoint.generation}) references missing records: {', '.join(missing[:3])}")
        blob = b"".join(table[k] for k in keys)
        size += len(blob)
        try:
            models[model_id] = decode_snapshot(blob, kind)
        except StateError as exc:
            raise StateError(f"checkpoint {checkpoint.seq} of partition {partition}: state of model "
                             f"{model_id}: {exc}") from None
        referenced.update(keys)
    return Restored(checkpoint, models, [k for k in partition_keys(table, partition) if k not in referenced], size)


class CheckpointStore:
    """Reads and writes checkpoints of input partitions in a compacted topic."""

    def __init__(self, kafka: KafkaConfig, topic: str, partitions: int, kind: str = "model",
                 timeout: float = 60.0) -> None:
        self.table = CompactedTable(kafka, topic, partitions)
        self.kind = kind  # the snapshot kind of a model's state
        self.timeout = timeout
        self._partitions: int | None = None  # of the checkpoint topic, as the broker has it

    async def ensure_topic(self) -> None:
        await self.table.ensure_topic(compact=True, configs=TOPIC_CONFIG)

    async def load(self, partition: int) -> Restored:
        """The newest checkpoint of input ``partition``; raises StateError if it cannot be used."""
        table = await self.table.load(self.timeout, partitions=[await self._placement(partition)])
        return read_partition(table, partition, self.kind)

    async def _placement(self, partition: int) -> int:
        """The checkpoint topic's partition that holds input ``partition``'s records."""
        if self._partitions is None:
            self._partitions = await self.table.partition_count(self.timeout)
        return partition % self._partitions

    async def write(self, partition: int, generation: int, offsets: Mapping[str, int],
                    changed: Mapping[str, bytes], dropped: set[str] = frozenset(),  # type: ignore[assignment]
                    previous: Checkpoint | None = None, garbage: list[bytes] = ()) -> Checkpoint:  # type: ignore[assignment]
        """Write the ``changed`` models' states (model_id -> a snapshot of :attr:`kind`, see
        :func:`~driftline.state.codec.encode_snapshot`) and a commit; see the module doc."""
        if previous is not None:
            moved_back = {t: (previous.offsets[t], o) for t, o in offsets.items()
                          if t in previous.offsets and o < previous.offsets[t]}
            if moved_back:
                raise StateError(f"checkpoint of partition {partition} would move offsets back: {moved_back}")
        seq = (previous.seq + 1) if previous is not None else 1
        models = dict(previous.models) if previous is not None else {}
        superseded: list[bytes] = []
        records: list[tuple[bytes, bytes | None]] = []
        # 1. the changed models' states, under keys no earlier checkpoint used
        for model_id, snapshot in changed.items():
            parts = split(snapshot)
            if model_id in models:
                superseded.extend(models[model_id].keys(partition, model_id))
            models[model_id] = Location(generation, seq, len(parts))
            records.extend((model_key(partition, generation, seq, i, model_id), part)
                           for i, part in enumerate(parts))
        for model_id in dropped:
            location = models.pop(model_id, None)
            if location is not None:
                superseded.extend(location.keys(partition, model_id))
        # 2. the commit, after them; acks=all for all of it
        checkpoint = Checkpoint(partition, generation, seq, dict(offsets), models, time.time())
        records.append((commit_key(partition, generation), encode_snapshot(COMMIT, msgspec.to_builtins(checkpoint))))
        placement = await self._placement(partition)
        await self.table.put_many(records, partition=placement)
        # 3. only now is the old state unreferenced
        if previous is not None and previous.generation != generation:
            superseded.append(commit_key(partition, previous.generation))
        tombstones = [(key, None) for key in [*superseded, *garbage] if key != commit_key(partition, generation)]
        await self.table.put_many(tombstones, partition=placement)
        return checkpoint

    async def close(self) -> None:
        await self.table.close()
