"""Outbox: per receiver, notifications delivered one at a time, in the order they were flushed.

Whoever drives the pipeline hands each due notification to :meth:`Outbox.put` and goes on
with its work: each receiver has its own queue and its own delivery task, so a receiver that
is down or slow holds up its own notifications only -- never another receiver's, and never
the reading of new alerts.

Within a receiver, order is kept. The head of its queue goes through the receiver's chain
(whose RetryStage backs off and retries); when RetryStage gives up with a retryable error,
the head stays where it is and is tried again after ``pause`` seconds (or the error's
``retry_after``, if longer), and the notifications behind it wait. So a receiver that is down
for minutes gets its notifications afterwards, in order, each once. A permanent error ends
the head's turn: it is reported and the next one goes.

``on_done(delivery)`` is called once per notification that is delivered (``sent``; ``None``
when the chain found nothing to send) or failed for good (``error``); nothing is reported
while a notification waits for its receiver to come back. :meth:`pending` lists what has
not been reported yet, queued or in flight, so that a checkpoint can treat it as unsent.

Clock and sleeper are injected, so tests run without waiting (tests/unit/notify/test_outbox.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Callable

from driftline.alerting.group import Notification
from driftline.error import NotifyError, PermanentNotifyError, RetryableNotifyError
from driftline.notify.pipeline import Delivery, NotificationPipeline
from driftline.notify.retry import Clock, Sleep

log = logging.getLogger(__name__)

OnDone = Callable[[Delivery], None]


class Outbox:
    """One queue and one delivery task per receiver."""

    def __init__(self, pipeline: NotificationPipeline, *, clock: Clock, sleep: Sleep, on_done: OnDone,
                 pause: float = 60.0) -> None:
        self.pipeline = pipeline
        self.clock = clock
        self.sleep = sleep
        self.on_done = on_done
        self.pause = pause
        self._queues: dict[str, deque[tuple[Notification, float]]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def put(self, notification: Notification, repeat_interval: float) -> None:
        """Queue ``notification`` behind its receiver's earlier ones; delivery starts at once if none wait."""
        receiver = notification.receiver
        self._queues.setdefault(receiver, deque()).append((notification, repeat_interval))
        task = self._tasks.get(receiver)
        if task is None or task.done():
            self._tasks[receiver] = asyncio.get_running_loop().create_task(
                self._deliver(receiver), name=f"driftline-outbox-{receiver}")

    def pending(self) -> list[Notification]:
        """Every notification not reported yet (queued or in flight), oldest first per receiver."""
        return [notification for queue in self._queues.values() for notification, _ in queue]

    def waiting(self, receiver: str) -> int:
        return len(self._queues.get(receiver, ()))

    async def close(self) -> None:
        """Stop delivering; what is pending is dropped unreported (a checkpoint has it as unsent)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._queues.clear()

    async def _deliver(self, receiver: str) -> None:
        queue = self._queues[receiver]
        while queue:
            notification, repeat_interval = queue[0]
            try:
                sent = await self.pipeline.send(notification, self.clock(), repeat_interval)
            except RetryableNotifyError as exc:
                wait = max(self.pause, exc.retry_after or 0.0)
                log.warning("receiver %s: %d notification(s) wait for it; trying again in %.0f s: %s",
                            receiver, len(queue), wait, exc)
                await self.sleep(wait)
                continue
            except NotifyError as exc:
                self._report(queue, Delivery(notification, error=exc))
                log.error("notification of group %s to receiver %s failed: %s",
                          notification.group_key, receiver, exc)
                continue
            except Exception as exc:  # a bug in a stage: never quoted (it may hold a secret), never retried
                self._report(queue, Delivery(notification, error=PermanentNotifyError(f"unexpected {type(exc).__name__}")))
                log.error("notification of group %s to receiver %s failed: unexpected %s",
                          notification.group_key, receiver, type(exc).__name__)
                continue
            self._report(queue, Delivery(notification, sent=sent))

    def _report(self, queue: deque[tuple[Notification, float]], delivery: Delivery) -> None:
        queue.popleft()
        try:
            self.on_done(delivery)
        except Exception:
            log.exception("outbox: reporting a delivery failed")
