"""PagerDuty Events API v2 through PagerDuty's maintained client, ``pagerduty.EventsApiV2Client``.

Settings (``type: pagerduty``)::

    routing_key: {env: DRIFTLINE_PAGERDUTY_ROUTING_KEY}   # the integration's 32-character key
    api_url: https://events.pagerduty.com                 # https only (the client refuses http)
    ca_file: /path/ca.pem                                 # trust this CA (tests, TLS proxies)
    timeout: 10                                           # seconds per request

One event per alert, with the alert's fingerprint as ``dedup_key`` so that a replayed
notification lands on the same PagerDuty alert: ``trigger`` for a firing alert (summary
of at most 1,024 characters, source = model_id, our severity, which is one of PagerDuty's
four, component = ``feature``, group = ``model_version``, class = rule, unless the labels
``component``/``group``/``class`` say otherwise; custom details; runbook and dashboard
links) and ``resolve`` for a resolved one.

The client is synchronous, so it runs in a thread (``asyncio.to_thread``). Read from its
source (pagerduty 7.2, ``api_client.py``): ``ApiClient.request`` retries by itself and
sleeps with ``time.sleep`` -- a 429 without limit, 500/502/503/504 two to six times,
network errors three times -- and raises ``pagerduty.HttpError`` for other 4xx (the 401
message quotes the key's last four characters) and ``pagerduty.Error`` once network
attempts are exhausted. Retrying is RetryStage's job, so here the client tries once:
``max_network_attempts = 0``, and an httpx response hook (the client passes extra keyword
arguments to its ``httpx2.Client``) raises ``httpx2.HTTPStatusError`` on any non-2xx
answer before the client's retry loop sees it. Translation: 429 and 5xx retryable (after
``Retry-After``), 400 and other 4xx permanent, network errors and timeouts retryable.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import httpx2
import msgspec
import pagerduty

from driftline.alerting.group import Notification
from driftline.alerting.model import AlertRecord
from driftline.alerting.receiver import Receiver
from driftline.config import Secret
from driftline.error import NotifyError, PermanentNotifyError, RetryableNotifyError
from driftline.notify import render
from driftline.notify.channel import ReceiverChannel, connection_error, shorten, status_error
from driftline.notify.redact import Redactor
from driftline.notify.settings import Timeout, check_http_url, tls_context
from driftline.notify.stage import NotifyContext

DEFAULT_API_URL = "https://events.pagerduty.com"
MAX_SUMMARY = 1024
CLIENT_LOGGER = "driftline.notify.pagerduty.client"

Event = tuple[str, AlertRecord]  # ("trigger" | "resolve", alert)


class PagerDutySettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The settings of a PagerDuty receiver."""

    routing_key: Secret
    api_url: str = DEFAULT_API_URL
    ca_file: str | None = None
    timeout: Timeout = 10.0

    def __post_init__(self) -> None:
        check_http_url(self.api_url, "api_url", https_only=True)


class PagerDutyNotifier(ReceiverChannel[PagerDutySettings]):
    """Sends one Events API v2 event per alert of the notification."""

    kind = "pagerduty"
    settings_type = PagerDutySettings

    def __init__(self, receiver: Receiver) -> None:
        super().__init__(receiver)
        self._verify: ssl.SSLContext | bool = tls_context(self.settings.ca_file) or True

    async def notify(self, ctx: NotifyContext, notification: Notification) -> None:
        key = self.reveal("routing_key")
        assert key is not None
        redact = Redactor([key])
        events: list[Event] = [("trigger", a) for a in notification.firing]
        events += [("resolve", a) for a in notification.resolved]
        try:
            await asyncio.to_thread(self._send, key, events, redact)
        except (httpx2.HTTPError, pagerduty.Error, OSError) as exc:
            raise events_error(self.where, exc, redact) from redact.cause(exc)

    def _send(self, key: str, events: list[Event], redact: Redactor) -> None:
        """In a worker thread: one client, one request per event, no retries of its own."""
        with pagerduty.EventsApiV2Client(
            key, base_url=self.settings.api_url, verify=self._verify,
            event_hooks={"response": [_raise_for_status]},
        ) as client:
            client.max_network_attempts = 0
            client.timeout = self.settings.timeout
            client.log = redact.logger(CLIENT_LOGGER)
            for action, alert in events:
                if action == "trigger":
                    client.trigger(**trigger_arguments(alert))
                else:
                    client.resolve(alert.fingerprint)


def trigger_arguments(alert: AlertRecord) -> dict[str, Any]:
    """The keyword arguments of ``EventsApiV2Client.trigger`` for a firing alert."""
    labels = alert.labels
    payload = {
        "timestamp": alert.starts_at,
        "component": labels.get("component") or labels.get("feature"),
        "group": labels.get("group") or labels.get("model_version"),
        "class": labels.get("class") or alert.rule,
    }
    details = {
        "rule": alert.rule, "labels": dict(labels), "value": alert.value, "threshold": alert.threshold,
        "starts_at": alert.starts_at, "event_ts": alert.event_ts, "description": alert.description,
    }
    return {
        "summary": render.truncate(render.one_line(alert.summary) or alert.rule, MAX_SUMMARY),
        "source": labels.get("model_id") or "driftline",
        "dedup_key": alert.fingerprint,
        "severity": alert.severity.value,
        "payload": {k: v for k, v in payload.items() if v},
        "custom_details": details,
        "links": [{"href": url, "text": label} for label, url in render.links(alert)],
    }


def events_error(where: str, exc: BaseException, redact: Redactor) -> NotifyError:
    """Translate what the client raises: by HTTP status where there was an answer."""
    response = getattr(exc, "response", None)
    if isinstance(exc, (httpx2.HTTPStatusError, pagerduty.HttpError)) and response is not None:
        error = status_error(where, response.status_code, redact(_answer(response)), response.headers.get("Retry-After"))
        if error is not None:
            return error
        return RetryableNotifyError(f"{where}: unexpected answer (HTTP {response.status_code})")
    if isinstance(exc, pagerduty.UrlError):
        return PermanentNotifyError(f"{where}: {redact(shorten(str(exc)))}")
    return connection_error(where, exc.__cause__ or exc, redact)  # the client's Error wraps the network error


def _raise_for_status(response: httpx2.Response) -> None:
    """httpx response hook: any non-2xx answer leaves the client at once, body read for the error."""
    if not response.is_success:
        response.read()
        response.raise_for_status()


def _answer(response: httpx2.Response) -> str:
    try:
        return response.text
    except (httpx2.ResponseNotRead, UnicodeDecodeError):
        return ""
