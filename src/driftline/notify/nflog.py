"""The notification log: what was last sent to each receiver for each group.

As Alertmanager's ``nflog``: one entry per (receiver, group key) with the alerts that
were firing and resolved in the last notification and when it went out. The dedup stage
reads it, the record stage writes it. :class:`LogEntry` is a msgspec struct that encodes
to JSON, so the log can live in a compacted topic keyed by :meth:`LogEntry.log_key`
and survive restarts; :class:`InMemoryNotificationLog` is the in-process version.

An alert is identified by its fingerprint and ``starts_at``: an alert that resolves and
later fires again is a new alert, and is notified even to receivers that never heard of
its resolution (``send_resolved: false``).

>>> entry = LogEntry(receiver="slack", group_key="g", firing=("f1@t0",), resolved=(), timestamp=10.0)
>>> LogEntry.decode(entry.encode()) == entry
True
>>> entry.encode()
b'{"receiver":"slack","group_key":"g","firing":["f1@t0"],"resolved":[],"timestamp":10.0}'
>>> LogEntry.log_key("slack", "g")
b'["slack","g"]'
"""

from __future__ import annotations

from typing import Iterable, Protocol

import msgspec

from driftline.alerting.model import AlertRecord


def alert_key(alert: AlertRecord) -> str:
    """One alert, from when it started firing: fingerprint and starts_at."""
    return f"{alert.fingerprint}@{alert.starts_at}"


def alert_keys(alerts: Iterable[AlertRecord]) -> tuple[str, ...]:
    return tuple(sorted({alert_key(a) for a in alerts}))


class LogEntry(msgspec.Struct, frozen=True, kw_only=True):
    """The last notification of one group to one receiver."""

    receiver: str
    group_key: str
    firing: tuple[str, ...]  # sorted alert keys
    resolved: tuple[str, ...]
    timestamp: float  # epoch seconds of the flush that was sent

    def is_firing_subset(self, keys: Iterable[str]) -> bool:
        """Were all of ``keys`` firing in this entry?"""
        return set(keys) <= set(self.firing)

    def is_resolved_subset(self, keys: Iterable[str]) -> bool:
        return set(keys) <= set(self.resolved)

    def encode(self) -> bytes:
        return _encoder.encode(self)

    @classmethod
    def decode(cls, raw: bytes) -> LogEntry:
        return _decoder.decode(raw)

    @staticmethod
    def log_key(receiver: str, group_key: str) -> bytes:
        """The key of the entry in a compacted topic: unambiguous whatever the names hold."""
        return _encoder.encode([receiver, group_key])


class NotificationLog(Protocol):
    """Where entries are kept; ``put`` replaces the entry of the same (receiver, group key)."""

    def get(self, receiver: str, group_key: str) -> LogEntry | None: ...

    def put(self, entry: LogEntry) -> None: ...


class InMemoryNotificationLog:
    """A notification log in a dict; entries older than ``retention`` seconds can be dropped."""

    def __init__(self, retention: float = 5 * 24 * 3600.0) -> None:
        self.retention = retention
        self._entries: dict[tuple[str, str], LogEntry] = {}

    def get(self, receiver: str, group_key: str) -> LogEntry | None:
        return self._entries.get((receiver, group_key))

    def put(self, entry: LogEntry) -> None:
        self._entries[(entry.receiver, entry.group_key)] = entry

    def gc(self, now: float) -> int:
        """Drop entries older than the retention; returns how many."""
        old = [key for key, entry in self._entries.items() if entry.timestamp < now - self.retention]
        for key in old:
            del self._entries[key]
        return len(old)

    def __len__(self) -> int:
        return len(self._entries)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(LogEntry)
