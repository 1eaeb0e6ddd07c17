"""Helpers of the notify tests: alerts and notifications in one line, a scripted channel, a fake clock."""

from __future__ import annotations

import socket
import traceback
from dataclasses import dataclass, field
from typing import Any

from driftline.alerting.group import Notification
from driftline.alerting.model import AlertRecord, Severity, Status
from driftline.error import NotifyError
from driftline.notify.stage import NotifyContext

T0 = 1_790_000_000.0
MODEL = {"model_id": "fraud-detector", "model_version": "v7"}


def alert(fp: str = "f1", status: Status = Status.FIRING, severity: Severity = Severity.WARNING,
          rule: str = "feature_drift", starts_at: str = "2026-11-23T10:04:12.000Z", **fields: Any) -> AlertRecord:
    labels = {**MODEL, "feature": "amount", "method": "psi", **fields.pop("labels", {})}
    values: dict[str, Any] = dict(
        fingerprint=fp, rule=rule, status=status, severity=severity, labels=labels, value=0.31, threshold=0.25,
        starts_at=starts_at, ends_at=None if status is Status.FIRING else "2026-11-23T11:00:00.000Z",
        event_ts="2026-11-23T10:04:11.870Z", summary=f"Drift in feature amount ({fp})",
        description="PSI above threshold", runbook_url="https://runbooks.example.com/drift",
        dashboard_url="https://grafana.example.com/d/drift",
    )
    values.update(fields)
    return AlertRecord(**values)


def notification(firing: tuple[AlertRecord, ...] = (), resolved: tuple[AlertRecord, ...] = (),
                 receiver: str = "slack", group_key: str = "route:{model_id=\"fraud-detector\"}") -> Notification:
    return Notification(receiver, "route", group_key, {"model_id": "fraud-detector"}, firing, resolved)


def context(n: Notification, now: float = T0, repeat_interval: float = 3600.0) -> NotifyContext:
    return NotifyContext.of(n, now, repeat_interval)


@dataclass
class ScriptedChannel:
    """A channel that raises the scripted errors in turn, then succeeds; records what it was given."""

    errors: list[BaseException] = field(default_factory=list)
    kind: str = "fake"
    sent: list[tuple[NotifyContext, Notification]] = field(default_factory=list)
    calls: int = 0

    async def notify(self, ctx: NotifyContext, n: Notification) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append((ctx, n))


@dataclass
class FakeTime:
    """A clock and a sleeper in one: sleeping moves the clock, nothing waits."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Outcomes:
    counts: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, channel: str, outcome: str) -> None:
        self.counts.append((channel, outcome))


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def error_text(error: BaseException) -> str:
    """An error as a log line with its traceback and chain would show it."""
    return "".join(traceback.format_exception(error))


def assert_error(error: BaseException, cls: type[NotifyError]) -> None:
    assert type(error) is cls, f"{type(error).__name__}: {error}"
