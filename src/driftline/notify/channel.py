"""What every channel shares: the ``Channel`` protocol and the HTTP status rule.

A channel delivers one notification to one receiver and raises
:class:`~driftline.error.RetryableNotifyError` or
:class:`~driftline.error.PermanentNotifyError` when it cannot. The HTTP rule is
Alertmanager's: 2xx is delivered; 429 and 5xx may succeed later; any other status will not.

>>> error = status_error("slack", 503, "busy", retry_after="7")
>>> error, error.retry_after
(RetryableNotifyError('slack: HTTP 503: busy'), 7.0)
>>> status_error("slack", 404, "no_service")
PermanentNotifyError('slack: HTTP 404: no_service')
>>> status_error("slack", 204, "") is None
True
"""

from __future__ import annotations

import ssl
import time
from email.utils import parsedate_to_datetime
from typing import Any, Callable, ClassVar, Generic, Literal, Protocol, TypeVar

from driftline.alerting.group import Notification
from driftline.alerting.receiver import Receiver
from driftline.config import Secret
from driftline.error import NotifyError, PermanentNotifyError, RetryableNotifyError
from driftline.notify.settings import parse_settings, reveal, where_receiver
from driftline.notify.stage import NotifyContext

Outcome = Literal["success", "retry", "failure"]
OnOutcome = Callable[[str, Outcome], None]  # (channel, outcome): driftline_notifications_total
MAX_DETAIL = 300  # characters of a server's answer quoted in an error


class Channel(Protocol):
    """Delivers notifications to one receiver."""

    kind: str  # the receiver type: email, slack, pagerduty, webhook

    async def notify(self, ctx: NotifyContext, notification: Notification) -> None:
        """Deliver ``notification`` or raise a NotifyError that says whether to try again."""
        ...


ChannelFactory = Callable[[Receiver], Channel]
S = TypeVar("S")


class ReceiverChannel(Generic[S]):
    """What the channels share: the receiver, its settings checked into ``settings_type``, secrets."""

    kind: ClassVar[str]
    settings_type: ClassVar[type[Any]]

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.settings: S = parse_settings(receiver, self.settings_type)
        self.where = where_receiver(receiver)  # "receiver 'name' (type)", how errors begin

    def reveal(self, key: str) -> str | None:
        """The secret of setting ``key``, read now; unreadable is a permanent error naming the key."""
        return reveal(self.receiver, key, getattr(self.settings, key))

    def unreadable_secrets(self) -> list[str]:
        """Why each secret setting cannot be read now (naming the variable or file, never a value)."""
        problems = []
        for key in self.settings.__struct_fields__:  # type: ignore[attr-defined]
            if isinstance(getattr(self.settings, key), Secret):
                try:
                    self.reveal(key)
                except NotifyError as exc:
                    problems.append(str(exc))
        return problems


def status_error(where: str, status: int, detail: str, retry_after: str | None = None) -> NotifyError | None:
    """The error for an HTTP status (None for 2xx); ``detail`` must already be redacted."""
    if 200 <= status < 300:
        return None
    message = f"{where}: HTTP {status}: {shorten(detail)}".rstrip(": ")
    if status == 429 or status >= 500:
        return RetryableNotifyError(message, retry_after=parse_retry_after(retry_after))
    return PermanentNotifyError(message)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    >>> parse_retry_after("30"), parse_retry_after(None), parse_retry_after("soon")
    (30.0, None, None)
    >>> parse_retry_after("Thu, 01 Jan 1970 00:01:00 GMT", now=0.0)
    60.0
    """
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def shorten(text: str, limit: int = MAX_DETAIL) -> str:
    """One line of at most ``limit`` characters.

    >>> shorten("a\\nb  c", 10), shorten("x" * 20, 10)
    ('a b c', 'xxxxxxxxx…')
    """
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def connection_error(where: str, exc: BaseException, redact: Callable[[str], str]) -> NotifyError:
    """A failed connection or a timeout: retryable, unless a certificate did not verify."""
    what = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {shorten(str(exc))}"
    cls = PermanentNotifyError if certificate_error(exc) else RetryableNotifyError
    return cls(f"{where}: {redact(what)}")


def certificate_error(exc: BaseException) -> bool:
    """Does the chain of ``exc`` hold a failed certificate check? (Trying again will not help.)"""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        todo += [current.__cause__, current.__context__]
    return False
