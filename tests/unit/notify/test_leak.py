"""No secret leaks: for every channel, failures with secret-bearing settings, and the secret appears
nowhere -- not in log lines (DEBUG, the client libraries' included), not in the errors raised (with
their tracebacks and chains), not in what was sent.

The channels run through RetryStage (so its log lines are covered too) against the fakes on loopback
and against a closed port; each fake also answers once with an error that quotes the secret back, as
a careless server might, to show that what the channel quotes of an answer is redacted.
"""

from __future__ import annotations

import json
import logging
import random
from typing import Any

import pytest

from driftline.alerting.receiver import Receiver
from driftline.error import NotifyError, PermanentNotifyError, RetryableNotifyError
from driftline.notify.pipeline import build_channel
from driftline.notify.retry import RetryPolicy, RetryStage
from tests.support.fakes.pagerduty import FakePagerDuty
from tests.support.fakes.slack import FakeSlack
from tests.support.fakes.smtp import SmtpServer
from tests.support.fakes.tls import ThrowawayCA
from tests.support.fakes.webhook import FakeWebhookReceiver
from tests.unit.notify.support import FakeTime, alert, closed_port, context, error_text, notification

TOKEN = "xoxb-4242-4242-LEAKCANARYslacktoken"
HOOK_PATH = "/services/T42/B42/LEAKCANARYhookpath"
ROUTING_KEY = "LEAKCANARYroutingkey0123456789ab"
PASSWORD = "LEAKCANARY-smtp-password"
SIGNING_SECRET = "LEAKCANARY-signing-secret"
URL_TOKEN = "/hooks/LEAKCANARY-url-token"
SERVER_LOGGERS = ("mail.log", "aiohttp.server", "aiohttp.access", "aiohttp.web")
POLICY = RetryPolicy(initial_delay=1.0, multiplier=2.0, max_delay=2.0, max_elapsed=4.0, jitter=0.0)

class Leaks:
    """Collects every text that could carry a secret out, and checks it."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.errors: list[NotifyError] = []
        self.sent: list[str] = []

    async def run(self, receiver: Receiver) -> NotifyError | None:
        channel = build_channel(receiver)
        time = FakeTime()
        stage = RetryStage(channel, policy=POLICY, sleep=time.sleep, clock=time.clock, rng=random.Random(0))
        n = notification(firing=(alert("a"),), receiver=receiver.name)
        try:
            await stage.exec(context(n), n)
        except NotifyError as exc:
            self.errors.append(exc)
            return exc
        return None

    def check(self, *secrets: str) -> None:
        # the fakes' own server logs (aiosmtpd logs every reply it sends) are the far side, not ours
        records = [r for r in self.caplog.records if not r.name.startswith(SERVER_LOGGERS)]
        assert records, "the channels log at debug level; nothing captured means the test is blind"
        logged = [self.caplog.handler.format(r) for r in records]
        texts = [*logged, *(r.getMessage() for r in records), *map(error_text, self.errors), *self.sent]
        for secret in secrets:
            for text in texts:
                assert secret not in text


@pytest.fixture
def leaks(caplog: pytest.LogCaptureFixture) -> Leaks:
    caplog.set_level(logging.DEBUG)
    return Leaks(caplog)


def bodies(fake: Any, drop: str | None = None) -> list[str]:
    """What the fake received: bodies and headers (``drop``: a field the protocol must carry)."""
    texts = []
    for request in fake.requests:
        body = request.json() if request.body.startswith(b"{") else request.body.decode()
        if drop and isinstance(body, dict):
            body.pop(drop, None)
        texts.append(json.dumps(body) + json.dumps({k: v for k, v in request.headers.items()
                                                    if k.lower() != "authorization"}))
    return texts


async def test_slack_token(leaks: Leaks, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LEAK_SLACK_TOKEN", TOKEN)
    async with FakeSlack(tokens={"xoxb-someone-else"}) as slack:
        settings = {"token": {"env": "LEAK_SLACK_TOKEN"}, "channel": "#ml-alerts", "api_url": slack.api_url}
        assert isinstance(await leaks.run(Receiver("chat", "slack", settings=settings)), PermanentNotifyError)
        slack.fail(400, body={"ok": False, "error": f"invalid_auth for {TOKEN}"})
        assert isinstance(await leaks.run(Receiver("chat", "slack", settings=settings)), PermanentNotifyError)
        slack.tokens.add(TOKEN)
        slack.fail(429, retry_after=1)
        slack.fail(500)
        assert await leaks.run(Receiver("chat", "slack", settings=settings)) is None
        leaks.sent += bodies(slack)
    closed = {"token": {"env": "LEAK_SLACK_TOKEN"}, "channel": "#x", "api_url": f"http://127.0.0.1:{closed_port()}/api/"}
    assert isinstance(await leaks.run(Receiver("chat", "slack", settings=closed)), RetryableNotifyError)
    leaks.check(TOKEN)


async def test_slack_webhook_url(leaks: Leaks, monkeypatch: pytest.MonkeyPatch):
    async with FakeSlack() as slack:
        monkeypatch.setenv("LEAK_SLACK_HOOK", slack.webhook_url(HOOK_PATH))
        settings = {"webhook_url": {"env": "LEAK_SLACK_HOOK"}}
        assert isinstance(await leaks.run(Receiver("hook", "slack", settings=settings)), PermanentNotifyError)
        slack.fail(404, body=f"no_service at {slack.webhook_url(HOOK_PATH)}")
        assert isinstance(await leaks.run(Receiver("hook", "slack", settings=settings)), PermanentNotifyError)
        slack.hooks.add(HOOK_PATH)
        slack.fail(503)
        assert await leaks.run(Receiver("hook", "slack", settings=settings)) is None
        leaks.sent += bodies(slack)
    monkeypatch.setenv("LEAK_SLACK_HOOK", f"http://127.0.0.1:{closed_port()}{HOOK_PATH}")
    assert isinstance(await leaks.run(Receiver("hook", "slack", settings=settings)), RetryableNotifyError)
    leaks.check(HOOK_PATH)


async def test_pagerduty_routing_key(leaks: Leaks, monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("LEAK_PD_KEY", ROUTING_KEY)
    ca = ThrowawayCA(tmp_path)
    async with FakePagerDuty(ssl_context=ca.server_context(), keys={"x" * 32}) as pd:
        settings = {"routing_key": {"env": "LEAK_PD_KEY"}, "api_url": pd.base_url, "ca_file": ca.ca_file}
        assert isinstance(await leaks.run(Receiver("pd", "pagerduty", settings=settings)), PermanentNotifyError)
        pd.fail(400, body={"status": "invalid event", "errors": [f"routing key {ROUTING_KEY} is not known"]})
        assert isinstance(await leaks.run(Receiver("pd", "pagerduty", settings=settings)), PermanentNotifyError)
        pd.keys = None
        pd.fail(429, retry_after=1)
        assert await leaks.run(Receiver("pd", "pagerduty", settings=settings)) is None
        leaks.sent += bodies(pd, drop="routing_key")
    closed = {**settings, "api_url": f"https://127.0.0.1:{closed_port()}"}
    assert isinstance(await leaks.run(Receiver("pd", "pagerduty", settings=closed)), RetryableNotifyError)
    leaks.check(ROUTING_KEY)


async def test_webhook_signing_secret_and_url(leaks: Leaks, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LEAK_SIGNING", SIGNING_SECRET)
    async with FakeWebhookReceiver(secret="another-secret", path=URL_TOKEN) as hook:
        monkeypatch.setenv("LEAK_HOOK_URL", hook.url)
        settings = {"url": {"env": "LEAK_HOOK_URL"}, "signing_secret": {"env": "LEAK_SIGNING"}}
        assert isinstance(await leaks.run(Receiver("hook", "webhook", settings=settings)), PermanentNotifyError)
        hook.fail(403, body=f"{hook.url} refused the signature made with {SIGNING_SECRET}")
        assert isinstance(await leaks.run(Receiver("hook", "webhook", settings=settings)), PermanentNotifyError)
        hook.secret = SIGNING_SECRET
        hook.fail(503)
        assert await leaks.run(Receiver("hook", "webhook", settings=settings)) is None
        leaks.sent += bodies(hook)
    monkeypatch.setenv("LEAK_HOOK_URL", f"http://127.0.0.1:{closed_port()}{URL_TOKEN}")
    assert isinstance(await leaks.run(Receiver("hook", "webhook", settings=settings)), RetryableNotifyError)
    leaks.check(SIGNING_SECRET, URL_TOKEN)


async def test_smtp_password(leaks: Leaks, monkeypatch: pytest.MonkeyPatch, tmp_path):
    ca = ThrowawayCA(tmp_path)
    monkeypatch.setenv("LEAK_SMTP_PASSWORD", PASSWORD)
    async with SmtpServer(tls=ca, auth=("driftline", "a-different-password")) as smtp:
        settings = {"host": smtp.host, "port": smtp.port, "from": "driftline@example.com", "to": ["ops@example.com"],
                    "username": "driftline", "password": {"env": "LEAK_SMTP_PASSWORD"}, "ca_file": ca.ca_file}
        assert isinstance(await leaks.run(Receiver("mail", "email", settings=settings)), PermanentNotifyError)
    async with SmtpServer(tls=ca, auth=("driftline", PASSWORD)) as smtp:
        settings |= {"port": smtp.port}
        smtp.reject(f"554 5.7.1 not with password {PASSWORD}")
        assert isinstance(await leaks.run(Receiver("mail", "email", settings=settings)), PermanentNotifyError)
        assert await leaks.run(Receiver("mail", "email", settings=settings)) is None
        leaks.sent += [m.data.decode() for m in await smtp.wait_for(1)]
    settings |= {"port": closed_port()}
    assert isinstance(await leaks.run(Receiver("mail", "email", settings=settings)), RetryableNotifyError)
    leaks.check(PASSWORD)
