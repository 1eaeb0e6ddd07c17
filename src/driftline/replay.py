"""Replay a JSON-lines file of events to the input topics: ``driftline replay FILE``.

Each line holds one event object or an envelope ``{"events": [...]}``; ``-`` reads stdin and a
``.gz`` file is decompressed on the fly. Events go out through :meth:`AsyncProducer.send`, which
waits for room in the buffer rather than dropping, at most ``rate`` events per second.

>>> now = [0.0]
>>> async def sleep(seconds):
...     now[0] += seconds
>>> bucket = TokenBucket(100.0, clock=lambda: now[0], sleep=sleep)
>>> async def take(n):
...     for _ in range(n):
...         await bucket.take()
>>> asyncio.run(take(101)); round(now[0], 2)
1.0
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

import msgspec
from tqdm import tqdm

from driftline.client import AsyncProducer
from driftline.events.schema import EventKind

log = logging.getLogger(__name__)

MAX_SKIPPED_LINES = 10  # line numbers of skipped lines kept for the summary
_COUNT_LIMIT_BYTES = 256 * 1024 * 1024  # count the lines of files up to this size for the progress bar
_YIELD_EVERY = 500  # lines between yields to the loop, so the producer sends while we read


class TokenBucket:
    """At most ``rate`` takes per second on average, in bursts of at most a twentieth of a second's worth.

    Parameters
    ----------
    rate
        Tokens per second, > 0.
    clock, sleep
        Injected for tests: a monotonic clock in seconds and an async sleep.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0 events per second, got {rate!r}")
        self.rate = rate
        self.capacity = max(1.0, rate / 20)
        self._step = max(1.0, rate / 100)  # wait for this many tokens at once, not for each one
        self._clock = clock
        self._sleep = sleep
        self._tokens = 1.0
        self._last = clock()

    async def take(self) -> None:
        """Take one token, waiting until one is there."""
        while True:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1.0 - 1e-9:  # tolerate rounding, or a fake clock could never get there
                self._tokens -= 1.0
                return
            await self._sleep((self._step - self._tokens) / self.rate)


@dataclass
class ReplaySummary:
    """What a replay did. ``sent_by_kind`` counts events the producer accepted; ``dropped`` is the
    producer's drop count during the replay (e.g. ``invalid`` events, ``send_failed`` batches)."""

    lines: int = 0
    sent_by_kind: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    skipped_lines: list[int] = field(default_factory=list)
    dropped: int = 0
    elapsed_seconds: float = 0.0
    rate: float = 0.0

    @property
    def sent(self) -> int:
        return sum(self.sent_by_kind.values())

    def __str__(self) -> str:
        counts = [f"{self.sent_by_kind[k.value]:,} {k.value}" for k in EventKind if self.sent_by_kind.get(k.value)]
        kinds = ", ".join(counts[:-1]) + (" and " if len(counts) > 1 else "") + (counts[-1] if counts else "no")
        text = (f"Replayed {self.lines:,} lines in {self.elapsed_seconds:.1f} s: sent {kinds} events "
                f"({self.rate:,.0f} events/s).")
        if self.skipped:
            more = ", ..." if self.skipped > len(self.skipped_lines) else ""
            where = ", ".join(str(n) for n in self.skipped_lines)
            what = "line that is not a JSON object" if self.skipped == 1 else "lines that are not JSON objects"
            text += f" Skipped {self.skipped:,} {what} ({what.split()[0]} {where}{more})."
        if self.dropped:
            text += f" The producer dropped {self.dropped:,} events (see its stats for the reasons)."
        return text


def infer_kind(event: dict[str, Any]) -> EventKind:
    """label if it has ``label`` and no ``features``; prediction if it has ``prediction``; else feature."""
    if "label" in event and "features" not in event:
        return EventKind.LABEL
    return EventKind.PREDICTION if "prediction" in event else EventKind.FEATURE


def parse_line(line: bytes) -> list[dict[str, Any]] | None:
    """The events of one line: [] for a blank line, None for a line that is not an event or envelope."""
    if not line.strip():
        return []
    try:
        value = msgspec.json.decode(line)
    except msgspec.DecodeError:
        try:  # NaN, Infinity: the worker reads them as missing values, so accept them too
            value = json.loads(line)
        except (ValueError, RecursionError):
            return None
    if not isinstance(value, dict):
        return None
    if "events" not in value:
        return [value]
    events = value["events"]
    if isinstance(events, list) and all(isinstance(event, dict) for event in events):
        return events
    return None


@contextmanager
def _open_lines(path: str | Path) -> Iterator[IO[bytes]]:
    if str(path) == "-":
        yield sys.stdin.buffer
    elif str(path).endswith(".gz"):
        with gzip.open(path, "rb") as file:
            yield file
    else:
        with open(path, "rb") as file:
            yield file


def _count_lines(path: str | Path) -> int | None:
    """The number of lines of a plain file small enough to count cheaply, else None."""
    if str(path) == "-" or str(path).endswith(".gz"):
        return None
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > _COUNT_LIMIT_BYTES:
            return None
        count, last = 0, b"\n"
        with open(path, "rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                count += chunk.count(b"\n")
                last = chunk[-1:]
        return count + (last != b"\n")
    except OSError:
        return None


async def replay(path: str | Path, producer: AsyncProducer, *, rate: float | None = None,
                 kind: EventKind | str | None = None, progress: bool = True,
                 stream: TextIO | None = None) -> ReplaySummary:
    """Send the events of the JSON-lines file ``path`` with ``producer``, then flush it.

    Parameters
    ----------
    path
        A file, a ``.gz`` file, or ``-`` for stdin.
    producer
        A started producer; :meth:`AsyncProducer.send` waits for buffer room, so nothing is dropped
        for lack of it.
    rate
        At most this many events per second (smoothly, not a burst each second); None: as fast as possible.
    kind
        The kind of every event; None infers it per event (:func:`infer_kind`).
    progress, stream
        A tqdm progress bar of lines on ``stream`` (default: sys.stderr at call time).
    """
    fixed_kind = EventKind(kind) if kind is not None else None
    bucket = TokenBucket(rate) if rate is not None else None
    summary = ReplaySummary()
    dropped_before = producer.stats.dropped_total
    start = time.monotonic()
    total = _count_lines(path) if progress else None
    with _open_lines(path) as lines, tqdm(total=total, file=stream or sys.stderr, disable=not progress,
                                          unit=" lines", mininterval=0.5) as bar:
        for number, line in enumerate(lines, 1):
            summary.lines = number
            bar.update()
            events = parse_line(line)
            if events is None:
                summary.skipped += 1
                if len(summary.skipped_lines) < MAX_SKIPPED_LINES:
                    summary.skipped_lines.append(number)
            else:
                await _send_all(events, producer, summary.sent_by_kind, fixed_kind, bucket)
            if number % _YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the producer's sender run while we read
    await producer.flush()
    summary.dropped = producer.stats.dropped_total - dropped_before
    summary.elapsed_seconds = time.monotonic() - start
    summary.rate = summary.sent / summary.elapsed_seconds if summary.elapsed_seconds > 0 else 0.0
    if summary.skipped:
        log.info("replay of %s: skipped %d lines that are not JSON objects", path, summary.skipped)
    return summary


async def _send_all(events: list[dict[str, Any]], producer: AsyncProducer, sent_by_kind: dict[str, int],
                    kind: EventKind | None, bucket: TokenBucket | None) -> None:
    for event in events:
        if bucket is not None:
            await bucket.take()
        event_kind = kind or infer_kind(event)
        if await producer.send(event_kind, event):
            sent_by_kind[event_kind.value] = sent_by_kind.get(event_kind.value, 0) + 1
