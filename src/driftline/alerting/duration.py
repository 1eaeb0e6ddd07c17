"""Durations and event counts as rule files write them: ``30s``, ``5m``, ``1h30m``, ``500 events``.

A :class:`Window` is how long a condition must hold before something happens:
either a span of time (on the rule's clock) or a number of events.

>>> parse_duration("1h30m")
5400.0
>>> Window.parse("500 events")
Window(seconds=0.0, events=500)
>>> Window.parse("5m").elapsed(since_ts=100.0, since_events=0, ts=400.0, events=0)
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_COUNT = re.compile(r"^(\d+)\s*events?$")

DURATION_HINT = "a duration like 30s, 5m or 1h30m"


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``text`` (``0`` is allowed as a bare number); raises ValueError otherwise."""
    if isinstance(text, (int, float)) and not isinstance(text, bool) and text == 0:
        return 0.0
    if not isinstance(text, str) or not _DURATION.match(text.strip()):
        raise ValueError(f"expected {DURATION_HINT}, got {text!r}")
    return sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(text.strip()))


@dataclass(frozen=True, slots=True)
class Window:
    """A span of time or a number of events; both zero means "at once"."""

    seconds: float = 0.0
    events: int = 0

    @classmethod
    def parse(cls, text: str | int | float | None) -> Window:
        """``None`` or ``0`` → at once; ``5m`` → seconds; ``500 events`` → a count."""
        if text is None:
            return cls()
        if isinstance(text, str):
            count = _COUNT.match(text.strip())
            if count:
                return cls(events=int(count[1]))
        try:
            return cls(seconds=parse_duration(text))
        except ValueError:
            raise ValueError(f"expected {DURATION_HINT}, or a count like 500 events; got {text!r}") from None

    @property
    def immediate(self) -> bool:
        return self.seconds == 0 and self.events == 0

    def elapsed(self, *, since_ts: float, since_events: int, ts: float, events: int) -> bool:
        """Whether the window has passed between (since_ts, since_events) and (ts, events)."""
        if self.events:
            return events - since_events >= self.events
        return ts - since_ts >= self.seconds

    def __str__(self) -> str:
        if self.events:
            return f"{self.events} events"
        return f"{self.seconds:g}s"
