"""The synchronous :class:`Producer`: an :class:`AsyncProducer` on its own event loop in a daemon thread."""

from __future__ import annotations

import asyncio
import logging
import threading
from types import TracebackType
from typing import Any

from driftline.client.encoding import EncodedEvent
from driftline.client.producer import AsyncProducer, _Emitter
from driftline.client.tally import DropReason

log = logging.getLogger("driftline.client")  # the one logger docs/client.md names, for the whole package


class Producer(_Emitter):
    """The synchronous twin of :class:`AsyncProducer` for threaded (e.g. WSGI) services.

    It runs an AsyncProducer on its own event loop in a daemon thread. ``emit_*`` may be called
    from any thread: the event is checked and encoded in the caller's thread, a slot of the
    bounded buffer is taken there (so a burst cannot outgrow ``max_buffer_events`` before the loop
    runs), and the loop is handed the bytes with ``call_soon_threadsafe``. The constructor starts
    it and raises for bad options; a broker that is down only makes events buffer, then drop.

    Parameters
    ----------
    bootstrap_servers, **options
        As for :class:`AsyncProducer`.
    """

    def __init__(self, bootstrap_servers: str | list[str], **options: Any) -> None:
        self._async = AsyncProducer(bootstrap_servers, **options)
        self._tally, self._max_bytes, self._logs = self._async._tally, self._async._max_bytes, self._async._logs
        self._closed = False
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="driftline-producer", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._async.start(), self._loop).result()
        except BaseException:
            self._stop_loop()
            raise

    def __repr__(self) -> str:
        return f"Producer({self._async!r})"

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything emitted so far is delivered or counted as dropped; False on timeout."""
        if self._closed:
            return True
        future = asyncio.run_coroutine_threadsafe(self._async.flush(timeout), self._loop)
        try:
            return future.result(None if timeout is None else timeout + 5.0)
        except TimeoutError:
            future.cancel()
            return False

    def close(self, timeout: float = 10.0) -> None:
        """Flush for at most ``timeout`` seconds, then stop the loop and its thread; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            asyncio.run_coroutine_threadsafe(self._async.close(timeout), self._loop).result(timeout + 5.0)
        except Exception as exc:
            log.warning("driftline client: close did not finish cleanly: %r", exc)
        finally:
            self._stop_loop()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _refuse(self) -> DropReason | None:
        return DropReason.CLOSED if self._closed else self._async._refuse()

    def _deliver(self, encoded: EncodedEvent) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._async._deliver_from_thread, encoded)
        except RuntimeError:  # the loop is closed
            self._tally.unreserve()
            return False
        return True

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
