"""Silences: mute alerts that match for a while, as Alertmanager's silences do.

A :class:`Silence` is a record of the compacted ``<prefix>.silences`` topic (keyed by
its id). It is never deleted by editing: expiring it early moves ``ends_at`` to now
and bumps ``updated_at``, and the new record replaces the old one. A
:class:`SilenceSet` applies such records in any order and any number of times and
converges: the record with the latest ``updated_at`` wins (ties: the larger encoding,
so every reader picks the same one).

A silence is active while ``starts_at <= now < ends_at``. As in Alertmanager it needs
at least one matcher that does not match the empty label, so that no silence can mute
everything by accident.

>>> s = Silence.new(["model_id=fraud-detector", "severity=warning"], starts_at=100.0, ends_at=200.0,
...                 created_by="ana", comment="retraining", now=100.0, id="s1")
>>> silences = SilenceSet([s])
>>> silences.mutes({"model_id": "fraud-detector", "severity": "warning"}, now=150.0)
's1'
>>> silences.mutes({"model_id": "fraud-detector", "severity": "warning"}, now=200.0) is None
True
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Iterable, Iterator, Mapping

import msgspec

from driftline.alerting.matcher import Matcher, matches_all
from driftline.error import DecodeError

Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


class Silence(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One silence, as written to ``<prefix>.silences`` (keyed by ``id``)."""

    id: str
    matchers: list[str]
    starts_at: Timestamp
    ends_at: Timestamp
    created_by: str
    comment: str
    created_at: Timestamp
    updated_at: Timestamp

    def __post_init__(self) -> None:
        parsed = compiled(tuple(self.matchers))  # raises ValueError on a bad matcher
        if not any(not m.matches({}) for m in parsed):
            raise ValueError("a silence needs at least one matcher that does not match an empty label")
        if self.ends_at < self.starts_at:
            raise ValueError("ends_at is before starts_at")

    @classmethod
    def new(cls, matchers: Iterable[str], *, starts_at: float, ends_at: float, created_by: str,
            comment: str, now: float, id: str | None = None) -> Silence:
        """A new silence; raises ValueError when it is invalid."""
        return cls(id=id or str(uuid.uuid4()), matchers=list(matchers), starts_at=at(starts_at),
                   ends_at=at(ends_at), created_by=created_by, comment=comment,
                   created_at=at(now), updated_at=at(now))

    def active(self, now: float) -> bool:
        return self.starts_at.timestamp() <= now < self.ends_at.timestamp()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return matches_all(compiled(tuple(self.matchers)), labels)

    def expired(self, now: float) -> Silence:
        """This silence ended at ``now`` (a pending one starts and ends at ``now``).

        The update is always newer than the record it updates, even on a clock behind the creator's.
        """
        end = at(now)
        updated = max(end, self.updated_at + timedelta(milliseconds=1))
        return msgspec.structs.replace(self, starts_at=min(self.starts_at, end),
                                       ends_at=min(self.ends_at, end), updated_at=updated)

    def encode(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def decode(cls, raw: bytes) -> Silence:
        """A silence from its JSON; raises DecodeError with reason ``invalid_silence``."""
        try:
            return msgspec.json.decode(raw, type=cls)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise DecodeError("invalid_silence", str(exc)) from exc


@functools.lru_cache(maxsize=4096)
def compiled(matchers: tuple[str, ...]) -> tuple[Matcher, ...]:
    return tuple(Matcher.parse(text) for text in matchers)


class SilenceSet:
    """The current silences, by id."""

    def __init__(self, silences: Iterable[Silence] = ()) -> None:
        self._silences: dict[str, Silence] = {}
        for silence in silences:
            self.apply(silence)

    def apply(self, silence: Silence) -> bool:
        """Take a silence record in; returns whether it changed anything. Idempotent, order-free."""
        current = self._silences.get(silence.id)
        if current is not None and (current.updated_at, current.encode()) >= (silence.updated_at, silence.encode()):
            return False
        self._silences[silence.id] = silence
        return True

    add = apply

    def remove(self, silence_id: str) -> None:
        """Forget a silence (a tombstone on the compacted topic)."""
        self._silences.pop(silence_id, None)

    def get(self, silence_id: str) -> Silence | None:
        return self._silences.get(silence_id)

    def expire(self, silence_id: str, now: float) -> Silence | None:
        """End a silence now; returns the updated record to publish, or None if unknown or already over."""
        current = self._silences.get(silence_id)
        if current is None or current.ends_at.timestamp() <= now:
            return None
        expired = current.expired(now)
        self.apply(expired)
        return expired

    def active(self, now: float) -> list[Silence]:
        return sorted((s for s in self._silences.values() if s.active(now)), key=lambda s: s.id)

    def mutes(self, labels: Mapping[str, str], now: float) -> str | None:
        """The id of an active silence that matches ``labels``, or None."""
        return next((s.id for s in self.active(now) if s.matches(labels)), None)

    def collect(self, now: float, retention: float) -> list[str]:
        """Forget silences that ended more than ``retention`` seconds ago; returns their ids."""
        old = [sid for sid, s in self._silences.items() if s.ends_at.timestamp() + retention <= now]
        for sid in old:
            del self._silences[sid]
        return old

    def __iter__(self) -> Iterator[Silence]:
        return iter(list(self._silences.values()))

    def __len__(self) -> int:
        return len(self._silences)

    def to_state(self) -> list[Any]:
        return [msgspec.to_builtins(s) for s in self._silences.values()]

    @classmethod
    def from_state(cls, state: Iterable[Any]) -> SilenceSet:
        return cls(msgspec.convert(item, Silence) for item in state)
