"""The words every channel uses: a notification's title, an alert's value line, safe links.

Everything in an alert record is treated as untrusted text: labels come from events,
summaries from templates over them. Channels escape it for their own format (HTML,
Slack mrkdwn); this module only makes plain strings.

>>> from driftline.alerting.model import AlertRecord, Severity, Status
>>> a = AlertRecord(fingerprint="f1", rule="feature_drift", status=Status.FIRING, severity=Severity.WARNING,
...     labels={"model_id": "fraud-detector", "model_version": "v7", "feature": "amount"}, value=0.31,
...     threshold=0.25, starts_at="2026-11-23T10:04:12Z", ends_at=None, event_ts="", summary="Drift")
>>> n = Notification("slack", "route", "k", {"model_id": "fraud-detector"}, (a, a), ())
>>> title(n)
'[FIRING:2] feature_drift fraud-detector v7'
>>> value_line(a)
'value 0.31 vs threshold 0.25'
>>> safe_url("javascript:alert(1)") is None, safe_url("https://runbooks.example.com/drift")
(True, 'https://runbooks.example.com/drift')
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

from driftline.alerting.group import Notification
from driftline.alerting.model import AlertRecord, Severity

HEADLINE_KEYS = ("rule", "model_id", "model_version")
MAX_URL = 2000
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_URL_FORBIDDEN = re.compile(r"[\s<>\"'\\`\x00-\x1f\x7f]")


def status(notification: Notification) -> str:
    """``firing`` while any alert of the group fires, else ``resolved`` (as Alertmanager)."""
    return "firing" if notification.firing else "resolved"


def title(notification: Notification) -> str:
    """``[FIRING:2] feature_drift fraud-detector v7``: status, count, then what the alerts share."""
    word = f"FIRING:{len(notification.firing)}" if notification.firing else "RESOLVED"
    return one_line(" ".join([f"[{word}]", *headline(notification)]))


def headline(notification: Notification) -> list[str]:
    """Rule, model and version, then the other group labels: the values the alerts share."""
    keys = list(HEADLINE_KEYS) + sorted(k for k in notification.group_labels if k not in HEADLINE_KEYS)
    words = []
    for key in keys:
        value = notification.group_labels.get(key) or _shared(notification.alerts, key)
        if value:
            words.append(value)
    return words


def _shared(alerts: tuple[AlertRecord, ...], key: str) -> str | None:
    values = {a.rule if key == "rule" else a.labels.get(key) for a in alerts}
    return values.pop() if len(values) == 1 else None


def top_severity(notification: Notification) -> Severity:
    """The most urgent severity among the alerts (of the firing ones while any fires)."""
    alerts = notification.firing or notification.alerts
    return min((a.severity for a in alerts), key=lambda s: s.rank, default=Severity.INFO)


def number(value: float | None) -> str:
    """
    >>> number(0.30999999), number(12345678.0), number(None), number(float("nan"))
    ('0.31', '1.235e+07', 'n/a', 'nan')
    """
    if value is None:
        return "n/a"
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.4g}"


def value_line(alert: AlertRecord) -> str:
    """``value 0.31 vs threshold 0.25``; shorter when the record has no value or threshold."""
    if alert.value is None:
        return ""
    if alert.threshold is None:
        return f"value {number(alert.value)}"
    return f"value {number(alert.value)} vs threshold {number(alert.threshold)}"


def one_line(text: str) -> str:
    """Control characters (CR, LF, ...) become spaces: text that is safe in a header line.

    >>> one_line("a\\r\\nBcc: x@y\\tz")
    'a Bcc: x@y z'
    """
    return _CONTROL.sub(" ", text).strip()


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_url(url: str) -> str | None:
    """``url`` if it is a plain http(s) URL fit to link to, else None."""
    if not url or len(url) > MAX_URL or _URL_FORBIDDEN.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def links(alert: AlertRecord) -> list[tuple[str, str]]:
    """(label, url) for the alert's runbook and dashboard, where they are safe to link."""
    found = [("Runbook", safe_url(alert.runbook_url)), ("Dashboard", safe_url(alert.dashboard_url))]
    return [(label, url) for label, url in found if url]


def sorted_labels(alert: AlertRecord) -> list[tuple[str, str]]:
    return sorted(alert.labels.items())
