"""The composition root: builds the faust app and wires decoding, monitors, metrics and sinks.

This module (with :mod:`driftline.cli`) is the only one that imports all the others.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import faust
import mode
from faust.tables import TableManager
from faust.types import TP
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from prometheus_client import CollectorRegistry, disable_created_metrics

from driftline.alerting.ruleset import RuleSet
from driftline.checkpoint import Checkpointer
from driftline.config import Config, KafkaConfig
from driftline.drift import VersionDrift
from driftline.error import BrokerError, ConfigError
from driftline.evaluation import RuleEvaluation
from driftline.events.agent import TopicSink, raw_topic, register_agents
from driftline.events.processor import EventProcessor
from driftline.events.schema import EventKind
from driftline.events.topic import TopicNames
from driftline.metrics.collector import AlertsFiringCollector, MonitorCollector
from driftline.alerting.routing import RoutingConfig
from driftline.metrics.instrument import NotifierInstruments, WorkerInstruments
from driftline.notifier import Notifier
from driftline.metrics.server import MetricsServer
from driftline.monitor import MonitorRegistry
from driftline.state.store import TOPIC_CONFIG as CHECKPOINT_TOPIC_CONFIG
from driftline.state.store import CheckpointStore

log = logging.getLogger(__name__)

STATUS_INTERVAL_SECONDS = 10.0

# `_created` series double every counter and no dashboard or rule of ours reads them.
disable_created_metrics()


def broker_credentials(kafka: KafkaConfig) -> faust.auth.Credentials | None:
    """faust credentials for the configured security protocol (secrets are read here, never logged)."""
    context = kafka.ssl_context()
    if kafka.security_protocol.startswith("SASL"):
        assert kafka.sasl_password is not None  # checked by KafkaConfig
        return faust.SASLCredentials(
            username=kafka.sasl_username, password=kafka.sasl_password.reveal(),
            ssl_context=context, mechanism=kafka.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


class CheckpointedTableManager(TableManager):
    """faust's table manager, which runs the :class:`~driftline.checkpoint.Checkpointer`'s restore first.

    faust calls ``tables.on_rebalance`` while the newly assigned partitions are still paused,
    and resumes them when table recovery ends; restoring and seeking here, before that, means
    no record is fetched from a position other than the checkpoint's.
    """

    on_assigned: Callable[[set[TP], int], Any] | None = None

    async def on_rebalance(self, assigned: set[TP], revoked: set[TP], newly_assigned: set[TP],
                           generation_id: int = 0) -> None:
        if self.on_assigned is not None:
            await self.on_assigned(assigned, generation_id)
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)


def build_faust_app(config: Config, data_dir: Path | None = None) -> faust.App:
    """A faust app tuned for fast start-up (DESIGN.md §6) that never decodes values itself."""
    kafka = config.kafka
    data_dir = data_dir or Path(tempfile.gettempdir()) / f"driftline-{kafka.group_id}"
    return faust.App(
        kafka.group_id,
        broker=[f"kafka://{server}" for server in kafka.servers],
        broker_credentials=broker_credentials(kafka),
        broker_client_id=kafka.client_id,
        broker_session_timeout=kafka.session_timeout_seconds,
        broker_heartbeat_interval=kafka.heartbeat_interval_seconds,
        broker_rebalance_timeout=max(kafka.session_timeout_seconds, 10.0),
        stream_recovery_delay=0.0,
        stream_wait_empty=False,
        consumer_auto_offset_reset="earliest",
        consumer_max_fetch_size=max(config.limits.max_message_bytes * 4, 4 * 1024 * 1024),
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        datadir=str(data_dir),
        store="memory://",
        TableManager=CheckpointedTableManager,
    )


class MetricsService(mode.Service):
    """Runs the /metrics server for as long as the worker runs."""

    logger = logging.getLogger("driftline.service")  # mode's start/stop chatter, quiet by default

    def __init__(self, server: MetricsServer, **kwargs: Any) -> None:
        self.server = server
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        await self.server.start()

    async def on_stop(self) -> None:
        await self.server.stop()


class NotifierService(mode.Service):
    """Runs the :class:`~driftline.notifier.Notifier` for as long as the worker runs."""

    logger = logging.getLogger("driftline.service")

    def __init__(self, notifier: Notifier, **kwargs: Any) -> None:
        self.notifier = notifier
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            await self.notifier.run(self._stop)
        except Exception:
            log.exception("notifier stopped with an error; alerts wait in the log until a worker delivers them")
            raise

    async def on_stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=10)
            except (asyncio.TimeoutError, Exception):
                self._task.cancel()


async def connected_admin(kafka: KafkaConfig) -> AIOKafkaAdminClient:
    """An admin client of the brokers, waiting up to ``kafka.connect_timeout_seconds`` for them to
    answer; raises BrokerError with the reason (unreachable, or refused credentials) otherwise."""
    deadline = time.monotonic() + kafka.connect_timeout_seconds
    servers = ",".join(kafka.servers)
    while True:
        admin = AIOKafkaAdminClient(**kafka.aiokafka_options("-admin"))
        try:
            await admin.start()
            return admin
        except KafkaConnectionError as exc:
            await admin.close()
            if time.monotonic() > deadline:
                raise BrokerError(f"kafka: cannot reach {servers} within {kafka.connect_timeout_seconds:g} s "
                                  f"(kafka.connect_timeout_seconds): {exc}") from None
            log.warning("waiting for Kafka at %s: %s", servers, exc)
            await asyncio.sleep(1.0)
        except KafkaError as exc:  # authentication and authorization failures: waiting changes nothing
            await admin.close()
            raise BrokerError(f"kafka: {servers} refused driftline ({kafka.security_protocol}): {exc}") from None


def metrics_address_free(host: str, port: int) -> None:
    """Raise ConfigError when /metrics could not listen on ``host:port`` (checked before faust starts)."""
    if port == 0:
        return
    try:
        with socket.create_server((host, port), reuse_port=False):
            pass
    except OSError as exc:
        raise ConfigError(f"metrics: cannot listen on {host}:{port}: {exc.strerror or exc}") from None


async def ensure_topics(config: Config) -> None:
    """Create the input, control, dead-letter, checkpoint and alert topics that do not exist yet.

    Before the consumer joins its group, so that it is assigned every input partition at once
    (a topic created later is noticed only at the next metadata refresh). The control topic gets
    the predictions topic's partition count, so that a model's commands and events share a
    partition number and therefore a worker.
    """
    kafka = config.kafka
    names = TopicNames(kafka.topic_prefix)
    admin = await connected_admin(kafka)
    try:
        existing = set(await admin.list_topics())
        partitions = kafka.partitions
        if names.predictions in existing:
            [described] = await admin.describe_topics([names.predictions])
            partitions = len(described["partitions"]) or partitions
        wanted = {name: {"cleanup.policy": "delete"} for name in (*names.inputs, names.control, names.deadletter)}
        wanted[names.checkpoints] = {"cleanup.policy": "compact", **CHECKPOINT_TOPIC_CONFIG}
        new = [NewTopic(name, partitions, kafka.replication_factor, topic_configs=configs)
               for name, configs in wanted.items() if name not in existing]
        if names.alerts not in existing:  # one partition: one notifier reads the alerts in order
            new.append(NewTopic(names.alerts, 1, kafka.replication_factor, topic_configs={"cleanup.policy": "delete"}))
        for topic in new:
            try:
                await admin.create_topics([topic])
            except TopicAlreadyExistsError:
                pass
        if new:
            log.info("created topics %s with %d partitions", ", ".join(t.name for t in new), partitions)
    finally:
        await admin.close()


def keep_positions(consumer: Any, checkpointer: Checkpointer, inputs: set[str]) -> None:
    """Make faust's "seek to committed offsets" seek input partitions to where their state is.

    faust seeks every assigned partition to the group's committed offsets when table recovery
    ends and whenever it fetches while flow is stopped. Those offsets are faust's own acks, which
    may be ahead of the last checkpoint after a crash: following them would skip events. After
    faust's seek, each input partition is sought to the offset its (restored) state expects.
    """
    if getattr(consumer, "_driftline_positions", False):
        return
    committed_seek = consumer.perform_seek

    async def perform_seek() -> None:
        await committed_seek()
        for tp in consumer.assignment():
            if tp.topic in inputs:
                offset = checkpointer.position(tp.topic, tp.partition)
                if offset is not None:
                    await consumer.seek(tp, offset)

    consumer.perform_seek = perform_seek
    consumer._driftline_positions = True


class CheckpointService(mode.Service):
    """Writes a last checkpoint of every owned partition when the worker stops."""

    logger = logging.getLogger("driftline.service")

    def __init__(self, checkpointer: Checkpointer, **kwargs: Any) -> None:
        self.checkpointer = checkpointer
        super().__init__(**kwargs)

    async def on_stop(self) -> None:
        try:
            await self.checkpointer.close()
        except Exception:
            log.exception("the last checkpoint failed; a restart replays from the previous one")


class Calibrator:
    """Calibrates drift thresholds on one background thread, so that the stream never waits for it."""

    def __init__(self, monitors: MonitorRegistry) -> None:
        self.monitors = monitors
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="driftline-calibration")

    def start_due(self, model_ids: set[str]) -> None:
        """Start calibrating the versions of ``model_ids`` (those a batch touched) that are ready."""
        for drift in self.monitors.calibrations_due(model_ids):
            drift.scheduled = True
            asyncio.get_running_loop().create_task(self._calibrate(drift))

    async def _calibrate(self, drift: VersionDrift) -> None:
        started, epoch = time.perf_counter(), drift.epoch
        try:
            estimator = await asyncio.get_running_loop().run_in_executor(self._executor, drift.calibrate)
        except Exception as exc:  # a bad reference file or a degenerate reference: drift off, stream on
            drift.install(None, exc, epoch)
            return
        drift.install(estimator, epoch=epoch)
        self.monitors.dirty.add(drift.model_id)
        log.info("calibrated drift of %s %s in %.1f s", drift.model_id, drift.model_version,
                 time.perf_counter() - started)


class DriftlineWorker:
    """A driftline worker: faust agents on the input topics, monitors, dead letters and /metrics."""

    def __init__(
        self, config: Config, *, registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.topics = TopicNames(config.kafka.topic_prefix)
        self.registry = registry if registry is not None else CollectorRegistry()
        self.monitors = MonitorRegistry(config.monitoring, config.quality, config.drift)
        self.calibrator = Calibrator(self.monitors)
        self.instruments = WorkerInstruments(self.registry)
        self.registry.register(MonitorCollector(self.monitors))
        self.app = build_faust_app(config)
        kafka = config.kafka
        deadletter = raw_topic(self.app, self.topics.deadletter, kafka.partitions, kafka.replication_factor)
        self.clock = clock
        self.evaluation = self._rule_evaluation(config)
        self.processor = EventProcessor(config, self.monitors, TopicSink(deadletter), self.instruments, clock,
                                        after_batch=self._after_batch)
        register_agents(self.app, self.processor, self.topics, config.worker, kafka.partitions, kafka.replication_factor)
        self.checkpointer = self._checkpointer(config) if config.checkpoint.enabled else None
        self.metrics_server = MetricsServer(self.registry, config.metrics.host, config.metrics.port)
        self.notifier = self._notifier(config)
        self.app.timer(STATUS_INTERVAL_SECONDS, name="driftline.status")(self._log_status)
        if self.evaluation is not None:
            self.registry.register(AlertsFiringCollector(self.evaluation.firing_counts))
            interval = config.alerting.evaluation_interval_seconds
            self.app.timer(interval, name="driftline.evaluate")(self._evaluate_all)

    def _checkpointer(self, config: Config) -> Checkpointer:
        """Checkpoints of each input partition's state, restored on assignment (DESIGN.md §1)."""
        store = CheckpointStore(config.kafka, self.topics.checkpoints, config.kafka.partitions,
                                timeout=config.checkpoint.restore_timeout_seconds)
        inputs = {*self.topics.inputs, self.topics.control}
        checkpointer = Checkpointer(config.checkpoint, self.monitors, self.evaluation, store, sorted(inputs),
                                    self.processor.lock, self.instruments, flush=self.app.producer.flush,
                                    on_restored=self.calibrator.start_due)
        self.processor.gate = checkpointer
        app = self.app

        async def seek(topic: str, partition: int, offset: int) -> None:
            tp = TP(topic, partition)
            if tp in app.consumer.assignment():
                await app.consumer.seek(tp, offset)

        async def on_assigned(assigned: set[TP], generation: int) -> None:
            keep_positions(app.consumer, checkpointer, inputs)
            partitions = {tp.partition for tp in assigned if tp.topic in inputs}
            await checkpointer.on_assigned(partitions, generation, seek)

        async def on_revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
            await checkpointer.on_revoked({tp.partition for tp in revoked if tp.topic in inputs})

        tables = app.tables
        assert isinstance(tables, CheckpointedTableManager)
        tables.on_assigned = on_assigned
        app.on_partitions_revoked.connect(on_revoked)
        app.timer(min(config.checkpoint.interval_seconds, 1.0), name="driftline.checkpoint")(checkpointer.on_timer)
        return checkpointer

    def _rule_evaluation(self, config: Config) -> RuleEvaluation | None:
        """Rule evaluation over the monitors, writing to ``<prefix>.alerts`` (one partition: one notifier)."""
        if not config.alerting.enabled:
            return None
        path = Path(config.alerting.rules)
        if not path.exists():
            raise ConfigError(f"alerting.rules: {path} does not exist "
                              "(a directory of rule files; alerting.enabled: false runs without alerts)")
        rules = RuleSet.load(path)
        alerts = raw_topic(self.app, self.topics.alerts, 1, config.kafka.replication_factor)
        log.info("alerting: %d rules from %s", len(rules), path)
        return RuleEvaluation(rules, self.monitors, TopicSink(alerts))

    async def _after_batch(self, models: set[str], now: float) -> None:
        self.calibrator.start_due(models)
        if self.evaluation is not None:
            await self.evaluation.evaluate(models, now)
        if self.checkpointer is not None:
            await self.checkpointer.maybe_checkpoint()

    def _notifier(self, config: Config) -> Notifier | None:
        if not (config.alerting.enabled and config.alerting.notify):
            return None
        routing = RoutingConfig.load(config.alerting.routing)
        instruments = NotifierInstruments(self.registry)
        return Notifier(config, routing, on_outcome=instruments.on_outcome, clock=self.clock,
                        tick_seconds=config.alerting.notify_tick_seconds)

    async def _evaluate_all(self) -> None:
        assert self.evaluation is not None
        async with self.processor.lock:  # alert state is checkpointed with the models
            await self.evaluation.evaluate_all(self.clock())

    async def _log_status(self) -> None:
        models = sorted({m.model_id for m in self.monitors})
        processed = sum(m.events[EventKind.PREDICTION] + m.events[EventKind.FEATURE] for m in self.monitors)
        labels = sum(inputs.count for inputs in self.monitors.labels.values())
        invalid = self.processor.rejected
        log.info("status: %d model versions (%s), %d events, %d labels, %d invalid",
                 len(self.monitors), ", ".join(models) or "none yet", processed, labels, invalid)

    def run(self, loglevel: str = "info") -> None:
        """Run until SIGINT/SIGTERM; stops cleanly and exits the process."""
        services: list[mode.Service] = [MetricsService(self.metrics_server)]
        if self.checkpointer is not None:
            services.append(CheckpointService(self.checkpointer))
        if self.notifier is not None:
            services.append(NotifierService(self.notifier))
        worker = faust.Worker(
            self.app, *services, loglevel=loglevel, quiet=True,
            redirect_stdouts=False, logging_config=logging_config(loglevel),
        )
        metrics_address_free(self.config.metrics.host, self.config.metrics.port)
        with ThreadPoolExecutor(max_workers=1) as thread:  # its own event loop; faust's is not running yet
            thread.submit(asyncio.run, ensure_topics(self.config)).result()
        log.info("driftline worker: group %s, topics %s.*, brokers %s, metrics on %s",
                 self.config.kafka.group_id, self.topics.prefix, ",".join(self.config.kafka.servers),
                 self.metrics_server.url)
        worker.execute_from_commandline()


def logging_config(level: str = "info") -> dict[str, Any]:
    """driftline's own loggers at ``level``; faust's and aiokafka's chatter at WARNING."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "root": {"level": "WARNING", "handlers": ["stderr"]},
        "loggers": {"driftline": {"level": level.upper()}, "driftline.service": {"level": "WARNING"}},
    }
