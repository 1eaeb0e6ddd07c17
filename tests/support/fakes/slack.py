"""A fake Slack: the Web API's ``chat.postMessage`` and the incoming-webhook contract.

``POST /api/chat.postMessage`` checks ``Authorization: Bearer xoxb-...`` and the JSON body
as Slack does -- a known channel, ``text`` or ``blocks``, at most 50 blocks, text of at
most 40,000 characters, blocks of known types within their limits -- and answers HTTP
200 with ``{"ok": true, "ts": ...}`` or ``{"ok": false, "error": "invalid_auth"}`` (and
the like). ``POST /services/T/B/X`` answers ``ok``, 404 ``no_service`` for an unknown
hook, 400 ``invalid_payload`` / ``no_text`` / ``invalid_blocks``. ``fail(429,
retry_after=N)`` scripts rate limiting. Accepted messages are in ``received``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from tests.support.fakes.server import Fault, FakeServer

TOKEN = "xoxb-1111-2222-fakefakefake"
HOOK = "/services/T0FAKE/B0FAKE/fakewebhooksecret42"
CHANNEL = "#ml-alerts"
BLOCK_TYPES = {"header", "section", "divider", "context", "actions", "image", "rich_text", "markdown"}


@dataclass
class SlackMessage:
    via: str  # "api" or "webhook"
    channel: str | None
    text: str | None
    blocks: list[dict[str, Any]] | None


@dataclass
class FakeSlack(FakeServer):
    tokens: set[str] = field(default_factory=lambda: {TOKEN})
    channels: set[str] = field(default_factory=lambda: {CHANNEL})
    hooks: set[str] = field(default_factory=lambda: {HOOK})

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/api/chat.postMessage", self._post_message)
        router.add_post("/services/{rest:.*}", self._webhook)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def webhook_url(self, path: str = HOOK) -> str:
        return f"{self.base_url}{path}"

    def fault_response(self, fault: Fault) -> web.Response:
        if fault.body is None and fault.status == 429:
            fault = Fault(429, fault.retry_after, {"ok": False, "error": "ratelimited"})
        return super().fault_response(fault)

    async def _post_message(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return web.json_response({"ok": False, "error": "not_authed"})
        if auth.removeprefix("Bearer ") not in self.tokens:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        body = await _body(request)
        if body is None:
            return web.json_response({"ok": False, "error": "invalid_json"})
        if body.get("channel") not in self.channels:
            return web.json_response({"ok": False, "error": "channel_not_found"})
        error = check_message(body)
        if error is not None:
            return web.json_response({"ok": False, "error": error})
        self.received.append(SlackMessage("api", body["channel"], body.get("text"), body.get("blocks")))
        ts = f"1790000000.{len(self.received):06d}"
        return web.json_response({"ok": True, "channel": "C0FAKE", "ts": ts, "message": {"text": body.get("text")}})

    async def _webhook(self, request: web.Request) -> web.Response:
        if request.path not in self.hooks:
            return web.Response(status=404, text="no_service")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        error = check_message(body)
        if error is not None:
            return web.Response(status=400, text=error)
        self.received.append(SlackMessage("webhook", None, body.get("text"), body.get("blocks")))
        return web.Response(text="ok")


async def _body(request: web.Request) -> dict[str, Any] | None:
    raw = await request.read()
    if request.content_type == "application/json":
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None
    form = dict(parse_qsl(raw.decode()))
    if "blocks" in form:
        try:
            form["blocks"] = json.loads(form["blocks"])
        except ValueError:
            return None
    return form


def check_message(body: dict[str, Any]) -> str | None:
    """Slack's error code for a message body, or None when Slack would take it."""
    text, blocks = body.get("text"), body.get("blocks")
    if not text and not blocks:
        return "no_text"
    if text is not None and (not isinstance(text, str) or len(text) > 40_000):
        return "msg_too_long"
    if blocks is not None:
        if not isinstance(blocks, list) or len(blocks) > 50 or not all(_block_ok(b) for b in blocks):
            return "invalid_blocks"
    return None


def _block_ok(block: Any) -> bool:
    if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
        return False
    kind = block["type"]
    if kind == "header":
        return _text_ok(block.get("text"), 150, plain_only=True)
    if kind == "section":
        fields = block.get("fields")
        if fields is not None and (len(fields) > 10 or not all(_text_ok(f, 2000) for f in fields)):
            return False
        return fields is not None or _text_ok(block.get("text"), 3000)
    if kind == "context":
        elements = block.get("elements") or []
        return 0 < len(elements) <= 10 and all(_text_ok(e, 3000) for e in elements)
    if kind == "actions":
        elements = block.get("elements") or []
        return 0 < len(elements) <= 25 and all(_button_ok(e) for e in elements)
    return True


def _text_ok(text: Any, limit: int, plain_only: bool = False) -> bool:
    kinds = {"plain_text"} if plain_only else {"plain_text", "mrkdwn"}
    return (isinstance(text, dict) and text.get("type") in kinds and isinstance(text.get("text"), str)
            and 0 < len(text["text"]) <= limit)


def _button_ok(element: Any) -> bool:
    if not isinstance(element, dict) or element.get("type") != "button":
        return False
    url = element.get("url")
    if url is not None and (len(url) > 3000 or urlsplit(url).scheme not in ("http", "https")):
        return False
    return _text_ok(element.get("text"), 75, plain_only=True)
