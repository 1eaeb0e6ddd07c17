"""Building the pipeline from receivers, settings errors, and delivering a flush side by side."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from driftline.alerting.receiver import Receiver
from driftline.alerting.routing import RoutingConfig
from driftline.error import ConfigError, PermanentNotifyError, RetryableNotifyError
from driftline.notify.email import EmailNotifier
from driftline.notify.pagerduty import PagerDutyNotifier
from driftline.notify.pipeline import NotificationPipeline, build_channel
from driftline.notify.slack import SlackNotifier
from driftline.notify.synthetic import send_test
from driftline.notify.webhook import WebhookNotifier
from tests.unit.notify.support import T0, FakeTime, Outcomes, ScriptedChannel, alert, notification

REPO = Path(__file__).resolve().parents[3]
SECRET = {"env": "SOME_SECRET"}


def test_the_shipped_routing_file_builds_every_receiver():
    routing = RoutingConfig.load(REPO / "alert-rules")
    p = NotificationPipeline(routing.receivers)
    kinds = {name: type(channel) for name, channel in p.channels.items()}
    assert kinds["slack"] is SlackNotifier and kinds["pagerduty"] is PagerDutyNotifier
    assert kinds["email"] is EmailNotifier
    assert set(p.chains) == set(routing.receivers)


@pytest.mark.parametrize("receiver, message", [
    (Receiver("chat", "slack", settings={"channel": "#x"}),
     "receiver 'chat' (slack): settings: set webhook_url, or token and channel"),
    (Receiver("chat", "slack", settings={"token": SECRET}), "receiver 'chat' (slack): settings: channel: required"),
    (Receiver("chat", "slack", settings={"token": SECRET, "channel": "#x", "api_url": "ftp://x"}),
     "settings: api_url: expected an http or https URL"),
    (Receiver("chat", "slack", settings={"token": "xoxb-inline", "channel": "#x"}),
     "receiver 'chat' (slack): settings.token: expected a secret reference"),
    (Receiver("pd", "pagerduty", settings={}), "receiver 'pd' (pagerduty): settings.routing_key: required key is missing"),
    (Receiver("pd", "pagerduty", settings={"routing_key": SECRET, "api_url": "http://127.0.0.1:1"}),
     "settings: api_url: expected an https URL"),
    (Receiver("pd", "pagerduty", settings={"routing_key": SECRET, "timeout": 0}), "settings.timeout: expected"),
    (Receiver("mail", "email", settings={"to": [], "from": "a@b.c", "host": "h"}), "settings.to: expected"),
    (Receiver("mail", "email", settings={"to": ["x@y.z"], "from": "a@b.c", "host": "h", "colour": 1}),
     "receiver 'mail' (email): settings.colour: unknown key"),
    (Receiver("mail", "email", settings={"to": ["x@y.z"], "from": "a@b.c", "host": "h", "tls": True, "starttls": True}),
     "tls (implicit TLS) and starttls exclude each other"),
    (Receiver("mail", "email", settings={"to": ["x@y.z"], "from": "a@b.c", "host": "h", "starttls": False,
                                         "username": "u", "password": SECRET}),
     "a password is only sent over TLS"),
    (Receiver("mail", "email", settings={"to": ["x@y.z\r\nBcc: e@vil.com"], "from": "a@b.c", "host": "h"}),
     "to: expected an email address"),
    (Receiver("mail", "email", settings={"to": ["x@y.z"], "from": "a@b.c", "smarthost": "h"}),
     "smarthost: expected host:port"),
    (Receiver("hook", "webhook", settings={"url": "file:///etc/passwd"}), "url: expected an http or https URL"),
])
def test_settings_errors_name_the_receiver_and_the_key(receiver, message):
    with pytest.raises(ConfigError) as info:
        NotificationPipeline({receiver.name: receiver})
    assert message in str(info.value)


def test_email_endpoint_defaults():
    def endpoint(**settings):
        return build_channel(Receiver("m", "email", settings={"to": ["x@y.z"], "from": "a@b.c", **settings})).settings.endpoint

    assert endpoint(host="h") == ("h", 587)
    assert endpoint(host="h", tls=True) == ("h", 465)
    assert endpoint(host="h", starttls=False) == ("h", 25)
    assert endpoint(smarthost="[::1]:2525") == ("::1", 2525)


def test_a_type_without_a_channel_is_a_config_error():
    with pytest.raises(ConfigError, match="receiver 'x' \\(slack\\): no channel for type 'slack'"):
        build_channel(Receiver("x", "slack"), factories={})


async def test_send_all_isolates_receivers():
    """One receiver failing for good, one retrying slowly: the third is delivered regardless."""
    gate = asyncio.Event()

    class Slow(ScriptedChannel):
        async def notify(self, ctx, n):
            await gate.wait()
            await super().notify(ctx, n)

    broken = ScriptedChannel([PermanentNotifyError("receiver 'broken': HTTP 400")], kind="webhook")
    slow, fine = Slow(kind="slack"), ScriptedChannel(kind="email")
    channels = {"broken": broken, "slow": slow, "fine": fine}
    receivers = {name: Receiver(name, "slack") for name in channels}
    time, outcomes = FakeTime(), Outcomes()
    p = NotificationPipeline(receivers, factories={"slack": lambda r: channels[r.name]},
                             sleep=time.sleep, clock=time.clock, on_outcome=outcomes)
    batch = [notification(firing=(alert(),), receiver=name) for name in channels]
    task = asyncio.ensure_future(p.send_all(batch, now=T0, repeat_interval=lambda n: 60.0))
    while not fine.sent:
        await asyncio.sleep(0)
    assert not task.done()  # fine is delivered while slow is still under way
    gate.set()
    deliveries = await task
    assert [d.sent is not None for d in deliveries] == [False, True, True]
    assert isinstance(deliveries[0].error, PermanentNotifyError)
    assert sorted(outcomes.counts) == [("email", "success"), ("slack", "success"), ("webhook", "failure")]


async def test_send_all_reports_retryable_failures_after_retrying():
    channel = ScriptedChannel([RetryableNotifyError("HTTP 503")] * 1000, kind="slack")
    time = FakeTime()
    p = NotificationPipeline({"s": Receiver("s", "slack")}, factories={"slack": lambda r: channel},
                             sleep=time.sleep, clock=time.clock)
    [delivery] = await p.send_all([notification(firing=(alert(),), receiver="s")], now=T0)
    assert isinstance(delivery.error, RetryableNotifyError) and channel.calls > 3


async def test_send_test_sends_a_synthetic_notification_straight_to_the_channel():
    channel = ScriptedChannel(kind="slack")
    sent = await send_test(Receiver("ops", "slack"), factories={"slack": lambda r: channel}, now=T0, resolve=True)
    assert [n.firing for _, n in channel.sent][0] == sent.firing
    assert channel.sent[0][1].firing[0].rule == "driftline_test"
    assert channel.sent[1][1].resolved[0].fingerprint == sent.firing[0].fingerprint


def test_webhook_is_a_channel_type_too():
    assert isinstance(build_channel(Receiver("h", "webhook", settings={"url": "https://x.example.com/h"})),
                      WebhookNotifier)
