"""The worker's own instruments (not per monitor): invalid input, dead letters, batch timings."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from driftline.events.decoder import Reason
from driftline.metrics import name

# Batches take from tens of microseconds (one small envelope) to a second (a backlog).
BATCH_SECONDS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Labels arrive from seconds (clicks) to weeks (chargebacks) after their prediction.
LABEL_DELAY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400,
                       3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400)
BATCH_EVENTS_BUCKETS = (1, 10, 50, 100, 500, 1000, 5000, 10_000, 50_000, 100_000)


class WorkerInstruments:
    """Counters and histograms updated by the event processor, on an injected registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.invalid = Counter(
            name.EVENTS_INVALID, "Events (or messages) that failed validation, by machine-readable reason.",
            ["reason"], registry=registry,
        )
        for reason in Reason:  # every reason exported from the start, so rate() has a series to work on
            self.invalid.labels(reason.value)
        self.deadletter = Counter(
            name.DEADLETTER_WRITTEN, "Records written to the dead-letter topic, by source topic.",
            ["topic"], registry=registry,
        )
        self.batch_seconds = Histogram(
            name.BATCH_SECONDS, "Time to decode and apply one micro-batch of messages.",
            buckets=BATCH_SECONDS_BUCKETS, registry=registry,
        )
        self.label_delay = Histogram(
            name.LABEL_DELAY_SECONDS, "Event time from a prediction to its label, per joined label.",
            buckets=LABEL_DELAY_BUCKETS, registry=registry,
        )
        self.batch_events = Histogram(
            name.BATCH_EVENTS, "Valid events per micro-batch.", buckets=BATCH_EVENTS_BUCKETS, registry=registry,
        )
        self.skipped = Counter(
            name.RECORDS_SKIPPED, "Consumed input records not processed: already in the restored state "
            "(replayed) or of a partition this worker does not own (not_owned).", ["reason"], registry=registry,
        )
        for reason in ("replayed", "not_owned"):
            self.skipped.labels(reason)
        self.checkpoints = Counter(
            name.CHECKPOINTS, "Partition checkpoints written to <prefix>.checkpoints.", registry=registry,
        )
        self.checkpoint_seconds = Histogram(
            name.CHECKPOINT_SECONDS, "Time to write one round of checkpoints (flush, snapshot, write, acks).",
            buckets=BATCH_SECONDS_BUCKETS[3:] + (5.0, 10.0, 30.0), registry=registry,
        )
        self.restores = Counter(
            name.RESTORES, "Partitions restored from a checkpoint on assignment.", registry=registry,
        )


class NotifierInstruments:
    """``driftline_notifications_total{channel,outcome}``: outcome is success, retry or failure."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter(
            name.NOTIFICATIONS, "Notification attempts by channel (receiver type) and outcome.",
            ["channel", "outcome"], registry=registry,
        )
        for channel in ("email", "slack", "pagerduty", "webhook"):
            for outcome in ("success", "retry", "failure"):
                self.notifications.labels(channel, outcome)

    def on_outcome(self, channel: str, outcome: str) -> None:
        self.notifications.labels(channel, outcome).inc()
