"""The dispatcher: routes alert records into aggregation groups and says which notifications are due.

It is pure and driven from outside: the notifier calls :meth:`Dispatcher.add` for each
record read from ``<prefix>.alerts``, and :meth:`Dispatcher.due` whenever
:meth:`Dispatcher.next_deadline` has come (or at any time: ``due`` is idempotent between
deadlines). Routing uses :func:`~driftline.alerting.matcher.alert_labels`, the alert's
labels plus ``rule`` and ``severity``.

>>> from driftline.alerting.model import AlertRecord, Severity, Status
>>> root = Route("route", "slack", group_by=("model_id",), group_wait=30.0)
>>> d = Dispatcher(root)
>>> alert = AlertRecord(fingerprint="f1", rule="r", status=Status.FIRING, severity=Severity.WARNING,
...     labels={"model_id": "m"}, value=1.0, threshold=0.5, starts_at="", ends_at=None, event_ts="", summary="s")
>>> d.add(alert, now=0.0)
['route:{model_id="m"}']
>>> d.next_deadline(), d.due(now=10.0)
(30.0, [])
>>> [n.receiver for n in d.due(now=30.0)]
['slack']
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from driftline.alerting.group import AggregationGroup, Mute, Notification
from driftline.alerting.inhibit import Inhibitor
from driftline.alerting.matcher import alert_labels
from driftline.alerting.model import AlertRecord
from driftline.alerting.route import Route
from driftline.alerting.silence import SilenceSet

log = logging.getLogger(__name__)


class Dispatcher:
    """All aggregation groups of a routing tree."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self._groups: dict[str, AggregationGroup] = {}

    def add(self, record: AlertRecord, now: float) -> list[str]:
        """Route a record into its groups (one per matching route); returns their keys.

        A resolved record with no group to go to is dropped: nothing was notified to close.
        """
        labels = alert_labels(record)
        keys = []
        for route in self.route.match(labels):
            key = route.group_key(labels)
            group = self._groups.get(key)
            if group is None:
                if not record.firing:
                    continue
                group = self._groups[key] = AggregationGroup(route, key, route.group_labels(labels), now)
            group.add(record)
            keys.append(key)
        return keys

    def due(self, now: float, mute: Mute | None = None) -> list[Notification]:
        """Flush every group whose time has come; returns the notifications to send."""
        notifications = []
        for group in sorted(self._groups.values(), key=lambda g: (g.next_flush, g.key)):
            if group.next_flush > now:
                continue
            notification = group.flush(now, mute)
            if notification is not None:
                notifications.append(notification)
            if group.empty:
                del self._groups[group.key]
        return notifications

    def delivery_failed(self, notification: Notification, now: float) -> None:
        """Retry ``notification``'s alerts at their group's next flush (a group_interval from now)."""
        group = self._groups.get(notification.group_key)
        if group is None:
            route = self.route.find(notification.route_id)
            if route is None or not notification.alerts:
                return
            group = self._groups[notification.group_key] = AggregationGroup(
                route, notification.group_key, notification.group_labels, now)
            group.next_flush = now + route.group_interval
        group.delivery_failed(notification)

    def next_deadline(self) -> float | None:
        """When :meth:`due` next has something to look at, or None with no groups."""
        return min((g.next_flush for g in self._groups.values()), default=None)

    def groups(self) -> list[AggregationGroup]:
        return list(self._groups.values())

    def to_state(self) -> dict[str, Any]:
        return {"groups": [group.to_state() for group in self._groups.values()]}

    @classmethod
    def from_state(cls, route: Route, state: Mapping[str, Any]) -> Dispatcher:
        """Rebuild from :meth:`to_state`; groups of routes no longer in the tree are dropped."""
        dispatcher = cls(route)
        for item in state.get("groups", []):
            node = route.find(item["route"])
            if node is None:
                log.warning("dropping alert group %s: its route %s is gone", item["key"], item["route"])
                continue
            dispatcher._groups[item["key"]] = AggregationGroup.from_state(node, item)
        return dispatcher


def muter(inhibitor: Inhibitor | None = None, silences: SilenceSet | None = None) -> Mute:
    """A mute predicate for :meth:`Dispatcher.due` from an inhibitor and silences."""
    def mute(record: AlertRecord, now: float) -> bool:
        labels = alert_labels(record)
        if inhibitor is not None and inhibitor.mutes(labels) is not None:
            return True
        return silences is not None and silences.mutes(labels, now) is not None
    return mute
