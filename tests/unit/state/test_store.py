"""The checkpoint store's record layout, against an in-memory stand-in for the compacted topic."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.config import KafkaConfig
from driftline.error import StateError
from driftline.state.codec import encode_snapshot
from driftline.state.store import CheckpointStore, commit_key, model_key, split


class MemoryTopic:
    """A compacted topic's log in memory: records appended per partition, read back key -> latest."""

    def __init__(self, partitions: int = 2) -> None:
        self.log: dict[int, list[tuple[bytes, bytes | None]]] = {p: [] for p in range(partitions)}
        self.fail_after: int | None = None  # records accepted before the "broker" goes away

    async def partition_count(self, timeout: float = 60.0) -> int:
        return len(self.log)

    async def put_many(self, records: list[tuple[bytes, bytes | None]], partition: int | None = None) -> None:
        assert partition is not None
        for record in records:
            if self.fail_after is not None:
                if self.fail_after == 0:
                    raise ConnectionError("broker gone")
                self.fail_after -= 1
            self.log[partition].append(record)

    async def load(self, timeout: float = 60.0, partitions=None) -> dict[bytes, bytes]:
        table: dict[bytes, bytes] = {}
        for p in partitions if partitions is not None else self.log:
            for key, value in self.log[p]:
                if value is None:
                    table.pop(key, None)
                else:
                    table[key] = value
        return table

    async def close(self) -> None:
        pass


def store(topic: MemoryTopic | None = None) -> CheckpointStore:
    s = CheckpointStore(KafkaConfig(), "t.checkpoints", 2)
    s.table = topic or MemoryTopic()  # type: ignore[assignment]
    return s


def state(n: float) -> bytes:
    return encode_snapshot("model", {"count": n, "hist": np.arange(4, dtype=np.int64) * int(n)})


async def test_a_written_checkpoint_reads_back_with_its_offsets():
    s = store()
    written = await s.write(3, generation=7, offsets={"in": 10}, changed={"a": state(1), "b": state(2)})
    restored = await s.load(3)
    assert restored.checkpoint == written and restored.checkpoint.offsets == {"in": 10}
    assert restored.models["b"]["count"] == 2 and restored.models["b"]["hist"].tolist() == [0, 2, 4, 6]
    assert restored.garbage == []
    assert (await s.load(1)).checkpoint is None  # the same checkpoint partition (3 mod 2), another input partition


async def test_only_changed_models_are_rewritten_and_their_old_records_tombstoned():
    topic = MemoryTopic()
    s = store(topic)
    first = await s.write(0, 1, {"in": 5}, {"a": state(1), "b": state(2)})
    second = await s.write(0, 1, {"in": 9}, {"a": state(3)}, previous=first)
    assert second.models["b"] == first.models["b"] and second.models["a"].seq == 2
    restored = await s.load(0)
    assert (restored.models["a"]["count"], restored.models["b"]["count"]) == (3, 2)
    table = await topic.load()
    assert model_key(0, 1, 1, 0, "a") not in table and model_key(0, 1, 1, 0, "b") in table
    third = await s.write(0, 1, {"in": 9}, {}, dropped={"b"}, previous=second)
    assert set(third.models) == {"a"} and model_key(0, 1, 1, 0, "b") not in await topic.load()


async def test_a_zombie_of_an_older_generation_never_wins():
    s = store()
    owner = await s.write(0, 5, {"in": 100}, {"a": state(100)})
    await s.write(0, 4, {"in": 120}, {"a": state(120)})  # the stalled worker wakes up and writes on
    restored = await s.load(0)
    assert restored.checkpoint == owner and restored.models["a"]["count"] == 100
    assert commit_key(0, 4) in restored.garbage  # the next checkpoint of the owner removes it


async def test_a_checkpoint_torn_by_a_crash_leaves_the_previous_one_intact():
    topic = MemoryTopic()
    s = store(topic)
    first = await s.write(0, 1, {"in": 5}, {"a": state(1)})
    topic.fail_after = 1  # the new state of "a" is written, its commit is not
    with pytest.raises(ConnectionError):
        await s.write(0, 1, {"in": 9}, {"a": state(2)}, previous=first)
    topic.fail_after = None
    restored = await s.load(0)
    assert restored.checkpoint == first and restored.models["a"]["count"] == 1
    assert restored.garbage == [model_key(0, 1, 2, 0, "a")]
    await s.write(0, 2, {"in": 9}, {"a": state(2)}, previous=restored.checkpoint, garbage=restored.garbage)
    assert set(await topic.load()) == {commit_key(0, 2), model_key(0, 2, 2, 0, "a")}


async def test_offsets_never_move_back():
    s = store()
    first = await s.write(0, 1, {"in": 5}, {"a": state(1)})
    with pytest.raises(StateError, match="move offsets back"):
        await s.write(0, 1, {"in": 4}, {}, previous=first)


async def test_a_large_state_is_split_into_records_under_the_size_limit():
    s = store()
    big = np.arange(400_000, dtype=np.float64)  # 3.2 MB
    written = await s.write(0, 1, {"in": 1}, {"a": encode_snapshot("model", {"values": big})})
    assert written.models["a"].parts == 4
    assert np.array_equal((await s.load(0)).models["a"]["values"], big)
    assert split(b"") == [b""] and split(b"abcde", 2) == [b"ab", b"cd", b"e"]


async def test_a_poison_checkpoint_fails_loudly():
    topic = MemoryTopic()
    s = store(topic)
    await s.write(0, 1, {"in": 1}, {"a": state(1)})
    topic.log[0].append((model_key(0, 1, 1, 0, "a"), b"\x00garbage"))
    with pytest.raises(StateError, match="state of model a"):
        await s.load(0)
    topic.log[0].append((model_key(0, 1, 1, 0, "a"), None))
    with pytest.raises(StateError, match="references missing records"):
        await s.load(0)
    topic.log[0].append((commit_key(0, 1), b"not a snapshot"))
    with pytest.raises(StateError, match="unreadable"):
        await s.load(0)
