"""The Slack message: mrkdwn escaping, Block Kit structure and limits; Web API errors."""

from __future__ import annotations

import json

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from driftline.alerting.model import Severity, Status
from driftline.error import PermanentNotifyError, RetryableNotifyError
from driftline.notify import blockkit
from driftline.notify.redact import Redactor
from driftline.notify.slack import api_error
from tests.support.fakes.slack import check_message
from tests.unit.notify.support import alert, assert_error, notification

PINGS = ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<#C123>", "<!subteam^S1>", "<https://evil.example|x>")


def all_text(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False)


def test_untrusted_text_cannot_mention_or_link():
    evil = alert("a", rule="<!channel>", summary="<!here> model <@U123> & <https://evil.example|click>",
                 description="<!everyone>", labels={"feature": "<#C123>", "<!subteam^S1>": "x & y"})
    payload = blockkit.message(notification(firing=(evil,)))
    text = all_text(payload)
    for ping in PINGS:
        assert ping not in text
    assert "&lt;!here&gt; model &lt;@U123&gt; &amp; &lt;https://evil.example|click&gt;" in text
    assert payload["text"].startswith("[FIRING:1] &lt;!channel&gt; fraud-detector v7")
    assert "&amp;amp;" not in text  # escaped once


def test_block_kit_structure():
    n = notification(firing=(alert("a", severity=Severity.CRITICAL), alert("b")),
                     resolved=(alert("c", Status.RESOLVED),))
    payload = blockkit.message(n)
    blocks = payload["blocks"]
    assert blocks[0] == {"type": "header", "text": {
        "type": "plain_text", "text": "FIRING:2 CRITICAL feature_drift fraud-detector v7", "emoji": True}}
    summary, fields, actions, divider = blocks[1:5]
    assert summary["type"] == "section" and summary["text"]["type"] == "mrkdwn"
    assert ":red_circle: *Drift in feature amount (a)*" in summary["text"]["text"]
    assert "value 0.31 vs threshold 0.25" in summary["text"]["text"]
    assert "severity `critical`" in summary["text"]["text"]
    assert {"type": "mrkdwn", "text": "*feature*\namount"} in fields["fields"]
    assert [(e["text"]["text"], e["url"]) for e in actions["elements"]] == [
        ("Runbook", "https://runbooks.example.com/drift"), ("Dashboard", "https://grafana.example.com/d/drift")]
    assert divider == {"type": "divider"}
    assert ":large_green_circle:" in blocks[9]["text"]["text"] and "resolved 2026-11-23T11:00:00.000Z" in blocks[9]["text"]["text"]
    assert blocks[-1]["type"] == "context" and "2 firing, 1 resolved" in blocks[-1]["elements"][0]["text"]
    assert check_message(payload) is None  # as Slack would take it


def test_resolved_only_header():
    payload = blockkit.message(notification(resolved=(alert("a", Status.RESOLVED, severity=Severity.ERROR),)))
    assert payload["blocks"][0]["text"]["text"] == "RESOLVED ERROR feature_drift fraud-detector v7"


def test_unsafe_links_get_no_button():
    bad = alert("a", runbook_url="javascript:alert(1)", dashboard_url="https://x.example/a b")
    blocks = blockkit.message(notification(firing=(bad,)))["blocks"]
    assert not [b for b in blocks if b["type"] == "actions"]


def test_limits_hold_for_large_groups():
    labels = {f"label{i:02d}": "v" * 3000 for i in range(15)}
    many = tuple(alert(f"f{i}", summary="s" * 5000, labels=labels, description="d" * 5000) for i in range(40))
    payload = blockkit.message(notification(firing=many), max_alerts=50)
    blocks = payload["blocks"]
    assert len(blocks) <= 50 and check_message(payload) is None
    assert all(len(b.get("fields", [])) <= 10 for b in blocks)
    assert "… and 29 more alert(s) not shown" in all_text(payload)
    assert len(blocks[0]["text"]["text"]) <= 150 and len(payload["text"]) <= 3000


def test_header_stays_within_150_characters_after_escaping():
    n = notification(firing=(alert("a", rule="<&>" * 100),))
    assert len(blockkit.message(n)["blocks"][0]["text"]["text"]) <= 150


def response(status: int, data: dict, headers: dict | None = None) -> AsyncSlackResponse:
    return AsyncSlackResponse(client=None, http_verb="POST", api_url="https://slack.example/api/chat.postMessage",
                              req_args={}, data=data, headers=headers or {}, status_code=status)


@pytest.mark.parametrize("status, data, headers, cls, retry_after", [
    (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "12"}, RetryableNotifyError, 12.0),
    (200, {"ok": False, "error": "ratelimited"}, {}, RetryableNotifyError, None),
    (500, {"ok": False, "error": "internal_error"}, {}, RetryableNotifyError, None),
    (200, {"ok": False, "error": "service_unavailable"}, {}, RetryableNotifyError, None),
    (200, {"ok": False, "error": "invalid_auth"}, {}, PermanentNotifyError, None),
    (200, {"ok": False, "error": "channel_not_found"}, {}, PermanentNotifyError, None),
    (200, {"ok": False, "error": "invalid_blocks"}, {}, PermanentNotifyError, None),
    (404, {"ok": False, "error": "unknown_method"}, {}, PermanentNotifyError, None),
])
def test_web_api_errors_are_translated(status, data, headers, cls, retry_after):
    exc = SlackApiError("The request to the Slack API failed.", response(status, data, headers))
    error = api_error("receiver 'slack' (slack)", exc, Redactor(["xoxb-secret"]))
    assert_error(error, cls)
    assert data["error"] in str(error)
    if cls is RetryableNotifyError:
        assert error.retry_after == retry_after
