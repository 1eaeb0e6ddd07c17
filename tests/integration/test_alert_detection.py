"""Rule evaluation in a real worker: alert transitions on <prefix>.alerts, driftline_alerts_firing on /metrics."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from driftline.alerting.model import AlertRecord, Status, fingerprint
from tests.support.alerting import LAG_RULE
from tests.support.alerting import rules as alert_rules
from tests.support.kafka import consume, produce, wait_until
from tests.support.worker import WorkerProcess, worker_config

pytestmark = pytest.mark.integration

RULES = alert_rules(LAG_RULE, """
  - name: model_silent
    select: {value: event_rate}
    condition: {absent_for: 3s}
    severity: critical
    annotations:
      summary: "No events from {labels.model_id} {labels.model_version}"
""")


def events(model: str, ts: float, n: int = 20) -> bytes:
    return json.dumps({"events": [{"model_id": model, "model_version": "v1", "ts": ts + i * 0.001,
                                   "features": {"x": float(i)}, "prediction": 1} for i in range(n)]}).encode()


def test_alerts_fire_and_resolve_through_the_alerts_topic(broker, prefix, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "test.yaml").write_text(RULES)
    config = worker_config(broker.bootstrap_servers, prefix,
                           alerting={"rules": str(rules), "evaluation_interval_seconds": 0.5})
    worker = WorkerProcess(config, tmp_path).start()
    try:
        now = time.time()
        # an hour-old batch: lag ~3600 s > 600 fires lag_high at once (no `for`)
        asyncio.run(produce(broker.bootstrap_servers, f"{prefix}.predictions", [(b"m1", events("m1", now - 3600))]))
        wait_until(lambda: worker.value("driftline_alerts_firing", rule="lag_high", severity="error", model_id="m1") == 1,
                   timeout=60, what=f"lag_high firing\n{worker.log_tail()}")
        # fresh events: lag < 60 resolves it
        asyncio.run(produce(broker.bootstrap_servers, f"{prefix}.predictions", [(b"m1", events("m1", time.time()))]))
        wait_until(lambda: worker.value("driftline_alerts_firing", rule="lag_high", severity="error", model_id="m1") is None,
                   timeout=30, what="lag_high resolved")
        # then silence: after 3 s without events model_silent fires from the evaluation timer
        records = asyncio.run(consume(broker.bootstrap_servers, f"{prefix}.alerts", 3, timeout=30))
    finally:
        worker.stop()
    decoded = [AlertRecord.decode(r.value) for r in records]
    lag = [r for r in decoded if r.rule == "lag_high"]
    assert [r.status for r in lag] == [Status.FIRING, Status.RESOLVED]
    firing, resolved = lag
    assert firing.fingerprint == resolved.fingerprint == fingerprint("lag_high", {"model_id": "m1"})
    assert all(r.key == firing.fingerprint.encode() for r in records if AlertRecord.decode(r.value).rule == "lag_high")
    assert firing.value > 3000 and firing.threshold == 600 and firing.summary.startswith("m1 is ")
    assert resolved.ends_at is not None and resolved.value < 60
    assert firing.event_ts.endswith("Z") and resolved.event_ts > firing.event_ts
    silent = [r for r in decoded if r.rule == "model_silent"]
    assert silent and silent[0].status is Status.FIRING and silent[0].severity.value == "critical"
    assert silent[0].labels == {"model_id": "m1", "model_version": "v1"}
