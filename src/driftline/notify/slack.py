"""Slack through slack-sdk's async clients: an incoming webhook, or a bot token and chat.postMessage.

Settings (``type: slack``), one of the two ways::

    webhook_url: {env: DRIFTLINE_SLACK_WEBHOOK_URL}   # an incoming webhook (posts to its own channel)

    token: {env: DRIFTLINE_SLACK_TOKEN}               # a bot token (xoxb-...) ...
    channel: "#ml-alerts"                             # ... and the channel to post to
    api_url: https://slack.com/api/                   # the Web API (self-hosted proxies, tests)

    timeout: 10                                       # seconds per request
    max_alerts: 10                                    # alerts shown in one message (1-11)

The message is built by :mod:`driftline.notify.blockkit`. Outcomes: a 429 is retryable
after its ``Retry-After``; 5xx and Slack's transient errors (``ratelimited``,
``service_unavailable``, ``internal_error``, ``fatal_error``, ``request_timeout``) are
retryable; ``invalid_auth``, ``channel_not_found``, ``invalid_blocks`` and the other
errors and 4xx are permanent; connection errors and timeouts are retryable.

slack-sdk retries a dropped connection once itself (``AsyncConnectionErrorRetryHandler``).
Its rate-limit and server-error handlers are left out on purpose: they sleep inside the
client, outside RetryStage's clock and time budget, and would stack a second backoff on
top of it. The clients log through a logger that redacts the token and the webhook URL
(the webhook client logs its URL at debug level).
"""

from __future__ import annotations

from typing import Annotated, Any

import aiohttp
import msgspec
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from driftline.alerting.group import Notification
from driftline.config import Secret
from driftline.error import NotifyError, PermanentNotifyError, RetryableNotifyError
from driftline.notify import blockkit
from driftline.notify.channel import ReceiverChannel, connection_error, parse_retry_after, shorten, status_error
from driftline.notify.redact import Redactor
from driftline.notify.settings import Timeout, check_http_url
from driftline.notify.stage import NotifyContext

DEFAULT_API_URL = "https://slack.com/api/"
TRANSIENT_ERRORS = frozenset({"ratelimited", "service_unavailable", "internal_error", "fatal_error", "request_timeout"})
SDK_LOGGER = "driftline.notify.slack.sdk"


class SlackSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The settings of a Slack receiver: ``webhook_url``, or ``token`` and ``channel``."""

    webhook_url: Secret | None = None
    token: Secret | None = None
    channel: str | None = None
    api_url: str = DEFAULT_API_URL
    timeout: Timeout = 10.0
    max_alerts: Annotated[int, msgspec.Meta(ge=1, le=blockkit.MAX_ALERTS)] = 10

    def __post_init__(self) -> None:
        if (self.webhook_url is None) == (self.token is None):
            raise ValueError("set webhook_url, or token and channel: exactly one of webhook_url and token")
        if self.token is not None and not self.channel:
            raise ValueError("channel: required with token")
        if self.webhook_url is not None and self.channel is not None:
            raise ValueError("channel: only with token (an incoming webhook posts to its own channel)")
        check_http_url(self.api_url, "api_url")


class SlackNotifier(ReceiverChannel[SlackSettings]):
    """Posts each notification as one Block Kit message."""

    kind = "slack"
    settings_type = SlackSettings

    async def notify(self, ctx: NotifyContext, notification: Notification) -> None:
        payload = blockkit.message(notification, self.settings.max_alerts)
        if self.settings.token is not None:
            await self._post_message(payload)
        else:
            await self._post_webhook(payload)

    async def _post_message(self, payload: dict[str, Any]) -> None:
        s = self.settings
        token = self.reveal("token")
        redact = Redactor([token])
        client = AsyncWebClient(
            token=token, base_url=s.api_url, timeout=s.timeout,  # type: ignore[arg-type]
            logger=redact.logger(SDK_LOGGER), retry_handlers=_retry_handlers(),
        )
        try:
            await client.chat_postMessage(channel=s.channel, unfurl_links=False, unfurl_media=False, **payload)
        except SlackApiError as exc:
            raise api_error(self.where, exc, redact) from redact.cause(exc)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise connection_error(self.where, exc, redact) from redact.cause(exc)
        except SlackClientError as exc:
            raise PermanentNotifyError(f"{self.where}: {redact(shorten(str(exc)))}") from redact.cause(exc)

    async def _post_webhook(self, payload: dict[str, Any]) -> None:
        url = self.reveal("webhook_url")
        assert url is not None
        redact = Redactor([url])
        client = AsyncWebhookClient(
            url, timeout=self.settings.timeout,  # type: ignore[arg-type]
            logger=redact.logger(SDK_LOGGER), retry_handlers=_retry_handlers(),
        )
        try:
            response = await client.send(unfurl_links=False, unfurl_media=False, **payload)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise connection_error(self.where, exc, redact) from redact.cause(exc)
        error = status_error(self.where, response.status_code, redact(response.body or ""),
                             _header(response.headers, "Retry-After"))
        if error is not None:
            raise error


def api_error(where: str, exc: SlackApiError, redact: Redactor) -> NotifyError:
    """A Web API error: 429 after Retry-After, 5xx and transient error codes retryable, the rest permanent."""
    response = exc.response
    status = getattr(response, "status_code", 0) or 0
    data = getattr(response, "data", None)
    code = str(data.get("error", "")) if isinstance(data, dict) else ""
    detail = redact(shorten(f"HTTP {status}: {code or 'no error code'}"))
    if status == 429 or code == "ratelimited":
        retry_after = parse_retry_after(_header(getattr(response, "headers", None), "Retry-After"))
        return RetryableNotifyError(f"{where}: rate limited ({detail})", retry_after=retry_after)
    if status >= 500 or code in TRANSIENT_ERRORS:
        return RetryableNotifyError(f"{where}: {detail}")
    return PermanentNotifyError(f"{where}: {detail}")


def _retry_handlers() -> list[Any]:
    """Reconnect once, quickly, when a connection drops; rate limits and 5xx go to RetryStage."""
    return [AsyncConnectionErrorRetryHandler(max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.1))]


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for key, value in dict(headers).items():
        if key.lower() == name.lower():
            return value[0] if isinstance(value, list) else str(value)
    return None
