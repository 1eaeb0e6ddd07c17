"""Aggregation groups: the alerts of one route with the same ``group_by`` values, and when to notify.

Timing follows Alertmanager's aggregation group plus its dedup stage, on an injected clock:

* a new group waits ``group_wait`` before its first flush, so that alerts that start
  together go out together;
* after that it is looked at every ``group_interval``: it notifies when a firing alert
  is new since the last notification, or when an alert that was notified as firing has
  resolved; otherwise
* it re-sends its unchanged firing alerts once ``repeat_interval`` has passed since the
  last notification.

Resolved alerts go out with the next flush and leave the group after it; a resolved
alert that was never notified as firing leaves silently (no "resolved" for a page that
never went out). An empty group is dropped. Muting (inhibition, silences) is applied at
flush time to firing alerts, so a muted alert is not notified and, when the mute ends,
counts as new, as in Alertmanager; resolved notifications are never muted, so that a
page that went out is always closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import msgspec

from driftline.alerting.model import AlertRecord
from driftline.alerting.route import Route

Mute = Callable[[AlertRecord, float], bool]


@dataclass(frozen=True)
class Notification:
    """What one flush of one group sends to one receiver."""

    receiver: str
    route_id: str
    group_key: str
    group_labels: Mapping[str, str]
    firing: tuple[AlertRecord, ...]
    resolved: tuple[AlertRecord, ...]

    @property
    def alerts(self) -> tuple[AlertRecord, ...]:
        return self.firing + self.resolved


class AggregationGroup:
    """One group of alerts on one route."""

    def __init__(self, route: Route, key: str, labels: Mapping[str, str], created: float) -> None:
        self.route = route
        self.key = key
        self.labels = dict(labels)
        self.alerts: dict[str, AlertRecord] = {}
        self.next_flush = created + route.group_wait
        self.sent_firing: frozenset[str] = frozenset()  # fingerprints of the last notification's firing alerts
        self.last_sent: float | None = None

    def add(self, record: AlertRecord) -> None:
        """Insert or update an alert; a late firing copy of an alert already resolved is ignored."""
        current = self.alerts.get(record.fingerprint)
        if current is not None and not current.firing and record.firing and record.starts_at == current.starts_at:
            return
        self.alerts[record.fingerprint] = record

    @property
    def empty(self) -> bool:
        return not self.alerts

    def flush(self, now: float, mute: Mute | None = None) -> Notification | None:
        """Look at the group now; returns what to send, if anything, and schedules the next look."""
        self.next_flush = now + self.route.group_interval
        firing = tuple(a for a in self._sorted() if a.firing and not (mute and mute(a, now)))
        resolved = tuple(a for a in self._sorted() if not a.firing and a.fingerprint in self.sent_firing)
        for alert in [a for a in self.alerts.values() if not a.firing]:
            del self.alerts[alert.fingerprint]
        fingerprints = frozenset(a.fingerprint for a in firing)
        repeat = bool(firing) and self.last_sent is not None and now - self.last_sent >= self.route.repeat_interval
        if not (fingerprints - self.sent_firing or resolved or repeat):
            return None
        self.sent_firing, self.last_sent = fingerprints, now
        return Notification(self.route.receiver, self.route.id, self.key, dict(self.labels), firing, resolved)

    def delivery_failed(self, notification: Notification) -> None:
        """A flush's notification could not be delivered: send its alerts again at the next flush.

        Its firing alerts count as not notified (so they are new again); its resolved alerts go
        back into the group, still counted as notified firing (so their resolve goes out).
        The notification log's dedup stage keeps a receiver that did get it from getting it twice.
        """
        self.sent_firing = (self.sent_firing - {a.fingerprint for a in notification.firing}) | {
            a.fingerprint for a in notification.resolved}
        for alert in notification.resolved:
            self.alerts.setdefault(alert.fingerprint, alert)

    def _sorted(self) -> list[AlertRecord]:
        return sorted(self.alerts.values(), key=lambda a: (a.starts_at, a.fingerprint))

    def to_state(self) -> dict[str, Any]:
        return {
            "route": self.route.id, "key": self.key, "labels": dict(self.labels),
            "alerts": [msgspec.to_builtins(a) for a in self.alerts.values()],
            "next_flush": self.next_flush, "sent_firing": sorted(self.sent_firing), "last_sent": self.last_sent,
        }

    @classmethod
    def from_state(cls, route: Route, state: Mapping[str, Any]) -> AggregationGroup:
        group = cls(route, state["key"], state["labels"], 0.0)
        group.alerts = {a.fingerprint: a for a in (msgspec.convert(x, AlertRecord) for x in state["alerts"])}
        group.next_flush = state["next_flush"]
        group.sent_firing = frozenset(state["sent_firing"])
        group.last_sent = state["last_sent"]
        return group
