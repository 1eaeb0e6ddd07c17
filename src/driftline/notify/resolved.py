"""SendResolvedStage: leave out resolved alerts for receivers that do not want them.

>>> import asyncio
>>> from driftline.alerting.model import AlertRecord, Severity, Status
>>> def alert(fp, status):
...     return AlertRecord(fingerprint=fp, rule="r", status=status, severity=Severity.INFO, labels={},
...         value=None, threshold=None, starts_at="t0", ends_at=None, event_ts="t0", summary="s")
>>> ctx = NotifyContext("digest", "g", "route", 0.0)
>>> only_resolved = Notification("digest", "route", "g", {}, (), (alert("f1", Status.RESOLVED),))
>>> asyncio.run(SendResolvedStage(send_resolved=False).exec(ctx, only_resolved))[1] is None
True
>>> asyncio.run(SendResolvedStage(send_resolved=True).exec(ctx, only_resolved))[1] is only_resolved
True
"""

from __future__ import annotations

import dataclasses

from driftline.alerting.group import Notification
from driftline.notify.stage import NotifyContext


class SendResolvedStage:
    """Drops resolved alerts when ``send_resolved`` is false, and the notification if nothing is left."""

    def __init__(self, send_resolved: bool) -> None:
        self.send_resolved = send_resolved

    async def exec(self, ctx: NotifyContext, notification: Notification) -> tuple[NotifyContext, Notification | None]:
        if self.send_resolved or not notification.resolved:
            return ctx, notification
        if not notification.firing:
            return ctx, None
        return ctx, dataclasses.replace(notification, resolved=())
