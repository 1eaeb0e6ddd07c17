"""``send_test``: a synthetic notification straight to one receiver, for ``driftline alerts test``.

It goes to the channel directly -- no dedup, no retry, no notification log -- so that the
command reports at once whether the settings, the secret and the network path work.

>>> n = synthetic_notification("slack", now=1_790_000_000.0)
>>> n.firing[0].rule, n.firing[0].severity.value, n.firing[0].starts_at
('driftline_test', 'info', '2026-09-21T14:13:20.000Z')
"""

from __future__ import annotations

import dataclasses
import time

import msgspec
from typing import Mapping

from driftline.alerting.group import Notification
from driftline.alerting.model import AlertRecord, Severity, Status, fingerprint, rfc3339
from driftline.alerting.receiver import Receiver
from driftline.notify.channel import ChannelFactory
from driftline.notify.pipeline import build_channel
from driftline.notify.stage import NotifyContext

TEST_RULE = "driftline_test"
TEST_LABELS = {"model_id": "driftline-test", "model_version": "test"}


def synthetic_notification(receiver: str, now: float) -> Notification:
    """One firing info alert of rule ``driftline_test`` for ``receiver``."""
    stamp = rfc3339(now)
    alert = AlertRecord(
        fingerprint=fingerprint(TEST_RULE, TEST_LABELS), rule=TEST_RULE, status=Status.FIRING,
        severity=Severity.INFO, labels=dict(TEST_LABELS), value=1.0, threshold=0.5,
        starts_at=stamp, ends_at=None, event_ts=stamp,
        summary=f"Test notification from driftline to receiver {receiver}",
        description="Sent by `driftline alerts test`. No model is affected; nothing needs doing.",
    )
    return Notification(receiver, "test", f"test:{receiver}", {"rule": TEST_RULE}, (alert,), ())


async def send_test(receiver: Receiver, *, factories: Mapping[str, ChannelFactory] | None = None,
                    now: float | None = None, resolve: bool = False) -> Notification:
    """Send the test notification to ``receiver``; with ``resolve``, then resolve it (closes a PagerDuty alert).

    Raises ConfigError for bad settings and NotifyError when delivery fails; returns what was sent.
    """
    now = time.time() if now is None else now
    channel = build_channel(receiver, factories)
    notification = synthetic_notification(receiver.name, now)
    await channel.notify(NotifyContext.of(notification, now), notification)
    if resolve:
        [alert] = notification.firing
        ended = msgspec.structs.replace(alert, status=Status.RESOLVED, ends_at=rfc3339(now))
        resolved = dataclasses.replace(notification, firing=(), resolved=(ended,))
        await channel.notify(NotifyContext.of(resolved, now), resolved)
    return notification
