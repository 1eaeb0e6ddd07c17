"""Helpers of the alerting tests: rules from YAML text, samples and records in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from driftline.alerting.evaluator import AlertEvaluator
from driftline.alerting.model import AlertRecord, Severity, Status
from driftline.alerting.ruleset import RuleSet
from driftline.alerting.sample import Sample
from driftline.error import ConfigError

T0 = 1_790_000_000.0  # an epoch in 2026
MODEL = {"model_id": "fraud", "model_version": "v7"}


def ruleset(text: str, source: str = "test.yaml") -> RuleSet:
    return RuleSet.from_mapping(yaml.safe_load(text), source)


def rule_yaml(**fields: Any) -> str:
    """One rule as YAML, with a default name, severity and summary."""
    rule = {"name": "r", "severity": "warning", "annotations": {"summary": "s"}, **fields}
    return yaml.safe_dump({"rules": [rule]})


def evaluator(**fields: Any) -> AlertEvaluator:
    return AlertEvaluator(ruleset(rule_yaml(**fields)))


def drift(value: float, t: float, feature: str = "amount", events: int | None = None) -> Sample:
    return Sample("feature_drift", {**MODEL, "feature": feature, "method": "psi"}, value, T0 + t, events)


def run(ev: AlertEvaluator, samples: list[Sample], t: float, now: float | None = None) -> list[AlertRecord]:
    return ev.evaluate(samples, event_time=T0 + t, now=T0 + (t if now is None else now))


def record(fp: str, status: Status = Status.FIRING, severity: Severity = Severity.WARNING,
           rule: str = "r", starts_at: str = "2026-01-01T00:00:00.000Z", **labels: str) -> AlertRecord:
    return AlertRecord(
        fingerprint=fp, rule=rule, status=status, severity=severity, labels={**MODEL, **labels},
        value=1.0, threshold=0.5, starts_at=starts_at,
        ends_at=None if status is Status.FIRING else "2026-01-01T01:00:00.000Z",
        event_ts=starts_at, summary=f"{rule} {fp}",
    )


def assert_load_error(load: Callable[[Path], object], path: Path, data: Any, message: str, arg: Path | None = None) -> str:
    """Write ``data`` as YAML to ``path``, load it, and check the error names the file and has ``message``."""
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load(path if arg is None else arg)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    return str(info.value)
