"""The stage interface and its combinators, after Alertmanager's ``notify/notify.go``.

A stage takes a context and a notification and returns them, possibly changed, or
``None`` in place of the notification when nothing is left to send::

    ctx, notification = await stage.exec(ctx, notification)

Errors are raised, never returned: a :class:`~driftline.error.NotifyError` says whether
trying again may help. The combinators:

* :class:`MultiStage` runs stages in order and stops at the first ``None``;
* :class:`FanoutStage` runs branches side by side on the same notification; a branch
  that fails does not stop the others, and the failures are raised together at the end;
* :class:`RoutingStage` hands a notification to the chain of its receiver.

The context is a frozen dataclass: a stage that wants to tell a later stage something
returns ``dataclasses.replace(ctx, ...)``.

>>> import asyncio
>>> class Upper:
...     async def exec(self, ctx, n):
...         return ctx, n.upper()
>>> class Drop:
...     async def exec(self, ctx, n):
...         return ctx, None
>>> ctx = NotifyContext(receiver="slack", group_key="g", route_id="route", now=0.0)
>>> asyncio.run(MultiStage([Upper(), Upper()]).exec(ctx, "x"))[1]
'X'
>>> asyncio.run(MultiStage([Drop(), Upper()]).exec(ctx, "x"))[1] is None
True
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence

from driftline.alerting.group import Notification
from driftline.error import NotifyError, PermanentNotifyError, RetryableNotifyError

log = logging.getLogger(__name__)

DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


@dataclass(frozen=True)
class NotifyContext:
    """What a stage knows besides the notification itself."""

    receiver: str
    group_key: str
    route_id: str
    now: float  # epoch seconds of the flush that produced the notification
    repeat_interval: float = DEFAULT_REPEAT_INTERVAL  # of the notification's route, for dedup
    attempt: int = 0  # 1 for the first delivery attempt, set by RetryStage

    @classmethod
    def of(cls, notification: Notification, now: float,
           repeat_interval: float = DEFAULT_REPEAT_INTERVAL) -> NotifyContext:
        """The context of one notification flushed at ``now`` from a route with ``repeat_interval``."""
        return cls(notification.receiver, notification.group_key, notification.route_id, now, repeat_interval)


class Stage(Protocol):
    """One step of the pipeline."""

    async def exec(self, ctx: NotifyContext, notification: Any) -> tuple[NotifyContext, Any | None]:
        """Return the context and what is left to send, or ``None`` when nothing is."""
        ...


class MultiStage:
    """Stages in order; stops at the first that leaves nothing to send."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = tuple(stages)

    async def exec(self, ctx: NotifyContext, notification: Any) -> tuple[NotifyContext, Any | None]:
        for stage in self.stages:
            ctx, notification = await stage.exec(ctx, notification)
            if notification is None:
                return ctx, None
        return ctx, notification


class FanoutStage:
    """Branches side by side on the same notification; one failing does not stop the others.

    Returns the notification if any branch sent it (``None`` if every branch dropped it).
    Failures are raised after every branch has finished: one failure as it is, several
    as one error that is retryable only if all of them are.
    """

    def __init__(self, branches: Sequence[Stage]) -> None:
        self.branches = tuple(branches)

    async def exec(self, ctx: NotifyContext, notification: Any) -> tuple[NotifyContext, Any | None]:
        results = await asyncio.gather(*(b.exec(ctx, notification) for b in self.branches), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for error in errors:
            if not isinstance(error, Exception):
                raise error  # cancellation and the like are not ours to collect
        if errors:
            raise combine(errors)
        sent = any(r[1] is not None for r in results if isinstance(r, tuple))
        return ctx, notification if sent else None


class RoutingStage:
    """Hands each notification to the chain of its receiver (``ctx.receiver``)."""

    def __init__(self, chains: Mapping[str, Stage]) -> None:
        self.chains = dict(chains)

    async def exec(self, ctx: NotifyContext, notification: Any) -> tuple[NotifyContext, Any | None]:
        chain = self.chains.get(ctx.receiver)
        if chain is None:
            raise PermanentNotifyError(f"receiver {ctx.receiver!r}: no such receiver")
        return await chain.exec(ctx, notification)


def combine(errors: Sequence[BaseException]) -> Exception:
    """One error for several: retryable only if every one of them is."""
    if len(errors) == 1 and isinstance(errors[0], Exception):
        return errors[0]
    message = "; ".join(_describe(e) for e in errors)
    if all(isinstance(e, RetryableNotifyError) for e in errors):
        waits = [e.retry_after for e in errors if isinstance(e, RetryableNotifyError) and e.retry_after is not None]
        return RetryableNotifyError(message, retry_after=max(waits) if waits else None)
    return PermanentNotifyError(message)


def _describe(error: BaseException) -> str:
    # Only our own errors' messages are known to be free of secrets.
    return str(error) if isinstance(error, NotifyError) else f"unexpected {type(error).__name__}"
