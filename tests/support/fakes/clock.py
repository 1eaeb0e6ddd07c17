"""A virtual clock: time that moves only when a test moves it, and sleepers that wake when it has.

Inject ``clock`` and ``sleep`` where code takes a clock and a sleeper (the notifier, its
retry stage, the outbox); then ``await clock.run_until(check)`` moves time on in steps,
giving the code a moment of real time (for its network I/O) between steps, until ``check()``
holds -- or fails at a real-time deadline. Minutes of backoff and outage pass in a second.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Any, Callable

START = 1_790_000_000.0  # 2026-09-21, epoch seconds


class VirtualClock:
    """Epoch seconds that move only by :meth:`advance`; :meth:`sleep` waits for virtual time."""

    def __init__(self, start: float = START) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), future))
        await future

    def advance(self, seconds: float) -> None:
        """Move time on and wake every sleeper whose time has come."""
        self.now += seconds
        while self._sleepers and self._sleepers[0][0] <= self.now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    @property
    def sleeping(self) -> int:
        return sum(1 for _, _, future in self._sleepers if not future.done())

    async def run_until(self, check: Callable[[], Any], step: float = 5.0, timeout: float = 30.0,
                        what: str | Callable[[], str] = "condition", pause: float = 0.02) -> Any:
        """Advance ``step`` virtual seconds at a time until ``check()`` is truthy; fail after ``timeout`` real seconds.

        ``what`` (or what it returns, when it is a function) says what was awaited, for the failure.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                described = what() if callable(what) else what
                raise AssertionError(f"timed out after {timeout:g} s (virtual time +{self.now - START:.0f} s) "
                                     f"waiting for {described}")
            self.advance(step)
            await asyncio.sleep(pause)  # real time for the I/O the woken code does
