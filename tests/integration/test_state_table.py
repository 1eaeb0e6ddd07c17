"""Compacted tables read back to the end, on both brokers."""

from __future__ import annotations

import pytest

from driftline.config import KafkaConfig
from driftline.state.table import CompactedTable

pytestmark = pytest.mark.integration


async def test_an_empty_table_loads_at_once(bootstrap, prefix):
    table = CompactedTable(KafkaConfig(bootstrap_servers=bootstrap), f"{prefix}.table", partitions=2)
    await table.ensure_topic()
    assert await table.load(timeout=20) == {}


async def test_latest_value_per_key_wins_and_tombstones_delete(bootstrap, prefix):
    table = CompactedTable(KafkaConfig(bootstrap_servers=bootstrap), f"{prefix}.table")
    await table.ensure_topic()
    await table.ensure_topic()  # idempotent
    try:
        for i in range(50):
            await table.put(b"k%d" % (i % 5), b"v%d" % i)
        await table.put(b"k0", None)
    finally:
        await table.close()
    assert await table.load(timeout=20) == {b"k1": b"v46", b"k2": b"v47", b"k3": b"v48", b"k4": b"v49"}
