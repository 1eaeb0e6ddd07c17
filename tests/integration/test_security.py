"""Security: Kafka SASL and TLS settings reach aiokafka and faust, secrets leak nowhere, /metrics binds where told.

Apache Kafka with SASL_PLAINTEXT, SSL and SASL_SSL listeners on loopback (scripts/kafka/start
--sasl --ssl --sasl-ssl: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, a throw-away CA) takes the
clients that ``kafka.*`` configures, and refuses a wrong password and an untrusted certificate.
A worker with its notifier then runs over SASL_SSL with every kind of secret in its
configuration -- the SASL password, a Slack token, a PagerDuty routing key, an SMTP password and
a webhook signing secret -- is made to alert, to retry and to dead-letter, and the test looks for
each secret in its debug log, its /metrics, every record of its topics (dead letters, alerts,
notification log, notifier state, checkpoints) and everything the receivers were sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Iterator

import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from driftline.broker import free_port
from driftline.config import Config
from tests.support.alerting import LAG_RULE, rules
from tests.support.fakes.pagerduty import FakePagerDuty
from tests.support.fakes.slack import CHANNEL, FakeSlack
from tests.support.fakes.smtp import USERNAME, SmtpServer
from tests.support.fakes.tls import ThrowawayCA
from tests.support.fakes.webhook import FakeWebhookReceiver
from tests.support.kafka import ApacheKafka, async_wait_until, produce, wait_until
from tests.support.worker import WorkerProcess, worker_config

pytestmark = pytest.mark.integration

KAFKA_USER, KAFKA_PASSWORD = "driftline", "driftline-secret"  # the start script's SASL user
SECRETS = {
    "SEC_KAFKA_PASSWORD": KAFKA_PASSWORD,
    "SEC_SLACK_TOKEN": "xoxb-4242-LEAKCANARY-slack-token",
    "SEC_PD_KEY": "LEAKCANARYpagerdutyroutingkey032",  # 32 characters, as PagerDuty wants
    "SEC_SMTP_PASSWORD": "LEAKCANARY-smtp-password",
    "SEC_HOOK_SECRET": "LEAKCANARY-webhook-signing-secret",
}


@pytest.fixture(scope="module")
def secure_kafka(kafka_kind: str) -> Iterator[ApacheKafka]:
    if kafka_kind != "apache":
        pytest.skip("SASL and TLS listeners: Apache Kafka (DRIFTLINE_TEST_KAFKA=apache)")
    kafka = ApacheKafka(sasl=True, ssl=True).start()
    try:
        yield kafka
    finally:
        kafka.stop()


def kafka_section(kafka: ApacheKafka, protocol: str, mechanism: str | None = None,
                  password_env: str = "SEC_KAFKA_PASSWORD", **more: Any) -> dict[str, Any]:
    """The ``kafka`` configuration of a client of ``kafka``'s listener for ``protocol``."""
    servers = {"SASL_PLAINTEXT": kafka.sasl_bootstrap_servers, "SSL": kafka.ssl_bootstrap_servers,
               "SASL_SSL": kafka.sasl_ssl_bootstrap_servers}[protocol]
    section: dict[str, Any] = {"bootstrap_servers": servers, "security_protocol": protocol, **more}
    if mechanism is not None:
        section.update(sasl_mechanism=mechanism, sasl_username=KAFKA_USER, sasl_password={"env": password_env})
    if protocol.endswith("SSL"):
        section.setdefault("ssl_cafile", kafka.ssl_cafile)
    return section


async def round_trip(config: Config, topic: str) -> bytes:
    """Produce one record and read it back, with the clients ``config`` makes."""
    producer = AIOKafkaProducer(**config.kafka.aiokafka_options("-test"), acks="all")
    await asyncio.wait_for(producer.start(), 30)
    try:
        await producer.send_and_wait(topic, b"secure hello", partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(**config.kafka.aiokafka_options("-test"), enable_auto_commit=False)
    await asyncio.wait_for(consumer.start(), 30)
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.seek_to_beginning()
        record = await asyncio.wait_for(consumer.getone(), 30)
        return record.value
    finally:
        await consumer.stop()


@pytest.mark.apache
@pytest.mark.parametrize("protocol, mechanism", [
    ("SASL_PLAINTEXT", "PLAIN"), ("SASL_PLAINTEXT", "SCRAM-SHA-256"), ("SASL_PLAINTEXT", "SCRAM-SHA-512"),
    ("SSL", None), ("SASL_SSL", "PLAIN"), ("SASL_SSL", "SCRAM-SHA-512"),
])
async def test_kafka_clients_connect_with_the_configured_security(protocol, mechanism, secure_kafka, prefix,
                                                                  monkeypatch):
    monkeypatch.setenv("SEC_KAFKA_PASSWORD", KAFKA_PASSWORD)
    config = Config.from_mapping({"kafka": kafka_section(secure_kafka, protocol, mechanism)})
    assert await round_trip(config, f"{prefix}.secure") == b"secure hello"


@pytest.mark.apache
@pytest.mark.parametrize("protocol, mechanism, change, refusal", [
    ("SASL_PLAINTEXT", "SCRAM-SHA-256", {}, "SaslAuthenticationFailed"),
    ("SASL_SSL", "PLAIN", {}, "SaslAuthenticationFailed"),
    ("SSL", None, {"ssl_cafile": "OTHER_CA"}, "CERTIFICATE_VERIFY_FAILED"),
])
async def test_kafka_refuses_a_wrong_password_and_an_untrusted_certificate(
        protocol, mechanism, change, refusal, secure_kafka, prefix, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("SEC_KAFKA_PASSWORD", "not-the-password")
    if change.get("ssl_cafile") == "OTHER_CA":
        change = {"ssl_cafile": ThrowawayCA(tmp_path).ca_file}
    config = Config.from_mapping({"kafka": kafka_section(secure_kafka, protocol, mechanism, **change)})
    with pytest.raises(Exception):
        await round_trip(config, f"{prefix}.refused")
    assert refusal in caplog.text


# --- a worker and its notifier with every kind of secret ----------------------------------------------

class DebugWorker(WorkerProcess):
    """``driftline worker --loglevel debug``: the most a worker ever logs."""

    def start(self) -> DebugWorker:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "driftline", "worker", "--config", str(self.config_path), "--loglevel", "debug"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                cwd=self.workdir)
        wait_until(self._serving, timeout=60, what=f"worker metrics at {self.metrics_url}\n{self.log_tail()}")
        return self


def receivers(slack: FakeSlack, pagerduty: FakePagerDuty, smtp: SmtpServer, webhook: FakeWebhookReceiver,
              ca: ThrowawayCA) -> dict[str, Any]:
    """Every error alert to all four receivers at once; each with its secret by reference."""
    fan_out = [{"matchers": ["severity=error"], "receiver": name, "continue": True}
               for name in ("pagerduty", "email", "webhook")]
    return {
        "route": {"receiver": "slack", "group_by": ["model_id", "rule"], "group_wait": "0s", "group_interval": "1s",
                  "repeat_interval": "1h", "routes": [*fan_out, {"matchers": ["severity=error"], "receiver": "slack"}]},
        "receivers": [
            {"name": "slack", "type": "slack", "settings": {
                "token": {"env": "SEC_SLACK_TOKEN"}, "channel": CHANNEL, "api_url": slack.api_url}},
            {"name": "pagerduty", "type": "pagerduty", "settings": {
                "routing_key": {"env": "SEC_PD_KEY"}, "api_url": pagerduty.base_url, "ca_file": ca.ca_file}},
            {"name": "email", "type": "email", "settings": {
                "to": ["oncall@example.com"], "from": "driftline@example.com", "host": smtp.host, "port": smtp.port,
                "username": USERNAME, "password": {"env": "SEC_SMTP_PASSWORD"}, "ca_file": ca.ca_file}},
            {"name": "webhook", "type": "webhook", "settings": {
                "url": webhook.url, "signing_secret": {"env": "SEC_HOOK_SECRET"}}},
        ],
    }


async def every_record(bootstrap: str, prefix: str) -> list[tuple[str, bytes]]:
    """(topic, key and value) of every record of every topic of ``prefix``, to the end of each."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = await admin.describe_topics([t for t in await admin.list_topics() if t.startswith(f"{prefix}.")])
    finally:
        await admin.close()
    partitions = [TopicPartition(t["topic"], p["partition"]) for t in topics for p in t["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    texts: list[tuple[str, bytes]] = []
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning()
        ends = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + 30
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            assert time.monotonic() < deadline, f"could not read {prefix}.* to its end"
            for records in (await consumer.getmany(timeout_ms=500)).values():
                texts += [(r.topic, b"%s=%s" % (r.key or b"", r.value or b"")) for r in records]
    finally:
        await consumer.stop()
    return texts


@pytest.mark.apache
async def test_no_secret_leaks_from_a_worker_and_its_notifier(secure_kafka, prefix, tmp_path, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    ca = ThrowawayCA(tmp_path)
    slack = FakeSlack(tokens={SECRETS["SEC_SLACK_TOKEN"]})
    pagerduty = FakePagerDuty(ssl_context=ca.server_context(), keys={SECRETS["SEC_PD_KEY"]})
    webhook = FakeWebhookReceiver(secret=SECRETS["SEC_HOOK_SECRET"])
    async with slack, pagerduty, webhook, SmtpServer(tls=ca, auth=(USERNAME, SECRETS["SEC_SMTP_PASSWORD"])) as smtp:
        (tmp_path / "rules").mkdir()
        (tmp_path / "rules" / "lag.yaml").write_text(rules(LAG_RULE))
        (tmp_path / "routing.yaml").write_text(yaml.safe_dump(receivers(slack, pagerduty, smtp, webhook, ca)))
        config = worker_config(secure_kafka.bootstrap_servers, prefix, alerting={
            "rules": str(tmp_path / "rules"), "routing": str(tmp_path / "routing.yaml"), "notify_tick_seconds": 0.1})
        config["kafka"].update(kafka_section(secure_kafka, "SASL_SSL", "SCRAM-SHA-512"))
        slack.fail(503)  # a retry, with its error logged
        pagerduty.fail(429, retry_after=0)
        worker = DebugWorker(config, tmp_path).start()
        try:
            events = [{"model_id": "fraud", "ts": time.time() - 3600 + i, "features": {"x": 1.0}, "prediction": 1}
                      for i in range(5)]
            await produce(secure_kafka.bootstrap_servers, f"{prefix}.predictions",
                          [(b"fraud", json.dumps({"events": events}).encode()), (b"fraud", b"{not json")])
            fakes = (slack, pagerduty, webhook, smtp)
            await async_wait_until(lambda: all(len(fake.received) == 1 for fake in fakes), timeout=90,
                                   what=f"a notification at every receiver\n{worker.log_tail()}")
            await async_wait_until(lambda: worker.value("driftline_deadletter_written_total",
                                                        topic=f"{prefix}.predictions") == 1, timeout=30,
                                   what="the dead letter")
            metrics = urllib.request.urlopen(worker.metrics_url, timeout=5).read().decode()
        finally:
            assert worker.stop() == 0, worker.log_tail()
        records = await every_record(secure_kafka.bootstrap_servers, prefix)

    log = worker.log_path.read_text()
    assert " DEBUG " in log and "lag_high" in log, "the log is at debug level and saw the alert"
    scanned = {topic.removeprefix(f"{prefix}.") for topic, _ in records}
    assert {"alerts", "deadletter", "notification-log", "notifier-state"} <= scanned, scanned
    sent = [json.dumps(m.__dict__) for m in slack.received]
    sent += [json.dumps({k: v for k, v in event.items() if k != "routing_key"}) for event in pagerduty.received]
    sent += [mail.data.decode(errors="replace") for mail in smtp.received]
    sent += [json.dumps(r.json()) + json.dumps({k: v for k, v in r.headers.items()}) for r in webhook.received]
    for name, secret in SECRETS.items():
        assert secret not in log, f"{name} in the worker's log"
        assert secret not in metrics, f"{name} in /metrics"
        assert not [topic for topic, r in records if secret.encode() in r], f"{name} in a record of {prefix}.*"
        assert not [text for text in sent if secret in text], f"{name} in what a receiver was sent"


# --- where the HTTP endpoints listen ------------------------------------------------------------------

class WorkerAt(WorkerProcess):
    """A worker whose /metrics and /healthz are looked for at ``metrics.host``."""

    @property
    def metrics_url(self) -> str:
        return f"http://{self.config['metrics']['host']}:{self.config['metrics']['port']}/metrics"


def test_metrics_and_health_listen_on_the_configured_address_only(broker, prefix, tmp_path):
    port = free_port()
    config = worker_config(broker.bootstrap_servers, prefix, metrics_port=port, alerting={"enabled": False})
    config["metrics"]["host"] = "127.0.0.2"  # loopback, but not the address a wildcard or default bind gives
    worker = WorkerAt(config, tmp_path).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.2:{port}/healthz", timeout=5) as response:
            assert response.status == 200
        for path in ("/healthz", "/metrics"):
            with pytest.raises(urllib.error.URLError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5)
    finally:
        assert worker.stop() == 0, worker.log_tail()
