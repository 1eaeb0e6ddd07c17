"""The operator commands as a user runs them, against a real broker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
import yaml

from driftline.alerting.model import AlertRecord, Severity, Status, fingerprint, rfc3339
from tests.support.kafka import REPO, produce

pytestmark = pytest.mark.integration


@pytest.fixture
def config_file(bootstrap, prefix, tmp_path):
    path = tmp_path / "driftline.yaml"
    path.write_text(yaml.safe_dump({
        "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix},
        "alerting": {"rules": str(REPO / "alert-rules"), "routing": str(REPO / "alert-rules/routing.yaml")},
    }))
    return path


def driftline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "driftline", *args], capture_output=True, text=True, timeout=120)


def test_silences_are_added_listed_and_expired_with_an_audit_trail(config_file):
    added = driftline("silence", "add", "model_id=fraud-detector", "rule=~feature_drift.*", "--duration", "2h",
                      "--comment", "retraining, INC-42", "--author", "ana", "--config", str(config_file))
    assert added.returncode == 0, added.stderr
    silence_id = added.stdout.strip()
    listed = driftline("silence", "list", "--config", str(config_file))
    assert silence_id in listed.stdout and "active" in listed.stdout and "by ana" in listed.stdout
    assert "retraining, INC-42" in listed.stdout and "1 silences" in listed.stdout
    expired = driftline("silence", "expire", silence_id, "--config", str(config_file))
    assert expired.returncode == 0 and f"expired {silence_id}" in expired.stdout
    assert "0 silences" in driftline("silence", "list", "--config", str(config_file)).stdout
    everything = driftline("silence", "list", "--all", "--config", str(config_file)).stdout
    assert silence_id in everything and "expired" in everything and "by ana" in everything


def test_invalid_silences_are_refused_with_a_reason(config_file):
    empty = driftline("silence", "add", "model_id=~.*", "--comment", "x", "--config", str(config_file))
    assert empty.returncode == 2 and "at least one matcher" in empty.stderr
    bad = driftline("silence", "add", "model_id=m", "--duration", "soon", "--comment", "x", "--config", str(config_file))
    assert bad.returncode == 2 and "invalid duration" in bad.stderr
    assert driftline("silence", "expire", "no-such-id", "--config", str(config_file)).returncode == 2


def test_alerts_list_shows_what_is_firing_now(bootstrap, prefix, config_file):
    def record(rule: str, model: str, status: Status) -> AlertRecord:
        labels = {"model_id": model, "model_version": "v1"}
        now = rfc3339(time.time())
        return AlertRecord(fingerprint=fingerprint(rule, labels), rule=rule, status=status, severity=Severity.ERROR,
                           labels=labels, value=1.0, threshold=0.5, starts_at=now,
                           ends_at=now if status is Status.RESOLVED else None, event_ts=now,
                           summary=f"{rule} on {model}")

    records = [record("model_silent", "a", Status.FIRING), record("model_silent", "b", Status.FIRING),
               record("model_silent", "a", Status.RESOLVED)]
    asyncio.run(produce(bootstrap, f"{prefix}.alerts", [(r.fingerprint.encode(), r.encode()) for r in records]))
    listed = driftline("alerts", "list", "--config", str(config_file))
    assert listed.returncode == 0, listed.stderr
    assert "model_silent on b" in listed.stdout and "model_silent on a" not in listed.stdout
    assert "1 alerts firing" in listed.stdout


def test_routes_test_and_check_config(config_file):
    routed = driftline("routes", "test", "rule=model_silent", "severity=error", "model_id=m", "model_version=v1",
                       "--config", str(config_file))
    assert routed.returncode == 0 and "slack" in routed.stdout and "email" in routed.stdout
    checked = driftline("check-config", "--config", str(config_file))
    assert checked.returncode == 0 and "rules" in checked.stdout and "receivers" in checked.stdout
