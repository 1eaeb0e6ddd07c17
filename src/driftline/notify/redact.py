"""Keeping secrets out of error messages and log lines.

A channel reveals its secrets (token, webhook URL, routing key, password, signing
secret) just before it sends, and builds a :class:`Redactor` from them. Every text that
leaves the channel goes through it: the messages of the errors it raises, the log lines
of the client libraries (through :meth:`Redactor.logger`), and the exception chain, which
is dropped when a link of it quotes a secret (:meth:`Redactor.cause`).

>>> redact = Redactor(["s3cr3t-token", "https://hooks.example.com/services/T0/B0/XyZ123"])
>>> redact("auth failed for s3cr3t-token")
'auth failed for <redacted>'
>>> redact("POST /services/T0/B0/XyZ123 failed")
'POST <redacted> failed'
>>> redact.leaks("nothing here"), redact.leaks("xx s3cr3t-token")
(False, True)
"""

from __future__ import annotations

import logging
import traceback
from typing import Iterable
from urllib.parse import urlsplit

REDACTED = "<redacted>"
_MIN_URL_PART = 8  # a URL's path is redacted on its own when at least this long


class Redactor:
    """Replaces each secret (and the path of a secret URL) with ``<redacted>``."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        values: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            values.add(secret)
            values.update(_url_parts(secret))
        self._values = sorted(values, key=len, reverse=True)  # longest first: a URL before its path

    def __call__(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, REDACTED)
        return text

    def leaks(self, text: str) -> bool:
        return any(value in text for value in self._values)

    def cause(self, exc: BaseException) -> BaseException | None:
        """``exc`` to chain with ``raise ... from``, or None when any link of its chain quotes a secret."""
        text = "".join(traceback.format_exception(exc))
        return None if self.leaks(text) else exc

    def logger(self, name: str) -> logging.Logger:
        """A logger for a client library that redacts every record; it logs as the logger ``name``."""
        private = logging.Logger(name)  # not registered, so its filter goes away with it
        private.parent = logging.getLogger(name)
        private.addFilter(_RedactFilter(self))
        return private


class _RedactFilter(logging.Filter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.redact.leaks(message):
            record.msg, record.args = self.redact(message), ()
        if record.exc_info:
            text = record.exc_text or "".join(traceback.format_exception(*record.exc_info))
            record.exc_info, record.exc_text = None, self.redact(text)
        return True


def _url_parts(secret: str) -> list[str]:
    """The path (with query) of a secret URL: an error may quote it without the host."""
    if "://" not in secret:
        return []
    try:
        parts = urlsplit(secret)
    except ValueError:
        return []
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    return [tail] if len(tail) >= _MIN_URL_PART else []
