"""Alerting end to end: a real broker and worker process, the real clients, and fakes at the network edge.

An event batch that crosses a threshold → exactly one notification per receiver the
route names, with the right severity; the recovery → exactly one resolve each. Slack,
PagerDuty (over TLS, with a throw-away CA) and a webhook are fakes that speak their
APIs; email goes to a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import json
import time

import pytest

from driftline.alerting.model import fingerprint
from tests.support.fakes.pagerduty import FakePagerDuty
from tests.support.fakes.slack import HOOK, FakeSlack
from tests.support.fakes.smtp import SmtpServer
from tests.support.fakes.tls import ThrowawayCA
from tests.support.fakes.webhook import FakeWebhookReceiver
from tests.support.alerting import LAG_RULE, ROUTING_KEY, fanout_routing
from tests.support.alerting import rules as alert_rules
from tests.support.kafka import async_wait_until, produce
from tests.support.worker import WorkerProcess, worker_config

pytestmark = pytest.mark.e2e

SIGNING_SECRET = "webhook-signing-s3cret"


def batch(ts: float) -> list[tuple[bytes, bytes]]:
    events = [{"model_id": "fraud", "model_version": "v7", "ts": ts + i * 0.001, "features": {"x": 1.0},
               "prediction": 1} for i in range(10)]
    return [(b"fraud", json.dumps({"events": events}).encode())]


async def test_one_notification_per_receiver_then_one_resolve(broker, prefix, tmp_path, monkeypatch):
    import yaml

    ca = ThrowawayCA(tmp_path)
    slack, pagerduty = FakeSlack(), FakePagerDuty(ssl_context=ca.server_context(), keys={ROUTING_KEY})
    webhook = FakeWebhookReceiver(secret=SIGNING_SECRET)
    async with slack, pagerduty, webhook, SmtpServer() as smtp:
        monkeypatch.setenv("E2E_SLACK_WEBHOOK", slack.webhook_url(HOOK))
        monkeypatch.setenv("E2E_PD_KEY", ROUTING_KEY)
        monkeypatch.setenv("E2E_HOOK_SECRET", SIGNING_SECRET)
        rules = tmp_path / "rules"
        rules.mkdir()
        (rules / "lag.yaml").write_text(alert_rules(LAG_RULE))
        (tmp_path / "routing.yaml").write_text(yaml.safe_dump(fanout_routing(slack, pagerduty, ca, smtp, webhook, "E2E")))
        config = worker_config(broker.bootstrap_servers, prefix, alerting={
            "rules": str(rules), "routing": str(tmp_path / "routing.yaml"), "notify_tick_seconds": 0.1})
        worker = WorkerProcess(config, tmp_path).start()
        try:
            await produce(broker.bootstrap_servers, f"{prefix}.predictions", batch(time.time() - 3600))
            receivers = (slack, pagerduty, webhook, smtp)
            await async_wait_until(lambda: all(len(r.received) >= 1 for r in receivers), timeout=90,
                                   what=f"a notification at every receiver\n{worker.log_tail()}")
            await produce(broker.bootstrap_servers, f"{prefix}.predictions", batch(time.time()))
            await async_wait_until(lambda: all(len(r.received) >= 2 for r in receivers), timeout=60,
                                   what=f"a resolve at every receiver\n{worker.log_tail()}")
        finally:
            assert worker.stop() == 0, worker.log_tail()
        log = worker.log_path.read_text()

    assert [len(r.received) for r in receivers] == [2, 2, 2, 2], "exactly one firing and one resolve each"
    fp = fingerprint("lag_high", {"model_id": "fraud"})
    trigger, resolve = pagerduty.received
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert trigger["dedup_key"] == resolve["dedup_key"] == fp
    assert trigger["payload"]["severity"] == "error" and "fraud is" in trigger["payload"]["summary"]
    assert pagerduty.alerts == {fp: "resolved"}
    firing_mail, resolved_mail = smtp.received
    assert "[FIRING:1]" in firing_mail.message["Subject"] and "[RESOLVED" in resolved_mail.message["Subject"]
    first, second = slack.received
    assert "lag_high" in json.dumps(first.blocks) and "https://runbooks.example.com/lag" in json.dumps(first.blocks)
    hooks = [json.loads(request.body) for request in webhook.received]
    assert [h["status"] for h in hooks] == ["firing", "resolved"]
    for secret in (ROUTING_KEY, SIGNING_SECRET, HOOK):
        assert secret not in log, "a secret leaked into the worker's log"
