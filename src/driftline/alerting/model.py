"""The alert record of the contract (DESIGN.md §2) and its fingerprint.

An alert record is written to ``<prefix>.alerts`` once per state change
(``firing`` or ``resolved``). The notifier reads only these records, so this
module is the whole interface between detection and delivery.

>>> labels = {"model_id": "fraud-detector", "model_version": "v7", "feature": "amount", "method": "psi"}
>>> fp = fingerprint("feature_drift", labels)
>>> fp == fingerprint("feature_drift", dict(reversed(list(labels.items()))))  # order does not matter
True
>>> len(fp)
16
"""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime, timezone
from typing import Mapping

import msgspec


class Severity(str, enum.Enum):
    """PagerDuty's four severities, most urgent first."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical ... 3 for info: lower is more urgent."""
        return list(Severity).index(self)


class Status(str, enum.Enum):
    FIRING = "firing"
    RESOLVED = "resolved"


def fingerprint(rule: str, labels: Mapping[str, str]) -> str:
    """A stable hash of the rule name and the labels: the same alert always has the same fingerprint."""
    digest = hashlib.sha256()
    digest.update(rule.encode())
    for key in sorted(labels):
        digest.update(b"\x00" + key.encode() + b"\x01" + str(labels[key]).encode())
    return digest.hexdigest()[:16]


def rfc3339(epoch: float) -> str:
    """Epoch seconds as an RFC 3339 UTC timestamp with milliseconds, e.g. ``2026-11-23T10:04:12.000Z``."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AlertRecord(msgspec.Struct, kw_only=True, frozen=True):
    """One alert state change, as written to ``<prefix>.alerts`` (keyed by fingerprint)."""

    fingerprint: str
    rule: str
    status: Status
    severity: Severity
    labels: dict[str, str]
    value: float | None
    threshold: float | None
    starts_at: str
    ends_at: str | None
    event_ts: str
    summary: str
    description: str = ""
    runbook_url: str = ""
    dashboard_url: str = ""

    @property
    def firing(self) -> bool:
        return self.status is Status.FIRING

    def encode(self) -> bytes:
        return _encoder.encode(self)

    @classmethod
    def decode(cls, raw: bytes) -> AlertRecord:
        return _decoder.decode(raw)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AlertRecord)
