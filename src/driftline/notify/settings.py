"""Checking a receiver's pass-through settings into a channel's typed settings struct.

Errors name the receiver and the setting key, like the rest of the configuration:

>>> import msgspec
>>> class Demo(msgspec.Struct, forbid_unknown_fields=True):
...     url: str
...     timeout: float = 10.0
>>> parse_settings(Receiver("hook", "webhook", settings={"url": "http://x", "timout": 3}), Demo)
Traceback (most recent call last):
...
driftline.error.ConfigError: receiver 'hook' (webhook): settings.timout: unknown key
"""

from __future__ import annotations

import ssl
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

import msgspec

from driftline.alerting.receiver import Receiver
from driftline.config import Secret, describe_validation_error
from driftline.error import ConfigError, PermanentNotifyError

S = TypeVar("S")

Timeout = Annotated[float, msgspec.Meta(gt=0, le=300)]


def parse_settings(receiver: Receiver, cls: type[S]) -> S:
    """``receiver.settings`` validated into ``cls``; ConfigError naming the receiver and key."""
    try:
        return msgspec.convert(dict(receiver.settings), cls, strict=True)
    except msgspec.ValidationError as exc:
        message = describe_validation_error(exc, root=cls)
        key, _, rest = message.partition(": ")
        where = "settings" if key == "(top level)" else f"settings.{key}"
        raise ConfigError(f"{where_receiver(receiver)}: {where}: {rest}") from None


def where_receiver(receiver: Receiver) -> str:
    return f"receiver {receiver.name!r} ({receiver.type})"


def reveal(receiver: Receiver, key: str, secret: Secret | None) -> str | None:
    """The secret's value, read now (so a rotated secret is picked up); unreadable is permanent."""
    if secret is None:
        return None
    try:
        return secret.reveal()
    except ConfigError as exc:  # names the variable or file, never the value
        raise PermanentNotifyError(f"{where_receiver(receiver)}: settings.{key}: {exc}") from None


def check_http_url(value: str, key: str, https_only: bool = False) -> None:
    """Raise ValueError (msgspec turns it into a validation error) unless ``value`` is an http(s) URL."""
    schemes = ("https",) if https_only else ("http", "https")
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in schemes or not parts.netloc:
        raise ValueError(f"{key}: expected an {' or '.join(schemes)} URL")


def tls_context(ca_file: str | None) -> ssl.SSLContext | None:
    """A client context trusting ``ca_file`` (for private CAs and tests); None for the system's."""
    return ssl.create_default_context(cafile=ca_file) if ca_file else None
