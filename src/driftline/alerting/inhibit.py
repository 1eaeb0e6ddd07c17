"""Inhibition, with Alertmanager's semantics: a firing alert mutes related, less important ones.

A rule ``{source_matchers, target_matchers, equal}`` mutes an alert that matches the
target matchers while some *firing* alert matches the source matchers and has the same
values of the ``equal`` labels (a missing label counts as ``""`` on both sides). As in
Alertmanager, an alert that matches both sides is never muted by a source that matches
both sides too, so a rule cannot make alerts mute themselves or each other in a circle.

Labels here are :func:`~driftline.alerting.matcher.alert_labels`: the alert's labels
plus ``rule`` and ``severity``.

>>> from driftline.alerting.keypath import KeyPath
>>> rule = InhibitRule.build(InhibitRuleSpec(source_matchers=["severity=critical"],
...     target_matchers=["severity=~warning|info"], equal=["model_id"]), KeyPath("routing.yaml"))
>>> inhibitor = Inhibitor([rule])
>>> inhibitor.add("fp1", {"severity": "critical", "model_id": "m"})
>>> inhibitor.mutes({"severity": "warning", "model_id": "m"}), inhibitor.mutes({"severity": "warning", "model_id": "n"})
('fp1', None)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import msgspec

from driftline.alerting.keypath import KeyPath
from driftline.alerting.matcher import LABEL_NAME, Matcher, alert_labels, matches_all, parse_matchers
from driftline.alerting.model import AlertRecord


class InhibitRuleSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    source_matchers: list[str]
    target_matchers: list[str]
    equal: list[str] = []


@dataclass(frozen=True)
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()

    @classmethod
    def build(cls, spec: InhibitRuleSpec, where: KeyPath) -> InhibitRule:
        for i, name in enumerate(spec.equal):
            if not LABEL_NAME.match(name):
                raise (where / "equal" / i).error(f"expected a label name, got {name!r}")
        return cls(parse_matchers(spec.source_matchers, where / "source_matchers"),
                   parse_matchers(spec.target_matchers, where / "target_matchers"), tuple(spec.equal))

    def equal_labels(self, a: Mapping[str, str], b: Mapping[str, str]) -> bool:
        return all(a.get(name, "") == b.get(name, "") for name in self.equal)


class Inhibitor:
    """The firing alerts that may inhibit others, and the rules that say which."""

    def __init__(self, rules: Iterable[InhibitRule]) -> None:
        self.rules = tuple(rules)
        self._firing: dict[str, dict[str, str]] = {}  # fingerprint -> alert labels

    def observe(self, record: AlertRecord) -> None:
        """Follow the alert log: a firing record may inhibit, a resolved one no longer does."""
        if record.firing:
            self.add(record.fingerprint, alert_labels(record))
        else:
            self._firing.pop(record.fingerprint, None)

    def add(self, fingerprint: str, labels: Mapping[str, str]) -> None:
        self._firing[fingerprint] = dict(labels)

    def mutes(self, labels: Mapping[str, str]) -> str | None:
        """The fingerprint of a firing alert that inhibits an alert with ``labels``, or None."""
        for rule in self.rules:
            if not matches_all(rule.target, labels):
                continue
            two_sided = matches_all(rule.source, labels)
            for fp, source in self._firing.items():
                if not matches_all(rule.source, source) or not rule.equal_labels(source, labels):
                    continue
                if two_sided and matches_all(rule.target, source):
                    continue
                return fp
        return None

    def to_state(self) -> dict[str, Any]:
        return {"firing": {fp: dict(labels) for fp, labels in self._firing.items()}}

    @classmethod
    def from_state(cls, rules: Iterable[InhibitRule], state: Mapping[str, Any]) -> Inhibitor:
        inhibitor = cls(rules)
        for fp, labels in state.get("firing", {}).items():
            inhibitor.add(fp, labels)
        return inhibitor
