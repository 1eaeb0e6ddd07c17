"""A worker that cannot start says why in one line and exits with status 2, instead of running half-started."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from driftline.broker import free_port
from tests.support.worker import worker_config

pytestmark = pytest.mark.integration


def start(config: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "driftline.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "driftline", "worker", "--config", str(path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_no_broker_to_reach(tmp_path: Path):
    nobody = f"127.0.0.1:{free_port()}"
    done = start(worker_config(nobody, "nobroker", kafka={"connect_timeout_seconds": 2.0}), tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"driftline: kafka: cannot reach {nobody} within 2 s" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_metrics_port_is_taken(broker, prefix: str, tmp_path: Path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = start(worker_config(broker.bootstrap_servers, prefix, metrics_port=port), tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"driftline: metrics: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
