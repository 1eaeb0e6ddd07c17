"""The alerting set-up shared by the end-to-end tests and benchmarks/alert_latency.py.

A lag rule that an hour-old event batch crosses at once (no ``for``) and a fresh batch
resolves, and a routing that fans every error out to the four fake receivers with
group_wait 0. Secrets are read from environment variables named with ``env_prefix``.
"""

from __future__ import annotations

from typing import Any

from tests.support.fakes.pagerduty import FakePagerDuty
from tests.support.fakes.slack import FakeSlack
from tests.support.fakes.smtp import SmtpServer
from tests.support.fakes.tls import ThrowawayCA
from tests.support.fakes.webhook import FakeWebhookReceiver

ROUTING_KEY = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY01"  # 32 characters, like PagerDuty's
RECEIVERS = ("slack", "pagerduty", "email", "webhook")

LAG_RULE = """
  - name: lag_high
    select: {value: consumer_lag_seconds}
    condition: {above: 600}
    resolve: {below: 60}
    severity: error
    annotations:
      summary: "{labels.model_id} is {value:.0f} s behind"
      runbook_url: https://runbooks.example.com/lag
"""


def rules(*texts: str) -> str:
    """A rule file of the given rule entries (YAML list items)."""
    return "rules:" + "".join(texts)


def fanout_routing(slack: FakeSlack, pagerduty: FakePagerDuty, ca: ThrowawayCA, smtp: SmtpServer,
                   webhook: FakeWebhookReceiver, env_prefix: str) -> dict[str, Any]:
    """Every error alert to all four receivers, each model's alert its own group, sent at once."""
    fan_out = [{"matchers": ["severity=error"], "receiver": name, "continue": True}
               for name in ("pagerduty", "email", "webhook")]
    return {
        "route": {"receiver": "slack", "group_by": ["model_id", "rule"], "group_wait": "0s",
                  "group_interval": "1s", "repeat_interval": "1h",
                  "routes": [*fan_out, {"matchers": ["severity=error"], "receiver": "slack"}]},
        "receivers": [
            {"name": "slack", "type": "slack", "settings": {"webhook_url": {"env": f"{env_prefix}_SLACK_WEBHOOK"}}},
            {"name": "pagerduty", "type": "pagerduty", "settings": {
                "routing_key": {"env": f"{env_prefix}_PD_KEY"}, "api_url": pagerduty.base_url, "ca_file": ca.ca_file}},
            {"name": "email", "type": "email", "settings": {
                "to": ["oncall@example.com"], "from": "driftline@example.com", "host": smtp.host, "port": smtp.port,
                "starttls": False}},
            {"name": "webhook", "type": "webhook", "settings": {
                "url": webhook.url, "signing_secret": {"env": f"{env_prefix}_HOOK_SECRET"}}},
        ],
    }
