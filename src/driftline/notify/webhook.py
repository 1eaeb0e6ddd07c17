"""A generic webhook: the notification as JSON, POSTed with aiohttp, optionally signed.

Settings (``type: webhook``)::

    url: https://hooks.example.com/driftline        # or {env: NAME} when the URL holds a token
    signing_secret: {env: DRIFTLINE_WEBHOOK_SECRET}  # optional: sign with HMAC-SHA256
    timeout: 10                                      # seconds for the whole request
    max_alerts: 0                                    # 0: all; else send at most this many
    ca_file: /path/ca.pem                            # trust this CA for https

The body (``Content-Type: application/json``)::

    {"version": "1", "receiver": "ops-hook", "status": "firing", "route_id": "route",
     "group_key": "...", "group_labels": {...}, "timestamp": 1790000000,
     "alerts": [<alert records of the contract, firing first>], "truncated_alerts": 0}

Headers: ``X-Driftline-Timestamp`` (epoch seconds, the same as the body's ``timestamp``)
and, with a signing secret, ``X-Driftline-Signature: sha256=<hex>``, the HMAC-SHA256 of the
exact body bytes under the secret. The timestamp is inside the signed body, so a receiver
can refuse old replays. 2xx is delivered; 429 and 5xx are retryable (after
``Retry-After``); other statuses, redirects included, are permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated, Callable

import aiohttp
import msgspec

from driftline.alerting.group import Notification
from driftline.alerting.model import AlertRecord
from driftline.alerting.receiver import Receiver
from driftline.config import Secret
from driftline.error import PermanentNotifyError
from driftline.notify import render
from driftline.notify.channel import ReceiverChannel, connection_error, status_error
from driftline.notify.redact import Redactor
from driftline.notify.settings import Timeout, check_http_url, tls_context
from driftline.notify.stage import NotifyContext

SIGNATURE_HEADER = "X-Driftline-Signature"
TIMESTAMP_HEADER = "X-Driftline-Timestamp"
USER_AGENT = "driftline-notifier"


class WebhookSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The settings of a webhook receiver."""

    url: str | Secret
    signing_secret: Secret | None = None
    timeout: Timeout = 10.0
    max_alerts: Annotated[int, msgspec.Meta(ge=0)] = 0
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.url, str):
            check_http_url(self.url, "url")


class WebhookPayload(msgspec.Struct, kw_only=True):
    """The JSON body of a webhook notification."""

    version: str
    receiver: str
    status: str
    route_id: str
    group_key: str
    group_labels: dict[str, str]
    timestamp: int
    alerts: list[AlertRecord]
    truncated_alerts: int


class WebhookNotifier(ReceiverChannel[WebhookSettings]):
    """POSTs each notification as JSON to one URL."""

    kind = "webhook"
    settings_type = WebhookSettings

    def __init__(self, receiver: Receiver, clock: Callable[[], float] = time.time) -> None:
        super().__init__(receiver)
        self.clock = clock
        self._ssl = tls_context(self.settings.ca_file)

    async def notify(self, ctx: NotifyContext, notification: Notification) -> None:
        s = self.settings
        url = s.url if isinstance(s.url, str) else self.reveal("url")
        key = self.reveal("signing_secret")
        assert url is not None
        if not isinstance(s.url, str) and render.safe_url(url) is None:
            raise PermanentNotifyError(f"{self.where}: settings.url: expected an http or https URL")
        redact = Redactor([key, None if isinstance(s.url, str) else url])
        timestamp = int(self.clock())
        body = encode_payload(notification, timestamp, s.max_alerts)
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, TIMESTAMP_HEADER: str(timestamp)}
        if key is not None:
            headers[SIGNATURE_HEADER] = sign(key, body)
        await self._post(url, body, headers, redact)

    async def _post(self, url: str, body: bytes, headers: dict[str, str], redact: Redactor) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.post(url, data=body, headers=headers, allow_redirects=False,
                                        ssl=self._ssl if self._ssl is not None else True) as response:
                    answer = await response.text(errors="replace")
                    status, retry_after = response.status, response.headers.get("Retry-After")
        except aiohttp.InvalidURL as exc:
            raise PermanentNotifyError(f"{self.where}: invalid URL") from redact.cause(exc)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise connection_error(self.where, exc, redact) from redact.cause(exc)
        error = status_error(self.where, status, redact(answer), retry_after)
        if error is not None:
            raise error


def encode_payload(notification: Notification, timestamp: int, max_alerts: int = 0) -> bytes:
    """The exact body bytes that are sent (and signed)."""
    alerts: list[AlertRecord] = list(notification.alerts)
    shown = alerts if max_alerts == 0 else alerts[:max_alerts]
    payload = WebhookPayload(
        version="1", receiver=notification.receiver, status=render.status(notification),
        route_id=notification.route_id, group_key=notification.group_key,
        group_labels=dict(notification.group_labels), timestamp=timestamp,
        alerts=shown, truncated_alerts=len(alerts) - len(shown),
    )
    return msgspec.json.encode(payload)


def sign(key: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``body`` under ``key``.

    >>> sign("k", b"{}")
    'sha256=add853b103fbcc936a194f9eb15e29c4ff08af6e47d5d1bca4f20218e31e4fff'
    """
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def verify(key: str, body: bytes, signature: str) -> bool:
    """Check a ``sha256=<hex>`` signature in constant time (for receivers written in Python)."""
    return hmac.compare_digest(sign(key, body), signature)
