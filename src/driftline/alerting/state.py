"""The state machine of one alert instance (one rule and one label set).

::

    inactive ──condition holds──► pending ──held for `for`──► firing ──resolve holds for `resolve.for`──► resolved
       ▲                            │                           │  (a firing record)                      (a resolved record)
       └──condition stops holding───┘                           └── resolve stops holding: stays firing      │
       ▲                                                                                                      │
       └──────────────────────────────────────────────────────────────────────────────────────────────────────┘

* ``pending`` falls back to ``inactive`` as soon as the firing condition stops holding
  (as in Prometheus); ``for: 0`` goes from inactive to firing in one step.
* While firing, only the resolve condition counts (by default the negation of the firing
  condition; a separate threshold gives hysteresis), and it must hold for ``resolve.for``.
* After ``resolved`` the instance is ``inactive``; firing again is a new firing (new
  ``starts_at``) of the same fingerprint.

Windows are measured from the observation that first met the condition, in that
observation's time (``ts``) or event count.
"""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from driftline.alerting.condition import Threshold
from driftline.alerting.duration import Window


class Phase(str, enum.Enum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


class Transition(str, enum.Enum):
    FIRED = "fired"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Timing:
    """A rule's tests and windows, as the state machine needs them."""

    fire: Threshold
    resolve: Threshold | None = None  # None: the negation of ``fire``
    fire_for: Window = Window()
    resolve_for: Window = Window()

    def resolves(self, value: float) -> bool:
        if self.resolve is not None:
            return self.resolve.holds(value)
        return not self.fire.holds(value) and not math.isnan(value)


@dataclass(slots=True)
class AlertInstance:
    """The mutable state of one alert instance; plain data all through (see :meth:`to_state`)."""

    labels: dict[str, str]
    phase: Phase = Phase.INACTIVE
    since_ts: float = 0.0  # when the current window started (pending, or resolving while firing)
    since_events: int = 0
    resolving: bool = False  # firing, and the resolve condition holds
    seen_ts: float = -math.inf  # the newest event_ts observed
    fresh_at: float = math.nan  # processing time when seen_ts last advanced
    ticks: int = 0  # observations with a newer event_ts (the event count when samples carry none)
    starts_at: float = 0.0  # when the current firing started
    record: dict[str, Any] | None = field(default=None)  # the firing alert record, as plain data

    def observe(self, event_ts: float, events: int | None, now: float) -> tuple[bool, int]:
        """Note an observation; returns (stale, event count). Stale: older than one already seen."""
        if event_ts < self.seen_ts:
            return True, self.count(events)
        if event_ts > self.seen_ts or math.isnan(self.fresh_at):
            self.seen_ts, self.fresh_at = event_ts, now
            self.ticks += 1
        return False, self.count(events)

    def count(self, events: int | None) -> int:
        return self.ticks if events is None else events

    def step(self, timing: Timing, value: float, ts: float, events: int) -> Transition | None:
        """Advance with one observation's value, time and event count."""
        if self.phase is Phase.FIRING:
            return self._step_firing(timing, value, ts, events)
        if not timing.fire.holds(value):
            self.phase = Phase.INACTIVE
            return None
        if self.phase is Phase.INACTIVE:
            self.phase, self.since_ts, self.since_events = Phase.PENDING, ts, events
        if timing.fire_for.elapsed(since_ts=self.since_ts, since_events=self.since_events, ts=ts, events=events):
            self.phase, self.resolving, self.starts_at = Phase.FIRING, False, ts
            return Transition.FIRED
        return None

    def _step_firing(self, timing: Timing, value: float, ts: float, events: int) -> Transition | None:
        if not timing.resolves(value):
            self.resolving = False
            return None
        if not self.resolving:
            self.resolving, self.since_ts, self.since_events = True, ts, events
        if timing.resolve_for.elapsed(since_ts=self.since_ts, since_events=self.since_events, ts=ts, events=events):
            self.phase, self.resolving = Phase.INACTIVE, False
            return Transition.RESOLVED
        return None

    def to_state(self) -> dict[str, Any]:
        state = asdict(self)
        state["phase"] = self.phase.value
        for key in ("seen_ts", "fresh_at"):  # JSON has no infinities or NaN
            state[key] = state[key] if math.isfinite(state[key]) else None
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> AlertInstance:
        data = dict(state)
        data["phase"] = Phase(data["phase"])
        data["seen_ts"] = -math.inf if data["seen_ts"] is None else data["seen_ts"]
        data["fresh_at"] = math.nan if data["fresh_at"] is None else data["fresh_at"]
        return cls(**data)
