"""The routing tree, with Alertmanager's semantics.

An alert enters at the root, which matches everything. At each route, the children are
tried in order; a child that matches is descended into, and unless it has
``continue: true`` the search stops at it. A route none of whose children matched is
itself the result. So :meth:`Route.match` returns one or more leaf-most routes, exactly
as Alertmanager's ``Route.Match``. Children inherit ``receiver``, ``group_by``,
``group_wait``, ``group_interval`` and ``repeat_interval`` from their parent when unset.

The root's defaults are Alertmanager's: group_wait 30s, group_interval 5m,
repeat_interval 4h, and no group_by (all alerts of the route in one group).
``group_by: ['...']`` groups by all labels, i.e. every alert on its own.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Iterator, Mapping

import msgspec

from driftline.alerting.duration import parse_duration
from driftline.alerting.keypath import KeyPath
from driftline.alerting.matcher import LABEL_NAME, Matcher, matches_all, parse_matchers

ALL_LABELS = "..."


class RouteSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    receiver: str | None = None
    matchers: list[str] = []
    continue_: bool = msgspec.field(default=False, name="continue")
    group_by: list[str] | None = None
    group_wait: str | None = None
    group_interval: str | None = None
    repeat_interval: str | None = None
    routes: list[RouteSpec] = []


@dataclass(frozen=True)
class Route:
    """A node of the routing tree with every field resolved (inherited where unset)."""

    id: str  # the dotted key in the routing file: "route", "route.routes.0", ...
    receiver: str
    matchers: tuple[Matcher, ...] = ()
    group_by: tuple[str, ...] | None = ()  # None: all labels ("...")
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    continue_: bool = False
    routes: tuple[Route, ...] = ()

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert with ``labels`` goes to (Alertmanager's ``Route.Match``)."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            matched = child.match(labels)
            found.extend(matched)
            if matched and not child.continue_:
                break
        return found or [self]

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels an alert's group is keyed by on this route (only those the alert has)."""
        if self.group_by is None:
            return dict(labels)
        return {name: labels[name] for name in self.group_by if name in labels}

    def group_key(self, labels: Mapping[str, str]) -> str:
        """A stable key of the group an alert with ``labels`` belongs to on this route."""
        grouped = self.group_labels(labels)
        inner = ",".join(f"{name}={json.dumps(grouped[name])}" for name in sorted(grouped))
        return f"{self.id}:{{{inner}}}"

    def walk(self) -> Iterator[Route]:
        yield self
        for child in self.routes:
            yield from child.walk()

    def find(self, route_id: str) -> Route | None:
        return next((route for route in self.walk() if route.id == route_id), None)

    @classmethod
    def build(cls, spec: RouteSpec, where: KeyPath, parent: Route | None = None) -> Route:
        """Check a route spec and its children; ``parent`` None builds the root."""
        if parent is None:
            if spec.receiver is None:
                raise (where / "receiver").error("required key is missing (the root route needs a default receiver)")
            if spec.matchers or spec.continue_:
                raise where.error("the root route matches every alert: no matchers and no continue")
        base = parent or cls(where.key, spec.receiver or "")
        route = cls(
            id=where.key,
            receiver=spec.receiver if spec.receiver is not None else base.receiver,
            matchers=parse_matchers(spec.matchers, where / "matchers"),
            group_by=_group_by(spec.group_by, where / "group_by") if spec.group_by is not None else base.group_by,
            group_wait=_duration(spec.group_wait, base.group_wait, where / "group_wait", zero=True),
            group_interval=_duration(spec.group_interval, base.group_interval, where / "group_interval"),
            repeat_interval=_duration(spec.repeat_interval, base.repeat_interval, where / "repeat_interval"),
            continue_=spec.continue_,
        )
        children = tuple(cls.build(child, where / "routes" / i, route) for i, child in enumerate(spec.routes))
        return dataclasses.replace(route, routes=children)


def _group_by(names: list[str], where: KeyPath) -> tuple[str, ...] | None:
    if ALL_LABELS in names:
        if len(names) > 1:
            raise where.error("'...' means all labels and stands alone")
        return None
    for i, name in enumerate(names):
        if not LABEL_NAME.match(name):
            raise (where / i).error(f"expected a label name or '...', got {name!r}")
    return tuple(names)


def _duration(text: str | None, inherited: float, where: KeyPath, zero: bool = False) -> float:
    """A route's duration; only group_wait may be 0 (notify at once, as Alertmanager allows)."""
    if text is None:
        return inherited
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise where.error(str(exc)) from None
    if seconds < 0 or (seconds == 0 and not zero):
        raise where.error(f"expected a duration {'>= 0' if zero else '> 0'}, got {text!r}")
    return seconds
