"""DedupStage: do not send a group again unless something changed or it is time to repeat.

Alertmanager's ``dedup_stage.go`` ``needsUpdate``, against the notification log entry of
(receiver, group key):

1. no entry: send if anything fires (a group that only resolved was never notified);
2. an alert fires that the entry did not have as firing: send;
3. nothing fires: send if the entry still had firing alerts (they are now all resolved);
4. an alert resolved that the entry did not have as resolved: send (resolved alerts only
   get here for receivers with ``send_resolved``, see SendResolvedStage);
5. nothing changed: send once ``repeat_interval`` has passed since the entry.

Alertmanager sends again only when the entry is strictly older than ``repeat_interval``;
here it is "at least as old", the same comparison as the aggregation group's, so that a
group flushed exactly on its repeat time is not held back for another group_interval.
"""

from __future__ import annotations

import logging

from driftline.alerting.group import Notification
from driftline.notify.nflog import LogEntry, NotificationLog, alert_keys
from driftline.notify.stage import NotifyContext

log = logging.getLogger(__name__)


def needs_update(entry: LogEntry | None, firing: tuple[str, ...], resolved: tuple[str, ...],
                 now: float, repeat_interval: float) -> bool:
    """
    >>> e = LogEntry(receiver="r", group_key="g", firing=("a",), resolved=(), timestamp=0.0)
    >>> needs_update(None, ("a",), (), 1.0, 60.0), needs_update(None, (), ("a",), 1.0, 60.0)
    (True, False)
    >>> needs_update(e, ("a",), (), 1.0, 60.0), needs_update(e, ("a", "b"), (), 1.0, 60.0)
    (False, True)
    >>> needs_update(e, (), ("a",), 1.0, 60.0), needs_update(e, ("a",), (), 60.0, 60.0)
    (True, True)
    """
    if entry is None:
        return bool(firing)
    if not entry.is_firing_subset(firing):
        return True
    if not firing:
        return bool(entry.firing)
    if not entry.is_resolved_subset(resolved):
        return True
    return now - entry.timestamp >= repeat_interval


class DedupStage:
    """Stops a notification whose alerts the receiver was already told about."""

    def __init__(self, log: NotificationLog) -> None:
        self.log = log

    async def exec(self, ctx: NotifyContext, notification: Notification) -> tuple[NotifyContext, Notification | None]:
        entry = self.log.get(ctx.receiver, ctx.group_key)
        firing, resolved = alert_keys(notification.firing), alert_keys(notification.resolved)
        if needs_update(entry, firing, resolved, ctx.now, ctx.repeat_interval):
            return ctx, notification
        log.debug("receiver %s: group %s already notified, nothing new", ctx.receiver, ctx.group_key)
        return ctx, None
