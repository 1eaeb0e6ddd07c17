"""PagerDuty events from alerts, and how the client's errors are translated."""

from __future__ import annotations

import httpx2
import msgspec
import pagerduty
import pytest

from driftline.alerting.model import Severity
from driftline.error import PermanentNotifyError, RetryableNotifyError
from driftline.notify.pagerduty import MAX_SUMMARY, events_error, trigger_arguments
from driftline.notify.redact import Redactor
from tests.support.fakes.pagerduty import check_event
from tests.unit.notify.support import alert, assert_error

KEY = "R0SECRETSECRETSECRETSECRETSECR32"


@pytest.mark.parametrize("severity", list(Severity))
def test_a_trigger_event_from_an_alert(severity):
    a = alert("5f0c1d2e3f4a5b6c", severity=severity)
    args = trigger_arguments(a)
    assert args["dedup_key"] == "5f0c1d2e3f4a5b6c" and args["severity"] == severity.value
    assert args["source"] == "fraud-detector" and args["summary"] == a.summary
    assert args["payload"] == {"timestamp": a.starts_at, "component": "amount", "group": "v7",
                               "class": "feature_drift"}
    assert args["custom_details"]["labels"] == a.labels
    assert args["custom_details"]["value"] == 0.31 and args["custom_details"]["threshold"] == 0.25
    assert args["custom_details"]["event_ts"] == a.event_ts
    assert args["links"] == [{"href": a.runbook_url, "text": "Runbook"}, {"href": a.dashboard_url, "text": "Dashboard"}]
    # the event the client builds from these arguments is one PagerDuty accepts
    event = {"event_action": "trigger", "routing_key": KEY, "dedup_key": args["dedup_key"],
             "payload": {"summary": args["summary"], "source": args["source"], "severity": args["severity"],
                         **args["payload"], "custom_details": args["custom_details"]}}
    assert check_event(event) == []


def test_long_summaries_are_cut_to_1024_and_labels_override_component_group_class():
    a = alert("f", summary="x" * 5000, labels={"component": "scorer", "group": "payments", "class": "drift"})
    args = trigger_arguments(a)
    assert len(args["summary"]) == MAX_SUMMARY
    assert args["payload"] | {"timestamp": None} == {"timestamp": None, "component": "scorer",
                                                     "group": "payments", "class": "drift"}


def test_source_falls_back_and_unsafe_links_are_left_out():
    a = msgspec.structs.replace(alert("f", runbook_url="javascript:alert(1)", dashboard_url=""),
                                labels={"feature": "amount"})
    args = trigger_arguments(a)
    assert args["source"] == "driftline" and args["links"] == []


def answer(status: int, body: str = "", headers: dict | None = None) -> httpx2.HTTPStatusError:
    request = httpx2.Request("POST", "https://events.example.com/v2/enqueue")
    response = httpx2.Response(status, text=body, headers=headers, request=request)
    return httpx2.HTTPStatusError("status", request=request, response=response)


REDACT = Redactor([KEY])
WHERE = "receiver 'pd' (pagerduty)"


@pytest.mark.parametrize("exc, cls, text, retry_after", [
    (answer(400, '{"status":"invalid event","errors":["bad"]}'), PermanentNotifyError, "HTTP 400", None),
    (answer(401, f"key {KEY} unknown"), PermanentNotifyError, "key <redacted> unknown", None),
    (answer(429, "{}", {"Retry-After": "30"}), RetryableNotifyError, "HTTP 429", 30.0),
    (answer(500), RetryableNotifyError, "HTTP 500", None),
    (answer(503, "", {"Retry-After": "2"}), RetryableNotifyError, "HTTP 503", 2.0),
    (pagerduty.Error("POST https://x/v2/enqueue: Non-transient network error"), RetryableNotifyError,
     "Non-transient network error", None),
    (pagerduty.UrlError("API base URL must use scheme https://"), PermanentNotifyError, "https", None),
])
def test_client_errors_are_translated(exc, cls, text, retry_after):
    error = events_error(WHERE, exc, REDACT)
    assert_error(error, cls)
    assert text in str(error) and KEY not in str(error)
    if cls is RetryableNotifyError:
        assert error.retry_after == retry_after


def test_a_network_error_names_its_cause():
    try:
        try:
            raise httpx2.ConnectError("[Errno 111] Connection refused")
        except httpx2.ConnectError as inner:
            raise pagerduty.Error("POST https://x/v2/enqueue: Non-transient network error") from inner
    except pagerduty.Error as exc:
        error = events_error(WHERE, exc, REDACT)
    assert_error(error, RetryableNotifyError)
    assert "ConnectError: [Errno 111] Connection refused" in str(error)
