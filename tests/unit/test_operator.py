"""check-config loads what a worker loads at start and names the file and the key of what is wrong."""

from __future__ import annotations

import pytest
import yaml

from driftline.config import Config
from driftline.error import ConfigError
from driftline.operator import check_config, parse_labels
from driftline.error import DriftlineError
from tests.support.kafka import REPO


def config(tmp_path, routing: dict) -> Config:
    path = tmp_path / "routing.yaml"
    path.write_text(yaml.safe_dump(routing))
    return Config.from_mapping({"alerting": {"rules": str(REPO / "alert-rules"), "routing": str(path)}})


def test_the_shipped_rules_and_routing_check_out():
    report = check_config(Config.from_mapping({"alerting": {
        "rules": str(REPO / "alert-rules"), "routing": str(REPO / "alert-rules/routing.yaml")}}))
    assert report.rules > 5 and {"slack", "pagerduty", "email"} <= set(report.receivers)


def test_channel_settings_are_checked_like_the_notifier_does(tmp_path):
    bad = config(tmp_path, {"route": {"receiver": "chat"},
                            "receivers": [{"name": "chat", "type": "slack", "settings": {"token": {"env": "T"}}}]})
    with pytest.raises(ConfigError, match=r"routing\.yaml: receiver 'chat' \(slack\): settings: channel"):
        check_config(bad)


def test_inline_secrets_are_refused(tmp_path):
    inline = config(tmp_path, {"route": {"receiver": "pd"}, "receivers": [
        {"name": "pd", "type": "pagerduty", "settings": {"routing_key": "0123456789abcdef0123456789abcdef"}}]})
    with pytest.raises(ConfigError) as info:
        check_config(inline)
    assert "0123456789abcdef" not in str(info.value) and "secret reference" in str(info.value)


def test_labels_for_routes_test():
    assert parse_labels(["severity=critical", "model_id=a=b"]) == {"severity": "critical", "model_id": "a=b"}
    with pytest.raises(DriftlineError):
        parse_labels(["no-equals"])
