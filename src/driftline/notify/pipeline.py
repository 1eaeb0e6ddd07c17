"""NotificationPipeline: one chain of stages per receiver, and a way to run many notifications.

For each receiver, as Alertmanager's ``BuildPipeline`` (muting and waiting happen before,
in :class:`driftline.alerting.dispatch.Dispatcher`)::

    SendResolvedStage ► DedupStage ► RetryStage(channel) ► RecordStage

under a :class:`~driftline.notify.stage.RoutingStage` that picks the chain by receiver
name. Channels are built from the receivers when the pipeline is, so settings errors
(:class:`~driftline.error.ConfigError` naming the receiver and key) surface at start.
:meth:`NotificationPipeline.send_all` delivers the notifications of one flush side by
side and returns when all are done; the notifier does not wait like that, it hands
notifications to an :class:`~driftline.notify.outbox.Outbox` (one queue per receiver).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from driftline.alerting.group import Notification
from driftline.alerting.receiver import Receiver
from driftline.error import ConfigError, NotifyError, PermanentNotifyError
from driftline.notify.channel import Channel, ChannelFactory, OnOutcome
from driftline.notify.dedup import DedupStage
from driftline.notify.email import EmailNotifier
from driftline.notify.nflog import InMemoryNotificationLog, NotificationLog
from driftline.notify.pagerduty import PagerDutyNotifier
from driftline.notify.record import RecordStage
from driftline.notify.resolved import SendResolvedStage
from driftline.notify.retry import Clock, RetryPolicy, RetryStage, Sleep
from driftline.notify.settings import where_receiver
from driftline.notify.slack import SlackNotifier
from driftline.notify.stage import DEFAULT_REPEAT_INTERVAL, MultiStage, NotifyContext, RoutingStage, Stage
from driftline.notify.webhook import WebhookNotifier

log = logging.getLogger(__name__)

DEFAULT_FACTORIES: Mapping[str, ChannelFactory] = {
    "email": EmailNotifier,
    "slack": SlackNotifier,
    "pagerduty": PagerDutyNotifier,
    "webhook": WebhookNotifier,
}

RepeatInterval = float | Callable[[Notification], float]


@dataclass(frozen=True)
class Delivery:
    """What became of one notification: ``sent`` is what went out (None if nothing had to)."""

    notification: Notification
    sent: Notification | None = None
    error: NotifyError | None = None


def build_channel(receiver: Receiver, factories: Mapping[str, ChannelFactory] | None = None) -> Channel:
    """The channel of ``receiver``; ConfigError if its type has no factory or its settings are wrong."""
    factory = (factories if factories is not None else DEFAULT_FACTORIES).get(receiver.type)
    if factory is None:
        raise ConfigError(f"{where_receiver(receiver)}: no channel for type {receiver.type!r}")
    return factory(receiver)


class NotificationPipeline:
    """The stage chains of all receivers."""

    def __init__(self, receivers: Mapping[str, Receiver], *, log: NotificationLog | None = None,
                 factories: Mapping[str, ChannelFactory] | None = None, retry: RetryPolicy | None = None,
                 on_outcome: OnOutcome | None = None, sleep: Sleep = asyncio.sleep,
                 clock: Clock = time.monotonic, rng: random.Random | None = None) -> None:
        self.log = log if log is not None else InMemoryNotificationLog()
        self.channels = {name: build_channel(r, factories) for name, r in receivers.items()}
        rng = rng or random.Random()
        self.chains: dict[str, Stage] = {
            name: MultiStage([
                SendResolvedStage(r.send_resolved),
                DedupStage(self.log),
                RetryStage(self.channels[name], policy=retry, on_outcome=on_outcome, sleep=sleep, clock=clock, rng=rng),
                RecordStage(self.log, self.channels[name].kind, on_outcome),
            ])
            for name, r in receivers.items()
        }
        self.stage = RoutingStage(self.chains)

    def unreadable_secrets(self) -> list[str]:
        """Every receiver secret that cannot be read now, one message each (never a value)."""
        return [problem for channel in self.channels.values()
                for problem in getattr(channel, "unreadable_secrets", lambda: [])()]

    async def send(self, notification: Notification, now: float,
                   repeat_interval: float = DEFAULT_REPEAT_INTERVAL) -> Notification | None:
        """Run one notification through its receiver's chain; raises NotifyError if it could not be sent."""
        _, sent = await self.stage.exec(NotifyContext.of(notification, now, repeat_interval), notification)
        return sent

    async def send_all(self, notifications: Iterable[Notification], now: float,
                       repeat_interval: RepeatInterval = DEFAULT_REPEAT_INTERVAL) -> list[Delivery]:
        """Run notifications side by side; each failure is logged and reported, none stops the others."""
        batch = list(notifications)

        def interval(n: Notification) -> float:
            return repeat_interval(n) if callable(repeat_interval) else repeat_interval

        results = await asyncio.gather(*(self.send(n, now, interval(n)) for n in batch), return_exceptions=True)
        return [self._delivery(n, result) for n, result in zip(batch, results)]

    @staticmethod
    def _delivery(notification: Notification, result: object) -> Delivery:
        if isinstance(result, NotifyError):
            log.error("notification of group %s to receiver %s failed: %s",
                      notification.group_key, notification.receiver, result)
            return Delivery(notification, error=result)
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            log.error("notification of group %s to receiver %s failed: unexpected %s",
                      notification.group_key, notification.receiver, type(result).__name__)
            return Delivery(notification, error=PermanentNotifyError(f"unexpected {type(result).__name__}"))
        return Delivery(notification, sent=result if isinstance(result, Notification) else None)
