"""The producers' counters: why an event was dropped, the stats snapshot, and rate-limited warnings."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("driftline.client")  # the one logger docs/client.md names, for the whole package


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
