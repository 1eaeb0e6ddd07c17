"""The routing file, ``alert-rules/routing.yaml``: the route tree, the receivers and the inhibition rules.

::

    route:                          # the root: matches every alert, names the default receiver
      receiver: slack
      group_by: [model_id, model_version, rule]
      routes:
        - matchers: [severity=critical]
          receiver: pagerduty
          continue: true
    receivers:
      - name: slack
        type: slack                 # email | slack | pagerduty | webhook
        settings: {channel: "#ml-alerts", token: {env: DRIFTLINE_SLACK_TOKEN}}
    inhibit_rules:
      - source_matchers: [severity=critical]
        target_matchers: ['severity=~warning|info']
        equal: [model_id, model_version]
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import msgspec

from driftline.alerting.inhibit import InhibitRule, InhibitRuleSpec
from driftline.alerting.keypath import KeyPath, convert
from driftline.alerting.receiver import Receiver, ReceiverSpec
from driftline.alerting.route import Route, RouteSpec
from driftline.alerting.ruleset import ROUTING_FILE
from driftline.config import read_yaml


class RoutingSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    route: RouteSpec
    receivers: list[ReceiverSpec]
    inhibit_rules: list[InhibitRuleSpec] = []


@dataclass(frozen=True)
class RoutingConfig:
    """A checked routing file: every receiver a route names exists."""

    route: Route
    receivers: Mapping[str, Receiver]
    inhibit_rules: tuple[InhibitRule, ...] = ()

    @classmethod
    def from_mapping(cls, data: Any, source: str = "<routing>") -> RoutingConfig:
        spec = convert(data, RoutingSpec, source)
        where = KeyPath(source)
        receivers: dict[str, Receiver] = {}
        for i, receiver in enumerate(spec.receivers):
            if receiver.name in receivers:
                raise (where / "receivers" / i / "name").error(f"duplicate receiver name {receiver.name!r}")
            receivers[receiver.name] = Receiver.build(receiver, where / "receivers" / i)
        route = Route.build(spec.route, where / "route")
        for node in route.walk():
            if node.receiver not in receivers:
                raise KeyPath(source, f"{node.id}.receiver").error(
                    f"unknown receiver {node.receiver!r}; expected one of {', '.join(receivers) or '(none defined)'}")
        inhibit = tuple(InhibitRule.build(rule, where / "inhibit_rules" / i) for i, rule in enumerate(spec.inhibit_rules))
        return cls(route, receivers, inhibit)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RoutingConfig:
        """Load a routing file, or the ``routing.yaml`` of a directory."""
        path = Path(path)
        if path.is_dir():
            path = path / ROUTING_FILE
        return cls.from_mapping(read_yaml(path), str(path))
