"""Email over SMTP with aiosmtplib: a plain-text and an HTML part, Alertmanager's subject.

Settings (``type: email``)::

    to: [ml-oncall@example.com]        # one or more addresses
    from: driftline@example.com
    host: smtp.example.com             # and port; or smarthost: smtp.example.com:587
    port: 587                          # default 465 with tls, 587 with starttls, else 25
    starttls: true                     # upgrade with STARTTLS (default unless tls); required when set
    tls: false                         # implicit TLS from the first byte (port 465)
    username: driftline
    password: {env: DRIFTLINE_SMTP_PASSWORD}   # only ever sent over TLS
    timeout: 10                        # seconds, for connecting and each SMTP command
    ca_file: /etc/ssl/private-ca.pem   # trust this CA instead of the system's
    hello: localhost                   # the name given in EHLO

The subject is ``[FIRING:2] feature_drift fraud-detector v7``. Every header is set
through :class:`email.message.EmailMessage`, which refuses CR and LF in header values;
text from alerts is put on one line before that, so a label or summary holding
``\\r\\nBcc: someone`` stays in the subject and adds no header. HTML is escaped.

SMTP replies: 4xx is retryable, 5xx permanent; connection errors and timeouts retryable;
a certificate that does not verify, or a server without STARTTLS or AUTH, permanent.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Annotated

import aiosmtplib
import msgspec

from driftline.alerting.group import Notification
from driftline.alerting.model import AlertRecord
from driftline.alerting.receiver import Receiver
from driftline.config import Secret
from driftline.error import NotifyError, PermanentNotifyError, RetryableNotifyError
from driftline.notify import render
from driftline.notify.channel import ReceiverChannel, connection_error
from driftline.notify.redact import Redactor
from driftline.notify.settings import Timeout, tls_context
from driftline.notify.stage import NotifyContext

MAX_SUBJECT = 250


class EmailSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The settings of an email receiver."""

    to: Annotated[list[str], msgspec.Meta(min_length=1)]
    from_: str = msgspec.field(name="from")
    host: str | None = None
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] | None = None
    smarthost: str | None = None
    starttls: bool | None = None
    tls: bool = False
    username: str | None = None
    password: Secret | None = None
    timeout: Timeout = 10.0
    ca_file: str | None = None
    hello: str = "localhost"

    def __post_init__(self) -> None:
        if (self.host is None) == (self.smarthost is None):
            raise ValueError("set host (and port) or smarthost (host:port), one of them")
        if self.smarthost is not None:
            if self.port is not None:
                raise ValueError("smarthost already holds the port; leave port out")
            _split_smarthost(self.smarthost)
        if self.tls and self.starttls:
            raise ValueError("tls (implicit TLS) and starttls exclude each other")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        if self.password is not None and not (self.tls or self.use_starttls):
            raise ValueError("a password is only sent over TLS: set tls or starttls")
        for key, address in [("from", self.from_), *(("to", a) for a in self.to)]:
            _check_address(key, address)

    @property
    def use_starttls(self) -> bool:
        return self.starttls if self.starttls is not None else not self.tls

    @property
    def endpoint(self) -> tuple[str, int]:
        if self.smarthost is not None:
            return _split_smarthost(self.smarthost)
        assert self.host is not None
        default = 465 if self.tls else 587 if self.use_starttls else 25
        return self.host, self.port or default


class EmailNotifier(ReceiverChannel[EmailSettings]):
    """Sends each notification as one email to the receiver's addresses."""

    kind = "email"
    settings_type = EmailSettings

    def __init__(self, receiver: Receiver) -> None:
        super().__init__(receiver)
        self._tls = tls_context(self.settings.ca_file)

    async def notify(self, ctx: NotifyContext, notification: Notification) -> None:
        s = self.settings
        password = self.reveal("password")
        redact = Redactor([password])
        message = build_message(s, ctx, notification)
        host, port = s.endpoint
        try:
            await aiosmtplib.send(
                message, sender=parseaddr(s.from_)[1], recipients=[parseaddr(a)[1] for a in s.to],
                hostname=host, port=port, username=s.username, password=password, local_hostname=s.hello,
                use_tls=s.tls, start_tls=s.use_starttls, timeout=s.timeout, tls_context=self._tls,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise smtp_error(self.where, exc, redact) from redact.cause(exc)


def build_message(settings: EmailSettings, ctx: NotifyContext, notification: Notification) -> EmailMessage:
    """The email of one notification; header values never hold CR or LF."""
    message = EmailMessage()
    message["Subject"] = render.truncate(render.title(notification), MAX_SUBJECT)
    message["From"] = settings.from_
    message["To"] = ", ".join(settings.to)
    message["Date"] = format_datetime(datetime.fromtimestamp(ctx.now, timezone.utc))
    message["Message-ID"] = make_msgid(domain=parseaddr(settings.from_)[1].rpartition("@")[2] or "driftline")
    message["Auto-Submitted"] = "auto-generated"
    message["X-Driftline-Receiver"] = render.one_line(ctx.receiver)
    message.set_content(text_body(notification))
    message.add_alternative(html_body(notification), subtype="html")
    return message


def text_body(notification: Notification) -> str:
    lines = [render.title(notification), ""]
    for heading, alerts in (("Firing", notification.firing), ("Resolved", notification.resolved)):
        if alerts:
            lines.append(f"{heading} ({len(alerts)})")
            for alert in alerts:
                lines.extend(_text_alert(alert))
            lines.append("")
    lines.append("-- driftline")
    return "\n".join(lines) + "\n"


def _text_alert(alert: AlertRecord) -> list[str]:
    lines = [f"- {render.one_line(alert.summary)}"]
    facts = [f"severity: {alert.severity.value}", render.value_line(alert)]
    lines.append("  " + " | ".join(f for f in facts if f))
    lines.append(f"  started: {render.one_line(alert.starts_at)} (event time {render.one_line(alert.event_ts)})")
    if alert.ends_at:
        lines.append(f"  ended: {render.one_line(alert.ends_at)}")
    lines.append("  labels: " + ", ".join(f"{k}={render.one_line(v)}" for k, v in render.sorted_labels(alert)))
    if alert.description:
        lines.append("  " + alert.description.replace("\n", "\n  "))
    lines.extend(f"  {label.lower()}: {url}" for label, url in render.links(alert))
    return lines


def html_body(notification: Notification) -> str:
    e = html.escape
    parts = [f"<html><body><h2>{e(render.title(notification))}</h2>"]
    for heading, alerts in (("Firing", notification.firing), ("Resolved", notification.resolved)):
        if alerts:
            parts.append(f"<h3>{heading} ({len(alerts)})</h3><ul>")
            parts.extend(_html_alert(alert) for alert in alerts)
            parts.append("</ul>")
    parts.append("<p>&mdash; driftline</p></body></html>")
    return "\n".join(parts)


def _html_alert(alert: AlertRecord) -> str:
    e = html.escape
    facts = " &middot; ".join(e(f) for f in (f"severity {alert.severity.value}", render.value_line(alert)) if f)
    labels = ", ".join(f"<code>{e(k)}={e(v)}</code>" for k, v in render.sorted_labels(alert))
    when = f"started {e(alert.starts_at)}" + (f", ended {e(alert.ends_at)}" if alert.ends_at else "")
    links = " ".join(f'<a href="{e(url)}">{e(label)}</a>' for label, url in render.links(alert))
    description = f"<br>{e(alert.description)}" if alert.description else ""
    return (f"<li><strong>{e(alert.summary)}</strong><br>{facts}<br>{when}<br>{labels}"
            f"{description}{'<br>' + links if links else ''}</li>")


def smtp_error(where: str, exc: BaseException, redact: Redactor) -> NotifyError:
    """Translate an aiosmtplib or socket error: 4xx retryable, 5xx permanent, connection retryable."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        cls: type[NotifyError] = RetryableNotifyError if any(400 <= c < 500 for c in codes) else PermanentNotifyError
        return cls(f"{where}: all recipients refused: {redact(render.one_line(detail))}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        cls = PermanentNotifyError if 500 <= exc.code < 600 else RetryableNotifyError
        return cls(f"{where}: SMTP {exc.code} {redact(render.one_line(exc.message))}")
    if isinstance(exc, aiosmtplib.SMTPNotSupported) or _not_supported(exc):
        return PermanentNotifyError(f"{where}: {redact(render.one_line(str(exc)))}")
    return connection_error(where, exc, redact)


def _not_supported(exc: BaseException) -> bool:
    # aiosmtplib raises a bare SMTPException when the server lacks STARTTLS (or AUTH): a config mismatch
    return type(exc) is aiosmtplib.SMTPException and "not supported" in str(exc)


def _split_smarthost(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"smarthost: expected host:port, got {value!r}")
    return host.strip("[]"), int(port)


def _check_address(key: str, value: str) -> None:
    address = parseaddr(value)[1]
    if "\r" in value or "\n" in value or "@" not in address or any(c.isspace() for c in address):
        raise ValueError(f"{key}: expected an email address, got {value!r}")
