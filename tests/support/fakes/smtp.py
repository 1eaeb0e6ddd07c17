"""A real SMTP server on loopback for tests: aiosmtpd's Controller, recording what it receives.

Optional STARTTLS with a throw-away CA's certificate (required when given) and AUTH with
one login and password (only offered after STARTTLS, as aiosmtpd does by default).
``reject(reply, times)`` answers the next DATA with ``reply`` (e.g. ``"451 4.3.0 try
later"``); ``hang(times)`` leaves the next DATA unanswered until ``release()`` (or the
server stops). ``await outage(reply)`` answers every DATA with ``reply`` until ``await
recover()``; ``await outage()`` without a reply stops the server, so that connections are
refused, and ``recover()`` starts it again on the same port. The Controller runs its own
event loop in a thread; ``wait_for(n, timeout)`` polls the record from the test's loop until
a deadline.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.fakes.server import poll
from tests.support.fakes.tls import ThrowawayCA

USERNAME = "driftline"
PASSWORD = "smtp-Pa55word-fake-0042"


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message: EmailMessage
    tls: bool
    login: str | None


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.server.attempts += 1
        if self.server.hangs > 0:
            self.server.hangs -= 1
            self.server.hanging += 1
            await asyncio.get_running_loop().run_in_executor(None, self.server.released.wait)
            self.server.hanging -= 1
        if self.server.rejections:
            return self.server.rejections.popleft()
        if self.server.outage_reply is not None:
            return self.server.outage_reply
        data = envelope.original_content or envelope.content
        message = email.message_from_bytes(data, policy=email.policy.default)
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        self.server.received.append(ReceivedMail(
            envelope.mail_from, list(envelope.rcpt_tos), data, message, session.ssl is not None, login))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """Controller on port 0: learns the port the OS chose before its readiness check connects."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """An SMTP server on 127.0.0.1 that records messages."""

    def __init__(self, tls: ThrowawayCA | None = None, auth: tuple[str, str] | None = None) -> None:
        self.tls = tls
        self.auth = auth
        self.received: list[ReceivedMail] = []
        self.rejections: deque[str] = deque()
        self.attempts = 0  # DATA commands seen, answered or not
        self.hangs = 0
        self.hanging = 0  # DATA commands waiting for release()
        self.released = threading.Event()
        self.outage_reply: str | None = None
        self._running = False
        kwargs: dict[str, Any] = {}
        if tls is not None:
            kwargs.update(tls_context=tls.server_context(), require_starttls=True)
        if auth is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        self._kwargs = kwargs
        self.controller = _Controller(_Handler(self), hostname="127.0.0.1", port=0, **kwargs)
        self._port = 0  # the port the OS chose, kept for a restart after an outage

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self.controller.port

    def reject(self, reply: str, times: int = 1) -> None:
        self.rejections.extend([reply] * times)

    def hang(self, times: int = 1) -> None:
        self.released.clear()
        self.hangs += times

    def release(self) -> None:
        self.released.set()

    async def outage(self, reply: str | None = None) -> None:
        """Answer every DATA with ``reply`` (e.g. ``"421 4.3.2 shutting down"``); without one, stop listening."""
        if reply is not None:
            self.outage_reply = reply
        elif self._running:
            await asyncio.to_thread(self.controller.stop)
            self._running = False

    async def recover(self) -> None:
        self.outage_reply = None
        if not self._running:  # a stopped Controller's loop is closed: a new one, on the same port
            self.controller = _Controller(_Handler(self), hostname="127.0.0.1", port=self._port, **self._kwargs)
            await asyncio.to_thread(self.controller.start)
            self._running = True

    async def __aenter__(self) -> SmtpServer:
        await asyncio.to_thread(self.controller.start)
        self._running, self._port = True, self.controller.port
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
        if self._running:
            await asyncio.to_thread(self.controller.stop)
            self._running = False

    async def wait_for(self, n: int, timeout: float = 5.0) -> list[ReceivedMail]:
        await poll(lambda: len(self.received) >= n, timeout, f"{n} messages at the SMTP server")
        return list(self.received)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and self.auth is not None
              and (auth_data.login.decode(), auth_data.password.decode()) == self.auth)
        return AuthResult(success=ok, handled=False, auth_data=auth_data)
