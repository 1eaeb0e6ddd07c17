"""Fixtures shared by every test: a real broker per session, and a topic prefix per test."""

from __future__ import annotations

import uuid
from typing import Any, Iterator

import pytest

from tests.support.kafka import broker_kind, start_broker


@pytest.fixture(scope="session")
def broker() -> Iterator[Any]:
    """A real Kafka broker (embedded Tansu, or Apache Kafka with DRIFTLINE_TEST_KAFKA=apache)."""
    started = start_broker()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def bootstrap(broker: Any) -> str:
    return broker.bootstrap_servers


@pytest.fixture
def prefix() -> str:
    """A topic prefix (and consumer group) of this test's own, so tests never see each other's data."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def kafka_kind() -> str:
    return broker_kind()
