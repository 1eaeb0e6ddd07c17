"""The notifier: alert records from ``<prefix>.alerts`` to email, Slack, PagerDuty and webhooks.

route ► group ► inhibit ► silence ► dedup ► retry ► send, as Alertmanager does, with
every piece of state that must survive a restart kept in compacted topics:

* ``<prefix>.notification-log``: what was last sent to each receiver for each group
  (the dedup stage reads it), one record per (receiver, group key);
* ``<prefix>.notifier-state``: one record per aggregation group (a tombstone when the
  group is gone) and one with the offset of the alerts topic they reflect, written
  after every step that changed them (only the groups that changed, so that an alert
  storm never makes one record too large);
* ``<prefix>.silences``: the silences, read continuously.

Why not a faust agent: the notifier must own the alerts topic alone (one partition, its
own consumer group ``<group_id>-notifier``) and must restart from the offset its state
reflects, not from faust's committed offset, so that a record is neither dropped (a
crash during group_wait) nor replayed into a group that already notified it. A plain
aiokafka consumer with manual offsets gives exactly that.

One step of :meth:`Notifier.step`:

1. add the alert records that arrived to the dispatcher (and to the inhibitor);
2. take the notifications that are due (muting inhibited and silenced alerts);
3. hand them to the outbox (:mod:`driftline.notify.outbox`), which delivers them in the
   background, one queue per receiver: a receiver that is down or slow delays only its own
   notifications, in order, and never the reading of alerts or another receiver;
4. write the notification-log entries of what was delivered since the last step, then
   the changed groups, then the offset. A group is written as if the notifications of it
   that are still in the outbox had not been flushed (and one that failed for good goes
   back into its group), so that a restart sends them again rather than losing them.

A crash between a delivery and step 4 sends that notification again after restart (at
least once); PagerDuty deduplicates it by ``dedup_key``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any, Callable

import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from driftline.alerting.dispatch import Dispatcher, muter
from driftline.alerting.group import AggregationGroup, Notification
from driftline.alerting.inhibit import Inhibitor
from driftline.alerting.model import AlertRecord
from driftline.alerting.routing import RoutingConfig
from driftline.alerting.silence import Silence, SilenceSet
from driftline.config import Config
from driftline.error import DecodeError
from driftline.events.topic import TopicNames
from driftline.notify.channel import OnOutcome
from driftline.notify.nflog import InMemoryNotificationLog, LogEntry
from driftline.notify.outbox import Outbox
from driftline.notify.pipeline import Delivery, NotificationPipeline
from driftline.notify.retry import RetryPolicy, Sleep
from driftline.state.table import CompactedTable

log = logging.getLogger(__name__)

OFFSET_KEY = b"offset"
GROUP_PREFIX = b"group:"
STATE_VERSION = 1
FETCH_MAX_WAIT_MS = 100  # a notification should not wait long for the fetch that carries its alert
RESTART_DELAY_SECONDS = 5.0


class TopicNotificationLog(InMemoryNotificationLog):
    """The notification log in memory, written through to a compacted topic by :meth:`flush`."""

    def __init__(self, table: CompactedTable) -> None:
        super().__init__()
        self.table = table
        self._pending: dict[bytes, bytes] = {}
        self._flushing = asyncio.Lock()  # flushes in order: a key's newer entry is never overtaken

    async def load(self) -> None:
        for raw in (await self.table.load()).values():
            super().put(LogEntry.decode(raw))

    def put(self, entry: LogEntry) -> None:
        super().put(entry)
        self._pending[LogEntry.log_key(entry.receiver, entry.group_key)] = entry.encode()

    async def flush(self) -> None:
        async with self._flushing:
            pending, self._pending = self._pending, {}
            await self.table.put_many(list(pending.items()))


class NotifierOffset(msgspec.Struct):
    """The alerts offset that the group records of ``<prefix>.notifier-state`` reflect."""

    version: int
    offset: int


class Notifier:
    """Delivers the alert records of ``<prefix>.alerts`` per the routing configuration."""

    def __init__(self, config: Config, routing: RoutingConfig, *, on_outcome: OnOutcome | None = None,
                 clock: Callable[[], float] = time.time, tick_seconds: float = 0.25,
                 retry: RetryPolicy | None = None, sleep: Sleep = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """``retry``, ``sleep`` and ``monotonic`` (RetryStage's elapsed time) are for tests to inject."""
        self.config = config
        self.routing = routing
        self.topics = TopicNames(config.kafka.topic_prefix)
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.nflog = TopicNotificationLog(CompactedTable(config.kafka, f"{self.topics.prefix}.notification-log"))
        # A retryable error is retried until the receiver is back (backoff up to max_delay): the outbox keeps
        # the receiver's later notifications behind it, and `failure` counts only what failed for good.
        retry = retry or RetryPolicy(max_elapsed=math.inf)
        self.pipeline = NotificationPipeline(routing.receivers, log=self.nflog, on_outcome=on_outcome,
                                             retry=retry, sleep=sleep, clock=monotonic)
        self.outbox = Outbox(self.pipeline, clock=clock, sleep=sleep, on_done=self._done, pause=retry.max_delay)
        self._log_flushes: set[asyncio.Task[None]] = set()
        # Secrets are read when a notification is sent (a rotated one is picked up), so one that cannot be
        # read now does not stop the worker; but it must not go unnoticed until the first alert.
        for problem in self.pipeline.unreadable_secrets():
            log.error("%s; notifications to this receiver will fail until it can be read", problem)
        self._settled = False  # deliveries were reported since the last checkpoint
        self.state_table = CompactedTable(config.kafka, f"{self.topics.prefix}.notifier-state")
        self.silences = SilenceSet()
        self.dispatcher = Dispatcher(routing.route)
        self.inhibitor = Inhibitor(routing.inhibit_rules)
        self._partition = TopicPartition(self.topics.alerts, 0)
        self._offset = 0  # the next alerts offset the dispatcher has not seen
        self._written: dict[bytes, bytes] = {}  # group records as last written to the state table
        self._owned = False
        self.delivered = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; after an error, start again from the checkpointed state.

        Alerts wait in their topic meanwhile: a failure delays notifications, it never loses them.
        """
        while not stop.is_set():
            try:
                await self._run(stop)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notifier failed; restarting from its checkpoint in %.0f s", RESTART_DELAY_SECONDS)
                self._owned = False
                try:
                    await asyncio.wait_for(stop.wait(), RESTART_DELAY_SECONDS)
                except asyncio.TimeoutError:
                    pass

    async def _run(self, stop: asyncio.Event) -> None:
        """Own the alerts topic while the group gives it to us."""
        await CompactedTable(self.config.kafka, self.topics.alerts, partitions=1).ensure_topic(compact=False)
        for table in (self.nflog.table, self.state_table, CompactedTable(self.config.kafka, self.topics.silences)):
            await table.ensure_topic()
        consumer = AIOKafkaConsumer(**self.config.kafka.aiokafka_options("-notifier"),
                                    group_id=f"{self.config.kafka.group_id}-notifier", enable_auto_commit=False,
                                    auto_offset_reset="earliest", fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
                                    session_timeout_ms=int(self.config.kafka.session_timeout_seconds * 1000),
                                    heartbeat_interval_ms=int(self.config.kafka.heartbeat_interval_seconds * 1000))
        consumer.subscribe([self.topics.alerts], listener=_Listener(self, consumer))
        silences = asyncio.create_task(self._follow_silences(stop))
        await consumer.start()
        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=int(self.tick_seconds * 1000))
                if self._owned:
                    await self.step([r for records in batch.values() for r in records])
        finally:
            silences.cancel()
            await self.outbox.close()
            await consumer.stop()
            for table in (self.nflog.table, self.state_table):
                await table.close()

    async def restore(self, consumer: AIOKafkaConsumer) -> None:
        """On assignment: the latest state and the offset it reflects; the consumer seeks there."""
        await self.outbox.close()  # what it held is unsent in the state read back, and is flushed again
        await self.nflog.load()
        table = await self.state_table.load()
        raw = table.get(OFFSET_KEY)
        self._offset = msgspec.json.decode(raw, type=NotifierOffset).offset if raw is not None else 0
        self._written = {key: value for key, value in table.items() if key.startswith(GROUP_PREFIX)}
        groups = [msgspec.json.decode(value) for value in self._written.values()]
        self.dispatcher = Dispatcher.from_state(self.routing.route, {"groups": groups})
        self.inhibitor = Inhibitor(self.routing.inhibit_rules)
        for group in self.dispatcher.groups():
            for alert in group.alerts.values():
                self.inhibitor.observe(alert)
        consumer.seek(self._partition, self._offset)
        self._owned = True
        log.info("notifier: owns %s from offset %d (%d groups restored)",
                 self.topics.alerts, self._offset, len(self.dispatcher.groups()))

    async def step(self, records: list[Any]) -> list[Notification]:
        """One step (the module docstring lists it); returns the notifications handed to the outbox."""
        now = self.clock()
        for record in records:
            try:
                alert = AlertRecord.decode(record.value)
            except (msgspec.DecodeError, TypeError):
                log.warning("notifier: skipping an unreadable record at %s@%d", self.topics.alerts, record.offset)
            else:
                self.inhibitor.observe(alert)
                self.dispatcher.add(alert, now)
            self._offset = record.offset + 1
        due = self.dispatcher.due(now, muter(self.inhibitor, self.silences))
        for notification in due:
            self.outbox.put(notification, self._repeat_interval(notification))
        if records or due or self._settled:
            self._settled = False
            await self.nflog.flush()
            await self._checkpoint()
        return due

    def _done(self, delivery: Delivery) -> None:
        """The outbox reports a notification delivered, or failed for good (it goes back into its group)."""
        if delivery.error is not None:
            self.dispatcher.delivery_failed(delivery.notification, self.clock())
        elif delivery.sent is not None:
            self.delivered += 1
            # Log it now, not at the next step: a notifier that dies between a delivery and its log
            # entry sends it again after a failover; that window is now one write, not a tick.
            task = asyncio.get_running_loop().create_task(self._flush_log())
            self._log_flushes.add(task)
            task.add_done_callback(self._log_flushes.discard)
        self._settled = True

    async def _flush_log(self) -> None:
        try:
            await self.nflog.flush()
        except Exception:  # the next step flushes again
            log.warning("notifier: writing the notification log failed; retried at the next step", exc_info=True)

    def _repeat_interval(self, notification: Notification) -> float:
        route = self.routing.route.find(notification.route_id)
        return route.repeat_interval if route is not None else self.routing.route.repeat_interval

    async def _checkpoint(self) -> None:
        """Write the groups that changed (tombstones for those gone), then the offset they reflect."""
        current = {GROUP_PREFIX + group.key.encode(): msgspec.json.encode(group.to_state())
                   for group in self._unsent_groups()}
        changed: list[tuple[bytes, bytes | None]] = [(k, v) for k, v in current.items() if self._written.get(k) != v]
        changed.extend((key, None) for key in self._written.keys() - current.keys())
        await self.state_table.put_many(changed)  # the groups first, so the offset never runs ahead of them
        self._written = current
        await self.state_table.put(OFFSET_KEY, msgspec.json.encode(NotifierOffset(STATE_VERSION, self._offset)))

    def _unsent_groups(self) -> list[AggregationGroup]:
        """The groups as they would be had the notifications still in the outbox never been flushed."""
        pending = self.outbox.pending()
        groups = self.dispatcher.groups()
        if not pending:
            return groups
        keys = {notification.group_key for notification in pending}
        shadow = Dispatcher.from_state(self.routing.route, {"groups": [g.to_state() for g in groups if g.key in keys]})
        now = self.clock()
        for notification in pending:
            shadow.delivery_failed(notification, now)
        unsent = {group.key: group for group in shadow.groups()}
        return [unsent.pop(group.key, group) for group in groups] + list(unsent.values())

    async def _follow_silences(self, stop: asyncio.Event) -> None:
        """Apply every silence record as it arrives (the topic is read from its beginning)."""
        consumer = AIOKafkaConsumer(**self.config.kafka.aiokafka_options("-silences"), enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(self.topics.silences)
            while not partitions:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(self.topics.silences)
                await asyncio.sleep(0.1)
            assigned = [TopicPartition(self.topics.silences, p) for p in partitions]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            while not stop.is_set():
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        self._apply_silence(record.value)
        finally:
            await consumer.stop()

    def _apply_silence(self, raw: bytes | None) -> None:
        if raw is None:
            return
        try:
            silence = Silence.decode(raw)
        except DecodeError as exc:
            log.warning("notifier: ignoring an invalid silence record: %s", exc.detail)
            return
        if self.silences.apply(silence):
            log.info("notifier: silence %s by %s: %s until %s", silence.id, silence.created_by,
                     " ".join(silence.matchers), silence.ends_at.isoformat())


class _Listener(ConsumerRebalanceListener):
    def __init__(self, notifier: Notifier, consumer: AIOKafkaConsumer) -> None:
        self.notifier = notifier
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.notifier._owned = False
        await self.notifier.outbox.close()  # another notifier may own the alerts now

    async def on_partitions_assigned(self, assigned: Any) -> None:
        if self.notifier._partition in assigned:
            await self.notifier.restore(self.consumer)
