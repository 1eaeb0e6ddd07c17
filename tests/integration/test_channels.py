"""Each channel end to end with its real client library against the fakes on loopback.

aiosmtplib against aiosmtpd (plain, and STARTTLS with AUTH), slack-sdk's async clients against
the fake Slack (webhook and bot token), pagerduty's EventsApiV2Client against the fake Events
API over TLS with a throw-away CA, aiohttp against the fake webhook receiver checking HMAC.
Retries run through RetryStage with an injected sleeper, so nothing here sleeps.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from driftline.alerting.model import Status
from driftline.alerting.receiver import Receiver
from driftline.error import PermanentNotifyError, RetryableNotifyError
from driftline.notify.pipeline import NotificationPipeline, build_channel
from driftline.notify.retry import RetryPolicy, RetryStage
from tests.support.fakes.pagerduty import ROUTING_KEY, FakePagerDuty
from tests.support.fakes.slack import CHANNEL, TOKEN, FakeSlack
from tests.support.fakes.smtp import PASSWORD, USERNAME, SmtpServer
from tests.support.fakes.tls import ThrowawayCA
from tests.support.fakes.webhook import FakeWebhookReceiver
from tests.unit.notify.support import T0, FakeTime, alert, assert_error, context, notification

pytestmark = pytest.mark.integration

POLICY = RetryPolicy(initial_delay=1.0, multiplier=2.0, max_delay=10.0, max_elapsed=60.0, jitter=0.0)
FIRING = notification(firing=(alert("5f0c1d2e3f4a5b6c"), alert("6a7b8c9d0e1f2a3b")))
EMAIL = {"from": "driftline@example.com", "to": ["ml-oncall@example.com"]}


@pytest.fixture
def ca(tmp_path: Any) -> ThrowawayCA:
    return ThrowawayCA(tmp_path)


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, str]]:
    """Secret references whose variables hold the fakes' credentials."""
    values = {"SLACK_TOKEN": TOKEN, "PD_KEY": ROUTING_KEY, "SMTP_PASSWORD": PASSWORD, "HOOK_SECRET": "s3cr3t-hmac"}
    for name, value in values.items():
        monkeypatch.setenv(f"IT_{name}", value)
    return {name: {"env": f"IT_{name}"} for name in values}


async def deliver(receiver: Receiver, n=FIRING) -> FakeTime:
    """Send through RetryStage with a fake clock; returns it (its sleeps are the waits)."""
    time = FakeTime()
    stage = RetryStage(build_channel(receiver), policy=POLICY, sleep=time.sleep, clock=time.clock,
                       rng=random.Random(0))
    await stage.exec(context(n), n)
    return time


# --- email ---------------------------------------------------------------------------------------

async def test_email_over_plain_smtp():
    async with SmtpServer() as smtp:
        settings = {**EMAIL, "host": smtp.host, "port": smtp.port, "starttls": False}
        await deliver(Receiver("email", "email", settings=settings))
        [mail] = await smtp.wait_for(1)
    assert mail.mail_from == "driftline@example.com" and mail.rcpt_tos == ["ml-oncall@example.com"]
    assert mail.message["Subject"] == "[FIRING:2] feature_drift fraud-detector v7"
    assert not mail.tls and mail.login is None
    assert "value 0.31 vs threshold 0.25" in mail.message.get_body(("plain",)).get_content()
    assert "<strong>Drift in feature amount (5f0c1d2e3f4a5b6c)</strong>" in mail.message.get_body(("html",)).get_content()


async def test_email_with_starttls_and_auth(ca, secrets):
    async with SmtpServer(tls=ca, auth=(USERNAME, PASSWORD)) as smtp:
        settings = {**EMAIL, "smarthost": f"{smtp.host}:{smtp.port}", "username": USERNAME,
                    "password": secrets["SMTP_PASSWORD"], "ca_file": ca.ca_file}
        await deliver(Receiver("email", "email", settings=settings))
        [mail] = await smtp.wait_for(1)
    assert mail.tls and mail.login == USERNAME


async def test_email_wrong_password_is_permanent(ca, secrets, monkeypatch):
    monkeypatch.setenv("IT_SMTP_PASSWORD", "not-the-password")
    async with SmtpServer(tls=ca, auth=(USERNAME, PASSWORD)) as smtp:
        settings = {**EMAIL, "host": smtp.host, "port": smtp.port, "username": USERNAME,
                    "password": secrets["SMTP_PASSWORD"], "ca_file": ca.ca_file}
        with pytest.raises(PermanentNotifyError, match="SMTP 535"):
            await deliver(Receiver("email", "email", settings=settings))


async def test_email_4xx_is_retried_and_5xx_is_not():
    async with SmtpServer() as smtp:
        settings = {**EMAIL, "host": smtp.host, "port": smtp.port, "starttls": False}
        smtp.reject("451 4.3.0 try again later")
        time = await deliver(Receiver("email", "email", settings=settings))
        assert time.sleeps == [1.0] and len(await smtp.wait_for(1)) == 1
        smtp.reject("550 5.1.1 mailbox unavailable")
        with pytest.raises(PermanentNotifyError, match="SMTP 550"):
            await deliver(Receiver("email", "email", settings=settings))
        assert len(smtp.received) == 1


async def test_email_needs_starttls_when_it_is_on_and_a_trusted_certificate(ca):
    async with SmtpServer() as smtp:  # no STARTTLS offered, but starttls is on by default
        with pytest.raises(PermanentNotifyError, match="STARTTLS"):
            await deliver(Receiver("email", "email", settings={**EMAIL, "host": smtp.host, "port": smtp.port}))
    async with SmtpServer(tls=ca) as smtp:  # a certificate of a CA that is not trusted
        with pytest.raises(PermanentNotifyError, match="CERTIFICATE_VERIFY_FAILED"):
            await deliver(Receiver("email", "email", settings={**EMAIL, "host": smtp.host, "port": smtp.port}))


# --- Slack ---------------------------------------------------------------------------------------

def bot(slack: FakeSlack, secrets: dict, **more: Any) -> Receiver:
    return Receiver("slack", "slack", settings={"token": secrets["SLACK_TOKEN"], "channel": CHANNEL,
                                                "api_url": slack.api_url, **more})


def hook(slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    monkeypatch.setenv("IT_SLACK_HOOK", slack.webhook_url())
    return Receiver("slack-hook", "slack", settings={"webhook_url": {"env": "IT_SLACK_HOOK"}})


async def test_slack_via_incoming_webhook(monkeypatch):
    async with FakeSlack() as slack:
        await deliver(hook(slack, monkeypatch))
        [message] = await slack.wait_for(1)
    assert message.via == "webhook" and message.text.startswith("[FIRING:2] feature_drift fraud-detector v7")
    assert message.blocks[0]["type"] == "header"


async def test_slack_via_bot_token(secrets):
    async with FakeSlack() as slack:
        await deliver(bot(slack, secrets))
        [message] = await slack.wait_for(1)
        request = slack.requests[0]
    assert message.via == "api" and message.channel == CHANNEL
    assert request.path == "/api/chat.postMessage" and request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.json()["unfurl_links"] is False


@pytest.mark.parametrize("way", ["token", "webhook"])
async def test_slack_429_waits_for_retry_after_then_succeeds(way, secrets, monkeypatch):
    async with FakeSlack() as slack:
        receiver = bot(slack, secrets) if way == "token" else hook(slack, monkeypatch)
        slack.fail(429, retry_after=3)
        time = await deliver(receiver)
        assert time.sleeps == [3.0] and len(slack.requests) == 2 and len(await slack.wait_for(1)) == 1


async def test_slack_5xx_is_retried(secrets):
    async with FakeSlack() as slack:
        slack.fail(503, times=2)
        time = await deliver(bot(slack, secrets))
        assert time.sleeps == [1.0, 2.0] and len(slack.received) == 1


@pytest.mark.parametrize("change, error", [
    ({"tokens": {"xoxb-another"}}, "invalid_auth"),
    ({"channels": {"#elsewhere"}}, "channel_not_found"),
])
async def test_slack_errors_that_do_not_go_away_are_permanent(change, error, secrets):
    async with FakeSlack(**change) as slack:
        with pytest.raises(PermanentNotifyError, match=error):
            await deliver(bot(slack, secrets))
        assert len(slack.requests) == 1


async def test_slack_unknown_webhook_is_permanent(monkeypatch):
    async with FakeSlack(hooks=set()) as slack:
        with pytest.raises(PermanentNotifyError, match="HTTP 404: no_service"):
            await deliver(hook(slack, monkeypatch))


async def test_slack_timeout_is_retryable(secrets):
    async with FakeSlack() as slack:
        slack.hang()
        channel = build_channel(bot(slack, secrets, timeout=0.2))
        with pytest.raises(RetryableNotifyError, match="timed out"):
            await channel.notify(context(FIRING), FIRING)


# --- PagerDuty -----------------------------------------------------------------------------------

def pd_receiver(pd: FakePagerDuty, ca: ThrowawayCA, secrets: dict) -> Receiver:
    return Receiver("pagerduty", "pagerduty", settings={"routing_key": secrets["PD_KEY"], "api_url": pd.base_url,
                                                        "ca_file": ca.ca_file, "timeout": 5})


async def test_pagerduty_trigger_then_resolve_with_the_same_dedup_key(ca, secrets):
    first, second = FIRING.firing
    async with FakePagerDuty(ssl_context=ca.server_context(), keys={ROUTING_KEY}) as pd:
        await deliver(pd_receiver(pd, ca, secrets))
        resolved = notification(firing=(second,), resolved=(alert(first.fingerprint, Status.RESOLVED),))
        await deliver(pd_receiver(pd, ca, secrets), resolved)
        events = await pd.wait_for(4)
    assert [(e["event_action"], e["dedup_key"]) for e in events] == [
        ("trigger", first.fingerprint), ("trigger", second.fingerprint),
        ("trigger", second.fingerprint), ("resolve", first.fingerprint)]
    assert pd.alerts == {first.fingerprint: "resolved", second.fingerprint: "triggered"}
    payload = events[0]["payload"]
    assert payload["severity"] == "warning" and payload["source"] == "fraud-detector"
    assert payload["class"] == "feature_drift" and payload["custom_details"]["threshold"] == 0.25
    assert events[0]["links"][0] == {"href": "https://runbooks.example.com/drift", "text": "Runbook"}


async def test_pagerduty_400_is_not_retried(ca, secrets):
    async with FakePagerDuty(ssl_context=ca.server_context()) as pd:
        pd.fail(400, body={"status": "invalid event", "message": "Event object is invalid", "errors": ["x"]})
        with pytest.raises(PermanentNotifyError, match="HTTP 400") as info:
            await deliver(pd_receiver(pd, ca, secrets))
        assert len(pd.requests) == 1
    assert_error(info.value, PermanentNotifyError)


async def test_pagerduty_rejects_a_bad_event_itself(ca, secrets, monkeypatch):
    monkeypatch.setenv("IT_PD_KEY", "too-short")
    async with FakePagerDuty(ssl_context=ca.server_context()) as pd:
        with pytest.raises(PermanentNotifyError, match="routing_key"):
            await deliver(pd_receiver(pd, ca, secrets))


async def test_pagerduty_429_and_500_are_retried_by_us_not_by_the_client(ca, secrets):
    async with FakePagerDuty(ssl_context=ca.server_context()) as pd:
        pd.fail(429, retry_after=2)
        pd.fail(500)
        time = await deliver(pd_receiver(pd, ca, secrets), notification(firing=(alert("a"),)))
        statuses = [r.status for r in pd.requests]
    assert statuses == [429, 500, 202]  # one request an attempt: the client's own retry loop is off
    assert time.sleeps == [2.0, 2.0]  # Retry-After, then the backoff of the second retry


async def test_pagerduty_connection_refused_is_retryable(ca, secrets):
    async with FakePagerDuty(ssl_context=ca.server_context()) as pd:
        receiver = pd_receiver(pd, ca, secrets)
    with pytest.raises(RetryableNotifyError, match="ConnectError"):
        await build_channel(receiver).notify(context(FIRING), FIRING)


async def test_pagerduty_untrusted_certificate_is_permanent(ca, secrets):
    async with FakePagerDuty(ssl_context=ca.server_context()) as pd:
        receiver = Receiver("pd", "pagerduty", settings={"routing_key": secrets["PD_KEY"], "api_url": pd.base_url})
        with pytest.raises(PermanentNotifyError, match="CERTIFICATE_VERIFY_FAILED"):
            await deliver(receiver)
        assert pd.requests == []


# --- webhook -------------------------------------------------------------------------------------

def webhook(fake: FakeWebhookReceiver, secrets: dict, **more: Any) -> Receiver:
    return Receiver("hook", "webhook", settings={"url": fake.url, "signing_secret": secrets["HOOK_SECRET"], **more})


async def test_webhook_signed_body_is_verified_by_the_receiver(secrets):
    async with FakeWebhookReceiver(secret="s3cr3t-hmac") as fake:
        await deliver(webhook(fake, secrets))
        [request] = await fake.wait_for(1)
    body = request.json()
    assert body["receiver"] == "slack" and body["status"] == "firing" and len(body["alerts"]) == 2
    assert request.headers["X-Driftline-Timestamp"] == str(body["timestamp"])
    assert request.headers["X-Driftline-Signature"].startswith("sha256=")
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body)["alerts"][0]["fingerprint"] == "5f0c1d2e3f4a5b6c"


async def test_webhook_wrong_signature_is_permanent(secrets):
    async with FakeWebhookReceiver(secret="another-secret") as fake:
        with pytest.raises(PermanentNotifyError, match="HTTP 401"):
            await deliver(webhook(fake, secrets))
        assert len(fake.requests) == 1 and fake.received == []


async def test_webhook_503_with_retry_after_is_retried(secrets):
    async with FakeWebhookReceiver(secret="s3cr3t-hmac") as fake:
        fake.fail(503, retry_after=5)
        time = await deliver(webhook(fake, secrets))
        assert time.sleeps == [5.0] and len(await fake.wait_for(1)) == 1


async def test_webhook_timeout_is_retryable(secrets):
    async with FakeWebhookReceiver(secret="s3cr3t-hmac") as fake:
        fake.hang()
        with pytest.raises(RetryableNotifyError, match="timed out"):
            await build_channel(webhook(fake, secrets, timeout=0.2)).notify(context(FIRING), FIRING)


# --- the whole pipeline --------------------------------------------------------------------------

async def test_pipeline_dedups_before_the_network(secrets):
    async with FakeSlack() as slack:
        time = FakeTime()
        p = NotificationPipeline({"slack": bot(slack, secrets)}, sleep=time.sleep, clock=time.clock, retry=POLICY)
        slack.fail(429, retry_after=1)
        assert await p.send(FIRING, now=T0) is not None
        assert await p.send(FIRING, now=T0 + 300) is None
        resolved = notification(resolved=tuple(alert(a.fingerprint, Status.RESOLVED) for a in FIRING.firing))
        assert await p.send(resolved, now=T0 + 600) is not None
        messages = await slack.wait_for(2)
    assert len(slack.requests) == 3 and messages[1].blocks[0]["text"]["text"].startswith("RESOLVED")
