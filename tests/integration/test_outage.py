"""Outages: receivers down for minutes, a receiver that hangs, a broker restarted under a worker,
and configuration that cannot be read.

The notifier runs in-process on a real broker with a virtual clock (its retry sleeps and
group timers too), so minutes of outage pass in a second of real time; the fakes at the
network edge refuse connections or answer 5xx (``outage()``) until ``recover()``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, AsyncIterator, Iterator

import pytest
import yaml
from aiokafka import AIOKafkaProducer

from driftline.alerting.model import AlertRecord, Severity, Status, fingerprint, rfc3339
from driftline.alerting.routing import RoutingConfig
from driftline.cli import main
from driftline.config import Config
from driftline.events.topic import TopicNames
from driftline.notifier import Notifier
from driftline.notify.retry import RetryPolicy
from tests.support.alerting import ROUTING_KEY, fanout_routing
from tests.support.fakes.clock import VirtualClock
from tests.support.fakes.pagerduty import FakePagerDuty
from tests.support.fakes.slack import HOOK, FakeSlack
from tests.support.fakes.smtp import SmtpServer
from tests.support.fakes.tls import ThrowawayCA
from tests.support.fakes.webhook import FakeWebhookReceiver
from tests.support.kafka import REPO, ApacheKafka, async_wait_until, create_topics, produce, wait_until
from tests.support.worker import WorkerProcess, worker_config

pytestmark = pytest.mark.integration

SIGNING_SECRET = "outage-signing-secret"
POLICY = RetryPolicy(initial_delay=1.0, multiplier=2.0, max_delay=30.0, max_elapsed=120.0, jitter=0.0)
RECEIVERS = ("slack", "pagerduty", "email", "webhook")


def alert(model: str, clock: VirtualClock, status: Status = Status.FIRING) -> AlertRecord:
    labels = {"model_id": model}
    return AlertRecord(
        fingerprint=fingerprint("lag_high", labels), rule="lag_high", status=status, severity=Severity.ERROR,
        labels=labels, value=700.0, threshold=600.0, starts_at=rfc3339(clock.now - 10),
        ends_at=rfc3339(clock.now) if status is Status.RESOLVED else None, event_ts=rfc3339(clock.now),
        summary=f"{model} is 700 s behind")


class Edge:
    """The four fakes, the notifier on a virtual clock, and what each receiver got, in order."""

    def __init__(self, bootstrap: str, prefix: str, clock: VirtualClock) -> None:
        self.bootstrap = bootstrap
        self.topics = TopicNames(prefix)
        self.clock = clock
        self.ca: ThrowawayCA | None = None
        self.slack = FakeSlack()
        self.webhook = FakeWebhookReceiver(secret=SIGNING_SECRET)
        self.smtp = SmtpServer()
        self.pagerduty: FakePagerDuty | None = None
        self.outcomes: dict[str, Counter] = defaultdict(Counter)
        self.notifier: Notifier | None = None
        self._run: tuple[asyncio.Event, asyncio.Task[None]] | None = None

    def start(self, config: Config, routing: RoutingConfig) -> Notifier:
        """A notifier on the virtual clock, running until :meth:`stop`."""
        self.notifier = Notifier(
            config, routing, clock=self.clock.clock, tick_seconds=0.05, retry=POLICY, sleep=self.clock.sleep,
            monotonic=self.clock.clock, on_outcome=lambda channel, outcome: self.outcomes[channel].update([outcome]))
        stop = asyncio.Event()
        self._run = (stop, asyncio.create_task(self.notifier.run(stop)))
        return self.notifier

    async def stop(self) -> None:
        if self._run is not None:
            stop, task = self._run
            self._run = None
            stop.set()
            await asyncio.wait_for(task, timeout=30)

    def received(self) -> dict[str, list[tuple[str, str]]]:
        """Per receiver, (model_id, status) of each alert it was told about, in arrival order."""
        assert self.pagerduty is not None
        by_fingerprint = {fingerprint("lag_high", {"model_id": f"mdl-{i:02d}"}): f"mdl-{i:02d}" for i in range(20)}
        return {
            "slack": [_one(m.text) for m in self.slack.received],
            "pagerduty": [(by_fingerprint[e["dedup_key"]], "firing" if e["event_action"] == "trigger" else "resolved")
                          for e in self.pagerduty.received],
            "email": [_one(str(m.message["Subject"])) for m in self.smtp.received],
            "webhook": [(a["labels"]["model_id"], a["status"]) for r in self.webhook.received
                        for a in r.json()["alerts"]],
        }

    def count(self, n: int) -> bool:
        return all(len(got) >= n for got in self.received().values())

    def failed_attempts(self, channel: str) -> int:
        return self.outcomes[channel]["retry"] + self.outcomes[channel]["failure"]

    async def raise_alerts(self, *records: AlertRecord) -> None:
        await produce(self.bootstrap, self.topics.alerts, [(r.fingerprint.encode(), r.encode()) for r in records])

    def fakes(self) -> list[Any]:
        assert self.pagerduty is not None
        return [self.slack, self.pagerduty, self.smtp, self.webhook]


def _one(text: str) -> tuple[str, str]:
    """(model, status) from a Slack text or an email subject such as ``[FIRING:1] lag_high mdl-03``."""
    model = next(word for word in text.replace("*", " ").split() if word.startswith("mdl-"))
    return model, "resolved" if text.lstrip("[").upper().startswith("RESOLVED") else "firing"


@asynccontextmanager
async def edge(bootstrap: str, prefix: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
               **email_settings: Any) -> AsyncIterator[Edge]:
    clock = VirtualClock()
    e = Edge(bootstrap, prefix, clock)
    e.ca = ThrowawayCA(tmp_path)
    e.pagerduty = FakePagerDuty(ssl_context=e.ca.server_context(), keys={ROUTING_KEY})
    async with AsyncExitStack() as stack:
        for fake in e.fakes():
            await stack.enter_async_context(fake)
        monkeypatch.setenv("OUT_SLACK_WEBHOOK", e.slack.webhook_url(HOOK))
        monkeypatch.setenv("OUT_PD_KEY", ROUTING_KEY)
        monkeypatch.setenv("OUT_HOOK_SECRET", SIGNING_SECRET)
        routing = fanout_routing(e.slack, e.pagerduty, e.ca, e.smtp, e.webhook, "OUT")
        for receiver in routing["receivers"]:
            if receiver["name"] == "email":
                receiver["settings"].update(email_settings)
        # as the worker creates it (one partition), before a produce could auto-create it otherwise
        await create_topics(bootstrap, [e.topics.alerts], partitions=1)
        config = Config.from_mapping({"kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix,
                                                "group_id": f"{prefix}-workers"}})
        e.start(config, RoutingConfig.from_mapping(routing))
        try:
            yield e
        finally:
            await e.stop()


@pytest.mark.parametrize("failure", ["refused", "5xx"])
async def test_receivers_down_for_minutes_get_every_alert_afterwards_in_order_once(
        failure, bootstrap, prefix, tmp_path, monkeypatch):
    async with edge(bootstrap, prefix, tmp_path, monkeypatch) as e:
        clock, notifier = e.clock, e.notifier
        assert notifier is not None
        await e.raise_alerts(alert("mdl-00", clock))
        await clock.run_until(lambda: e.count(1), step=0, timeout=60,
                              what=lambda: f"the first alert everywhere: {e.received()} {dict(e.outcomes)}")

        if failure == "refused":
            for fake in e.fakes():
                await fake.outage()
        else:
            await e.slack.outage(503)
            await e.pagerduty.outage(502)  # type: ignore[union-attr]
            await e.webhook.outage(500, retry_after=20)
            await e.smtp.outage("421 4.3.2 Service shutting down")
        start = clock.now
        await e.raise_alerts(*(alert(f"mdl-{i:02d}", clock) for i in range(1, 5)))
        await clock.run_until(lambda: all(notifier.outbox.waiting(r) == 4 for r in RECEIVERS), step=1,
                              what="four alerts waiting for each receiver")
        await e.raise_alerts(alert("mdl-01", clock, Status.RESOLVED))
        await clock.run_until(lambda: all(notifier.outbox.waiting(r) == 5 for r in RECEIVERS), step=1,
                              what="the resolve waiting too")
        await clock.run_until(
            lambda: clock.now - start >= 600 and all(e.failed_attempts(c) >= 5 for c in RECEIVERS),
            what=f"ten minutes of outage with retries; failed attempts {dict(e.outcomes)}")
        assert all(len(got) == 1 for got in e.received().values()), "nothing got through during the outage"

        for fake in e.fakes():
            await fake.recover()
        await e.raise_alerts(alert("mdl-05", clock))  # behind everything else in each receiver's queue
        await clock.run_until(lambda: e.count(7), what=f"every alert after the recovery: {e.received()}")
        assert clock.now - start < 3600, "within the repeat interval, so no repeat is expected"

    expected = [("mdl-00", "firing"), *((f"mdl-{i:02d}", "firing") for i in range(1, 5)), ("mdl-01", "resolved"),
                ("mdl-05", "firing")]
    assert e.received() == {receiver: expected for receiver in RECEIVERS}
    assert e.pagerduty is not None and e.pagerduty.alerts[fingerprint("lag_high", {"model_id": "mdl-01"})] == "resolved"


async def test_a_receiver_that_hangs_holds_up_no_other_receiver(bootstrap, prefix, tmp_path, monkeypatch):
    """The notifier used to await a whole flush: one SMTP server that does not answer stalled Slack,
    PagerDuty and the webhook, and the reading of new alerts, for as long as it took."""
    async with edge(bootstrap, prefix, tmp_path, monkeypatch, timeout=120) as e:
        clock, notifier = e.clock, e.notifier
        assert notifier is not None
        e.smtp.hang()
        await e.raise_alerts(alert("mdl-00", clock))
        others = ("slack", "pagerduty", "webhook")
        await clock.run_until(lambda: e.smtp.hanging == 1 and all(len(e.received()[r]) == 1 for r in others),
                              step=0, timeout=60, what="the first alert at the others while SMTP hangs")
        await e.raise_alerts(alert("mdl-01", clock))
        await clock.run_until(lambda: all(len(e.received()[r]) == 2 for r in others), step=0, timeout=30,
                              what=f"the second alert at the others while SMTP still hangs: {e.received()}")
        assert e.smtp.hanging == 1 and e.smtp.received == [] and notifier.outbox.waiting("email") == 2
        e.smtp.release()
        await clock.run_until(lambda: len(e.smtp.received) == 2, step=0, timeout=30, what="both emails")
    assert e.received()["email"] == [("mdl-00", "firing"), ("mdl-01", "firing")]
    assert e.smtp.attempts == 2, "each email sent once"


async def test_notifications_waiting_when_the_notifier_stops_are_sent_by_the_next_one(
        bootstrap, prefix, tmp_path, monkeypatch):
    """What waits in the outbox is checkpointed as not sent: a restart delivers it, and only once."""
    async with edge(bootstrap, prefix, tmp_path, monkeypatch) as e:
        clock, first = e.clock, e.notifier
        assert first is not None
        await e.raise_alerts(alert("mdl-00", clock))
        await clock.run_until(lambda: e.count(1), step=0, timeout=60, what="the first alert everywhere")
        for fake in e.fakes():
            await fake.outage()
        await e.raise_alerts(alert("mdl-01", clock), alert("mdl-02", clock))
        await clock.run_until(lambda: all(first.outbox.waiting(r) == 2 for r in RECEIVERS), step=1,
                              what="two alerts waiting for each receiver")
        await e.stop()
        for fake in e.fakes():
            await fake.recover()
        second = e.start(first.config, first.routing)
        await e.raise_alerts(alert("mdl-03", clock))
        await clock.run_until(lambda: e.count(4), step=1, timeout=60,
                              what=lambda: f"the waiting alerts from the next notifier: {e.received()}")
    expected = [(f"mdl-{i:02d}", "firing") for i in range(4)]
    assert e.received() == {receiver: expected for receiver in RECEIVERS}
    assert second.delivered == 3 * len(RECEIVERS)


# --- the broker restarts under a running worker ------------------------------------------------------

def counted_events(worker: WorkerProcess) -> int:
    return int(sum(value for (name, _), value in worker.metrics().items() if name == "driftline_events_total"))


def checkpoints_written(worker: WorkerProcess) -> int:
    return int(worker.value("driftline_checkpoints_total") or 0)


@pytest.fixture(scope="module")
def restartable_kafka(kafka_kind: str) -> Iterator[ApacheKafka]:
    """An Apache Kafka of these tests' own: restarting it must not disturb other tests' broker."""
    if kafka_kind != "apache":
        pytest.skip("restarts a broker process on its data directory: Apache Kafka (DRIFTLINE_TEST_KAFKA=apache)")
    kafka = ApacheKafka().start()
    try:
        yield kafka
    finally:
        kafka.stop()


@pytest.mark.apache
@pytest.mark.parametrize("checkpoint, restart_when", [
    # without checkpoints (faust commits offsets): restart once the worker consumes
    pytest.param({"enabled": False}, "consuming", id="faust-offsets"),
    # checkpoints every second; restart once one was written (a later one falls in the outage)
    pytest.param({"interval_seconds": 1.0}, "checkpointed", id="checkpoints"),
    # the first checkpoint falls in the outage: restart before it (the restart lasts longer than 5 s)
    pytest.param({"interval_seconds": 5.0}, "before-first-checkpoint", id="first-checkpoint-in-outage"),
])
def test_a_broker_restart_under_a_running_worker_loses_and_doubles_no_event(
        checkpoint, restart_when, restartable_kafka, prefix, tmp_path):
    """Apache Kafka stopped and started again on its port and data while a worker consumes and a
    producer keeps producing: the worker reconnects and every event is counted once."""
    kafka = restartable_kafka
    topics = TopicNames(prefix)
    asyncio.run(create_topics(kafka.bootstrap_servers, list(topics.inputs), partitions=2))
    worker = WorkerProcess(worker_config(kafka.bootstrap_servers, prefix, checkpoint=checkpoint), tmp_path).start()
    try:
        sent = asyncio.run(produce_across_a_restart(kafka, topics, worker, restart_when))
        counts: list[int] = []

        def settled() -> bool:
            if "Crashed reason=" in worker.log_path.read_text(errors="replace"):
                raise AssertionError("the worker's faust app crashed")
            counts.append(counted_events(worker))
            return counts[-1] == sent

        try:
            wait_until(settled, timeout=90, what=f"{sent} events counted once")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; counted {counts[-3:]}\n{worker.log_tail()}") from None
        assert worker.process is not None and worker.process.poll() is None
    finally:
        code = worker.stop(timeout=15)
    assert code == 0, worker.log_tail()


async def produce_across_a_restart(kafka: ApacheKafka, topics: TopicNames, worker: WorkerProcess,
                                   restart_when: str) -> int:
    """Produce envelopes of ten events without pause, restart the broker meanwhile; returns the events sent."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all", enable_idempotence=True,
                                request_timeout_ms=120_000, retry_backoff_ms=250)
    await producer.start()
    sent = 0
    stop = asyncio.Event()

    async def keep_producing() -> None:
        nonlocal sent
        for n in itertools.count():
            if stop.is_set():
                return
            model = ("fraud", "churn")[n % 2]
            events = [{"model_id": model, "ts": time.time() - 5, "features": {"x": float(i)}, "prediction": i % 2,
                       "request_id": f"{n}-{i}"} for i in range(10)]
            await producer.send_and_wait(topics.predictions, key=model.encode(), value=json.dumps({"events": events}).encode())
            sent += len(events)

    ready = {
        "consuming": lambda: counted_events(worker) >= 500,
        "checkpointed": lambda: counted_events(worker) >= 500 and checkpoints_written(worker) >= 1,
        "before-first-checkpoint": lambda: counted_events(worker) >= 1,
    }[restart_when]
    task = asyncio.create_task(keep_producing())
    try:
        await async_wait_until(lambda: task.done() or ready(), timeout=60, what=f"the worker {restart_when}")
        if restart_when == "before-first-checkpoint" and checkpoints_written(worker):
            pytest.skip("the first checkpoint came before the broker could be stopped")
        await asyncio.to_thread(kafka.restart)
        after_restart = sent
        await async_wait_until(lambda: task.done() or sent >= after_restart + 500, timeout=60,
                               what="producing again after the restart")
        stop.set()
        await task  # raises what the producer raised
    finally:
        stop.set()
        await producer.stop()
    return sent


# --- configuration that cannot be read ----------------------------------------------------------------

RULES = str(REPO / "alert-rules")
BAD_CONFIGS: list[tuple[str, str | None, str]] = [
    # (name, driftline.yaml text (None: no such file), what stderr must say)
    ("missing", None, "missing.yaml: cannot read: No such file or directory"),
    ("yaml", "kafka: [\n", "yaml.yaml (line 2, column 1): invalid YAML"),
    ("type", "kafka: {partitions: many}\n", "type.yaml: kafka.partitions: expected int, got str"),
    ("unknown", "kafka: {bootstrap_server: x}\n", "unknown.yaml: kafka.bootstrap_server: unknown key"),
    ("inline-secret", "kafka: {sasl_password: hunter2}\n",
     "kafka.sasl_password: expected a secret reference, {env: NAME} or {file: PATH}"),
    ("unset-secret", "kafka: {security_protocol: SASL_SSL, sasl_mechanism: PLAIN, sasl_username: u, "
                     "sasl_password: {env: DRIFTLINE_TEST_UNSET}}\n",
     "environment variable DRIFTLINE_TEST_UNSET is not set"),
    ("secret-file", "kafka: {security_protocol: SASL_PLAINTEXT, sasl_mechanism: PLAIN, sasl_username: u, "
                    "sasl_password: {file: /nonexistent/kafka-password}}\n",
     "cannot read file /nonexistent/kafka-password: No such file or directory"),
    ("ca-file", "kafka: {security_protocol: SSL, ssl_cafile: /nonexistent/ca.pem}\n",
     "kafka.ssl_cafile: cannot load /nonexistent/ca.pem: No such file or directory"),
    ("ca-not-pem", "kafka: {security_protocol: SSL, ssl_cafile: CONFIG}\n", "kafka.ssl_cafile: cannot load"),
    ("ignored-tls", "kafka: {ssl_cafile: /etc/ssl/ca.pem}\n",
     "ssl_cafile would be ignored with security_protocol PLAINTEXT"),
    ("ignored-sasl", "kafka: {security_protocol: SSL, sasl_username: u, sasl_password: {env: P}}\n",
     "sasl_username, sasl_password would be ignored with security_protocol SSL"),
    ("rules", "alerting: {rules: /nonexistent/rules}\n", "alerting.rules: /nonexistent/rules does not exist"),
    ("routing", f"alerting: {{rules: {RULES}, routing: /nonexistent/routing.yaml}}\n",
     "/nonexistent/routing.yaml: cannot read: No such file or directory"),
    ("receiver", f"alerting: {{rules: {RULES}, routing: ROUTING}}\n", "settings.token: expected a secret reference"),
]


@pytest.fixture
def bad_configs(tmp_path: Any) -> dict[str, Any]:
    """The files of BAD_CONFIGS, by name."""
    routing = tmp_path / "inline-token-routing.yaml"
    routing.write_text(yaml.safe_dump({"route": {"receiver": "chat"}, "receivers": [
        {"name": "chat", "type": "slack", "settings": {"token": "xoxb-inline", "channel": "#x"}}]}))
    paths = {}
    for name, text, _ in BAD_CONFIGS:
        path = paths[name] = tmp_path / f"{name}.yaml"
        if text is not None:
            path.write_text(text.replace("ROUTING", str(routing)).replace("CONFIG", str(path)))
    return paths


@pytest.mark.parametrize("name, message", [(name, message) for name, _, message in BAD_CONFIGS])
def test_a_configuration_that_cannot_be_read_stops_the_worker_at_start_with_a_clear_message(
        name, message, bad_configs, capsys, monkeypatch):
    """Exit status 2 and one line naming the file or the key, before the worker starts."""
    from driftline.app import DriftlineWorker

    monkeypatch.setattr(DriftlineWorker, "run", lambda self, **_: pytest.fail(f"{name}: the worker started"))
    assert main(["worker", "--config", str(bad_configs[name])]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_the_worker_process_exits_with_status_2_and_no_traceback(bad_configs, tmp_path):
    done = subprocess.run([sys.executable, "-m", "driftline", "worker", "--config", str(bad_configs["ca-file"])],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("driftline: kafka.ssl_cafile: cannot load")
    assert "Traceback" not in done.stderr
