"""driftline's exception tree.

Every error driftline raises on purpose is a ``DriftlineError``; errors of the
libraries underneath are translated into one of these with ``raise ... from exc``
so that callers handle one tree::

    DriftlineError
    ├── ConfigError            the configuration (YAML, environment, secret files) is invalid
    ├── BrokerError            the embedded broker could not be found, started or reached
    ├── DecodeError            an event could not be decoded (carries a machine-readable reason)
    ├── StateError             a snapshot or checkpoint cannot be read or does not fit
    └── NotifyError            a notification could not be delivered
        ├── RetryableNotifyError   ... and trying again later may succeed (5xx, 429, connection)
        └── PermanentNotifyError   ... and trying again will not help (other 4xx, bad config)
"""

from __future__ import annotations


class DriftlineError(Exception):
    """The root of every error driftline raises on purpose."""


class ConfigError(DriftlineError):
    """The configuration is invalid; the message names the file, the key and what was expected."""


class BrokerError(DriftlineError):
    """The embedded broker could not be found, started or reached."""


class DecodeError(DriftlineError):
    """An event could not be decoded; ``reason`` is machine-readable, the message is for people."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class StateError(DriftlineError):
    """A snapshot or checkpoint cannot be read, or does not fit this version of driftline."""


class NotifyError(DriftlineError):
    """A notification could not be delivered."""


class RetryableNotifyError(NotifyError):
    """Delivery failed in a way that trying again later may fix (5xx, 429, connection errors)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentNotifyError(NotifyError):
    """Delivery failed in a way that trying again will not fix (other 4xx, rejected payload)."""
