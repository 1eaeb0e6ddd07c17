"""A fake generic webhook receiver: records bodies and headers, and checks the HMAC signature.

With ``secret`` set it computes HMAC-SHA256 over the exact body bytes itself and answers
401 when ``X-Driftline-Signature`` is missing or wrong; a body that is not JSON gets 400.
Accepted requests are in ``received`` (as :class:`Request`, with the parsed JSON).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from aiohttp import web

from tests.support.fakes.server import RECORDED, FakeServer

PATH = "/hooks/driftline"


@dataclass
class FakeWebhookReceiver(FakeServer):
    secret: str | None = None
    path: str = PATH

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(self.path, self._receive)

    @property
    def url(self) -> str:
        return f"{self.base_url}{self.path}"

    def signature_ok(self, body: bytes, header: str | None) -> bool:
        if self.secret is None:
            return True
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return header is not None and hmac.compare_digest(expected, header)

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.signature_ok(body, request.headers.get("X-Driftline-Signature")):
            return web.json_response({"error": "bad signature"}, status=401)
        try:
            json.loads(body)
        except ValueError:
            return web.json_response({"error": "not JSON"}, status=400)
        self.received.append(request[RECORDED])
        return web.json_response({"status": "ok"})
