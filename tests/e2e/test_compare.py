"""Champion/challenger end to end: two versions side by side, and a rule that compares them.

A worker process on a real broker, the shipped champion/challenger example rule of
``alert-rules/quality.yaml`` (uncommented, with this test's model and champion), and the
fake webhook as the receiver. Model ``worse``: challenger v2 is far less accurate than
champion v1, so the comparison alert is delivered. Model ``equal``: v2 is as good as v1
(0.01 apart, not significant), so nothing is raised — checked on the whole alert log up to
a marker alert that fires once all of ``equal``'s labels were processed.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition

from driftline.client import AsyncProducer
from tests.support.fakes.webhook import FakeWebhookReceiver
from tests.support.kafka import REPO, async_wait_until
from tests.support.worker import WorkerProcess, worker_config

pytestmark = pytest.mark.e2e

N = 600  # predictions per version, within the default window of 1,000 joins
# errors spread evenly (see correct): 0.907 vs 0.755 for "worse", 0.857 vs 0.843 for "equal" over 600 events
ACCURACY = {("worse", "v1"): 0.90, ("worse", "v2"): 0.75, ("equal", "v1"): 0.85, ("equal", "v2"): 0.84}
ROUND = 200  # labels per model sent at a time (100 per version): rules see the windows grow
MARKER = "zz"  # a version with one prediction whose label comes last: its alert marks the end of a model's labels

MARKER_RULE = f"""
  - name: labels_done
    select:
      value: model_performance
      matchers: [model_version={MARKER}, metric=accuracy]
    condition: {{above: -1}}
    severity: info
    annotations:
      summary: "all labels of {{labels.model_id}} processed"
"""


def shipped_example(model_id: str, champion: str) -> str:
    """The commented champion/challenger rule of alert-rules/quality.yaml, uncommented, for this test's model."""
    text = (REPO / "alert-rules" / "quality.yaml").read_text()
    block = re.search(r"^  # - name: challenger_trails_champion\n(?:^  #.*\n)+", text, re.MULTILINE)
    assert block, "the champion/challenger example is in alert-rules/quality.yaml"
    rule = "\n".join(line.replace("  # ", "  ", 1) for line in block.group(0).splitlines())
    rule = rule.replace("model_id=fraud-detector", f"model_id=~{model_id}")
    rule = rule.replace("baseline: v7", f"baseline: {champion}")
    assert "for: 500 events" in rule
    return "\n" + rule.replace("for: 500 events", "for: 200 events") + "\n"  # windows of 600 here


def correct(model: str, version: str, i: int) -> bool:
    """Whether prediction ``i`` is right: errors spread evenly, so every prefix has about the version's accuracy."""
    return (i * 389) % 1000 < ACCURACY[(model, version)] * 1000


def predictions(model: str, now: float) -> list[dict[str, Any]]:
    events = [{"model_id": model, "model_version": MARKER, "request_id": f"{model}-marker", "ts": now - 700,
               "features": {"x": 0.0}, "prediction": 1, "scores": 0.9}]
    for version in ("v1", "v2"):
        for i in range(N):
            prediction = i % 2
            events.append({"model_id": model, "model_version": version, "request_id": f"{model}-{version}-{i}",
                           "ts": now - 600 + i * 0.5, "features": {"x": float(i % 7)}, "prediction": prediction,
                           "scores": 0.8 if prediction else 0.2})
    return events


def labels(model: str, now: float) -> list[dict[str, Any]]:
    """v1's and v2's labels interleaved, so both windows grow together; the marker's label last."""
    out = []
    for i in range(N):
        for version in ("v1", "v2"):
            prediction = i % 2
            label = prediction if correct(model, version, i) else 1 - prediction
            out.append({"model_id": model, "request_id": f"{model}-{version}-{i}", "label": label,
                        "ts": now - 540 + i * 0.5})
    out.append({"model_id": model, "request_id": f"{model}-marker", "label": 1, "ts": now})
    return out


async def produce(bootstrap: str, prefix: str, kind: str, events: list[dict[str, Any]]) -> None:
    async with AsyncProducer(bootstrap, topic_prefix=prefix) as producer:
        for event in events:
            await producer.send(kind, event)


async def read_alerts(bootstrap: str, topic: str, until: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The alert log from its start until ``until(records)`` holds (one partition: in write order)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: list[dict[str, Any]] = []
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.seek_to_beginning()
        deadline = time.monotonic() + timeout
        while not until(records):
            assert time.monotonic() < deadline, f"alert log so far: {records}"
            batch = await consumer.getmany(timeout_ms=500)
            records.extend(json.loads(r.value) for part in batch.values() for r in part)
    finally:
        await consumer.stop()
    return records


def webhook_alerts(webhook: FakeWebhookReceiver) -> list[dict[str, Any]]:
    return [alert for request in webhook.received for alert in json.loads(request.body)["alerts"]]


async def test_a_worse_challenger_alerts_and_an_equal_one_does_not(broker, prefix, tmp_path):
    bootstrap = broker.bootstrap_servers
    async with FakeWebhookReceiver() as webhook:
        rules = tmp_path / "rules"
        rules.mkdir()
        (rules / "compare.yaml").write_text("rules:" + shipped_example("worse|equal", "v1") + MARKER_RULE)
        routing = {"route": {"receiver": "hook", "group_by": ["model_id", "rule"], "group_wait": "0s",
                             "group_interval": "1s", "repeat_interval": "1h"},
                   "receivers": [{"name": "hook", "type": "webhook", "settings": {"url": webhook.url}}]}
        (tmp_path / "routing.yaml").write_text(yaml.safe_dump(routing))
        config = worker_config(bootstrap, prefix, alerting={
            "rules": str(rules), "routing": str(tmp_path / "routing.yaml"), "notify_tick_seconds": 0.1},
            drift={"enabled": False})
        worker = WorkerProcess(config, tmp_path).start()
        try:
            now = time.time()
            for model in ("worse", "equal"):
                await produce(bootstrap, prefix, "prediction", predictions(model, now))
            pending = {model: 2 * N + 1 for model in ("worse", "equal")}
            await async_wait_until(  # every prediction waits in the join before its label comes
                lambda: all(worker.value("driftline_labels_pending", model_id=m, side="predictions") == n
                            for m, n in pending.items()), timeout=45, what=f"predictions joined\n{worker.log_tail()}")
            streams = {model: labels(model, now) for model in ("worse", "equal")}
            for end in range(ROUND, 2 * N + 1 + ROUND, ROUND):  # rounds, each joined before the next (`for: N events`)
                await asyncio.gather(*(produce(bootstrap, prefix, "label", s[end - ROUND:end])
                                       for s in streams.values()))
                await async_wait_until(
                    lambda: all(worker.value("driftline_labels_joined_total", model_id=m) == min(end, 2 * N + 1)
                                for m in streams), timeout=30, what=f"labels up to {end} joined\n{worker.log_tail()}")
            await async_wait_until(
                lambda: any(a["rule"] == "challenger_trails_champion" for a in webhook_alerts(webhook)),
                timeout=45, what=f"the comparison alert at the webhook\n{worker.log_tail()}")

            def both_done(records: list[dict[str, Any]]) -> bool:
                return {r["labels"]["model_id"] for r in records if r["rule"] == "labels_done"} == {"worse", "equal"}

            log = await read_alerts(bootstrap, f"{prefix}.alerts", both_done)
        finally:
            assert worker.stop() == 0, worker.log_tail()

    compared = [r for r in log if r["rule"] == "challenger_trails_champion"]
    assert [(r["labels"]["model_id"], r["labels"]["model_version"], r["status"]) for r in compared] == [
        ("worse", "v2", "firing")], "only the worse challenger, once; nothing for the equal one"
    [alert] = [a for a in webhook_alerts(webhook) if a["rule"] == "challenger_trails_champion"]
    assert alert["labels"] == {"model_id": "worse", "model_version": "v2", "metric": "accuracy"}
    assert alert["severity"] == "error" and 0.1 < alert["value"] < 0.2
    summary = re.fullmatch(r"Challenger v2 of worse is (0\.\d{3}) less accurate than champion v1 \((0\.\d{3}), "
                           r"p = (\S+)\)", alert["summary"])
    assert summary, alert["summary"]
    assert float(summary[1]) == pytest.approx(alert["value"], abs=5e-4) and float(summary[3]) < 0.01
