"""Encoded events grouped into envelopes per (topic, model_id): one :class:`Batch` is one Kafka message."""

from __future__ import annotations

import asyncio
from collections import deque

from driftline.client.encoding import _CLOSE, _OPEN


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
