"""A fake PagerDuty Events API v2 over TLS (a throw-away CA), at ``POST /v2/enqueue``.

It checks events as PagerDuty does: a 32-character ``routing_key`` (and, when ``keys`` is
set, a known one), ``event_action`` trigger | acknowledge | resolve, a ``dedup_key`` for
acknowledge and resolve, and for trigger a ``payload`` with ``summary`` (at most 1,024
characters), ``source`` and ``severity`` (critical, error, warning, info). It answers 202
``{"status": "success", "dedup_key": ...}`` or 400 ``{"status": "invalid event",
"errors": [...]}``; ``fail(429 | 5xx, ...)`` scripts the rest. Accepted events are in
``received``; ``alerts`` maps each dedup_key to its state (triggered, acknowledged, resolved).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.fakes.server import Fault, FakeServer

ROUTING_KEY = "R0FAKEFAKEFAKEFAKEFAKEFAKEFAKE32"
SEVERITIES = {"critical", "error", "warning", "info"}
STATE = {"trigger": "triggered", "acknowledge": "acknowledged", "resolve": "resolved"}


@dataclass
class FakePagerDuty(FakeServer):
    keys: set[str] | None = None
    alerts: dict[str, str] = field(default_factory=dict)

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v2/enqueue", self._enqueue)

    def fault_response(self, fault: Fault) -> web.Response:
        if fault.body is None:
            message = "Too many requests" if fault.status == 429 else "Internal error"
            fault = Fault(fault.status, fault.retry_after, {"status": "throttle event" if fault.status == 429
                                                            else "error", "message": message})
        return super().fault_response(fault)

    async def _enqueue(self, request: web.Request) -> web.Response:
        try:
            event = json.loads(await request.read())
        except ValueError:
            return _invalid(["Event object is not valid JSON"])
        errors = check_event(event, self.keys)
        if errors:
            return _invalid(errors)
        action = event["event_action"]
        dedup_key = event.get("dedup_key") or uuid.uuid4().hex
        self.received.append(event)
        self.alerts[dedup_key] = STATE[action]
        return web.json_response({"status": "success", "message": "Event processed", "dedup_key": dedup_key},
                                 status=202)


def _invalid(errors: list[str]) -> web.Response:
    return web.json_response({"status": "invalid event", "message": "Event object is invalid", "errors": errors},
                             status=400)


def check_event(event: Any, keys: set[str] | None = None) -> list[str]:
    """PagerDuty's complaints about an event; empty when it would be accepted."""
    if not isinstance(event, dict):
        return ["Event object must be a JSON object"]
    errors = []
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("'routing_key' must be 32 characters")
    elif keys is not None and key not in keys:
        errors.append("Invalid routing key")
    action = event.get("event_action")
    if action not in STATE:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    dedup_key = event.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or len(dedup_key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup_key:
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if action == "trigger":
        errors.extend(_check_payload(event.get("payload")))
    return errors


def _check_payload(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object"]
    errors = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary or len(summary) > 1024:
        errors.append("'payload.summary' is missing or longer than 1024 characters")
    if not isinstance(payload.get("source"), str) or not payload["source"]:
        errors.append("'payload.source' is missing")
    if payload.get("severity") not in SEVERITIES:
        errors.append("'payload.severity' is invalid (must be one of: critical, error, warning, info)")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        errors.append("'payload.custom_details' must be an object")
    return errors
