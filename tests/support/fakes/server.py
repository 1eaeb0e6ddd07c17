"""What the HTTP fakes share: an aiohttp server on loopback, a record of requests, programmable faults.

A fake runs on the test's own event loop on 127.0.0.1 and a free port. Every request is
recorded (method, path, headers, body, the status it got). ``fail(status, times,
retry_after)`` makes the next ``times`` requests get that status (before any
validation), so that tests can script "429 twice, then success"; ``hang(times)`` makes
them get no answer until the fake stops (for timeouts). ``await outage(status)`` answers
every request with ``status`` until ``await recover()``; ``await outage()`` without a status
stops listening, so that connections are refused, and ``recover()`` listens again on the same
port. Nothing sleeps: ``wait_for(n, timeout)`` polls what the fake accepted until a deadline.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web


async def poll(done: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait until ``done()`` or fail after ``timeout`` seconds (a deadline, not a sleep to wait)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)


HANG = 0  # the status of a scripted fault that never answers


@dataclass
class Request:
    """One HTTP request as the fake saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Fault:
    status: int
    retry_after: str | None = None
    body: Any = None


RECORDED = web.RequestKey("recorded", Request)


@dataclass
class FakeServer:
    """Base of the HTTP fakes; subclasses add routes in ``routes`` and accepted items to ``received``."""

    ssl_context: ssl.SSLContext | None = None
    requests: list[Request] = field(default_factory=list)
    received: list[Any] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._faults: deque[Fault] = deque()
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._outage: Fault | None = None  # answers every request while set
        self.app = web.Application(middlewares=[self._record])
        self.routes(self.app.router)

    def routes(self, router: web.UrlDispatcher) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def fault_response(self, fault: Fault) -> web.Response:
        """The answer to a scripted fault; subclasses shape the body like the real service."""
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        if isinstance(fault.body, (dict, list)):
            return web.json_response(fault.body, status=fault.status, headers=headers)
        return web.Response(status=fault.status, text=str(fault.body or "error"), headers=headers)

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def start(self) -> FakeServer:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await self._listen(0)
        self.port = self._runner.addresses[0][1]
        return self

    async def _listen(self, port: int) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", port, ssl_context=self.ssl_context)
        await self._site.start()

    async def outage(self, status: int | None = None, retry_after: float | str | None = None) -> None:
        """From now on answer every request with ``status``; without one, refuse connections."""
        if status is not None:
            self._outage = Fault(status, None if retry_after is None else str(retry_after))
        elif self._site is not None:
            await self._site.stop()
            self._site = None
            assert self._runner is not None and self._runner.server is not None
            for connection in self._runner.server.connections:  # kept-alive ones too: the server is gone
                connection.force_close()

    async def recover(self) -> None:
        """End the outage: answer normally (listening again on the same port if it stopped)."""
        self._outage = None
        if self._site is None and self._runner is not None:
            await self._listen(self.port)

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Any:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def fail(self, status: int, times: int = 1, retry_after: float | str | None = None, body: Any = None) -> None:
        """Answer the next ``times`` requests with ``status`` (and ``Retry-After``), whatever they hold."""
        after = None if retry_after is None else str(retry_after)
        self._faults.extend(Fault(status, after, body) for _ in range(times))

    def hang(self, times: int = 1) -> None:
        """Leave the next ``times`` requests unanswered until the fake stops."""
        self._faults.extend(Fault(HANG) for _ in range(times))

    async def wait_for(self, n: int, timeout: float = 5.0) -> list[Any]:
        """Wait until at least ``n`` items were accepted; returns them."""
        await poll(lambda: len(self.received) >= n, timeout, f"{n} accepted by {type(self).__name__}")
        return list(self.received)

    @web.middleware
    async def _record(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        recorded = Request(request.method, request.path, dict(request.headers), await request.read())
        self.requests.append(recorded)
        request[RECORDED] = recorded  # this request's own record, for handlers (requests[-1] races)
        fault = self._faults.popleft() if self._faults else self._outage
        if fault is not None and fault.status == HANG:
            await self._release.wait()
        response = self.fault_response(fault) if fault is not None else await handler(request)
        recorded.status = response.status
        return response
