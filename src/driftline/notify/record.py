"""RecordStage: after a successful send, write what was sent to the notification log.

As Alertmanager's ``SetNotifiesStage``. It also counts the success through the injected
``on_outcome(channel, "success")`` (RetryStage counts ``retry`` and ``failure``), which the
application wires to ``driftline_notifications_total{channel,outcome}``.
"""

from __future__ import annotations

from driftline.alerting.group import Notification
from driftline.notify.channel import OnOutcome
from driftline.notify.nflog import LogEntry, NotificationLog, alert_keys
from driftline.notify.stage import NotifyContext


class RecordStage:
    """Writes the log entry of a delivered notification and counts it."""

    def __init__(self, log: NotificationLog, channel: str, on_outcome: OnOutcome | None = None) -> None:
        self.log = log
        self.channel = channel
        self.on_outcome = on_outcome

    async def exec(self, ctx: NotifyContext, notification: Notification) -> tuple[NotifyContext, Notification | None]:
        self.log.put(LogEntry(
            receiver=ctx.receiver, group_key=ctx.group_key,
            firing=alert_keys(notification.firing), resolved=alert_keys(notification.resolved),
            timestamp=ctx.now,
        ))
        if self.on_outcome is not None:
            self.on_outcome(self.channel, "success")
        return ctx, notification
