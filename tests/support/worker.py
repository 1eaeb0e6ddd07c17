"""Run a driftline worker as a real process, and read its /metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from driftline.broker import free_port
from tests.support.kafka import REPO, wait_until


def worker_config(bootstrap: str, prefix: str, metrics_port: int | None = None, **sections: Any) -> dict[str, Any]:
    """A worker configuration for tests: its own topics and group, small partitions, a free metrics port."""
    config: dict[str, Any] = {
        "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix, "group_id": f"{prefix}-workers",
                  "partitions": 2},
        "metrics": {"host": "127.0.0.1", "port": metrics_port or free_port()},
        "alerting": {"rules": str(REPO / "alert-rules"), "routing": str(REPO / "alert-rules/routing.yaml")},
    }
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    return config


class WorkerProcess:
    """``driftline worker`` in a subprocess; its stderr goes to a log file kept for failure messages."""

    def __init__(self, config: dict[str, Any], workdir: Path, name: str = "worker") -> None:
        self.config = config
        self.workdir = workdir
        self.config_path = workdir / f"{name}.yaml"
        self.log_path = workdir / f"{name}.log"
        self.config_path.write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.config['metrics']['port']}/metrics"

    def start(self) -> WorkerProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "driftline", "worker", "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=self.workdir,
            )
        wait_until(self._serving, timeout=60, what=f"worker metrics at {self.metrics_url}\n{self.log_tail()}")
        return self

    def _serving(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")
        with urllib.request.urlopen(self.metrics_url.replace("/metrics", "/healthz"), timeout=2) as response:
            return response.status == 200

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """The scraped samples as {(name, sorted labels): value}."""
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            text = response.read().decode()
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    def value(self, name: str, **labels: str) -> float | None:
        """The value of one sample, or None when it is not exported (yet)."""
        return self.metrics().get((name, tuple(sorted(labels.items()))))

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"worker did not stop within {timeout} s of SIGTERM:\n{self.log_tail()}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
