"""The webhook body, its signature, and its settings."""

from __future__ import annotations

import hashlib
import hmac
import json

import msgspec

from driftline.alerting.model import AlertRecord, Status
from driftline.alerting.receiver import Receiver
from driftline.notify.webhook import WebhookNotifier, encode_payload, sign, verify
from tests.unit.notify.support import alert, notification


def test_the_body_carries_the_group_and_the_contract_records():
    n = notification(firing=(alert("a"), alert("b")), resolved=(alert("c", Status.RESOLVED),))
    body = json.loads(encode_payload(n, timestamp=1790000000))
    assert body["version"] == "1" and body["receiver"] == "slack" and body["status"] == "firing"
    assert body["group_labels"] == {"model_id": "fraud-detector"} and body["timestamp"] == 1790000000
    assert [a["fingerprint"] for a in body["alerts"]] == ["a", "b", "c"] and body["truncated_alerts"] == 0
    record = msgspec.convert(body["alerts"][2], AlertRecord)  # each alert is an alert record of the contract
    assert record == n.resolved[0]


def test_max_alerts_truncates_and_says_so():
    n = notification(firing=tuple(alert(f"f{i}") for i in range(5)))
    body = json.loads(encode_payload(n, timestamp=0, max_alerts=2))
    assert len(body["alerts"]) == 2 and body["truncated_alerts"] == 3


def test_resolved_status_when_nothing_fires():
    body = json.loads(encode_payload(notification(resolved=(alert("c", Status.RESOLVED),)), timestamp=0))
    assert body["status"] == "resolved"


def test_the_signature_is_hmac_sha256_of_the_exact_body():
    body = encode_payload(notification(firing=(alert("a"),)), timestamp=0)
    expected = hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert sign("k3y", body) == f"sha256={expected}"
    assert verify("k3y", body, f"sha256={expected}") and not verify("k3y", body + b" ", f"sha256={expected}")


def test_the_url_may_be_a_secret_reference():
    notifier = WebhookNotifier(Receiver("h", "webhook", settings={"url": {"env": "HOOK_URL"}}))
    assert notifier.settings.url.env == "HOOK_URL"
