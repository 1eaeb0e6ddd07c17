"""The notifier at start: a receiver secret that cannot be read is reported at once, by name, not at the first alert."""

from __future__ import annotations

import logging

from driftline.alerting.routing import RoutingConfig
from driftline.config import Config
from driftline.notifier import Notifier

ROUTING = {
    "route": {"receiver": "chat"},
    "receivers": [
        {"name": "chat", "type": "slack", "settings": {"token": {"env": "UNIT_SLACK_TOKEN"}, "channel": "#x"}},
        {"name": "pager", "type": "pagerduty", "settings": {"routing_key": {"file": "/nonexistent/pd-key"}}},
        {"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:1/", "signing_secret": {"env": "UNIT_HOOK"}}},
    ],
}


def test_unreadable_receiver_secrets_are_logged_at_start_naming_receiver_key_and_source(caplog, monkeypatch):
    monkeypatch.delenv("UNIT_SLACK_TOKEN", raising=False)
    monkeypatch.setenv("UNIT_HOOK", "hook-secret-value")
    with caplog.at_level(logging.ERROR, logger="driftline.notifier"):
        Notifier(Config(), RoutingConfig.from_mapping(ROUTING))
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2, errors
    assert "receiver 'chat' (slack): settings.token: secret: environment variable UNIT_SLACK_TOKEN is not set" in errors[0]
    assert "receiver 'pager' (pagerduty): settings.routing_key: secret: cannot read file /nonexistent/pd-key" in errors[1]
    assert all("will fail until it can be read" in e for e in errors)
    assert "hook-secret-value" not in caplog.text
