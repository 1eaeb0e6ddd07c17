"""RetryStage: deliver through a channel, trying again while trying again may help.

As Alertmanager's ``retry_stage.go``: a :class:`~driftline.error.RetryableNotifyError`
(5xx, 429, connection errors, timeouts) is retried with exponential backoff and jitter
until ``max_elapsed`` seconds have passed since the first attempt; a
:class:`~driftline.error.PermanentNotifyError` is raised at once. A ``retry_after``
on the error (a 429's ``Retry-After``) replaces the backoff delay for that wait. When
the next wait would end past ``max_elapsed`` the stage gives up and raises a retryable
error, so that whoever drives the pipeline may try again later.

Clock, sleeper and random numbers are injected, so tests run without sleeping.

>>> import random
>>> policy = RetryPolicy(initial_delay=1.0, multiplier=2.0, max_delay=5.0, jitter=0.0)
>>> [policy.delay(n, random.Random(0)) for n in range(5)]
[1.0, 2.0, 4.0, 5.0, 5.0]
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import random
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from driftline.alerting.group import Notification
from driftline.error import NotifyError, PermanentNotifyError, RetryableNotifyError
from driftline.notify.channel import Channel, OnOutcome, Outcome
from driftline.notify.stage import NotifyContext

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: wait ``initial_delay * multiplier**n``, at most ``max_delay``,
    scaled by a random factor in ``[1 - jitter, 1 + jitter]``; stop after ``max_elapsed`` seconds."""

    initial_delay: float = 0.5
    multiplier: float = 1.5
    max_delay: float = 60.0
    max_elapsed: float = 300.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.initial_delay <= 0 or self.multiplier < 1 or self.max_delay <= 0 or self.max_elapsed < 0:
            raise ValueError("retry policy: delays must be > 0, multiplier >= 1, max_elapsed >= 0")
        if not 0 <= self.jitter < 1:
            raise ValueError("retry policy: jitter must be in [0, 1)")

    def delay(self, retry: int, rng: random.Random) -> float:
        """The wait before retry number ``retry`` (0 for the first)."""
        base = min(self.max_delay, self.initial_delay * self.multiplier ** min(retry, 64))
        return base * (1 + self.jitter * (2 * rng.random() - 1))


class RetryStage:
    """Calls ``channel.notify`` until it succeeds, fails for good, or the time is up."""

    def __init__(self, channel: Channel, *, policy: RetryPolicy | None = None, on_outcome: OnOutcome | None = None,
                 sleep: Sleep = asyncio.sleep, clock: Clock = time.monotonic, rng: random.Random | None = None) -> None:
        self.channel = channel
        self.policy = policy or RetryPolicy()
        self.on_outcome = on_outcome
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()

    async def exec(self, ctx: NotifyContext, notification: Notification) -> tuple[NotifyContext, Notification | None]:
        start, where = self.clock(), f"receiver {ctx.receiver!r} ({self.channel.kind})"
        for attempt in itertools.count(1):
            ctx = dataclasses.replace(ctx, attempt=attempt)
            try:
                await self.channel.notify(ctx, notification)
                return ctx, notification
            except RetryableNotifyError as exc:
                delay = exc.retry_after if exc.retry_after is not None else self.policy.delay(attempt - 1, self.rng)
                elapsed = self.clock() - start
                if elapsed + delay > self.policy.max_elapsed:
                    self._count("failure")
                    raise RetryableNotifyError(
                        f"{where}: gave up after {attempt} attempt(s) in {elapsed:.1f}s: {exc}",
                        retry_after=exc.retry_after) from exc
                self._count("retry")
                log.warning("%s: attempt %d failed, retrying in %.2fs: %s", where, attempt, delay, exc)
                await self.sleep(delay)
            except NotifyError:
                self._count("failure")
                raise
            except Exception as exc:  # a bug in a channel: never retried, never quoted (it may hold a secret)
                self._count("failure")
                raise PermanentNotifyError(f"{where}: unexpected {type(exc).__name__} in the channel") from exc
        raise AssertionError("unreachable")  # pragma: no cover - count() never ends

    def _count(self, outcome: Outcome) -> None:
        if self.on_outcome is not None:
            self.on_outcome(self.channel.kind, outcome)
