"""The routing tree (Alertmanager's semantics) and the routing file's validation."""

from __future__ import annotations

import pytest
import yaml

from driftline.alerting.routing import RoutingConfig
from tests.unit.alerting.support import assert_load_error

ROUTING = """
route:
  receiver: default
  group_by: [model_id]
  group_wait: 10s
  routes:
    - matchers: [severity=critical]
      receiver: pager
      continue: true
      group_wait: 1s
      routes:
        - matchers: [team=risk]
          receiver: risk-pager
    - matchers: ['rule=~.*drift.*']
      receiver: ml
      group_by: ['...']
      repeat_interval: 1h
    - matchers: ['severity=~critical|error']
      receiver: ops
receivers:
  - {name: default, type: webhook, settings: {url: "http://127.0.0.1:9/hook"}}
  - {name: pager, type: pagerduty, settings: {routing_key: {env: PD_KEY}}}
  - {name: risk-pager, type: pagerduty, send_resolved: false, settings: {routing_key: {file: /run/secrets/pd}}}
  - {name: ml, type: slack, settings: {channel: "#ml", token: {env: SLACK_TOKEN}}}
  - {name: ops, type: email, settings: {to: [ops@example.com], auth: {password: {env: SMTP_PASSWORD}}}}
inhibit_rules:
  - {source_matchers: [severity=critical], target_matchers: [severity=warning], equal: [model_id]}
"""


@pytest.fixture
def config() -> RoutingConfig:
    return RoutingConfig.from_mapping(yaml.safe_load(ROUTING), "routing.yaml")


def receivers(config, **labels):
    return [route.receiver for route in config.route.match(labels)]


@pytest.mark.parametrize(("labels", "expected"), [
    ({"severity": "critical", "team": "risk", "rule": "lag"}, ["risk-pager", "ops"]),  # child of a continue route
    ({"severity": "critical", "rule": "lag"}, ["pager", "ops"]),  # continue: true goes on to the siblings
    ({"severity": "critical", "rule": "feature_drift"}, ["pager", "ml"]),  # ml has no continue: stops there
    ({"severity": "warning", "rule": "feature_drift"}, ["ml"]),
    ({"severity": "error", "rule": "lag"}, ["ops"]),
    ({"severity": "info", "rule": "lag"}, ["default"]),  # nothing matched: the root itself
    ({}, ["default"]),
])
def test_match_honours_order_continue_and_the_default_route(config, labels, expected):
    assert receivers(config, **labels) == expected


def test_regexes_are_fully_anchored():
    config = RoutingConfig.from_mapping(yaml.safe_load("""
route: {receiver: a, routes: [{matchers: ['rule=~drift'], receiver: b}]}
receivers: [{name: a, type: webhook}, {name: b, type: webhook}]
"""), "routing.yaml")
    assert receivers(config, rule="drift") == ["b"]
    assert receivers(config, rule="feature_drift") == ["a"]


def test_children_inherit_unset_fields(config):
    root = config.route
    pager, ml, ops = root.routes
    risk = pager.routes[0]
    assert (root.group_wait, root.group_interval, root.repeat_interval) == (10, 300, 4 * 3600)  # Alertmanager's defaults
    assert (risk.receiver, risk.group_wait, risk.group_by) == ("risk-pager", 1, ("model_id",))
    assert (ops.group_wait, ops.group_by, ops.repeat_interval) == (10, ("model_id",), 4 * 3600)
    assert ml.group_by is None and ml.repeat_interval == 3600
    assert [r.id for r in root.walk()] == ["route", "route.routes.0", "route.routes.0.routes.0",
                                           "route.routes.1", "route.routes.2"]
    assert root.find("route.routes.1") is ml


def test_group_keys(config):
    root, ml = config.route, config.route.routes[1]
    labels = {"model_id": "fraud", "model_version": "v7", "rule": "x"}
    assert root.group_key(labels) == 'route:{model_id="fraud"}'
    assert ml.group_key(labels) == 'route.routes.1:{model_id="fraud",model_version="v7",rule="x"}'
    assert root.group_labels({"rule": "x"}) == {}


def test_receivers_pass_settings_through(config):
    assert config.receivers["ops"].settings == {"to": ["ops@example.com"], "auth": {"password": {"env": "SMTP_PASSWORD"}}}
    assert config.receivers["risk-pager"].send_resolved is False and config.receivers["pager"].send_resolved


def routing(**changes):
    data = yaml.safe_load(ROUTING)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = data
        for part in path:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value
    return data


@pytest.mark.parametrize(("data", "message"), [
    (routing(route__routes__0__receiver="pagr"),
     "route.routes.0.receiver: unknown receiver 'pagr'; expected one of default, pager, risk-pager, ml, ops"),
    ({"route": {}, "receivers": []}, "route.receiver: required key is missing"),
    (routing(route__matchers=["a=b"]), "route: the root route matches every alert"),
    (routing(route__routes__0__group_wait="soon"), "route.routes.0.group_wait: expected a duration like 30s"),
    (routing(route__group_interval="0s"), "route.group_interval: expected a duration > 0"),
    (routing(route__routes__2__matchers=["severity"]), "route.routes.2.matchers.0: expected a matcher like"),
    (routing(route__group_by=["model_id", "..."]), "route.group_by: '...' means all labels and stands alone"),
    (routing(route__group_by=["model id"]), "route.group_by.0: expected a label name"),
    (routing(route__routes__0__contine=True), "route.routes.0.contine: unknown key"),
    (routing(receivers__0__type="sms"), "receivers.0.type: invalid enum value 'sms'; expected one of email, slack, pagerduty, webhook"),
    (routing(receivers__3__settings={"token": "xoxb-123"}),
     "receivers.3.settings.token: expected a secret reference, {env: NAME} or {file: PATH}; secrets are never written inline"),
    (routing(receivers__4__settings={"auth": {"password": "hunter2"}}), "receivers.4.settings.auth.password: expected a secret"),
    (routing(receivers__1__settings={"routing_key": {"env": "A", "file": "B"}}), "receivers.1.settings.routing_key: expected a secret"),
    (routing(receivers__1__name="default"), "receivers.1.name: duplicate receiver name 'default'"),
    (routing(inhibit_rules__0__target_matchers=["x=~("]), "inhibit_rules.0.target_matchers.0: invalid regular expression"),
    (routing(inhibit_rules__0__equal=["model-id"]), "inhibit_rules.0.equal.0: expected a label name"),
    ({"receivers": []}, "route: required key is missing"),
])
def test_errors_name_the_file_and_the_key(tmp_path, data, message):
    error = assert_load_error(RoutingConfig.load, tmp_path / "routing.yaml", data, message, arg=tmp_path)
    assert "xoxb-123" not in error and "hunter2" not in error
