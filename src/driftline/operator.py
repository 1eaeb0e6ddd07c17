"""What the operator commands do: silences, firing alerts, route tests, configuration checks, re-bases.

:mod:`driftline.cli` parses arguments and prints; the work is here, so that it can be
tested without a terminal. Silences are records on the compacted ``<prefix>.silences``
topic: every change (add, expire) is a new record with its author and time, so the
topic is the audit log.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass
from pathlib import Path

from driftline.alerting.matcher import alert_labels
from driftline.alerting.model import AlertRecord, Status
from driftline.alerting.routing import RoutingConfig
from driftline.alerting.ruleset import RuleSet
from driftline.alerting.silence import Silence, SilenceSet
from driftline.alerting.duration import parse_duration
from aiokafka.partitioner import DefaultPartitioner

from driftline.config import Config
from driftline.drift import load_reference
from driftline.events.control import RebaseCommand
from driftline.events.processor import REFERENCE_SNAPSHOT
from driftline.events.schema import MODEL_ID_PATTERN
from driftline.state.codec import encode_snapshot
from driftline.error import ConfigError, DecodeError, DriftlineError
from driftline.events.topic import TopicNames
from driftline.notify.pipeline import build_channel
from driftline.state.table import MAX_RECORD_BYTES, CompactedTable


def silences_table(config: Config) -> CompactedTable:
    return CompactedTable(config.kafka, TopicNames(config.kafka.topic_prefix).silences)


async def load_silences(config: Config) -> SilenceSet:
    table = silences_table(config)
    await table.ensure_topic()
    silences = SilenceSet()
    for raw in (await table.load()).values():
        try:
            silences.apply(Silence.decode(raw))
        except DecodeError:
            continue  # a record that is not a silence cannot mute anything; the notifier logs it
    return silences


async def add_silence(config: Config, matchers: list[str], duration: str, comment: str, now: float,
                      author: str | None = None) -> Silence:
    """Write a new silence starting now; raises DriftlineError when it is invalid."""
    seconds = _seconds(duration)
    try:
        silence = Silence.new(matchers, starts_at=now, ends_at=now + seconds, created_by=author or getpass.getuser(),
                              comment=comment, now=now)
    except ValueError as exc:
        raise DriftlineError(f"invalid silence: {exc}") from None
    table = silences_table(config)
    await table.ensure_topic()
    try:
        await table.put(silence.id.encode(), silence.encode())
    finally:
        await table.close()
    return silence


async def expire_silence(config: Config, silence_id: str, now: float) -> Silence:
    """End a silence now (the record keeps who created it; the update is a new record)."""
    silences = await load_silences(config)
    expired = silences.expire(silence_id, now)
    if expired is None:
        raise DriftlineError(f"no silence with id {silence_id}")
    table = silences_table(config)
    try:
        await table.put(expired.id.encode(), expired.encode())
    finally:
        await table.close()
    return expired


async def firing_alerts(config: Config) -> list[AlertRecord]:
    """The alerts firing now: the latest record of every fingerprint on ``<prefix>.alerts``, if firing."""
    table = CompactedTable(config.kafka, TopicNames(config.kafka.topic_prefix).alerts)
    latest = await table.load()
    records = [AlertRecord.decode(raw) for raw in latest.values()]
    firing = [r for r in records if r.status is Status.FIRING]
    return sorted(firing, key=lambda r: (r.severity.rank, r.starts_at))


@dataclass(frozen=True)
class RouteMatch:
    route_id: str
    receiver: str
    group_key: str


def test_routes(config: Config, labels: dict[str, str]) -> list[RouteMatch]:
    """Which receivers an alert with ``labels`` (and ``rule``/``severity`` among them) would reach."""
    routing = RoutingConfig.load(config.alerting.routing)
    return [RouteMatch(route.id, route.receiver, route.group_key(labels)) for route in routing.route.match(labels)]


def parse_labels(pairs: list[str]) -> dict[str, str]:
    """``key=value`` arguments as a label set; raises DriftlineError on anything else."""
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise DriftlineError(f"expected label=value, got {pair!r}")
        labels[key] = value
    return labels


@dataclass(frozen=True)
class ConfigReport:
    rules: int
    receivers: list[str]
    routes: int


def check_config(config: Config) -> ConfigReport:
    """Load everything a worker would load at start; errors name the file and the key."""
    if not config.alerting.enabled:
        return ConfigReport(0, [], 0)
    rules_path = Path(config.alerting.rules)
    if not rules_path.exists():
        raise ConfigError(f"alerting.rules: {rules_path} does not exist")
    rules = RuleSet.load(rules_path)
    routing = RoutingConfig.load(config.alerting.routing)
    for receiver in routing.receivers.values():
        try:
            build_channel(receiver)  # each channel's settings, validated as the notifier will
        except ConfigError as exc:
            raise ConfigError(f"{config.alerting.routing}: {exc}") from None
    return ConfigReport(len(rules), sorted(routing.receivers), sum(1 for _ in routing.route.walk()))


@dataclass(frozen=True)
class RebaseRequest:
    partition: int
    reference_bytes: int  # 0 when the version learns a new reference from its next events


async def request_rebase(config: Config, model_id: str, model_version: str | None = None,
                         reference_file: str | None = None, warmup_events: int | None = None,
                         reason: str = "", author: str | None = None, now: float = 0.0) -> RebaseRequest:
    """Ask the worker that owns ``model_id`` to re-base its drift (see :mod:`driftline.events.control`).

    The command goes to the partition of ``<prefix>.control`` with the number of the model's
    partition of ``<prefix>.predictions`` (the default partitioner's, as producers key by model_id).
    A reference file is read and summarised here, so the worker needs no access to it.
    """
    if not re.fullmatch(MODEL_ID_PATTERN, model_id):
        raise DriftlineError(f"invalid model_id {model_id!r}")
    if reference_file is not None and warmup_events is not None:
        raise DriftlineError("give a reference file or a number of warm-up events, not both")
    reference = None
    if reference_file is not None:
        path = Path(reference_file)
        if not path.exists():
            raise DriftlineError(f"reference file {path} does not exist")
        try:
            reference = encode_snapshot(REFERENCE_SNAPSHOT, load_reference(path).to_state())
        except (OSError, ValueError) as exc:
            raise DriftlineError(f"cannot use {path} as a reference: {exc}") from None
        if len(reference) > MAX_RECORD_BYTES:
            raise DriftlineError(f"the reference of {path} is {len(reference)} bytes, more than a record holds "
                                 f"({MAX_RECORD_BYTES}); use fewer rows or --warmup")
    topics = TopicNames(config.kafka.topic_prefix)
    control = CompactedTable(config.kafka, topics.control)
    partitions = await CompactedTable(config.kafka, topics.predictions).partition_count(timeout=15.0)
    control.partitions = partitions
    await control.ensure_topic(compact=False)
    if await control.partition_count() < partitions:
        raise DriftlineError(f"{topics.control} has fewer partitions than {topics.predictions}")
    key = model_id.encode()
    partition = DefaultPartitioner()(key, list(range(partitions)), list(range(partitions)))
    command = RebaseCommand(model_id=model_id, model_version=model_version, reference=reference,
                            warmup_events=warmup_events, requested_by=author or getpass.getuser(),
                            requested_at=now, reason=reason)
    try:
        await control.put_many([(key, command.encode())], partition=partition)
    finally:
        await control.close()
    return RebaseRequest(partition, len(reference or b""))


def alert_line(record: AlertRecord) -> str:
    labels = ",".join(f"{k}={v}" for k, v in sorted(alert_labels(record).items()) if k not in ("rule", "severity"))
    return f"{record.severity.value:8} {record.rule:28} since {record.starts_at}  {labels}\n         {record.summary}"


def silence_line(silence: Silence, now: float) -> str:
    state = "active" if silence.active(now) else ("pending" if silence.starts_at.timestamp() > now else "expired")
    return (f"{silence.id}  {state:7}  until {silence.ends_at.isoformat()}  by {silence.created_by}\n"
            f"    {' '.join(silence.matchers)}  # {silence.comment}")


def _seconds(duration: str) -> float:
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise DriftlineError(f"invalid duration {duration!r}: {exc}") from None
    if seconds <= 0:
        raise DriftlineError("a silence lasts a positive duration, e.g. 2h")
    return seconds
